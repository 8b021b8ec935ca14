"""The settings file's schema: every key, its type and range, checked before anything uses it.

A mistake is one line naming the file and the key: an unknown key (with "did you mean" for a near
miss: ``flow`` -> ``flows``), a wrong type, a boolean where a number is expected (YAML's ``yes``),
a string where a list is expected. Nothing is coerced into validity.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable
from typing import Any

from auditkit.errors import InputError

Check = Callable[[Any], "str | None"]


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return f"the text {v[:40]!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return "empty" if v is None else type(v).__name__


def integer(lo: int, hi: int | None = None) -> Check:
    def check(v: Any) -> str | None:
        if type(v) is not int:  # bool is an int in Python; YAML's yes/no must not pass as 1/0
            return f"must be a whole number, not {_kind(v)}"
        if v < lo or (hi is not None and v > hi):
            return f"must be from {lo} to {hi}" if hi is not None else f"must be at least {lo}"
        return None
    return check


def text_list(item: Check | None = None, non_empty: bool = False) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, list):
            return f"must be a list, not {_kind(v)}"
        if non_empty and not v:
            return "must not be empty"
        for i, x in enumerate(v):
            if item is not None:
                problem = item(x)
                if problem:
                    return f"entry {i + 1}: {problem}"
            elif not isinstance(x, str) or not x.strip():
                return f"entry {i + 1} must be text, not {_kind(x)}"
        return None
    return check


def _prefix(v: Any) -> str | None:
    if not isinstance(v, str):
        return f"must be a CIDR prefix written as text, not {_kind(v)}"
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        return f"{v!r} is not an address prefix"
    return None


def _port(v: Any) -> str | None:
    return integer(0, 65535)(v)


def text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else f"must be text, not {_kind(v)}"


ALIASES = {"keys": text_list(), "description": text_list()}
SCHEMA: dict = {
    "ports": text_list(_port, non_empty=True),
    "tags": {
        "owner": ALIASES,
        "expiry": {"keys": text_list()},
        "justification": ALIASES,
        "environment": {"keys": text_list(), "production": text_list()},
    },
    "flows": {
        "mail_gateways": text_list(_prefix),
        "min_bytes": integer(0),
        "max_prefix": integer(8, 32),
        "min_window_days": integer(1, 3650),
        "max_file_mb": integer(1, 1_000_000),
    },
}


def validate(settings: Any, where: str, schema: dict = SCHEMA, path: str = "") -> None:
    """Raise one ``InputError`` for the first key of ``settings`` that the schema refuses."""
    if not isinstance(settings, dict):
        raise InputError(f"{where}: {path or 'the settings'} must be a mapping, not {_kind(settings)}")
    for key, value in settings.items():
        dotted = f"{path}.{key}" if path else str(key)
        if key not in schema:
            near = difflib.get_close_matches(str(key), [str(k) for k in schema], n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else f" (known here: {', '.join(sorted(map(str, schema)))})"
            raise InputError(f"{where}: unknown setting {dotted!r}{hint}")
        rule = schema[key]
        if isinstance(rule, dict):
            validate(value, where, rule, dotted)
        else:
            problem = rule(value)
            if problem:
                raise InputError(f"{where}: {dotted} {problem}")
