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


def _judge(sv: pd.DataFrame, paths: pd.DataFrame, ep: pd.DataFrame, names: dict, port: int) -> tuple[str, tuple, str]:
    """The exposure of one proxy rule from the series verdicts of the packets it delivers."""
    if not len(paths):
        return "unknown-topology", (), "its translated address is no machine in the input: what it reaches is unknown"
    e = paths["endpoint"].to_numpy()
    decision = sv["admin"].to_numpy(dtype=object)
    nsg_ok = sv["s_allow"].to_numpy() & sv["n_allow"].to_numpy()
    nsg_doubt = (sv["s_undecided"].to_numpy() | sv["n_undecided"].to_numpy())
    ok = (decision == "always") | ((decision == "pass") & nsg_ok & ~nsg_doubt)
    endpoints = []
    for i, (pe, row) in enumerate(zip(e, paths.itertuples(index=False), strict=True)):
        s_name = names.get(ep.at[pe, "subnet_nsg"], ep.at[pe, "subnet_nsg"].rsplit("/", 1)[-1]) \
            if ep.at[pe, "subnet_nsg"] else ""
        n_name = names.get(ep.at[pe, "nic_nsg"], ep.at[pe, "nic_nsg"].rsplit("/", 1)[-1]) if ep.at[pe, "nic_nsg"] else ""
        v = sv.iloc[i]
        why = None
        if decision[i] == "deny":
            why = f"admin rule {v['admin_rule']}"
        elif not ok[i] and decision[i] == "pass":
            why = f"{s_name}: {v['s_rule']}" if not v["s_allow"] else f"{n_name}: {v['n_rule']}"
        endpoints.append({"nic_id": ep.at[pe, "nic_id"], "vm_id": ep.at[pe, "vm_id"] or None,
                          "vm_name": ep.at[pe, "vm_name"] or None, "private_ip": ep.at[pe, "private_ip"] or None,
                          "public_ip": row.public_ip, "path": row.path, "frontend_port": row.frontend_port,
                          "blocked_by": why, "via": row.via, "subnet_nsg": s_name or None, "nic_nsg": n_name or None,
                          "family": f"IPv{ep.at[pe, 'family']}", "admin_rule": v["admin_rule"] or None,
                          "route": route(row.path, row.public_ip, row.frontend_port, row.via, v["admin_rule"],
                                         ep.at[pe, "private_ip"], port, s_name, n_name,
                                         ep.at[pe, "vm_name"] or ep.at[pe, "nic_name"])})
    if ok.any():
        return "reachable", tuple(endpoints), ""
    if (decision == "unknown").any():
        return "unknown-admin-rule", tuple(endpoints), "the admin rules of the backend's VNet could not be read"
    if (nsg_doubt & (decision == "pass")).any():
        return "unknown-topology", tuple(endpoints), "an NSG in series has a rule that could not be read"
    return "blocked", tuple(endpoints), ""


def _proxy_findings(ep: pd.DataFrame, topo: Topology, parsed, admin: AdminRules, known: set, names: dict,
                    port: int) -> list[dict]:
    rows = []
    paths = proxy_paths(ep, topo, port)
    items = pd.DataFrame({"endpoint": paths["endpoint"].to_numpy(dtype=np.int64),
                          "family": ep["family"].to_numpy(dtype=np.int64)[paths["endpoint"].to_numpy(dtype=np.int64)],
                          "src_lo": paths["src_lo"].to_numpy(dtype=np.int64),
                          "src_hi": paths["src_hi"].to_numpy(dtype=np.int64)})
    sv = series(parsed, admin, ep, items, port, known)
    rules = dnat_rules(topo)
    live = rules[(rules["port"] == port) & rules["internet"].astype(bool) & rules["tcp"].astype(bool)]
    for r in live.itertuples(index=False):  # DNAT rules are few (hundreds in a large tenant)
        label = rule_label(r)
        pick = ((paths["owner"] == "firewall-dnat") & (paths["holder_id"] == r.firewall_id)
                & (paths["rule_name"] == label)).to_numpy()
        rows.append(_row("firewall-dnat", r.subscription_id, r.firewall_id, r.firewall_name, label, port, r.sources,
                         (f"{', '.join(r.destinations)}:{', '.join(r.destination_ports)} -> "
                          f"{r.translated_address}:{r.translated_port}",), np.nan,
                         _judge(sv[pick], paths[pick], ep, names, port)))
    gw = topo["app_listeners"]
    gw = gw[(pd.to_numeric(gw["backend_port"], errors="coerce") == port) & (gw["public_ip_id"] != "")]
    for g in gw.itertuples(index=False):
        pick = ((paths["owner"] == "app-gateway") & (paths["holder_id"] == g.gateway_id)
                & (paths["rule_name"] == g.listener_name)).to_numpy()
        rows.append(_row("app-gateway", g.subscription_id, g.gateway_id, g.gateway_name, g.listener_name, port,
                         ("*",), (f"{g.protocol.upper()} :{g.frontend_port} -> {', '.join(g.backend_addresses)}:"
                                  f"{g.backend_port}",), np.nan, _judge(sv[pick], paths[pick], ep, names, port)))
    return rows


