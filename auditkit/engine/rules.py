"""The rules table: one row per NSG rule (custom and default), flattened from NSG records.

Singular and plural fields merge (``sourceAddressPrefix`` + ``sourceAddressPrefixes``); empty
strings and missing keys mean "not set". NSGs are keyed by their lower-cased resource id, never
by name: two ``nsg-web`` in different resource groups are different NSGs.
"""

from __future__ import annotations

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
]

ERROR_COLUMNS = ["nsg_id", "rule_name", "field", "message"]
NSG_COLUMNS = ["subscription_id", "resource_group", "nsg_id", "nsg_key", "nsg_name", "location", "attached",
               "subnets", "nics", "tags", "resource_guid"]
_DTYPES = {"default": bool, "attached": bool, "subnets": np.int64, "nics": np.int64, "priority": "Int64"}

# (table column, singular key, plural key) as in the ARM securityRules schema.
_LIST_FIELDS = [
    ("source_prefixes", "sourceAddressPrefix", "sourceAddressPrefixes"),
    ("source_ports", "sourcePortRange", "sourcePortRanges"),
    ("destination_prefixes", "destinationAddressPrefix", "destinationAddressPrefixes"),
    ("destination_ports", "destinationPortRange", "destinationPortRanges"),
]


def _merge(single: Any, plural: Any) -> tuple:
    """Merge a singular and a plural field into one tuple of non-empty strings."""
    out: list = []
    if isinstance(plural, list | tuple):
        out.extend(v if isinstance(v, str) else str(v) for v in plural if v is not None and v != "")
    elif plural not in (None, ""):
        out.append(str(plural))
    if single not in (None, ""):
        s = single if isinstance(single, str) else str(single)
        if s not in out:
            out.insert(0, s)
    return tuple(out)


def _asgs(value: Any) -> tuple:
    if not value or not isinstance(value, list):
        return ()
    return tuple(a.get("id", "") if isinstance(a, Mapping) else str(a) for a in value if a)


def _props(obj: Any) -> Mapping:
    """ARM nests rule fields under ``properties``; some exports flatten them. Accept both."""
    if type(obj) is dict or isinstance(obj, Mapping):
        p = obj.get("properties")
        if type(p) is dict or isinstance(p, Mapping):
            return p
        return obj
    return {}


def _segment(resource_id: str, name: str) -> str:
    parts = resource_id.split("/")
    lowered = [s.lower() for s in parts]
    try:
        i = lowered.index(name)
        return parts[i + 1]
    except (ValueError, IndexError):
        return ""


@dataclass(frozen=True)
class Tables:
    """NSG records flattened: one row per NSG, one row per rule, and unreadable records."""

    nsgs: pd.DataFrame
    rules: pd.DataFrame
    errors: pd.DataFrame


