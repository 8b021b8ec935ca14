"""The shape of ``parameters/audit.yaml``: every key, its type and range, checked before anything uses it.

The model holds no defaults: every key is required, and the shipped ``audit.yaml`` (under which a
user's file is merged) is the one place the kit's defaults are written. A mistake is one line naming
the file and the key: an unknown key (with "did you mean" for a near miss: ``flow`` -> ``flows``), a
wrong type, a boolean where a number is expected (YAML's ``yes``), a string where a list is expected.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainValidator, StringConstraints
from pydantic_core import ErrorDetails

from auditkit.settings.validation import TEXT, UNKNOWN, FileModel, checked, kind, near_miss, problem


def whole(lo: int, hi: int | None = None) -> Any:
    """A whole number from ``lo`` to ``hi`` (strict: a boolean or ``1.0`` is not one)."""
    def in_range(v: int) -> int:
        if v < lo or (hi is not None and v > hi):
            raise problem("range", f"must be from {lo} to {hi}" if hi is not None else f"must be at least {lo}")
        return v
    return Annotated[int, AfterValidator(in_range)]


def _prefix(v: Any) -> str:
    if not isinstance(v, str):
        raise problem("prefix_type", "must be a CIDR prefix written as text, not {kind}", kind=kind(v))
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise problem("prefix", "{value} is not an address prefix", value=repr(v)) from None
    return v


Text = Annotated[str, StringConstraints(pattern=r"\S")]
Port = whole(0, 65535)
Prefix = Annotated[str, PlainValidator(_prefix)]
Bytes = whole(0)
PrefixLength = whole(8, 32)
WindowDays = whole(1, 3650)
Megabytes = whole(1, 1_000_000)


class Aliases(FileModel):
    """Tag keys, and words of a rule's description, that name one thing (owner, justification)."""

    keys: list[Text]
    description: list[Text]


class TagKeys(FileModel):
    keys: list[Text]


class EnvironmentTags(FileModel):
    keys: list[Text]
    production: list[Text]


class Tags(FileModel):
    owner: Aliases
    expiry: TagKeys
    justification: Aliases
    environment: EnvironmentTags


class Flows(FileModel):
    mail_gateways: list[Prefix]
    min_bytes: Bytes
    max_prefix: PrefixLength
    min_window_days: WindowDays
    max_file_mb: Megabytes


class AuditSettings(FileModel):
    """``audit.yaml``, its keys in the order of the shipped file (the first mistake is reported)."""

    ports: Annotated[list[Port], Field(min_length=1)]
    tags: Tags
    flows: Flows


def _known(loc: tuple) -> list[str]:
    model: Any = AuditSettings
    for part in loc:
        model = model.model_fields[part].annotation
    return list(model.model_fields)


def _problem(e: ErrorDetails) -> str:
    value = e["input"]
    if e["type"] == "int_type":
        return f"must be a whole number, not {kind(value)}"
    if e["type"] == "list_type":
        return f"must be a list, not {kind(value)}"
    if e["type"] == "model_type":
        return f"must be a mapping, not {kind(value)}"
    if e["type"] == "too_short":
        return "must not be empty"
    if e["type"] in TEXT:
        return f"must be text, not {kind(value)}"
    if e["type"] == "missing":
        return "is missing"
    return e["msg"]


def _line(where: str, e: ErrorDetails) -> str:
    loc = e["loc"]
    if e["type"] in UNKNOWN:
        dotted = ".".join(map(str, loc))
        known = _known(loc[:-1])
        near = near_miss(loc[-1], known)
        hint = f"; did you mean {near!r}?" if near else f" (known here: {', '.join(sorted(known))})"
        return f"{where}: unknown setting {dotted!r}{hint}"
    keys = [str(p) for p in loc if isinstance(p, str)]
    entries = [p for p in loc if isinstance(p, int)]
    if not entries:
        return f"{where}: {'.'.join(keys)} {_problem(e)}"
    # A list of plain text says "entry 2 must be text"; a list of ports or prefixes "entry 2: <problem>".
    sep = " " if e["type"] in TEXT else ": "
    return f"{where}: {'.'.join(keys)} entry {entries[0] + 1}{sep}{_problem(e)}"


def validate(settings: dict, where: str) -> AuditSettings:
    """The merged settings as the model; the first key it refuses is one ``InputError`` naming ``where``."""
    return checked(AuditSettings, settings, lambda errors: _line(where, errors[0]))
