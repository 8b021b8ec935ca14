"""Tickets out: one record per finding for a ticketing system to upsert (CSV, JSON or OCSF).

Every record carries a stable id (a hash of the NSG id lower-cased, the rule name and the port),
so a later export updates the same tickets: open, reopened, unknown and accepted findings, and
those resolved since a period, with status ``resolved``. OCSF records follow the Detection
Finding class (2004) of OCSF 1.8.0 with the cloud profile.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from auditkit import __version__
from auditkit.engine.severity import SEVERITIES
from auditkit.flows.remediation import PLACEHOLDER_PREFIXES, restrict_command
from auditkit.history.period import period_of
from auditkit.history.timeline import STATUS_RESOLVED, History
from auditkit.present.findings import annotated, port_label
from auditkit.settings.controls import Control

OCSF_VERSION = "1.8.0"
# OCSF Detection Finding enumerations (schema 1.8.0).
# Each of the kit's severities (worst first) to its OCSF severity id and name; strict: a severity
# added to the vocabulary fails here until it is given one.
_OCSF_SEVERITY = dict(zip(SEVERITIES, [(5, "Critical"), (4, "High"), (3, "Medium"), (2, "Low"), (2, "Low"),
                                       (1, "Informational")], strict=True))
# The resource each layer's finding is a rule of.
_RESOURCE_TYPE = {"nsg": "Microsoft.Network/networkSecurityGroups", "firewall-dnat": "Microsoft.Network/azureFirewalls",
                  "admin-rule": "Microsoft.Network/virtualNetworks",
                  "app-gateway": "Microsoft.Network/applicationGateways"}
_OCSF_STATUS = {"open": (1, "New"), "accepted": (3, "Suppressed"), "resolved": (4, "Resolved"),
                "unknown": (0, "Unknown")}
_OCSF_ACTIVITY = {"open": (1, "Create"), "accepted": (2, "Update"), "unknown": (2, "Update"),
                  "resolved": (3, "Close")}
RECORD_FIELDS = ["id", "status", "reopened", "severity", "exposure", "layer", "port", "subscription_id", "subscription",
                 "resource_group", "nsg_id", "nsg_name", "rule_name", "priority", "sources", "destination_ports",
                 "owner", "justification", "expiry", "controls", "first_seen", "first_seen_source", "last_seen",
                 "changed_by", "changed_at", "resolved_at",
                 "accepted_until", "accepted_ticket", "report", "remediation"]


def finding_id(nsg_id: str, rule_name: str, port: int) -> str:
    """The stable id of a finding: the same NSG, rule and port give the same id in every export."""
    return hashlib.sha256(f"{str(nsg_id).lower()}\x00{rule_name}\x00{int(port)}".encode()).hexdigest()[:32]


def _when(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def ticket_records(history: History, controls: list[Control], names: dict[str, str], since: str | None = None,
                   reports: str = "reports") -> list[dict]:
    """Open, reopened, unknown and accepted findings, and those resolved since the start of ``since``
    (default: the latest snapshot's period), one dict each (see RECORD_FIELDS)."""
    period = period_of(history.snapshots["as_of"].iloc[-1])
    f = annotated(history, controls, statuses=())
    if not len(f):
        return []
    # A snapshot taken early in a month closes the month before: compare reporting periods.
    resolved = (f["status"] == STATUS_RESOLVED).to_numpy(dtype=bool)
    resolved_in = np.array([period_of(t) if r else "" for t, r in zip(f["resolved_at"], resolved, strict=True)],
                           dtype=object)
    keep = ~resolved | (resolved_in >= (since or period))
    f = f[keep.astype(bool)]
    gateways = tuple(history.settings.mail_gateways) or PLACEHOLDER_PREFIXES
    out = []
    for row in f.to_dict(orient="records"):
        status = str(row["status"])
        acc = row.get("acceptance") if row.get("acceptance_state") == "accepted" else None
        prefixes = gateways if int(row["port"]) == 25 else PLACEHOLDER_PREFIXES
        out.append({
            "id": finding_id(row["nsg_id"], row["rule_name"], row["port"]),
            "status": status, "reopened": int(row.get("reopened") or 0),
            "severity": row.get("severity"), "exposure": row.get("exposure"),
            "layer": str(row.get("layer") or "nsg") if not pd.isna(row.get("layer")) else "nsg",
            "port": int(row["port"]),
            "subscription_id": row["subscription_id"], "subscription": names.get(row["subscription_id"], ""),
            "resource_group": row["resource_group"], "nsg_id": row["nsg_id"], "nsg_name": row["nsg_name"],
            "rule_name": row["rule_name"], "priority": None if pd.isna(row["priority"]) else int(row["priority"]),
            "sources": list(row["sources"]), "destination_ports": list(row["destination_ports"]),
            "owner": row.get("owner"), "justification": row.get("justification"), "expiry": row.get("expiry"),
            "controls": [c.strip() for c in str(row.get("controls") or "").split(",") if c.strip()],
            "first_seen": _when(row["first_seen"]), "first_seen_source": row.get("first_seen_source"),
            "last_seen": _when(row["last_seen"]),
            "changed_by": row.get("changed_by") or None, "changed_at": _when(row.get("changed_at")),
            "resolved_at": _when(row["resolved_at"]),
            "accepted_until": acc["expires"] if acc else None, "accepted_ticket": acc["ticket"] if acc else None,
            "report": f"{reports}/{period}/{row['subscription_id']}.html#findings",
            "remediation": None if status in (STATUS_RESOLVED, "accepted") else remediation(row, prefixes),
        })
    return sorted(out, key=lambda r: (r["status"] != "open", r["subscription_id"], r["nsg_id"].lower(),
                                      r["rule_name"], r["port"]))


def remediation(row: dict, prefixes: tuple) -> str:
    """What to do about an open finding: the NSG command, or for another layer its own fix
    (``flows.remediation.restrict_command`` tells them apart)."""
    head = f"{port_label(int(row['port']))} open to the internet: restrict the sources (Analyze flow logs first)"
    return f"{head}: {restrict_command(row, prefixes)}"


def _ms(text: str | None) -> int | None:
    return None if text is None else int(pd.Timestamp(text).value // 1_000_000)


def ocsf(records: list[dict], as_of: Any) -> list[dict]:
    """The records as OCSF 1.8.0 Detection Findings (class 2004) with the cloud profile."""
    time_ms = int(pd.Timestamp(as_of).value // 1_000_000)
    out = []
    for r in records:
        sev_id, sev = _OCSF_SEVERITY.get(str(r["severity"]), (0, "Unknown"))
        st_id, st = _OCSF_STATUS.get(r["status"], (99, "Other"))
        act_id, act = _OCSF_ACTIVITY.get(r["status"], (99, "Other"))
        title = f"{port_label(r['port'])} open to the internet: {r['nsg_name']}/{r['rule_name']}"
        out.append({
            "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "category_name": "Findings",
            "activity_id": act_id, "activity_name": act, "type_uid": 200400 + act_id,
            "type_name": f"Detection Finding: {act}", "severity_id": sev_id, "severity": sev,
            "status_id": st_id, "status": st, "time": time_ms,
            "message": title,
            "metadata": {"version": OCSF_VERSION, "profiles": ["cloud"], "uid": r["id"],
                         "product": {"name": "auditkit", "vendor_name": "auditkit", "version": __version__}},
            "finding_info": {"uid": r["id"], "title": title, "types": ["Internet-exposed network port"],
                             "desc": _desc(r),
                             "first_seen_time": _ms(r["first_seen"]), "last_seen_time": _ms(r["last_seen"]),
                             "src_url": r["report"]},
            "cloud": {"provider": "Azure", "account": {"uid": r["subscription_id"], "name": r["subscription"],
                                                       "type": "Azure Subscription"}},
            "resources": [{"uid": r["nsg_id"], "name": r["nsg_name"],
                           "type": _RESOURCE_TYPE.get(r["layer"], _RESOURCE_TYPE["nsg"]),
                           "group": {"name": r["resource_group"]}, "owner": {"name": r["owner"]} if r["owner"] else None}],
            "remediation": {"desc": r["remediation"]} if r["remediation"] else None,
            "unmapped": {"exposure": r["exposure"], "layer": r["layer"], "controls": r["controls"], "reopened": r["reopened"],
                         "accepted_until": r["accepted_until"], "accepted_ticket": r["accepted_ticket"],
                         "resolved_at": r["resolved_at"], "auditkit_status": r["status"]},
        })
    return out


def _desc(r: dict) -> str:
    what = {"firewall-dnat": "DNAT rule", "admin-rule": "AlwaysAllow admin rule",
            "app-gateway": "TCP/TLS listener"}.get(r.get("layer"), "Inbound Allow rule")
    prio = f" (priority {r['priority']})" if r["priority"] is not None else ""
    return f"{what} {r['rule_name']}{prio} admits TCP {r['port']} from {', '.join(r['sources'])}; exposure: {r['exposure']}."


def as_frame(records: list[dict]) -> pd.DataFrame:
    """The records as a table for CSV (lists joined with ``;``)."""
    return pd.DataFrame(records, columns=RECORD_FIELDS).replace({np.nan: None})
