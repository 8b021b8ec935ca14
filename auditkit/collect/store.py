"""What a collection leaves behind: the records it read, written as one snapshot with its meta.json.

Live collection and offline imports both end here, so a snapshot looks the same whichever way
its records arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from auditkit import __version__
from auditkit.collect.queries import QUERIES
from auditkit.collect.resourcegraph import Stats
from auditkit.engine.changes import CHANGE_TYPE, change_table
from auditkit.engine.policy_assignments import POLICY_TYPES, guardrail_table
from auditkit.engine.rules import rules_table
from auditkit.engine.topology import TOPOLOGY_TYPES, topology_table
from auditkit.evidence.codec import pack_received
from auditkit.evidence.writing import write_snapshot


def subscription_table(rows: Sequence[dict], extra_ids: Sequence[str] = ()) -> pd.DataFrame:
    """One row per subscription: id, display name, state, tags (first row per id wins)."""
    seen: dict[str, dict] = {}
    for r in rows:
        sid = str(r.get("subscriptionId") or str(r.get("id", "")).rstrip("/").rsplit("/", 1)[-1]).lower()
        if sid and sid not in seen:
            props = r.get("properties") if isinstance(r.get("properties"), dict) else {}
            seen[sid] = {"subscription_id": sid, "name": str(r.get("name") or sid),
                         "state": str(props.get("state") or ""), "tags": r.get("tags") or {}}
    for sid in extra_ids:
        seen.setdefault(sid.lower(), {"subscription_id": sid.lower(), "name": sid.lower(), "state": "", "tags": {}})
    return pd.DataFrame(list(seen.values()), columns=["subscription_id", "name", "state", "tags"])


def tenant_ids(*row_lists: list) -> list[str]:
    """The Entra tenant ids the rows carry (``tenantId`` of Resource Graph rows), lower-cased."""
    return sorted({r["tenantId"].lower() for rows in row_lists for r in rows
                   if isinstance(r, dict) and isinstance(r.get("tenantId"), str) and r["tenantId"]})


def token_identity(token: str) -> dict:
    """Who collected: the claims of the access token that identify the caller (never the token).

    The token is only decoded, not verified: the service verified it; this is provenance.
    """
    import base64
    import json

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, TypeError):
        return {"kind": "token", "note": "the access token is not a JWT: caller unknown"}
    if not isinstance(claims, dict):
        return {"kind": "token", "note": "the access token carries no claims: caller unknown"}
    keep = ("tid", "oid", "appid", "azp", "upn", "unique_name", "name", "idtyp", "xms_mirid")
    return {"kind": "token", **{k: str(claims[k]) for k in keep if k in claims}}


def write(*, snapshots_dir: str | Path, as_of: datetime, collected_at: datetime, nsg_rows: list, sub_rows: list,
          requested: Any, collected: list[str], failed: list[dict], source: dict,
          stats: Stats | None, identity: dict | None = None, topology_rows: list | None = None,
          topology_failed: Sequence[str] = (), topology_queries: dict | None = None,
          change_rows: list | None = None, changes_failed: Sequence[str] = (),
          policy_rows: list | None = None,
          received: list[tuple[str, bytes]] | tuple[bytes, list[dict]] | None = None) -> Path:
    """Write one snapshot: the NSG tables, and the topology tables when ``topology_rows`` were read.

    ``topology_rows=None`` means the topology was not collected (reports then say
    "unknown-topology"); ``topology_failed`` names subscriptions whose topology queries failed.
    ``received`` are the documents exactly as they arrived (labelled response pages, or an export
    file; or already packed by ``pack_received``): they are the raw evidence, and the rows are then
    not written a second time.
    """
    tables = rules_table(nsg_rows)
    subs = subscription_table(sub_rows, collected)
    keys = {str(r.get("id", "")).lower() for r in nsg_rows if isinstance(r, dict)}
    meta = {
        "collected_at": collected_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool": "auditkit",
        "version": __version__,
        **source,
        "queries": QUERIES,
        "tenant_ids": tenant_ids(sub_rows, nsg_rows),
        "identity": identity or {"kind": "unknown"},
        "subscriptions": {"requested": requested, "collected": sorted(collected), "failed": failed},
        "counts": {"subscriptions": len(collected), "failed_subscriptions": len(failed), "nsgs": len(tables.nsgs),
                   "rules": len(tables.rules), "raw_nsg_rows": len(nsg_rows),
                   "duplicate_rows": len(nsg_rows) - len(keys), "record_errors": len(tables.errors)},
        "record_errors": tables.errors.to_dict(orient="records"),
    }
    raw = {"subscriptions": sub_rows, "nsgs": nsg_rows}
    frames = {"subscriptions": subs, "nsgs": tables.nsgs, "rules": tables.rules}
    if topology_rows is not None:
        topo = topology_table(topology_rows)
        raw["topology"] = topology_rows
        frames.update({f"topo_{k}": v for k, v in topo.tables.items()})
        meta["topology"] = {"types": list(TOPOLOGY_TYPES), "counts": topo.counts(), "raw_rows": len(topology_rows),
                            "failed_subscriptions": sorted({s.lower() for s in topology_failed}),
                            "errors": len(topo.errors), "queries": topology_queries or {}}
        meta["record_errors"] = meta["record_errors"] + topo.errors
        meta["counts"]["record_errors"] = len(meta["record_errors"])
    else:
        meta["topology"] = None
    if change_rows is not None:
        changes, change_errors = change_table(change_rows, nsg_rows)
        raw["changes"] = change_rows
        frames["changes"] = changes
        meta["changes"] = {"rows": len(change_rows), "attributed": int((changes["rule_name"] != "").sum()),
                           "failed_subscriptions": sorted({s.lower() for s in changes_failed}),
                           "errors": len(change_errors),
                           "note": "Resource Graph keeps about 14 days of changes"}
        meta["record_errors"] = meta["record_errors"] + change_errors
        meta["counts"]["record_errors"] = len(meta["record_errors"])
    else:
        meta["changes"] = None
    if policy_rows is not None:
        guardrails = guardrail_table(policy_rows)
        raw["guardrails"] = policy_rows
        frames["guardrails"] = guardrails
        meta["guardrails"] = {"assignments": len(guardrails), "rows": len(policy_rows)}
    else:
        meta["guardrails"] = None
    if stats is not None:
        meta["requests"] = stats.as_dict()
    if isinstance(received, list):
        received = pack_received(received)
    if received is not None:
        raw = {}
        meta["received_types"] = {"topology": list(TOPOLOGY_TYPES), "changes": [CHANGE_TYPE],
                                  "guardrails": list(POLICY_TYPES)}
    return write_snapshot(snapshots_dir, as_of, raw=raw, tables=frames, meta=meta, received=received)


