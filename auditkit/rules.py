"""The rules table: one row per NSG rule (custom and default), flattened from NSG records.

Singular and plural fields merge (``sourceAddressPrefix`` + ``sourceAddressPrefixes``); empty
strings and missing keys mean "not set". NSGs are keyed by their lower-cased resource id, never
by name: two ``nsg-web`` in different resource groups are different NSGs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    if not isinstance(value, list):
        return ()
    return tuple(a.get("id", "") if isinstance(a, Mapping) else str(a) for a in value if a)


def _props(obj: Any) -> Mapping:
    """ARM nests rule fields under ``properties``; some exports flatten them. Accept both."""
    if isinstance(obj, Mapping):
        p = obj.get("properties")
        if isinstance(p, Mapping):
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
                         n_sub > 0 or n_nic > 0, n_sub, n_nic, tags if isinstance(tags, Mapping) else {}))
        rule_lists.append(custom + defaults)
        default_flags.append([False] * len(custom) + [True] * len(defaults))

    counts = [len(r) for r in rule_lists]
    flat = [r for rules in rule_lists for r in rules]
    props = [_props(r) for r in flat]
    nsg_index = [i for i, c in enumerate(counts) for _ in range(c)]

    def nsg_col(j: int) -> list:
        col = [row[j] for row in nsg_rows]
        return [col[i] for i in nsg_index]

    data: dict[str, Any] = {
        "subscription_id": nsg_col(0),
        "resource_group": nsg_col(1),
        "nsg_id": nsg_col(2),
        "nsg_key": nsg_col(3),
        "nsg_name": nsg_col(4),
        "location": nsg_col(5),
        "rule_name": [str(r.get("name") or "") if isinstance(r, Mapping) else "" for r in flat],
        "rule_id": [str(r.get("id") or "") if isinstance(r, Mapping) else "" for r in flat],
        "default": [f for flags in default_flags for f in flags],
        "priority": [p.get("priority") for p in props],
        "direction": [p.get("direction") for p in props],
        "access": [p.get("access") for p in props],
        "protocol": [p.get("protocol") for p in props],
    }
    for column, single, plural in _LIST_FIELDS:
        data[column] = [_merge(p.get(single), p.get(plural)) for p in props]
    data["source_asgs"] = [_asgs(p.get("sourceApplicationSecurityGroups")) for p in props]
    data["destination_asgs"] = [_asgs(p.get("destinationApplicationSecurityGroups")) for p in props]
    data["description"] = [str(p.get("description") or "") for p in props]
    data["attached"] = nsg_col(6)
    data["subnets"] = nsg_col(7)
    data["nics"] = nsg_col(8)
    data["tags"] = nsg_col(9)

    for i, r in enumerate(flat):
        if not isinstance(r, Mapping):
            errors.append(_err(data["nsg_id"][i], "", "securityRules", f"rule #{i} is not a JSON object"))

    rules = pd.DataFrame(data, columns=RULE_COLUMNS)
    rules["priority"] = _priorities(rules["priority"])
    for col in ("direction", "access", "protocol"):
        rules[col] = rules[col].map(_text, na_action="ignore").astype("string")
    nsgs = pd.DataFrame(nsg_rows, columns=["subscription_id", "resource_group", "nsg_id", "nsg_key", "nsg_name",
                                           "location", "attached", "subnets", "nics", "tags"])
    return Tables(nsgs=nsgs, rules=rules, errors=pd.DataFrame(errors, columns=ERROR_COLUMNS))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _priorities(values: pd.Series) -> pd.Series:
    """Priorities as nullable integers: unreadable ones become <NA> (reported by the parser)."""
    numeric = pd.to_numeric(values, errors="coerce")
    whole = numeric.where(numeric.notna() & (numeric == numeric.round()))
    return whole.astype("Int64")


def _err(nsg_id: str, rule: str, field: str, message: str) -> dict:
    return {"nsg_id": nsg_id, "rule_name": rule, "field": field, "message": message}