def rules_table(records: Sequence[Any]) -> Tables:
    """Flatten NSG records into the NSG table, the rules table and the record errors.

    ``errors`` holds records that could not be read at all (no id, properties of the wrong
    type); field-level problems in rules are found later, when the fields are parsed.
    """
    errors: list[dict] = []
    nsg_rows: list[tuple] = []
    rule_lists: list[list] = []
    default_flags: list[list] = []
    seen: dict[str, int] = {}
    for position, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            errors.append(_err(f"record #{position}", "", "record", f"not a JSON object ({type(rec).__name__})"))
            continue
        nsg_id = rec.get("id")
        if not isinstance(nsg_id, str) or not nsg_id.strip():
            name = rec.get("name", "")
            errors.append(_err(f"record #{position} ({name})" if name else f"record #{position}", "", "id",
                               "NSG record has no resource id"))
            continue
        key = nsg_id.lower()
        if key in seen:
            # Resource Graph pages can overlap when resources change during paging: first row wins.
            continue
        seen[key] = position
        props = rec.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, Mapping):
            errors.append(_err(nsg_id, "", "properties", f"expected an object, got {type(props).__name__}"))
            continue
        custom = props.get("securityRules") or []
        defaults = props.get("defaultSecurityRules") or []
        if not isinstance(custom, list):
            errors.append(_err(nsg_id, "", "securityRules", f"expected a list, got {type(custom).__name__}"))
            custom = []
        if not isinstance(defaults, list):
            errors.append(_err(nsg_id, "", "defaultSecurityRules", f"expected a list, got {type(defaults).__name__}"))
            defaults = []
        subnets = props.get("subnets") or []
        nics = props.get("networkInterfaces") or []
        n_sub = len(subnets) if isinstance(subnets, list) else 0
        n_nic = len(nics) if isinstance(nics, list) else 0
        tags = rec.get("tags")
        sub = rec.get("subscriptionId") or _segment(nsg_id, "subscriptions")
        rg = rec.get("resourceGroup") or _segment(nsg_id, "resourcegroups")
        name = rec.get("name") or nsg_id.rstrip("/").rsplit("/", 1)[-1]
        nsg_rows.append((str(sub), str(rg), nsg_id, key, str(name), str(rec.get("location") or ""),
                         n_sub > 0 or n_nic > 0, n_sub, n_nic, tags if isinstance(tags, Mapping) else {},
                         str(props.get("resourceGuid") or "").lower()))
        # A rule that is not a JSON object is reported here, once, and kept out of the table.
        for field, items in (("securityRules", custom), ("defaultSecurityRules", defaults)):
            for j, r in enumerate(items):
                if not isinstance(r, Mapping):
                    errors.append(_err(nsg_id, "", field, f"rule #{j} is not a JSON object ({type(r).__name__})"))
        custom = [r for r in custom if isinstance(r, Mapping)]
        defaults = [r for r in defaults if isinstance(r, Mapping)]
        rule_lists.append(custom + defaults)
        default_flags.append([False] * len(custom) + [True] * len(defaults))

    nsgs = pd.DataFrame(nsg_rows, columns=NSG_COLUMNS, dtype=object)
    counts = np.fromiter(map(len, rule_lists), dtype=np.int64, count=len(rule_lists))
    nsg_index = np.repeat(np.arange(len(nsg_rows)), counts)
    flat = list(chain.from_iterable(rule_lists))
    props = [_props(r) for r in flat]
    data: dict[str, Any] = {c: nsgs[c].to_numpy(dtype=object)[nsg_index] for c in NSG_COLUMNS if c in RULE_COLUMNS}
    data["rule_name"] = [str(r.get("name") or "") if type(r) is dict or isinstance(r, Mapping) else "" for r in flat]
    data["rule_id"] = [str(r.get("id") or "") if type(r) is dict or isinstance(r, Mapping) else "" for r in flat]
    data["default"] = np.fromiter(chain.from_iterable(default_flags), dtype=bool, count=len(flat))
    data["priority"] = _priorities([p.get("priority") for p in props])
    for col, key in (("direction", "direction"), ("access", "access"), ("protocol", "protocol")):
        data[col] = _text_column([p.get(key) for p in props])
    for column, single, plural in _LIST_FIELDS:
        # Fast path: the portal writes either the singular or the plural field, rarely both.
        data[column] = [(v,) if (v := p.get(single)).__class__ is str and v and not p.get(plural)
                        else _merge(v, p.get(plural)) for p in props]
    for column, key in (("source_asgs", "sourceApplicationSecurityGroups"),
                        ("destination_asgs", "destinationApplicationSecurityGroups")):
        data[column] = [_asgs(v) if (v := p.get(key)) else () for p in props]
    data["description"] = [str(d) if (d := p.get("description")) else "" for p in props]

    rules = pd.DataFrame({c: pd.Series(data[c], dtype=_DTYPES.get(c, object)) for c in RULE_COLUMNS})
    nsgs["attached"] = nsgs["attached"].astype(bool)
    nsgs["subnets"] = nsgs["subnets"].astype(np.int64)
    nsgs["nics"] = nsgs["nics"].astype(np.int64)
    return Tables(nsgs=nsgs, rules=rules, errors=pd.DataFrame(errors, columns=ERROR_COLUMNS))


def _text_column(values: list) -> np.ndarray:
    """Text or None per value; each distinct value converted once (fields repeat a few values)."""
    codes, uniques = pd.factorize(np.array(values, dtype=object))
    texts = np.array([_text(u) for u in uniques] + [None], dtype=object)
    return texts[codes]


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _priorities(values: list) -> pd.Series:
    """Priorities as nullable integers: unreadable ones become <NA> (reported by the parser)."""
    numeric = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype(float)
    whole = numeric.where(numeric.notna() & (numeric == numeric.round()) & (numeric >= 0) & (numeric < 2**31))
    return whole.astype("Int64")


def _err(nsg_id: str, rule: str, field: str, message: str) -> dict:
    return {"nsg_id": nsg_id, "rule_name": rule, "field": field, "message": message}
