"""Guardrails in place: the kit's policy assignments and their compliance, from Resource Graph's
``policyresources`` (assignments of an ``auditkit-internet-port-<port>`` definition and their
policy states), one row per assignment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from auditkit.evidence.records import properties

ASSIGNMENT_TYPE = "microsoft.authorization/policyassignments"
STATE_TYPE = "microsoft.policyinsights/policystates"
POLICY_TYPES = (ASSIGNMENT_TYPE, STATE_TYPE)
DEFINITION_PREFIX = "auditkit-internet-port-"
GUARDRAIL_COLUMNS = ["subscription_id", "assignment_id", "assignment", "definition", "port", "effect", "scope",
                     "evaluated", "non_compliant", "compliance"]


def _param(props: Mapping, name: str) -> str:
    p = props.get("parameters")
    v = p.get(name) if isinstance(p, Mapping) else None
    return str(v.get("value")) if isinstance(v, Mapping) and v.get("value") is not None else ""


def guardrail_table(rows: Iterable[Any]) -> pd.DataFrame:
    """Assignments of the kit's guardrail definitions, with how many resources they found non-compliant."""
    assignments, states = [], []
    for r in rows:
        typ = str(r.get("type", "")).lower() if isinstance(r, Mapping) else ""
        (assignments if typ == ASSIGNMENT_TYPE else states if typ == STATE_TYPE else []).append(r)
    counts: dict[str, list[int]] = {}
    for s in states:
        p = properties(s)
        key = str(p.get("policyAssignmentId") or "").lower()
        c = counts.setdefault(key, [0, 0])
        c[0] += 1
        c[1] += str(p.get("complianceState") or "").lower() == "noncompliant"
    out = []
    for a in assignments:
        p = properties(a)
        definition = str(p.get("policyDefinitionId") or "").rstrip("/").rsplit("/", 1)[-1]
        if not definition.lower().startswith(DEFINITION_PREFIX):
            continue
        aid = str(a.get("id") or "").lower()
        scope = str(p.get("scope") or aid.split("/providers/")[0])
        evaluated, bad = counts.get(aid, [0, 0])
        port = _param(p, "port") or definition[len(DEFINITION_PREFIX):]
        out.append({"subscription_id": str(a.get("subscriptionId") or "").lower()
                    or (scope.split("/")[2].lower() if scope.lower().startswith("/subscriptions/") else ""),
                    "assignment_id": aid, "assignment": str(p.get("displayName") or a.get("name") or ""),
                    "definition": definition, "port": port, "effect": _param(p, "effect") or "(default)",
                    "scope": scope, "evaluated": evaluated, "non_compliant": bad,
                    "compliance": "not evaluated yet" if not evaluated else
                    ("compliant" if not bad else f"{bad} non-compliant")})
    return pd.DataFrame(out, columns=GUARDRAIL_COLUMNS)
