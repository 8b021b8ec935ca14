"""The KPIs the guidance names, computed from a History.

- open findings (present in the latest snapshot of a subscription that was read) and NSGs with
  open findings, per port; unknown findings (last seen in a subscription not read since), per port;
- resolved, reopened and unknown findings; MTTR in days (mean of ``resolved_at - first_seen``
  over resolved findings, ``None`` when nothing was resolved); ages of open findings;
- new findings per week: findings first seen after the first snapshot, divided by the weeks
  the snapshots span (``None`` for a single snapshot);
- tag coverage over the NSGs of the latest snapshot;
- open findings per layer (NSG, admin rule, firewall DNAT, Application Gateway), and per layer
  beyond NSGs the subscriptions of the latest snapshot where it was evaluated, not read, or not
  in the input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditkit.engine.layer_coverage import LAYER_TABLES
from auditkit.engine.reachability import EXPOSURES
from auditkit.history.acceptance import unused
from auditkit.history.timeline import (
    STATUS_ACCEPTED,
    STATUS_OPEN,
    STATUS_RESOLVED,
    STATUS_UNKNOWN,
    History,
    load_history,
)
from auditkit.settings import Settings


def _round(x: float | None, digits: int = 2) -> float | None:
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else round(float(x), digits)


LAYERS = ("nsg", *LAYER_TABLES)  # the layers a finding can come from


def exposure(findings: pd.DataFrame) -> pd.Series:
    """Each finding's effective exposure (``unknown-topology`` for history without it)."""
    if "exposure" not in findings:
        return pd.Series(["unknown-topology"] * len(findings), index=findings.index, dtype=object)
    return findings["exposure"].fillna("unknown-topology").astype(str)


def layer(findings: pd.DataFrame) -> pd.Series:
    """Each finding's layer (``nsg`` for history from before the other layers)."""
    if "layer" not in findings:
        return pd.Series(["nsg"] * len(findings), index=findings.index, dtype=object)
    return findings["layer"].astype(object).fillna("nsg").astype(str)


def layer_status(history: History) -> dict:
    """Per layer beyond NSGs, over the subscriptions of the latest snapshot: how many had it evaluated,
    which could not be read (their verdicts short of reachable are unknown), how many lacked it."""
    cov = history.latest.layers
    out = {}
    for name in LAYER_TABLES:
        rows = cov[cov["layer"] == name]
        status = rows["status"].to_numpy(dtype=object)
        out[name] = {"evaluated": int((status == "evaluated").sum()),
                     "not read": sorted(rows.loc[status == "not read", "subscription_id"].astype(str).unique()),
                     "not in input": int((status == "not in input").sum())}
    return out


def reached_endpoints(findings: pd.DataFrame) -> int:
    """Distinct endpoints (NIC or scale set ip configurations) the internet reaches through ``findings``."""
    if "endpoints" not in findings or not len(findings):
        return 0
    return len({e.get("nic_id") for eps in findings["endpoints"] for e in (eps or ())
                if isinstance(e, dict) and e.get("path") and not e.get("blocked_by")})


def _expired(history: History) -> list[dict]:
    """Entries past their date that still match a finding of the latest snapshot."""
    f = history.findings
    if "acceptance_state" not in f or not len(f):
        return []
    live = f[(f["acceptance_state"] == "expired") & (f["status"] == STATUS_OPEN)]
    seen: dict[int, dict] = {}
    for a in live["acceptance"]:
        seen.setdefault(a["index"], a)
    return [seen[i] for i in sorted(seen)]


