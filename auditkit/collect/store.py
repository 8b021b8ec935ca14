"""What a collection leaves behind: the records it read, written as one snapshot with its meta.json.

Live collection and offline imports both end here, so a snapshot looks the same whichever way
its records arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from auditkit import __version__
from auditkit.collect.collection import Collection
from auditkit.collect.queries import QUERIES
from auditkit.engine.changes import CHANGE_TYPE, change_table
from auditkit.engine.layer_records import LAYER_TYPES
from auditkit.engine.policy_assignments import POLICY_TYPES, guardrail_table
from auditkit.engine.rules import Tables, rules_table
from auditkit.engine.topology import TOPOLOGY_TYPES, topology_table
from auditkit.evidence.codec import pack_received
from auditkit.evidence.writing import write_snapshot

# The record types of the topology rows: the modelled topology and the layers beyond NSGs (each
# once, whether or not the engine's TOPOLOGY_TYPES already lists the layers).
RECORD_TYPES = tuple(dict.fromkeys((*TOPOLOGY_TYPES, *LAYER_TYPES)))


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


def write(collection: Collection, snapshots_dir: str | Path) -> Path:
    """Write one snapshot of ``collection``: the NSG tables, and the topology, change and guardrail
    tables of the kinds it read.

    With ``rows.received`` (the documents exactly as they arrived) those are the raw evidence, and
    the rows are then not written a second time.
    """
    c, rows = collection, collection.rows
    nsg_rows, sub_rows = list(rows.nsgs), list(rows.subscriptions)
    tables = rules_table(nsg_rows)
    meta = _meta(c, nsg_rows, sub_rows, tables)
    raw = {"subscriptions": sub_rows, "nsgs": nsg_rows}
    frames = {"subscriptions": subscription_table(sub_rows, c.collected), "nsgs": tables.nsgs, "rules": tables.rules}
    _add_topology(c, raw, frames, meta)
    _add_changes(c, nsg_rows, raw, frames, meta)
    _add_guardrails(rows.policy, raw, frames, meta)
    if c.stats is not None:
        meta["requests"] = c.stats.as_dict()
    if c.partial:
        meta["partial"] = c.partial
    received = pack_received(rows.received) if isinstance(rows.received, list) else rows.received
    if received is not None:
        raw = {}
        meta["received_types"] = {"topology": list(RECORD_TYPES), "changes": [CHANGE_TYPE],
                                  "guardrails": list(POLICY_TYPES)}
    return write_snapshot(snapshots_dir, c.as_of, raw=raw, tables=frames, meta=meta, received=received)


def _meta(c: Collection, nsg_rows: list, sub_rows: list, tables: Tables) -> dict:
    """The snapshot's meta.json before the optional kinds: provenance, subscriptions, counts, record errors."""
    keys = {str(r.get("id", "")).lower() for r in nsg_rows if isinstance(r, dict)}
    return {
        "collected_at": c.collected_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool": "auditkit",
        "version": __version__,
        **c.source,
        "queries": QUERIES,
        "tenant_ids": tenant_ids(sub_rows, nsg_rows),
        "identity": c.identity or {"kind": "unknown"},
        "subscriptions": {"requested": c.requested, "collected": sorted(c.collected), "failed": c.failed},
        "counts": {"subscriptions": len(c.collected), "failed_subscriptions": len(c.failed), "nsgs": len(tables.nsgs),
                   "rules": len(tables.rules), "raw_nsg_rows": len(nsg_rows),
                   "duplicate_rows": len(nsg_rows) - len(keys), "record_errors": len(tables.errors)},
        "record_errors": tables.errors.to_dict(orient="records"),
    }


def _add_topology(c: Collection, raw: dict, frames: dict, meta: dict) -> None:
    """The topology tables and their meta.json entry; ``None`` there when the topology was not collected."""
    topology_rows = c.rows.topology
    if topology_rows is None:
        meta["topology"] = None
        return
    topo = topology_table(topology_rows)
    raw["topology"] = topology_rows
    frames.update({f"topo_{k}": v for k, v in topo.tables.items()})
    meta["topology"] = {"types": list(RECORD_TYPES), "counts": topo.counts(), "raw_rows": len(topology_rows),
                        "failed_subscriptions": sorted({s.lower() for s in c.topology_failed}),
                        "errors": len(topo.errors), "queries": c.topology_queries or {},
                        "failed_layers": {k: sorted({s.lower() for s in v}) for k, v in c.failed_layers.items()},
                        "layers": c.layers}
    meta["record_errors"] = meta["record_errors"] + topo.errors
    meta["counts"]["record_errors"] = len(meta["record_errors"])


def _add_changes(c: Collection, nsg_rows: list, raw: dict, frames: dict, meta: dict) -> None:
    """The rule changes table and its meta.json entry; ``None`` there when changes were not collected."""
    change_rows = c.rows.changes
    if change_rows is None:
        meta["changes"] = None
        return
    changes, change_errors = change_table(change_rows, nsg_rows)
    raw["changes"] = change_rows
    frames["changes"] = changes
    meta["changes"] = {"rows": len(change_rows), "attributed": int((changes["rule_name"] != "").sum()),
                       "failed_subscriptions": sorted({s.lower() for s in c.changes_failed}),
                       "errors": len(change_errors),
                       "note": "Resource Graph keeps about 14 days of changes"}
    meta["record_errors"] = meta["record_errors"] + change_errors
    meta["counts"]["record_errors"] = len(meta["record_errors"])


def _add_guardrails(policy_rows: list | None, raw: dict, frames: dict, meta: dict) -> None:
    """The guardrail assignments table and its meta.json entry; ``None`` there when not collected."""
    if policy_rows is None:
        meta["guardrails"] = None
        return
    guardrails = guardrail_table(policy_rows)
    raw["guardrails"] = policy_rows
    frames["guardrails"] = guardrails
    meta["guardrails"] = {"assignments": len(guardrails), "rows": len(policy_rows)}
