"""Public paths through a proxy: Azure Firewall DNAT rules and Application Gateway TCP/TLS listeners.

A DNAT rule publishes the firewall's public IP and port to its sources and translates the
packet to a private address and port; Azure Firewall FAQ: DNAT implicitly allows the translated
traffic, no network rule is needed. The backend then sees the firewall's private address as the
source (Azure Firewall NAT behaviours), so its NSGs and admin rules are evaluated for that source,
not for the internet. An Application Gateway TCP/TLS listener proxies likewise and does not keep
the client's address ("Application Gateway TCP/TLS proxy overview").
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd

from auditkit.engine.intervals import V4_MAX
from auditkit.engine.topology import Topology

PROXY_COLUMNS = ["endpoint", "path", "public_ip", "frontend_port", "via", "sku", "src_lo", "src_hi", "holder_id",
                 "rule_name", "owner"]
RULE_COLUMNS = ["subscription_id", "firewall_id", "firewall_name", "holder_id", "collection", "rule_name", "sources",
                "destinations", "destination_ports", "translated_address", "translated_port", "port", "internet",
                "tcp", "private_ip", "subnet_id", "policy_name"]
_ALL = ("*", "any", "internet")


def _covers_internet(addresses: tuple) -> bool:
    """Whether DNAT source addresses cover every IPv4 address (``*``, or prefixes whose union does)."""
    nets = []
    for a in addresses:
        a = str(a).strip().lower()
        if a in _ALL:
            return True
        try:
            net = ipaddress.ip_network(a, strict=False)
        except ValueError:
            continue
        if net.version == 4:
            nets.append(net)
    return any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(nets))


def _policy_chain(policies: pd.DataFrame, start: str) -> list[str]:
    """A policy and its base policies, nearest first (a child policy inherits its parent's rules)."""
    base = dict(zip(policies["policy_id"], policies["base_policy_id"], strict=False))
    chain: list[str] = []
    while start and start not in chain:
        chain.append(start)
        start = base.get(start, "")
    return chain


def dnat_rules(topo: Topology) -> pd.DataFrame:
    """Every DNAT rule per firewall that applies it (classic collections, then its policy's and
    base policies' rule collection groups), with its sources resolved (IP groups expanded),
    ``port`` (the translated port, -1 when unreadable), ``internet`` and ``tcp``."""
    fw, rules = topo["firewalls"], topo["dnat_rules"]
    if not len(fw) or not len(rules):
        return pd.DataFrame(columns=RULE_COLUMNS)
    links = []
    for f in fw.itertuples(index=False):  # firewalls are few; their policies' chains short
        links.append((f.firewall_id, f.firewall_id))
        links.extend((f.firewall_id, p) for p in _policy_chain(topo["firewall_policies"], f.policy_id))
    owners = pd.DataFrame(links, columns=["firewall_id", "owner_id"])
    m = owners.merge(rules.drop(columns=["subscription_id"]), on="owner_id") \
        .merge(fw[["firewall_id", "firewall_name", "subscription_id", "private_ip", "subnet_id"]], on="firewall_id")
    groups = dict(zip(topo["ip_groups"]["ip_group_id"], topo["ip_groups"]["addresses"], strict=False))
    sources = [tuple(s) + tuple(a for g in ig for a in groups.get(g, ())) for s, ig in
               zip(m["sources"], m["ip_groups"], strict=True)]
    port = pd.to_numeric(m["translated_port"], errors="coerce").fillna(-1).astype(np.int64)
    return pd.DataFrame({
        "subscription_id": m["subscription_id"].to_numpy(), "firewall_id": m["firewall_id"].to_numpy(),
        "firewall_name": m["firewall_name"].to_numpy(), "holder_id": m["holder_id"].to_numpy(),
        "collection": m["collection"].to_numpy(), "rule_name": m["rule_name"].to_numpy(),
        "sources": sources, "destinations": m["destinations"].to_numpy(),
        "destination_ports": m["destination_ports"].to_numpy(),
        "translated_address": m["translated_address"].to_numpy(), "translated_port": m["translated_port"].to_numpy(),
        "port": port.to_numpy(), "internet": [_covers_internet(s) for s in sources],
        "tcp": [any(p in ("tcp", "any") for p in ps) for ps in m["protocols"]],
        "private_ip": m["private_ip"].to_numpy(), "subnet_id": m["subnet_id"].to_numpy(),
        "policy_name": [h.split("/rulecollectiongroups/")[0].rsplit("/", 1)[-1] if "/rulecollectiongroups/" in h
                        else "" for h in m["holder_id"]],
    }, columns=RULE_COLUMNS)


def _prefix_range(prefixes: tuple) -> tuple[int, int]:
    for p in prefixes or ():
        try:
            net = ipaddress.ip_network(str(p), strict=False)
        except ValueError:
            continue
        if net.version == 4:
            return int(net.network_address), int(net.broadcast_address)
    return 0, V4_MAX


def _source_ranges(subnet_ids: np.ndarray, prefixes: pd.Series) -> np.ndarray:
    """Per subnet id, (lo, hi) of its first IPv4 prefix (all of IPv4 when not in ``prefixes`` or
    unreadable); each distinct subnet read once."""
    if not len(subnet_ids):
        return np.zeros((0, 2), dtype=np.int64)
    codes, uniques = pd.factorize(pd.Series(subnet_ids, dtype=object), use_na_sentinel=False)
    ranges = np.array([_prefix_range(prefixes[s]) if s in prefixes.index else (0, V4_MAX) for s in uniques],
                      dtype=np.int64).reshape(-1, 2)
    return ranges[codes]


def rule_label(r) -> str:
    """How a DNAT rule is named in paths and findings: policy/group/collection/rule or collection/rule."""
    if r.policy_name:
        group = r.holder_id.rsplit("/", 1)[-1]
        return f"{r.policy_name}/{group}/{r.collection}/{r.rule_name}"
    return f"{r.collection}/{r.rule_name}"


def proxy_paths(ep: pd.DataFrame, topo: Topology, port: int, rules: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every firewall-DNAT and app-gateway path that delivers an internet packet to ``port`` of an
    endpoint, with the private source range (``src_lo``..``src_hi``) it arrives from."""
    rules = dnat_rules(topo) if rules is None else rules
    parts = []
    by_ip = ep[["private_ip"]].reset_index(names="endpoint")
    by_ip = by_ip[by_ip["private_ip"] != ""]
    live = rules[(rules["port"] == port) & rules["internet"].astype(bool) & rules["tcp"].astype(bool)]
    if len(live):
        m = live.merge(by_ip, left_on="translated_address", right_on="private_ip")
        # DNAT also SNATs: the backend sees an instance address of the AzureFirewallSubnet, not
        # the firewall's listed private IP (Architecture Center, "Firewall and Application Gateway
        # for virtual networks"): the source is the subnet's prefix when the input holds it.
        subnets = topo["subnets"].drop_duplicates("subnet_id").set_index("subnet_id")["prefixes"]
        src = _source_ranges(m["subnet_id"].to_numpy(dtype=object), subnets)
        parts.append(pd.DataFrame({
            "endpoint": m["endpoint"].to_numpy(), "path": "firewall-dnat",
            "public_ip": [", ".join(d) or "(firewall public IP)" for d in m["destinations"]],
            "frontend_port": [", ".join(p) for p in m["destination_ports"]],
            "via": [f"firewall {r.firewall_name} DNAT rule {rule_label(r)}" for r in m.itertuples(index=False)],
            "sku": "", "src_lo": src[:, 0], "src_hi": src[:, 1], "holder_id": m["firewall_id"].to_numpy(),
            "rule_name": [rule_label(r) for r in m.itertuples(index=False)], "owner": "firewall-dnat"},
            columns=PROXY_COLUMNS))
    gw = topo["app_listeners"]
    gw = gw[(pd.to_numeric(gw["backend_port"], errors="coerce") == port) & (gw["public_ip_id"] != "")]
    if len(gw):
        pips = topo["public_ips"].drop_duplicates("public_ip_id").set_index("public_ip_id")["ip_address"]
        subnets = topo["subnets"].drop_duplicates("subnet_id").set_index("subnet_id")["prefixes"]
        g = gw.assign(address=gw["backend_addresses"]).explode("address").dropna(subset=["address"])
        m = g.merge(by_ip, left_on="address", right_on="private_ip")
        src = _source_ranges(m["subnet_id"].to_numpy(dtype=object), subnets)
        parts.append(pd.DataFrame({
            "endpoint": m["endpoint"].to_numpy(), "path": "app-gateway",
            "public_ip": [pips.get(p, "") or "(not allocated)" for p in m["public_ip_id"]],
            "frontend_port": m["frontend_port"].astype(str).to_numpy(),
            "via": [f"application gateway {a} {p.upper()} listener {b}" for a, b, p in
                    zip(m["gateway_name"], m["listener_name"], m["protocol"], strict=True)],
            "sku": "", "src_lo": src[:, 0], "src_hi": src[:, 1], "holder_id": m["gateway_id"].to_numpy(),
            "rule_name": m["listener_name"].to_numpy(), "owner": "app-gateway"}, columns=PROXY_COLUMNS))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=np.int64 if c in ("endpoint", "src_lo", "src_hi") else object)
                             for c in PROXY_COLUMNS})
    return pd.concat(parts, ignore_index=True)
