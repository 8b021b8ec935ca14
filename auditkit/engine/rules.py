"""The rules table: one row per NSG rule (custom and default), flattened from NSG records.

Singular and plural fields merge (``sourceAddressPrefix`` + ``sourceAddressPrefixes``); empty
strings and missing keys mean "not set". NSGs are keyed by their lower-cased resource id, never
by name: two ``nsg-web`` in different resource groups are different NSGs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

RULE_COLUMNS = [
    "subscription_id",
    "resource_group",
    "nsg_id",
    "nsg_key",
    "nsg_name",
    "location",
    "rule_name",
    "rule_id",
    "default",
    "priority",
    "direction",
    "access",
    "protocol",
    "source_prefixes",
    "source_ports",
    "destination_prefixes",
    "destination_ports",
    "source_asgs",
    "destination_asgs",
    "description",
    "attached",
    "subnets",
    "nics",
    "tags",
    "field_errors",
]

ERROR_COLUMNS = ["nsg_id", "rule_name", "field", "message"]
NSG_COLUMNS = ["subscription_id", "resource_group", "nsg_id", "nsg_key", "nsg_name", "location", "attached",
               "subnets", "nics", "tags", "resource_guid", "attached_ids"]
_DTYPES = {"default": bool, "attached": bool, "subnets": np.int64, "nics": np.int64, "priority": "Int64"}

# (table column, singular key, plural key) as in the ARM securityRules schema.
_LIST_FIELDS = [
    ("source_prefixes", "sourceAddressPrefix", "sourceAddressPrefixes"),
    ("source_ports", "sourcePortRange", "sourcePortRanges"),
    ("destination_prefixes", "destinationAddressPrefix", "destinationAddressPrefixes"),
    ("destination_ports", "destinationPortRange", "destinationPortRanges"),
]


# The shapes NSG records arrive in. Resource Graph, ARM and REST nest an NSG's fields under
# ``properties``; ``az network nsg list`` flattens them to the top level (camelCase); the Python
# SDK's ``as_dict()`` flattens them too, with snake_case names. All three are read alike.
RULE_LISTS = ("securityRules", "defaultSecurityRules")
_SNAKE = {
    "security_rules": "securityRules", "default_security_rules": "defaultSecurityRules",
    "network_interfaces": "networkInterfaces", "resource_guid": "resourceGuid",
    "provisioning_state": "provisioningState", "resource_group": "resourceGroup",
    "subscription_id": "subscriptionId",
    "source_port_range": "sourcePortRange", "source_port_ranges": "sourcePortRanges",
    "destination_port_range": "destinationPortRange", "destination_port_ranges": "destinationPortRanges",
    "source_address_prefix": "sourceAddressPrefix", "source_address_prefixes": "sourceAddressPrefixes",
    "destination_address_prefix": "destinationAddressPrefix",
    "destination_address_prefixes": "destinationAddressPrefixes",
    "source_application_security_groups": "sourceApplicationSecurityGroups",
    "destination_application_security_groups": "destinationApplicationSecurityGroups",
}
_PORT_FIELDS = {"sourcePortRange", "destinationPortRange"}
_RULE_KEYS = ("priority", "direction", "access", "protocol", *(k for _, s, p in _LIST_FIELDS for k in (s, p)),
              "sourceApplicationSecurityGroups", "destinationApplicationSecurityGroups", "description")


def _camel(d: Mapping) -> Mapping:
    """The SDK's snake_case names as the REST API's camelCase; other mappings unchanged."""
    return {_SNAKE.get(k, k): v for k, v in d.items()}


def _is_snake(d: Mapping) -> bool:
    return "security_rules" in d or "default_security_rules" in d


def nsg_properties(rec: Mapping) -> tuple[Mapping | None, str | None]:
    """The mapping that holds an NSG's rule lists and attachments, or ``(None, reason)``.

    An NSG record in which no rule list can be found is an error, never an NSG without rules: a
    projection that dropped ``properties`` must not read as a clean NSG.
    """
    props = rec.get("properties")
    if isinstance(props, Mapping):
        if _is_snake(props):
            props = _camel(props)
        if any(k in props for k in RULE_LISTS):
            return props, None
    if _is_snake(rec):
        return _camel(rec), None
    if any(k in rec for k in RULE_LISTS):
        return rec, None
    if props is not None and not isinstance(props, Mapping):
        return None, f"properties: expected an object, got {type(props).__name__}"
    return None, ("no securityRules or defaultSecurityRules, neither under properties nor at the top level: "
                  "the record does not say which rules the NSG has")


def _text_or_number(v: Any, port: bool) -> str | None:
    """A field entry as text; ports may be written as JSON numbers. None when of the wrong type."""
    if v.__class__ is str:
        return v
    if port and v.__class__ is int:
        return str(v)
    return None


def _merge(single: Any, plural: Any, field: str, problems: list) -> tuple:
    """A singular and a plural field merged into one tuple of non-empty strings; entries of the
    wrong type (a list or an object where text is expected) go to ``problems``."""
    port = field in _PORT_FIELDS
    out: list = []
    if isinstance(plural, list | tuple):
        for v in plural:
            if v is None or v == "":
                continue
            s = _text_or_number(v, port)
            if s is None:
                problems.append((field, f"an entry of the list is {_kind(v)}, expected text"))
            else:
                out.append(s)
    elif plural is not None and plural != "":
        problems.append((field, f"the plural field is {_kind(plural)}, expected a list of text"))
    if single is not None and single != "":
        s = _text_or_number(single, port)
        if s is None:
            problems.append((field, f"is {_kind(single)}, expected text"))
        elif s not in out:
            out.insert(0, s)
    return tuple(out)


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(v), type(v).__name__)


def _asgs(value: Any, field: str, problems: list) -> tuple:
    if value is None or value == [] or value == "":
        return ()
    if not isinstance(value, list):
        problems.append((field, f"is {_kind(value)}, expected a list of application security groups"))
        return ()
    out = []
    for a in value:
        ident = a.get("id") if isinstance(a, Mapping) else a
        if ident.__class__ is str and ident:
            out.append(ident)
        else:
            problems.append((field, "an application security group without a resource id"))
    return tuple(out)


def _props(obj: Any, snake: bool = False) -> Mapping:
    """ARM nests rule fields under ``properties``; some exports flatten them. Accept both."""
    if type(obj) is dict or isinstance(obj, Mapping):
        p = obj.get("properties")
        if not (type(p) is dict or isinstance(p, Mapping)):
            p = obj
        return _camel(p) if snake else p
    return {}


def _segment(resource_id: str, name: str) -> str:
    parts = resource_id.split("/")
    lowered = [s.lower() for s in parts]
    try:
        i = lowered.index(name)
        return parts[i + 1]
    except (ValueError, IndexError):
        return ""


def _tags(value: Any) -> tuple[dict, str | None]:
    """An NSG's tags as text values; anything else is reported and kept as its JSON text."""
    if value is None:
        return {}, None
    if not isinstance(value, Mapping):
        return {}, f"expected an object of tags, got {_kind(value)}"
    if all(v.__class__ is str for v in value.values()):
        return dict(value), None
    out, bad = {}, []
    for k, v in value.items():
        if v is None or isinstance(v, str | int | float | bool):
            out[str(k)] = v
        else:
            bad.append(str(k))
            try:
                out[str(k)] = json.dumps(v, ensure_ascii=False, sort_keys=True)[:1000]
            except (TypeError, ValueError, RecursionError):
                out[str(k)] = "<unreadable>"
    return out, (f"tag(s) {', '.join(bad[:5])} hold {'an object or a list'} instead of text" if bad else None)


