"""Findings of the layers that open a port without an NSG rule saying so.

A DNAT rule that publishes an audited port to the internet, an Application Gateway TCP/TLS
listener in front of one, and a Virtual Network Manager ``AlwaysAllow`` admin rule from the
internet on one: each is a finding with its ``layer``, judged like NSG findings (reachable,
no-public-path, blocked, latent, or unknown when what decides could not be read).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditkit.engine.admin_rules import AdminRules, admin_verdicts
from auditkit.engine.dnat import dnat_rules, proxy_paths, rule_label
from auditkit.engine.findings import FINDING_COLUMNS
from auditkit.engine.packets import INTERNET_V4, INTERNET_V6, matching_rules
from auditkit.engine.paths import public_paths
from auditkit.engine.reachability import SEVERITY, route
from auditkit.engine.series import series
from auditkit.engine.topology import Topology

LAYER_FINDING_COLUMNS = [*FINDING_COLUMNS, "layer", "attached_ids", "exposure", "endpoints", "exposure_note"]


def _rg(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[4] if len(parts) > 4 and parts[3] == "resourcegroups" else ""


def _row(layer: str, sub: str, holder: str, name: str, rule: str, port: int, sources: tuple, destinations: tuple,
         priority: float, verdict: tuple[str, tuple, str]) -> dict:
    exposure, endpoints, note = verdict
    return {"subscription_id": sub, "resource_group": _rg(holder), "nsg_id": holder, "nsg_name": name,
            "rule_name": rule, "priority": priority, "port": port, "protocol": "Tcp", "sources": tuple(sources),
            "destination_ports": (str(port),), "destinations": tuple(destinations), "attached": True, "subnets": 0,
            "nics": 0, "severity": SEVERITY.get(exposure, "high"), "shadowed": False, "description": "", "tags": {},
            "hidden_by": (), "layer": layer, "attached_ids": (), "exposure": exposure, "endpoints": endpoints,
            "exposure_note": note}


def _name(nsg_key: np.ndarray, names: dict) -> np.ndarray:
    """NSG names for ids ("" stays "")."""
    return np.array([names.get(k, k.rsplit("/", 1)[-1]) if k else "" for k in nsg_key], dtype=object)


def _proxy_endpoints(sv: pd.DataFrame, paths: pd.DataFrame, ep: pd.DataFrame, names: dict,
                     port: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """Per proxy path (row of ``paths``, its series verdict the same row of ``sv``): whether it
    delivers (``ok``), the admin decision, whether an NSG's verdict is in doubt, and its endpoint."""
    e = paths["endpoint"].to_numpy(dtype=np.int64)
    decision = sv["admin"].to_numpy(dtype=object)
    s_allow, n_allow = sv["s_allow"].to_numpy(dtype=bool), sv["n_allow"].to_numpy(dtype=bool)
    nsg_doubt = sv["s_undecided"].to_numpy(dtype=bool) | sv["n_undecided"].to_numpy(dtype=bool)
    ok = (decision == "always") | ((decision == "pass") & s_allow & n_allow & ~nsg_doubt)
    s_name = _name(ep["subnet_nsg"].to_numpy(dtype=object)[e], names)
    n_name = _name(ep["nic_nsg"].to_numpy(dtype=object)[e], names)
    admin_rule, s_rule, n_rule = (sv[c].to_numpy(dtype=object) for c in ("admin_rule", "s_rule", "n_rule"))
    why = np.full(len(e), None, dtype=object)
    drop = ~ok & (decision == "pass")
    why[drop] = [f"{s}: {r}" if not a else f"{n}: {q}" for s, r, a, n, q in
                 zip(s_name[drop], s_rule[drop], s_allow[drop], n_name[drop], n_rule[drop], strict=True)]
    deny = decision == "deny"
    why[deny] = [f"admin rule {r}" for r in admin_rule[deny]]
    cols = [ep[c].to_numpy(dtype=object)[e] for c in ("nic_id", "vm_id", "vm_name", "private_ip", "family", "nic_name")]
    cols += [paths[c].to_numpy(dtype=object) for c in ("public_ip", "path", "frontend_port", "via")]
    endpoints = [{"nic_id": nic, "vm_id": vm or None, "vm_name": vm_name or None, "private_ip": private or None,
                  "public_ip": pip, "path": path, "frontend_port": fport, "blocked_by": w, "via": via,
                  "subnet_nsg": s or None, "nic_nsg": n or None, "family": f"IPv{fam}", "admin_rule": a or None,
                  "route": route(path, pip, fport, via, a, private, port, s, n, vm_name or nic_name)}
                 for nic, vm, vm_name, private, fam, nic_name, pip, path, fport, via, w, s, n, a in
                 zip(*cols, why, s_name, n_name, admin_rule, strict=True)]
    return ok, decision, nsg_doubt, endpoints