def kpis_of(history: History) -> dict:
    """The KPI dict of a History (see module docstring)."""
    f = history.findings
    ports = history.ports
    status = f["status"].to_numpy(dtype=object)
    is_open = status == STATUS_OPEN
    port = f["port"].to_numpy(dtype=np.int64)
    open_f = f[is_open]
    resolved = f[status == STATUS_RESOLVED]
    snaps = history.snapshots
    first, last = snaps["as_of"].iloc[0], snaps["as_of"].iloc[-1]
    weeks = (last - first) / pd.Timedelta(days=7)
    first_snapshot = pd.Timestamp(first)
    new_after_baseline = int((f["first_seen"] > first_snapshot).sum())
    ages = open_f["age_days"].to_numpy(dtype=float)
    cov = history.latest.coverage
    invalid = history.governance[history.governance["expiry_invalid"].to_numpy(dtype=bool)]
    return {
        "as_of": last.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "snapshots": int(len(snaps)),
        "first_snapshot": first.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ports": list(ports),
        "open_findings": {str(p): int((is_open & (port == p)).sum()) for p in ports},
        "nsgs_with_open_findings": {str(p): int(open_f.loc[open_f["port"] == p, "nsg_key"].nunique()) for p in ports},
        # Effective exposure of open findings: reachable ones, and the machines they reach.
        "reachable_findings": {str(p): int(((open_f["port"] == p) & (exposure(open_f) == "reachable")).sum())
                               for p in ports},
        "reachable_endpoints": {str(p): reached_endpoints(open_f[open_f["port"] == p]) for p in ports},
        "reachable_machines": reached_endpoints(open_f),
        "open_findings_by_exposure": {e: int((exposure(open_f) == e).sum()) for e in EXPOSURES},
        "open_findings_by_layer": {x: int((layer(open_f) == x).sum()) for x in LAYERS},
        "layers": layer_status(history),
        "attached_open_findings": int(open_f["attached"].astype(bool).sum()),
        "latent_open_findings": int((~open_f["attached"].astype(bool)).sum()),
        # Accepted risks (parameters/exceptions.yaml): out of the open count while in force.
        "accepted_findings": int((status == STATUS_ACCEPTED).sum()),
        "accepted_findings_by_port": {str(p): int(((status == STATUS_ACCEPTED) & (port == p)).sum()) for p in ports},
        "expired_exceptions": _expired(history),
        "unused_exceptions": [e.as_dict() for e in unused(history.latest.findings, history.exceptions)]
        if history.exceptions else [],
        "resolved_findings": int(len(resolved)),
        "reopened_findings": int((f["reopened"].to_numpy() > 0).sum()),
        "reopenings": int(f["reopened"].sum()),
        "unknown_findings": int((status == STATUS_UNKNOWN).sum()),
        "unknown_findings_by_port": {str(p): int(((status == STATUS_UNKNOWN) & (port == p)).sum()) for p in ports},
        "open_over_90_days": int((is_open & (f["age_days"].fillna(-1).to_numpy(dtype=float) > 90)).sum()),
        "mttr_days": _round(resolved["time_to_remediate_days"].mean()) if len(resolved) else None,
        "open_age_days": {"median": _round(float(np.median(ages))) if len(ages) else None,
                          "max": _round(float(ages.max())) if len(ages) else None},
        "new_findings": new_after_baseline,
        "new_findings_per_week": _round(new_after_baseline / weeks) if weeks > 0 else None,
        "tag_coverage": {k: cov[k] for k in ("nsgs", "owner", "expiry", "expired", "justification",
                                             "production_rules_documented", "production_rules", "invalid_expiry")},
        "invalid_expiry": [{"nsg_id": r.nsg_id, "value": r.expiry_value} for r in invalid.itertuples()],
        "failed_subscriptions_latest": int(snaps["failed"].iloc[-1]),
        "snapshot_hashes_checked": bool(history.verified),
        "unreadable_snapshots": [{"snapshot": u.name, "reason": u.reason} for u in history.unreadable],
        # Snapshots of an input that said it is incomplete (--allow-partial): never a whole tenant.
        "partial_snapshots": [{"snapshot": d.snapshot.id, **d.snapshot.meta["partial"]} for d in history.derived
                              if isinstance(d.snapshot.meta.get("partial"), dict)],
        "latest_snapshot_partial": bool(history.latest.snapshot.meta.get("partial")),
        # Never "clean" without knowing: subscriptions the latest snapshot did not read, whose
        # findings are the last known state (counted under unknown_findings, never as resolved).
        "unread_subscriptions": [
            {"subscription_id": r.subscription_id, "name": r.name, "reason": r.reason,
             "last_read": None if pd.isna(r.last_read) else r.last_read.strftime("%Y-%m-%dT%H:%M:%SZ")}
            for r in history.unread.itertuples()],
    }


def kpis(snapshots_dir: str | Path = "snapshots", ports: Any = None, settings: Settings | None = None,
         as_of: Any = None, verify: bool = True) -> dict:
    """The KPIs over the snapshots in ``snapshots_dir`` (up to ``as_of`` when given), as a dict."""
    return kpis_of(load_history(snapshots_dir, ports=ports, settings=settings, as_of=as_of, verify=verify))