def _admin_findings(ep: pd.DataFrame, topo: Topology, admin: AdminRules, port: int) -> list[dict]:
    """AlwaysAllow admin rules from the internet on ``port``: what they deliver past every NSG."""
    parsed = admin.parsed
    rows = []
    for family, source in ((4, INTERNET_V4), (6, INTERNET_V6)):
        m = matching_rules(parsed, port, source)
        m = m[admin.always[m["rule"].to_numpy()]] if len(m) else m
        in_family = np.flatnonzero(ep["family"].to_numpy() == family)
        verdicts = admin_verdicts(admin, ep, in_family, port, source)
        paths = public_paths(ep, topo, port)
        exposed = set(paths["endpoint"].to_numpy())
        for r in m.itertuples(index=False):
            vnet = r.nsg_key
            mine = in_family[ep["vnet_id"].to_numpy(dtype=object)[in_family] == vnet]
            decided = verdicts[verdicts["endpoint"].isin(mine)]
            by_it = decided[(decided["decision"] == "always") & (decided["admin_rule"] == admin.label[r.rule])]
            if not len(mine):
                verdict = ("latent", (), "its VNet has no machine in the input")
            elif len(by_it):
                reach = [int(x) for x in by_it["endpoint"] if x in exposed]
                eps = tuple(_admin_endpoint(ep, paths, int(x), admin.label[r.rule], port)
                            for x in by_it["endpoint"])
                verdict = ("reachable" if reach else "no-public-path", eps, "")
            else:
                first = decided["admin_rule"].iloc[0] if len(decided) else ""
                verdict = ("blocked", (), f"an earlier admin rule decides first: {first}")
            info = topo["admin_rules"]
            src = info.loc[info["rule_id"].str.lower() == str(parsed.rules.at[r.rule, "rule_id"]).lower(), "sources"]
            prio = parsed.rules.at[r.rule, "priority"]
            rows.append(_row("admin-rule", str(parsed.rules.at[r.rule, "subscription_id"]), vnet,
                             vnet.rsplit("/", 1)[-1], admin.path[r.rule], port,
                             tuple(src.iloc[0]) if len(src) else (), ("*",),
                             float(prio) if pd.notna(prio) else np.nan, verdict))
    return rows


def _admin_endpoint(ep: pd.DataFrame, paths: pd.DataFrame, x: int, label: str, port: int) -> dict:
    """An endpoint an AlwaysAllow admin rule delivers to, with its first public path (if any)."""
    mine = paths[paths["endpoint"] == x]
    p = mine.iloc[0] if len(mine) else None
    path, pip, fport, via = (p["path"], p["public_ip"], p["frontend_port"], p["via"] or None) if p is not None \
        else (None, None, None, None)
    machine = ep.at[x, "vm_name"] or ep.at[x, "nic_name"]
    return {"nic_id": ep.at[x, "nic_id"], "vm_id": ep.at[x, "vm_id"] or None, "vm_name": ep.at[x, "vm_name"] or None,
            "private_ip": ep.at[x, "private_ip"] or None, "public_ip": pip, "path": path, "frontend_port": fport,
            "blocked_by": None, "via": via, "subnet_nsg": None, "nic_nsg": None, "family": f"IPv{ep.at[x, 'family']}",
            "admin_rule": label, "route": route(path, pip, fport, via, label, ep.at[x, "private_ip"], port, "", "",
                                                machine) + " (NSGs skipped)"}


def layer_findings(parsed, topo: Topology, ep: pd.DataFrame, admin: AdminRules, nsgs: pd.DataFrame,
                   ports: tuple[int, ...]) -> pd.DataFrame:
    """The findings of the firewall-dnat, app-gateway and admin-rule layers on ``ports``."""
    known = set(nsgs["nsg_key"].astype(str))
    names = dict(zip(nsgs["nsg_key"], nsgs["nsg_name"], strict=False))
    rows = []
    for port in ports:
        rows += _proxy_findings(ep, topo, parsed, admin, known, names, port)
        rows += _admin_findings(ep, topo, admin, port)
    out = pd.DataFrame(rows, columns=LAYER_FINDING_COLUMNS)
    return out.drop_duplicates(["nsg_id", "rule_name", "port"]).reset_index(drop=True)