@dataclass(frozen=True)
class Tables:
    """NSG records flattened: one row per NSG, one row per rule, and unreadable records."""

    nsgs: pd.DataFrame
    rules: pd.DataFrame
    errors: pd.DataFrame


def rules_table(records: Sequence[Any]) -> Tables:
    """Flatten NSG records into the NSG table, the rules table and the record errors.

    ``errors`` holds records that could not be read at all (no id, no rule list), duplicates that
    disagree, and NSG-level problems (tags); a rule's fields of the wrong type are kept in its
    ``field_errors`` and reported with the other field problems when the fields are parsed.
    """
    read = _read_records(records)
    nsgs = pd.DataFrame(read.nsg_rows, columns=NSG_COLUMNS, dtype=object)
    rules = _rules_frame(nsgs, read)
    nsgs["attached"] = nsgs["attached"].astype(bool)
    nsgs["subnets"] = nsgs["subnets"].astype(np.int64)
    nsgs["nics"] = nsgs["nics"].astype(np.int64)
    return Tables(nsgs=nsgs, rules=rules, errors=pd.DataFrame(read.errors, columns=ERROR_COLUMNS))


@dataclass
class _Read:
    """What the records held, per NSG kept: its row, its rules (custom then default), which of them
    are default rules, whether its fields are snake_case; and the record errors."""

    errors: list[dict]
    nsg_rows: list[tuple]
    rule_lists: list[list]
    default_flags: list[list]
    snake_flags: list[bool]