def _judge(pick: np.ndarray, ok: np.ndarray, decision: np.ndarray, nsg_doubt: np.ndarray,
           endpoints: list[dict]) -> tuple[str, tuple, str]:
    """The exposure of one proxy rule from the verdicts of the packets it delivers (rows ``pick``)."""
    if not len(pick):
        return "unknown-topology", (), "its translated address is no machine in the input: what it reaches is unknown"
    mine = tuple(endpoints[i] for i in pick)
    ok, decision, nsg_doubt = ok[pick], decision[pick], nsg_doubt[pick]
    if ok.any():
        return "reachable", mine, ""
    if (decision == "unknown").any():
        return "unknown-admin-rule", mine, "the admin rules of the backend's VNet could not be read"
    if (nsg_doubt & (decision == "pass")).any():
        return "unknown-topology", mine, "an NSG in series has a rule that could not be read"
    return "blocked", mine, ""


def _proxy_findings(ep: pd.DataFrame, topo: Topology, parsed, admin: AdminRules, known: set, names: dict,
                    port: int, rules: pd.DataFrame) -> list[dict]:
    """Findings of the DNAT rules and gateway listeners that publish ``port``; ``rules``: ``dnat_rules(topo)``."""
    rows = []
    paths = proxy_paths(ep, topo, port, rules)
    items = pd.DataFrame({"endpoint": paths["endpoint"].to_numpy(dtype=np.int64),
                          "family": ep["family"].to_numpy(dtype=np.int64)[paths["endpoint"].to_numpy(dtype=np.int64)],
                          "src_lo": paths["src_lo"].to_numpy(dtype=np.int64),
                          "src_hi": paths["src_hi"].to_numpy(dtype=np.int64)})
    sv = series(parsed, admin, ep, items, port, known)
    verdicts = _proxy_endpoints(sv, paths, ep, names, port)
    # The paths of each (owner, holder, rule), in path order.
    groups = pd.DataFrame({"owner": paths["owner"].to_numpy(dtype=object),
                           "holder": paths["holder_id"].to_numpy(dtype=object),
                           "rule": paths["rule_name"].to_numpy(dtype=object)}).groupby(
        ["owner", "holder", "rule"], sort=False).indices if len(paths) else {}
    none = np.zeros(0, dtype=np.int64)
    live = rules[(rules["port"] == port) & rules["internet"].astype(bool) & rules["tcp"].astype(bool)]
    for r in live.itertuples(index=False):  # DNAT rules are few (hundreds in a large tenant)
        label = rule_label(r)
        pick = groups.get(("firewall-dnat", r.firewall_id, label), none)
        rows.append(_row("firewall-dnat", r.subscription_id, r.firewall_id, r.firewall_name, label, port, r.sources,
                         (f"{', '.join(r.destinations)}:{', '.join(r.destination_ports)} -> "
                          f"{r.translated_address}:{r.translated_port}",), np.nan, _judge(pick, *verdicts)))
    gw = topo["app_listeners"]
    gw = gw[(pd.to_numeric(gw["backend_port"], errors="coerce") == port) & (gw["public_ip_id"] != "")]
    for g in gw.itertuples(index=False):
        pick = groups.get(("app-gateway", g.gateway_id, g.listener_name), none)
        rows.append(_row("app-gateway", g.subscription_id, g.gateway_id, g.gateway_name, g.listener_name, port,
                         ("*",), (f"{g.protocol.upper()} :{g.frontend_port} -> {', '.join(g.backend_addresses)}:"
                                  f"{g.backend_port}",), np.nan, _judge(pick, *verdicts)))
    return rows


def _admin_endpoints(ep: pd.DataFrame, paths: pd.DataFrame, xs: np.ndarray, labels: np.ndarray,
                     port: int) -> list[dict]:
    """Endpoints ``xs`` an AlwaysAllow admin rule (``labels``, one per endpoint) delivers to, each
    with its first public path (if any)."""
    first = paths.drop_duplicates("endpoint")
    at = pd.Series(np.arange(len(first)), index=first["endpoint"].to_numpy(dtype=np.int64)) \
        .reindex(xs).to_numpy(dtype=float)
    has = ~np.isnan(at)
    pos = np.where(has, at, 0).astype(np.int64)

    def column(name: str) -> np.ndarray:
        values = first[name].to_numpy(dtype=object)[pos] if len(first) else np.full(len(xs), None, dtype=object)
        return np.where(has, values, None)

    path, pip, fport = column("path"), column("public_ip"), column("frontend_port")
    via = np.array([v or None for v in column("via")], dtype=object)
    cols = [ep[c].to_numpy(dtype=object)[xs] for c in ("nic_id", "vm_id", "vm_name", "private_ip", "family", "nic_name")]
    return [{"nic_id": nic, "vm_id": vm or None, "vm_name": vm_name or None, "private_ip": private or None,
             "public_ip": pi, "path": pa, "frontend_port": fp, "blocked_by": None, "via": vi, "subnet_nsg": None,
             "nic_nsg": None, "family": f"IPv{fam}", "admin_rule": label,
             "route": route(pa, pi, fp, vi, label, private, port, "", "", vm_name or nic_name) + " (NSGs skipped)"}
            for nic, vm, vm_name, private, fam, nic_name, pa, pi, fp, vi, label in
            zip(*cols, path, pip, fport, via, labels, strict=True)]


