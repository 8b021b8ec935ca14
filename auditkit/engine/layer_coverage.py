"""Which layers a verdict rests on, per subscription: evaluated, not read, or not in the input.

A layer is ``evaluated`` for a subscription when its records were read (none there is an
answer: no firewall publishes anything); ``not read`` when the collection says it failed there
(``meta.json`` ``topology.failed_layers``) or a record of it could not be read; ``not in input``
when the input carries no record of the layer at all (an export made without those types, or a
snapshot collected before the layer existed): verdicts then stop at the layers that were read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from auditkit.engine.topology import Topology

COVERAGE_COLUMNS = ["subscription_id", "layer", "status", "records", "detail"]
LAYER_TABLES = {"admin-rule": ("admin_vnets", "admin_rules"), "firewall-dnat": ("firewalls", "dnat_rules"),
                "app-gateway": ("app_listeners",)}
_WHAT = {"admin-rule": ("VNet's admin rules read", "VNets' admin rules read"),
         "firewall-dnat": ("firewall", "firewalls"), "app-gateway": ("TCP/TLS listener", "TCP/TLS listeners")}
_RECORD_MARK = {"admin-rule": "/effectivesecurityadminrules", "firewall-dnat": "/azurefirewalls/",
                "app-gateway": "/applicationgateways/"}


def layer_coverage(topo: Topology | None, subscriptions: Iterable[str],
                   failed_layers: Mapping[str, Iterable[str]] | None = None,
                   collected: Mapping[str, bool] | None = None) -> pd.DataFrame:
    """One row per (subscription, layer) of the layers beyond NSGs (see module docstring).

    ``collected``: per layer, whether the collection asked for it (a live snapshot's
    ``topology.layers``); absent, a layer is in the input when it holds any record of it.
    """
    subs = sorted({str(s).lower() for s in subscriptions})
    failed = {k: {str(s).lower() for s in v} for k, v in (failed_layers or {}).items()}
    rows = []
    for layer, tables in LAYER_TABLES.items():
        frame = topo[tables[0]] if topo is not None else pd.DataFrame(columns=["subscription_id"])
        per_sub = frame["subscription_id"].astype(str).str.lower().value_counts() if len(frame) else pd.Series(dtype=int)
        held = bool(len(frame)) if not collected or layer not in collected else bool(collected[layer])
        bad = {str(e.get("nsg_id", "")).lower().split("/")[2] for e in (topo.errors if topo is not None else [])
               if _RECORD_MARK[layer] in str(e.get("nsg_id", "")).lower()
               and str(e.get("nsg_id", "")).lower().startswith("/subscriptions/")}
        vnets = set(topo["subnets"]["subscription_id"].astype(str).str.lower()) if topo is not None else set()
        for s in subs:
            n = int(per_sub.get(s, 0))
            # Admin rules are per VNet: a subscription with VNets and no record of theirs was not read,
            # though the input holds other VNets' (read as none, but never called evaluated).
            absent_here = layer == "admin-rule" and not n and s in vnets
            if s in failed.get(layer, set()):
                status, detail = "not read", "the collection could not read it in this subscription"
            elif s in bad:
                status, detail = "not read", "a record of it could not be read (see errors)"
            elif topo is None or not held:
                status, detail = "not in input", "the input carries no record of this layer"
            elif absent_here:
                status, detail = "not in input", "the input carries no admin rules of its VNets (read as none)"
            else:
                status, detail = "evaluated", f"{n} {_WHAT[layer][n != 1]}"
            rows.append({"subscription_id": s, "layer": layer, "status": status, "records": n, "detail": detail})
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)