def _read_records(records: Sequence[Any]) -> _Read:
    """Each NSG record once (the first of each id), with the errors of those that cannot be read."""
    read = _Read([], [], [], [], [])
    errors = read.errors
    seen: dict[str, int] = {}
    for position, rec in enumerate(records):
        if rec.__class__ is not dict and not isinstance(rec, Mapping):
            errors.append(_err(f"record #{position}", "", "record", f"not a JSON object ({type(rec).__name__})"))
            continue
        nsg_id = rec.get("id")
        if not isinstance(nsg_id, str) or not nsg_id.strip():
            name = rec.get("name", "")
            label = f"record #{position} ({name})" if isinstance(name, str) and name else f"record #{position}"
            errors.append(_err(label, "", "id", "NSG record has no resource id"))
            continue
        key = nsg_id.lower()
        if key in seen:
            # Resource Graph pages can overlap when resources change during paging: the same row
            # twice is one NSG. Two different records under one id are reported, first kept.
            if rec != records[seen[key]]:
                errors.append(_err(nsg_id, "", "id", f"record #{position} repeats this NSG id with different "
                                                     f"content; the first record (#{seen[key]}) was used"))
            continue
        seen[key] = position
        props, problem = nsg_properties(rec)
        if props is None:
            errors.append(_err(nsg_id, "", "properties", problem))
            continue
        read.nsg_rows.append(_nsg_row(rec, nsg_id, props, errors))
        custom, defaults = _rule_lists(nsg_id, props, errors)
        read.rule_lists.append(custom + defaults)
        read.default_flags.append([False] * len(custom) + [True] * len(defaults))
        read.snake_flags.append(_is_snake(rec) or _is_snake(rec.get("properties") or {}))
    return read


def _nsg_row(rec: Mapping, nsg_id: str, props: Mapping, errors: list[dict]) -> tuple:
    """The NSG table's row of one record (``NSG_COLUMNS``); a problem with its tags goes to ``errors``."""
    subnets = props.get("subnets") or []
    nics = props.get("networkInterfaces") or []
    n_sub = len(subnets) if isinstance(subnets, list) else 0
    n_nic = len(nics) if isinstance(nics, list) else 0
    tags, tag_problem = _tags(rec.get("tags"))
    if tag_problem:
        errors.append(_err(nsg_id, "", "tags", tag_problem))
    sub = _s(rec.get("subscriptionId")) or _s(rec.get("subscription_id")) or _segment(nsg_id, "subscriptions")
    rg = _s(rec.get("resourceGroup")) or _s(rec.get("resource_group")) or _segment(nsg_id, "resourcegroups")
    name = _s(rec.get("name")) or nsg_id.rstrip("/").rsplit("/", 1)[-1]
    attached_ids = tuple(i for lst in (subnets, nics) if isinstance(lst, list) for a in lst
                         if (a.__class__ is dict or isinstance(a, Mapping)) and (i := a.get("id")).__class__ is str
                         and i)
    return (sub, rg, nsg_id, nsg_id.lower(), name, _s(rec.get("location")) or "", n_sub > 0 or n_nic > 0, n_sub,
            n_nic, tags, (_s(props.get("resourceGuid")) or "").lower(), attached_ids)


def _rule_lists(nsg_id: str, props: Mapping, errors: list[dict]) -> tuple[list, list]:
    """An NSG's custom and default rules; a list or a rule that is not what it should be goes to ``errors``."""
    custom = props.get("securityRules")
    defaults = props.get("defaultSecurityRules")
    custom = [] if custom is None else custom
    defaults = [] if defaults is None else defaults
    if not isinstance(custom, list):
        errors.append(_err(nsg_id, "", "securityRules", f"expected a list, got {_kind(custom)}"))
        custom = []
    if not isinstance(defaults, list):
        errors.append(_err(nsg_id, "", "defaultSecurityRules", f"expected a list, got {_kind(defaults)}"))
        defaults = []
    # A rule that is not a JSON object is reported here, once, and kept out of the table.
    if not all(r.__class__ is dict for r in chain(custom, defaults)):
        for name, items in (("securityRules", custom), ("defaultSecurityRules", defaults)):
            for j, r in enumerate(items):
                if not isinstance(r, Mapping):
                    errors.append(_err(nsg_id, "", name, f"rule #{j} is not a JSON object ({type(r).__name__})"))
        custom = [r for r in custom if isinstance(r, Mapping)]
        defaults = [r for r in defaults if isinstance(r, Mapping)]
    return custom, defaults


