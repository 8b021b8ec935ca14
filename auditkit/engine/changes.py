"""Who changed a rule, and when: Resource Graph's ``resourcechanges`` for NSGs, as a flat table.

Resource Graph keeps about 14 days of changes. Each change names its target NSG, its time, who
made it (``changedBy``), the client (``clientType``), the operation and the property paths it
touched (``properties.securityRules[3].properties.sourceAddressPrefix``). A path names a rule by
its position in the NSG's rule list; the position is read against the NSG record collected at
the same time (or the rule name the change itself carries).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

CHANGE_TYPE = "microsoft.resources/changes"
CHANGE_COLUMNS = ["change_id", "nsg_key", "rule_name", "changed_at", "change_type", "changed_by", "client_type",
                  "operation"]
_RULE_PATH = re.compile(r"^properties\.securityRules\[(\d+)\](?:\.(.*))?$", re.I)


def _rule_names(nsg_rows: Iterable[Any]) -> dict[str, list[str]]:
    out = {}
    for rec in nsg_rows:
        if isinstance(rec, Mapping) and isinstance(rec.get("id"), str):
            props = rec.get("properties") if isinstance(rec.get("properties"), Mapping) else {}
            rules = props.get("securityRules") if isinstance(props.get("securityRules"), list) else []
            out[rec["id"].lower()] = [str(r.get("name", "")) if isinstance(r, Mapping) else "" for r in rules]
    return out


def change_table(change_rows: Iterable[Any], nsg_rows: Iterable[Any]) -> tuple[pd.DataFrame, list[dict]]:
    """One row per (change, rule it touched); a change that touched no rule keeps ``rule_name`` "".

    Returns the table and the records that could not be read (id, field, message).
    """
    names = _rule_names(nsg_rows)
    rows, errors = [], []
    for n, rec in enumerate(change_rows):
        props = rec.get("properties") if isinstance(rec, Mapping) else None
        if not isinstance(props, Mapping):
            errors.append({"nsg_id": f"change record {n}", "rule_name": "", "field": "properties",
                           "message": "missing: the change cannot be attributed"})
            continue
        target = str(props.get("targetResourceId") or "").lower()
        attrs = props.get("changeAttributes") if isinstance(props.get("changeAttributes"), Mapping) else {}
        when = pd.to_datetime(attrs.get("timestamp"), utc=True, errors="coerce")
        if not target or pd.isna(when):
            errors.append({"nsg_id": target or f"change record {n}", "rule_name": "", "field": "changeAttributes",
                           "message": "no target or timestamp: the change cannot be attributed"})
            continue
        base = {"change_id": str(rec.get("id") or f"{target}#{n}"), "nsg_key": target, "changed_at": when,
                "change_type": str(props.get("changeType") or ""), "changed_by": str(attrs.get("changedBy") or ""),
                "client_type": str(attrs.get("clientType") or ""), "operation": str(attrs.get("operation") or "")}
        touched: set[str] = set()
        changes = props.get("changes") if isinstance(props.get("changes"), Mapping) else {}
        for path, delta in changes.items():
            m = _RULE_PATH.match(str(path))
            if not m:
                continue
            i, rest = int(m.group(1)), (m.group(2) or "")
            name = delta.get("newValue") if rest.lower() == "name" and isinstance(delta, Mapping) else None
            if not name and isinstance(delta, Mapping) and isinstance(delta.get("newValue"), Mapping):
                name = delta["newValue"].get("name")
            if not name:
                current = names.get(target, [])
                name = current[i] if i < len(current) else None
            if name:
                touched.add(str(name))
        for name in sorted(touched) or [""]:
            rows.append({**base, "rule_name": name})
    frame = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    frame["changed_at"] = pd.to_datetime(frame["changed_at"], utc=True)
    return frame, errors
