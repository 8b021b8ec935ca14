"""Read NSG records from the shapes that Azure tools export, detected by shape.

Accepted: a list of Resource Graph objectArray records; ``{"data": [...]}`` (Resource Graph
REST response, ``az graph query``); ``{"value": [...]}`` (ARM list response); a bare list from
``az network nsg list`` (same record shape, ``resourceGroup`` field).
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from auditkit.errors import InputError
from auditkit.evidence.partial import refuse_partial

NSG_TYPE = "microsoft.network/networksecuritygroups"
SUBSCRIPTION_TYPE = "microsoft.resources/subscriptions"


def properties(obj: Any) -> Mapping:
    """An ARM resource's ``properties`` object; empty when the record or its properties are not objects."""
    p = obj.get("properties") if isinstance(obj, Mapping) else None
    return p if isinstance(p, Mapping) else {}


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run a bulk parse or table build without CPython's cyclic garbage collector.

    Parsing an export creates tens of millions of dicts, lists and strings and none of them form
    cycles; the collector would walk them all again and again as they are allocated (measured:
    ``json.loads`` of a 160 MB export takes 4.3 s with it and 1.2 s without). Nested pauses are
    fine; the collector comes back when the outermost one ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_json(raw: bytes | str) -> Any:
    """JSON text parsed by orjson; whatever orjson refuses is parsed again by the standard library,
    which accepts what it accepts (``NaN``, lone surrogates) and words the errors."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = json.loads(raw)
    if (_SURROGATE_ESCAPE if isinstance(raw, str) else _SURROGATE_ESCAPE_BYTES).search(raw):
        obj = _surrogates_escaped(obj)
    return obj


# A \uD800-\uDFFF escape: JSON may spell a lone surrogate, which no UTF-8 text (Arrow, pandas,
# HTML, a spreadsheet) can hold; it is kept as the visible text ``\ud800``.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _surrogates_escaped(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj.encode("utf-8", "backslashreplace").decode("utf-8") if _has_surrogate(obj) else obj
    if isinstance(obj, list):
        return [_surrogates_escaped(v) for v in obj]
    if isinstance(obj, dict):
        return {_surrogates_escaped(k): _surrogates_escaped(v) for k, v in obj.items()}
    return obj


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, or a one-line InputError naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read file: {exc.strerror or exc}") from None


def read_json(path: str | Path, raw: bytes | None = None) -> Any:
    """Parse an export file (or its bytes ``raw``, already read), turning every failure into a
    one-line InputError naming the file; an export that says it is incomplete raises ``PartialInput``
    (see ``partial_accepted``)."""
    p = Path(path)
    if raw is None:
        raw = read_bytes(p)
    obj = _parsed(p, raw)
    refuse_partial(obj, str(p))
    return obj


def _parsed(p: Path, raw: bytes) -> Any:
    try:
        with paused_gc():
            return parse_json(raw)
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{p}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InputError(f"{p}: JSON nested too deeply to be an export") from None
    except MemoryError:
        raise InputError(f"{p}: too large to read in this machine's memory ({len(raw)} bytes)") from None


def records_from(obj: Any, where: str = "input") -> list[dict]:
    """Return the list of NSG records inside a parsed export, whatever its shape.

    Records of other resource types (a mixed Resource Graph export) are left out on purpose;
    anything that is not a JSON object is kept so that the rules table reports it as an error.
    """
    if isinstance(obj, Mapping):
        for key in ("data", "value"):
            if key in obj:
                inner = obj[key]
                # Resource Graph "table" result format: {"columns": [...], "rows": [...]}.
                if isinstance(inner, Mapping) and "columns" in inner and "rows" in inner:
                    return _from_table(inner, f"{where}: {key}")
                if not isinstance(inner, list):
                    raise InputError(f"{where}: field {key!r} is {type(inner).__name__}, expected a list of NSG records")
                return _only_nsgs(inner)
        if "properties" in obj and "id" in obj:
            return _only_nsgs([obj])
        keys = ", ".join(sorted(map(str, obj))[:6]) or "no keys"
        raise InputError(
            f"{where}: unknown shape: a JSON object with {keys}; expected a list of NSG records, "
            "or an object with 'data' (Resource Graph) or 'value' (ARM)"
        )
    if isinstance(obj, list):
        return _only_nsgs(obj)
    raise InputError(f"{where}: unknown shape: JSON {type(obj).__name__}; expected a list or an object of NSG records")


def typed_records_from(obj: Any, types: Iterable[str]) -> list[dict]:
    """The records of the given resource ``types`` (lower-case) that a mixed export carries, in order.

    The shapes are those of ``records_from``; records without a ``type`` are never included.
    """
    wanted = {t.lower() for t in types}
    items: Any = obj
    if isinstance(obj, Mapping):
        items = next((obj[k] for k in ("data", "value") if k in obj), [obj])
        if isinstance(items, Mapping) and "columns" in items and "rows" in items:
            names = [c.get("name") if isinstance(c, Mapping) else c for c in items.get("columns") or []]
            items = [dict(zip(names, row, strict=False)) for row in items.get("rows") or [] if isinstance(row, list)]
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, Mapping) and str(i.get("type", "")).lower() in wanted]


def subscription_records_from(obj: Any) -> list[dict]:
    """Subscription rows (``resourcecontainers``) that an export may carry beside its NSGs."""
    items = obj.get("data", obj.get("value")) if isinstance(obj, Mapping) else obj
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, Mapping) and str(i.get("type", "")).lower() == SUBSCRIPTION_TYPE]


class EmptyInput(InputError):
    """An input with no NSG record at all: never read as a clean tenant unless the user says so."""


def require_nsgs(records: list, obj: Any, where: str) -> None:
    """Raise ``EmptyInput`` when an export holds no NSG record (``--allow-empty`` accepts it)."""
    if records:
        return
    items = obj.get("data", obj.get("value")) if isinstance(obj, Mapping) else obj
    others = len(items) if isinstance(items, list) else 0
    what = f" ({others} records of other types)" if others else ""
    raise EmptyInput(f"{where}: no NSG records{what}: an empty input is not a clean tenant; if the scope really "
                     "has no NSGs, say so with --allow-empty")


def read_records(path: str | Path) -> list[dict]:
    """Read NSG records from an export file (see module docstring for the shapes)."""
    return records_from(read_json(path), where=str(path))


def _only_nsgs(items: Iterable[Any]) -> list[dict]:
    out = []
    for item in items:
        if isinstance(item, Mapping):
            typ = item.get("type")
            if isinstance(typ, str) and typ and typ.lower() != NSG_TYPE:
                continue
        out.append(item)
    return out


def _from_table(table: Mapping, where: str) -> list[dict]:
    columns = table.get("columns")
    rows = table.get("rows")
    if not isinstance(columns, list) or not isinstance(rows, list):
        raise InputError(f"{where}: table result without 'columns' and 'rows' lists")
    names = [c.get("name") if isinstance(c, Mapping) else c for c in columns]
    return _only_nsgs(dict(zip(names, row, strict=False)) for row in rows if isinstance(row, list))