def _rule_fields(flat: list, snake: np.ndarray) -> dict[str, tuple]:
    """Every field the rules table reads, per rule (``_RULE_KEYS``), whatever the records' shape."""
    if snake.any():
        props = [_props(r, s) for r, s in zip(flat, snake, strict=True)]
    else:
        props = [p if (p := r.get("properties")).__class__ is dict else _props(r) for r in flat]
    if not props:
        return dict.fromkeys(_RULE_KEYS, ())
    # Fetched in one C-level pass per rule, then split into columns.
    return dict(zip(_RULE_KEYS, zip(*[tuple(map(p.get, _RULE_KEYS)) for p in props], strict=True), strict=True))


def _rules_frame(nsgs: pd.DataFrame, read: _Read) -> pd.DataFrame:
    """One row per rule (``RULE_COLUMNS``): its NSG's columns, then its own fields, checked."""
    counts = np.fromiter(map(len, read.rule_lists), dtype=np.int64, count=len(read.rule_lists))
    nsg_index = np.repeat(np.arange(len(read.nsg_rows)), counts)
    flat = list(chain.from_iterable(read.rule_lists))
    fields = _rule_fields(flat, np.repeat(np.asarray(read.snake_flags, dtype=bool), counts))
    problems: defaultdict[int, list] = defaultdict(list)  # rule position -> (field, message): rare
    data: dict[str, Any] = {c: nsgs[c].to_numpy(dtype=object)[nsg_index] for c in NSG_COLUMNS if c in RULE_COLUMNS}
    names = _checked_text([r.get("name") for r in flat], "name", problems)
    data["rule_name"] = [n or "" for n in names]
    data["rule_id"] = [str(i) if (i := r.get("id")).__class__ is str else "" for r in flat]
    data["default"] = np.fromiter(chain.from_iterable(read.default_flags), dtype=bool, count=len(flat))
    data["priority"] = _priorities(list(fields["priority"]), problems)
    for col in ("direction", "access", "protocol"):
        data[col] = _text_column(_checked_text(list(fields[col]), col, problems))
    for column, single, plural in _LIST_FIELDS:
        singles, plurals = fields[single], fields[plural]
        # Fast path: the portal writes either the singular or the plural field, rarely both.
        merged = [(v,) if v.__class__ is str and v and not q else None for v, q in zip(singles, plurals, strict=True)]
        for i in [i for i, m in enumerate(merged) if m is None]:
            merged[i] = _merge(singles[i], plurals[i], single, problems[i])
        data[column] = merged
    for column, key in (("source_asgs", "sourceApplicationSecurityGroups"),
                        ("destination_asgs", "destinationApplicationSecurityGroups")):
        data[column] = [_asgs(v, key, problems[i]) if v else () for i, v in enumerate(fields[key])]
    data["description"] = [d or "" for d in _checked_text(list(fields["description"]), "description", problems)]
    field_errors: list = [()] * len(flat)
    for i, ps in problems.items():
        field_errors[i] = tuple(f"{f}\t{m}" for f, m in ps)
    data["field_errors"] = field_errors
    return pd.DataFrame({c: pd.Series(data[c], dtype=_DTYPES.get(c, object)) for c in RULE_COLUMNS})


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _checked_text(values: list, field: str, problems: defaultdict) -> list:
    """Text or None per value; a value of another type (a list, an object, a number) is None and a problem."""
    for i in [i for i, v in enumerate(values) if v is not None and v.__class__ is not str]:
        problems[i].append((field, f"is {_kind(values[i])}, expected text"))
        values[i] = None
    return values


def _text_column(values: list) -> np.ndarray:
    """Text or None per value (already checked to be text or None); empty text is None."""
    out = np.empty(len(values), dtype=object)
    out[:] = [v or None for v in values]
    return out


def _priorities(values: list, problems: defaultdict) -> pd.Series:
    """Priorities as nullable integers: unreadable ones become <NA> (reported by the parser); a
    boolean, a list or an object is a problem of its own (JSON ``true`` is not priority 1)."""
    for i in [i for i, v in enumerate(values) if v is not None and v.__class__ not in (int, float, str)]:
        problems[i].append(("priority", f"is {_kind(values[i])}, expected a number"))
        values[i] = None
    numeric = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype(float)
    whole = numeric.where(numeric.notna() & (numeric == numeric.round()) & (numeric >= 0) & (numeric < 2**31))
    return whole.astype("Int64")


def _err(nsg_id: str, rule: str, field: str, message: str) -> dict:
    return {"nsg_id": nsg_id, "rule_name": rule, "field": field, "message": message}
