"""Public paths: how the internet gets a packet to an endpoint's port, before any NSG decides.

A path exists when the ip configuration has a public IP (the internet sees the port itself), or
it is in the backend pool of a load balancer whose public frontend has a load-balancing rule to
that backend port, or an inbound NAT rule (classic, port range onto a pool, or a scale set's NAT
pool) maps a frontend port onto it. Azure load balancers translate the port but not the client
address, so NSGs see the backend port and the internet's own source address.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditkit.engine.intervals import explode
from auditkit.engine.topology import Topology

PATH_COLUMNS = ["endpoint", "path", "public_ip", "frontend_port", "via", "sku"]
# Load balancer protocols that carry TCP ("All" is HA ports' and some rules' protocol).
_TCP = ("tcp", "all")


def _frontends(topo: Topology) -> pd.DataFrame:
    """Public frontends: (frontend_id, public address, SKU); a frontend without public IP is internal."""
    fe = topo["lb_frontends"]
    fe = fe[fe["public_ip_id"] != ""]
    pips = topo["public_ips"].drop_duplicates("public_ip_id").set_index("public_ip_id")
    address = pips["ip_address"].reindex(fe["public_ip_id"].to_numpy()).fillna("").to_numpy(dtype=object)
    return pd.DataFrame({"frontend_id": fe["frontend_id"].to_numpy(dtype=object),
                         "public_ip": np.where(address == "", "(not allocated)", address),
                         "sku": fe["sku"].to_numpy(dtype=object)})


def _frontend_port(rules: pd.DataFrame) -> np.ndarray:
    start = rules["frontend_port"].to_numpy(dtype=np.int64)
    end = rules["frontend_port_end"].to_numpy(dtype=np.int64)
    text = start.astype(str).astype(object)
    ranged = (end > start)
    text[ranged] = [f"{a}-{b}" for a, b in zip(start[ranged], end[ranged], strict=True)]
    return text


def _via_rules(links: pd.DataFrame, rules: pd.DataFrame, fronts: pd.DataFrame, path: str) -> pd.DataFrame:
    """(endpoint, rule_id) links through ``rules`` to their public frontends, as path rows."""
    m = links.merge(rules, on="rule_id")
    if not len(m):
        return pd.DataFrame(columns=PATH_COLUMNS)
    fr, fe_ids = explode(m["frontend_ids"].reset_index(drop=True))
    m = m.iloc[fr].assign(frontend_id=fe_ids).merge(fronts, on="frontend_id")
    return pd.DataFrame({"endpoint": m["endpoint"].to_numpy(), "path": path, "public_ip": m["public_ip"].to_numpy(),
                         "frontend_port": _frontend_port(m),
                         "via": (m["lb_name"] + "/" + m["rule_name"]).to_numpy(dtype=object),
                         "sku": m["sku"].to_numpy(dtype=object)}, columns=PATH_COLUMNS)


def public_paths(ep: pd.DataFrame, topo: Topology, port: int) -> pd.DataFrame:
    """Every public path to ``port`` of every endpoint (several per endpoint possible).

    For the topology's own endpoint table the answer is kept per port: exposure, layer findings
    and reach all ask for it (callers derive new frames from it, never change it).
    """
    memo = topo.__dict__.setdefault("_public_paths", {}) if ep is topo.__dict__.get("endpoint_table") else None
    if memo is not None and port in memo:
        return memo[port]
    out = _paths(ep, topo, port)
    if memo is not None:
        memo[port] = out
    return out


def _paths(ep: pd.DataFrame, topo: Topology, port: int) -> pd.DataFrame:
    parts = []
    # A public IP carries its own family's packets only (publicIPAddressVersion, else its address).
    version = topo["public_ips"].drop_duplicates("public_ip_id").set_index("public_ip_id")
    v = version["version"].astype(str).str.lower().reindex(ep["public_ip_id"].to_numpy(dtype=object)).fillna("")
    text = version["ip_address"].astype(str).reindex(ep["public_ip_id"].to_numpy(dtype=object)).fillna("")
    pip_family = np.where((v == "ipv6").to_numpy() | ((v == "").to_numpy() & text.str.contains(":").to_numpy()), 6, 4)
    same = (ep["public_ip_id"].to_numpy(dtype=object) == "") | (pip_family == ep["family"].to_numpy())
    direct = ((ep["public_ip_id"].to_numpy(dtype=object) != "") & same) | ep["public_ip_per_instance"].to_numpy(dtype=bool)
    if direct.any():
        d = ep[direct]
        address = d["public_ip"].to_numpy(dtype=object)
        address = np.where(d["public_ip_per_instance"].to_numpy(dtype=bool), "(one per instance)",
                           np.where(address == "", "(not allocated)", address))
        parts.append(pd.DataFrame({"endpoint": d.index.to_numpy(), "path": "public-ip", "public_ip": address,
                                   "frontend_port": str(port), "via": "",
                                   "sku": d["public_ip_sku"].to_numpy(dtype=object)}, columns=PATH_COLUMNS))
    rules = topo["lb_rules"]
    rules = rules[(rules["backend_port"] == port) & rules["protocol"].isin(_TCP)]
    fronts = _frontends(topo)
    if len(rules) and len(fronts):
        # Pool membership: from the ip configuration, or by address for IP-based pools.
        er, pool = explode(ep["pools"])
        members = pd.DataFrame({"endpoint": ep.index.to_numpy()[er], "pool_id": pool})
        by_ip = topo["lb_pool_members"]
        by_ip = by_ip[by_ip["ip_address"] != ""]
        if len(by_ip):
            hit = ep[["private_ip"]].reset_index(names="endpoint").merge(by_ip, left_on="private_ip",
                                                                         right_on="ip_address")
            members = pd.concat([members, hit[["endpoint", "pool_id"]]], ignore_index=True)
        pooled = rules[rules["kind"].isin(["rule", "nat-range"])]
        pr, pool_ids = explode(pooled["pool_ids"].reset_index(drop=True))
        by_pool = pd.DataFrame({"rule_id": pooled["rule_id"].to_numpy()[pr], "pool_id": pool_ids})
        links = members.merge(by_pool, on="pool_id")[["endpoint", "rule_id"]].drop_duplicates()
        lb = pooled[pooled["kind"] == "rule"]
        parts.append(_via_rules(links, lb, fronts, "load-balancer"))
        parts.append(_via_rules(links, pooled[pooled["kind"] == "nat-range"], fronts, "inbound-nat"))
        for column, kind in (("nat_rules", "nat"), ("nat_pools", "nat-pool")):
            r, ids = explode(ep[column])
            nat_links = pd.DataFrame({"endpoint": ep.index.to_numpy()[r], "rule_id": ids})
            parts.append(_via_rules(nat_links, rules[rules["kind"] == kind], fronts, "inbound-nat"))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "endpoint" else object) for c in PATH_COLUMNS})
    return pd.concat(parts, ignore_index=True).drop_duplicates().reset_index(drop=True)