def _admin_family(ep: pd.DataFrame, admin: AdminRules, paths: pd.DataFrame, port: int, family: int,
                  source) -> tuple[pd.DataFrame, np.ndarray, pd.Series, dict]:
    """For the AlwaysAllow rules matching ``source`` on ``port``: the rules (``m``), how many
    endpoints of the family each rule's VNet holds, the first decided admin rule per VNet, and
    per rule (row of ``m``) the endpoints it delivers to, with their endpoint entries."""
    parsed = admin.parsed
    m = matching_rules(parsed, port, source)
    m = m[admin.always[m["rule"].to_numpy()]].reset_index(drop=True) if len(m) else m
    if not len(m):
        return m, np.zeros(0, dtype=np.int64), pd.Series(dtype=object), {}
    in_family = np.flatnonzero(ep["family"].to_numpy() == family)
    verdicts = admin_verdicts(admin, ep, in_family, port, source)
    vnet = ep["vnet_id"].to_numpy(dtype=object)[verdicts["endpoint"].to_numpy(dtype=np.int64)]
    v = verdicts.assign(vnet=vnet)
    count = v.groupby("vnet").size().reindex(m["nsg_key"].to_numpy(dtype=object)).fillna(0).to_numpy(dtype=np.int64)
    first = v.drop_duplicates("vnet").set_index("vnet")["admin_rule"]
    rules = pd.DataFrame({"order": np.arange(len(m)), "vnet": m["nsg_key"].to_numpy(dtype=object),
                          "label": admin.label[m["rule"].to_numpy()]})
    hits = rules.merge(v[v["decision"] == "always"].rename(columns={"admin_rule": "label"}), on=["vnet", "label"]) \
        .sort_values(["order", "endpoint"], kind="stable")
    xs = hits["endpoint"].to_numpy(dtype=np.int64)
    entries = _admin_endpoints(ep, paths, xs, hits["label"].to_numpy(dtype=object), port)
    exposed = np.isin(xs, paths["endpoint"].to_numpy(dtype=np.int64))
    delivered = {}
    for o, idx in pd.Series(np.arange(len(hits))).groupby(hits["order"].to_numpy()).indices.items():
        delivered[int(o)] = (bool(exposed[idx].any()), tuple(entries[i] for i in idx))
    return m, count, first, delivered


def _admin_findings(ep: pd.DataFrame, topo: Topology, admin: AdminRules, port: int) -> list[dict]:
    """AlwaysAllow admin rules from the internet on ``port``: what they deliver past every NSG."""
    parsed = admin.parsed
    rows = []
    paths = public_paths(ep, topo, port)
    info = topo["admin_rules"]
    sources = pd.Series(info["sources"].to_numpy(dtype=object), index=info["rule_id"].str.lower().to_numpy(dtype=object))
    sources = sources[~sources.index.duplicated()]
    rule_id = parsed.rules["rule_id"].to_numpy(dtype=object)
    subscription = parsed.rules["subscription_id"].to_numpy(dtype=object)
    priority = parsed.rules["priority"].to_numpy(dtype=object)
    for family, source in ((4, INTERNET_V4), (6, INTERNET_V6)):
        m, count, first, delivered = _admin_family(ep, admin, paths, port, family, source)
        for i, (rule, vnet) in enumerate(zip(m["rule"].to_numpy(), m["nsg_key"].to_numpy(dtype=object), strict=True)):
            if not count[i]:
                verdict = ("latent", (), "its VNet has no machine in the input")
            elif i in delivered:
                reach, eps = delivered[i]
                verdict = ("reachable" if reach else "no-public-path", eps, "")
            else:
                verdict = ("blocked", (), f"an earlier admin rule decides first: {first.get(vnet, '')}")
            src = sources.get(str(rule_id[rule]).lower())
            prio = priority[rule]
            rows.append(_row("admin-rule", str(subscription[rule]), vnet, vnet.rsplit("/", 1)[-1], admin.path[rule],
                             port, tuple(src) if src is not None else (), ("*",),
                             float(prio) if pd.notna(prio) else np.nan, verdict))
    return rows


def layer_findings(parsed, topo: Topology, ep: pd.DataFrame, admin: AdminRules, nsgs: pd.DataFrame,
                   ports: tuple[int, ...]) -> pd.DataFrame:
    """The findings of the firewall-dnat, app-gateway and admin-rule layers on ``ports``."""
    known = set(nsgs["nsg_key"].astype(str))
    names = dict(zip(nsgs["nsg_key"], nsgs["nsg_name"], strict=False))
    rules = dnat_rules(topo)
    rows = []
    for port in ports:
        rows += _proxy_findings(ep, topo, parsed, admin, known, names, port, rules)
        rows += _admin_findings(ep, topo, admin, port)
    out = pd.DataFrame(rows, columns=LAYER_FINDING_COLUMNS)
    return out.drop_duplicates(["nsg_id", "rule_name", "port"]).reset_index(drop=True)
