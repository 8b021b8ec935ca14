"""Effective exposure: does a finding's rule let the internet reach a machine, and by which path.

Every packet is evaluated in series (``engine.series``): the VNet's Virtual Network Manager admin
rules, then the subnet's NSG, then the NIC's, per address family (an IPv4 packet to IPv4
endpoints, an IPv6 packet to IPv6 ones). The packet is one from an arbitrary internet address: a
rule matches it when its sources cover the whole internet of that family (``*``, ``Any``,
``Internet``, prefixes covering all of IPv4 or IPv6); rules naming narrower sources neither open
nor close the endpoint to the internet at large. The destination is the endpoint's own address:
a rule applies only when its destination prefix contains it, its destination ``VirtualNetwork``
tag (every endpoint is in a VNet), or one of its destination application security groups holds
the endpoint's ip configuration. Paths through Azure Firewall DNAT and Application Gateway TCP
listeners arrive from a private address instead (``engine.dnat``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditkit.engine.admin_rules import AdminRules, admin_rules
from auditkit.engine.dnat import proxy_paths
from auditkit.engine.fields import ParsedRules, lowered
from auditkit.engine.intervals import explode
from auditkit.engine.packets import INTERNET_V4, INTERNET_V6, applies, matching_rules
from auditkit.engine.paths import PATH_COLUMNS, public_paths
from auditkit.engine.series import internet_items, nsg_verdicts, series
from auditkit.engine.topology import Topology

EXPOSURES = ("reachable", "no-public-path", "blocked", "latent", "unknown-topology", "unknown-admin-rule",
             "unknown-firewall-dnat", "unknown-app-gateway")
SEVERITY = {"reachable": "critical", "no-public-path": "high", "blocked": "medium", "latent": "low"}
ENDPOINT_FIELDS = ["nic_id", "vm_id", "vm_name", "private_ip", "public_ip", "path", "frontend_port", "blocked_by",
                   "via", "subnet_nsg", "nic_nsg", "family", "admin_rule", "route"]
ADMIN_UNKNOWN = ("the Virtual Network Manager admin rules of its VNet could not be read, one that could not be read "
                 "comes before their decision (see errors), or their Deny may not apply there (a VNet with SQL "
                 "Managed Instance or Databricks, an Application Gateway subnet)")


def is_unknown(exposure: str) -> bool:
    """Whether an exposure says the verdict could not be known (``unknown-<layer>``)."""
    return isinstance(exposure, str) and exposure.startswith("unknown-")


def _name(nsg_key: np.ndarray, names: dict) -> np.ndarray:
    """NSG names for ids ("" stays "")."""
    return np.array([names.get(k, k.rsplit("/", 1)[-1]) if k else "" for k in nsg_key], dtype=object)


def effective_exposure(findings: pd.DataFrame, parsed: ParsedRules, topo: Topology,
                       nsgs: pd.DataFrame, unknown_subscriptions: set[str] = frozenset(),
                       admin: AdminRules | None = None) -> pd.DataFrame:
    """``findings`` with ``exposure``, ``severity`` and ``endpoints`` (a tuple of dicts, see ENDPOINT_FIELDS).

    Findings of subscriptions in ``unknown_subscriptions`` (their topology was not read), and
    findings whose NSG is attached to a subnet or NIC missing from the topology, get
    ``unknown-topology`` and keep their severity; where the admin rules that come first could
    not be read, ``unknown-admin-rule``. ``admin``: the topology's parsed admin rules.
    """
    out = findings.copy()
    n = len(out)
    exposure = np.full(n, "latent", dtype=object)
    endpoints_col = [()] * n
    reason = np.full(n, "", dtype=object)
    if not n:
        out["exposure"], out["endpoints"], out["exposure_note"] = exposure, endpoints_col, reason
        return out
    ep = topo.endpoint_table
    admin = admin_rules(topo) if admin is None else admin
    known = set(nsgs["nsg_key"].astype(str))
    names = dict(zip(nsgs["nsg_key"], nsgs["nsg_name"], strict=False))
    key = lowered(out["nsg_id"])  # as the rules table keys NSGs (str.lower, not Arrow's)
    rule_pos = _rule_positions(parsed, key, out["rule_name"].to_numpy(dtype=object))
    entries: dict[int, list] = {i: [] for i in range(n)}
    for port in pd.unique(out["port"]):
        rows = np.flatnonzero(out["port"].to_numpy() == port)
        g = _port_pairs(out, key, rule_pos, rows, int(port), parsed, ep, topo, known, names, admin)
        if g is None:
            continue
        per = g.groupby("finding").agg(reach=("reach", "any"), allowed=("allowed", "any"),
                                       undecided=("undecided", "any"), admin_unknown=("admin_unknown", "any"))
        idx = per.index.to_numpy()
        exposure[idx] = np.where(per["reach"], "reachable", np.where(
            per["admin_unknown"], "unknown-admin-rule", np.where(
                per["undecided"], "unknown-topology", np.where(per["allowed"], "no-public-path", "blocked"))))
        reason[idx[(exposure[idx] == "unknown-topology")]] = \
            "an NSG in series has a rule that could not be read before its decision (see errors)"
        reason[idx[(exposure[idx] == "unknown-admin-rule")]] = ADMIN_UNKNOWN
        _add_endpoints(entries, g, ep, names, int(port))
    for i, lst in entries.items():
        endpoints_col[i] = tuple(lst)
    _mark_unknown(out, topo, ep, exposure, endpoints_col, reason, unknown_subscriptions)
    out["exposure"] = exposure
    out["endpoints"] = endpoints_col
    out["exposure_note"] = reason
    out["severity"] = exposure_severity(out, exposure)
    return out


def exposure_severity(out: pd.DataFrame, exposure: np.ndarray) -> np.ndarray:
    """Severity from effective exposure (shadowed findings and unknown exposures keep theirs)."""
    sev = out["severity"].to_numpy(dtype=object).copy()
    shadow = out["shadowed"].to_numpy(dtype=bool) if "shadowed" in out else np.zeros(len(out), dtype=bool)
    mapped = pd.Series(exposure).map(SEVERITY).to_numpy(dtype=object)
    use = ~shadow & pd.notna(mapped)
    sev[use] = mapped[use]
    return sev


def _rule_positions(parsed: ParsedRules, key: np.ndarray, rule_name: np.ndarray) -> np.ndarray:
    """Each finding's row in ``parsed.rules`` (by NSG key and rule name; NaN when absent), as floats."""
    pos_of = pd.Series(np.arange(len(parsed.rules)),
                       index=pd.MultiIndex.from_arrays([parsed.rules["nsg_key"].to_numpy(dtype=object),
                                                        parsed.rules["rule_name"].to_numpy(dtype=object)]))
    pos_of = pos_of[~pos_of.index.duplicated()]
    return pos_of.reindex(pd.MultiIndex.from_arrays([key, rule_name])).to_numpy(dtype=float)


def _governed(f: pd.DataFrame, ep: pd.DataFrame) -> pd.DataFrame:
    """(finding, endpoint, rule) for every endpoint whose subnet or NIC the finding's NSG governs."""
    governed = pd.concat([f.merge(ep[["subnet_nsg"]].reset_index(names="endpoint"), left_on="nsg_key",
                                  right_on="subnet_nsg"),
                          f.merge(ep[["nic_nsg"]].reset_index(names="endpoint"), left_on="nsg_key",
                                  right_on="nic_nsg")], ignore_index=True)
    governed = governed.drop_duplicates(["finding", "endpoint"])[["finding", "endpoint", "rule"]]
    return governed[~np.isnan(governed["rule"].to_numpy(dtype=float))].reset_index(drop=True)


def _family_covered(parsed: ParsedRules, rule: np.ndarray, family: np.ndarray, port: int) -> np.ndarray:
    """Per (rule, endpoint family): the rule's sources cover the whole internet of that family."""
    v4 = np.isin(rule, matching_rules(parsed, port, INTERNET_V4)["rule"].to_numpy())
    v6 = np.isin(rule, matching_rules(parsed, port, INTERNET_V6)["rule"].to_numpy())
    return np.where(family == 6, v6, v4)


def _port_pairs(out: pd.DataFrame, key: np.ndarray, rule_pos: np.ndarray, rows: np.ndarray, port: int,
                parsed: ParsedRules, ep: pd.DataFrame, topo: Topology, known: set, names: dict,
                admin: AdminRules) -> pd.DataFrame | None:
    """Per (finding on ``port``, endpoint it governs): whether the admin rules and every NSG let
    the internet in (``allowed``), what drops it first (``blocked_by``), its public path and ``reach``."""
    f = pd.DataFrame({"finding": rows, "nsg_key": key[rows], "rule": rule_pos[rows]})
    governed = _governed(f, ep)
    if not len(governed):
        return None
    e = governed["endpoint"].to_numpy()
    rule = governed["rule"].to_numpy(dtype=np.int64)
    family = ep["family"].to_numpy()[e]
    reaches_family = _family_covered(parsed, rule, family, port)
    own = applies(parsed, ep, rule, e) & reaches_family
    sv = series(parsed, admin, ep, internet_items(ep), port, known)  # one packet per endpoint, in order
    s_allow, s_rule, s_undecided = (sv[c].to_numpy() for c in ("s_allow", "s_rule", "s_undecided"))
    n_allow, n_rule, n_undecided = (sv[c].to_numpy() for c in ("n_allow", "n_rule", "n_undecided"))
    decision, admin_rule = sv["admin"].to_numpy(dtype=object)[e], sv["admin_rule"].to_numpy(dtype=object)[e]
    subnet_nsg = ep["subnet_nsg"].to_numpy(dtype=object)[e]
    nic_nsg = ep["nic_nsg"].to_numpy(dtype=object)[e]
    blocked = np.full(len(e), None, dtype=object)
    f_key = key[governed["finding"].to_numpy()]
    # The other NSG in series undecided: its verdict neither blocks nor admits (the finding's own
    # NSG is judged as findings judge it: an unreadable rule never shadows).
    s_unknown = s_undecided[e] & (subnet_nsg != f_key)
    n_unknown = n_undecided[e] & (nic_nsg != f_key)
    f_rule = out["rule_name"].to_numpy(dtype=object)[governed["finding"].to_numpy()]
    # Inbound order: admin rules, the subnet's NSG, then the NIC's; the first that drops is named.
    nic_deny = ~n_allow[e] & ~n_unknown
    blocked[nic_deny] = [f"{a}: {b}" for a, b in zip(_name(nic_nsg[nic_deny], names), n_rule[e][nic_deny],
                                                      strict=True)]
    sub_deny = ~s_allow[e] & ~s_unknown
    blocked[sub_deny] = [f"{a}: {b}" for a, b in zip(_name(subnet_nsg[sub_deny], names), s_rule[e][sub_deny],
                                                      strict=True)]
    a_deny, a_always, a_unknown = decision == "deny", decision == "always", decision == "unknown"
    blocked[a_deny] = [f"admin rule {r}" for r in admin_rule[a_deny]]
    blocked[a_always] = None
    blocked[~reaches_family] = [f"{a}: {b} (its sources do not cover the IPv{v} internet)" for a, b, v in
                                zip(_name(f_key[~reaches_family], names), f_rule[~reaches_family],
                                    family[~reaches_family], strict=True)]
    not_dest = reaches_family & ~own
    blocked[not_dest] = [f"{a}: {b} (its destination does not include this endpoint)"
                         for a, b in zip(_name(f_key[not_dest], names), f_rule[not_dest], strict=True)]
    nsgs_pass = own & ~a_deny & ~a_unknown & ~a_always
    undecided = nsgs_pass & ~sub_deny & ~nic_deny & (s_unknown | n_unknown)
    allowed = (own & a_always) | (nsgs_pass & (s_allow[e] | s_unknown) & (n_allow[e] | n_unknown) & ~undecided)
    g = governed.assign(allowed=allowed, undecided=undecided, admin_unknown=own & a_unknown, blocked_by=blocked,
                        admin_rule=np.where(a_always | a_deny, admin_rule, ""))
    g = g.merge(public_paths(ep, topo, port), on="endpoint", how="left")
    g["reach"] = g["allowed"].to_numpy(dtype=bool) & g["path"].notna().to_numpy()
    return g


def route(path: str | None, public_ip: str | None, frontend_port: str | None, via: str | None, admin_rule: str,
          private_ip: str, port: int, subnet_nsg: str, nic_nsg: str, machine: str) -> str:
    """The whole path of a packet, as an auditor reads it: entry, translation, filters, machine."""
    def at(host: str | None, p: object) -> str:  # an IPv6 address in brackets before its port
        return f"[{host}]:{p}" if host and ":" in host else f"{host}:{p}"

    hops = []
    if path == "public-ip":
        hops.append(f"public IP {at(public_ip, frontend_port)}")
    elif path:
        hops.append(f"{via or path} {at(public_ip, frontend_port)}")
    hops.append(at(private_ip or "(address in subnet)", port))
    if admin_rule:
        hops.append(f"admin rule {admin_rule}")
    hops += [f"subnet NSG {subnet_nsg}" for _ in [0] if subnet_nsg] + [f"NIC NSG {nic_nsg}" for _ in [0] if nic_nsg]
    hops.append(machine or "(machine not named)")
    return " -> ".join(hops)


def _add_endpoints(entries: dict[int, list], g: pd.DataFrame, ep: pd.DataFrame, names: dict, port: int) -> None:
    """Append each (finding, endpoint) pair of ``g`` to its finding's entries (ENDPOINT_FIELDS),
    reachable ones first, then allowed ones."""
    g = g.sort_values(["finding", "reach", "allowed"], ascending=[True, False, False], kind="stable")
    # A scale set profile in a subnet of several prefixes is one row per prefix: listed once.
    g = g.assign(ipconfig=ep["ipconfig_id"].to_numpy(dtype=object)[g["endpoint"].to_numpy()]) \
        .drop_duplicates(["finding", "ipconfig", "path", "frontend_port", "via"])
    cols = g[["finding", "endpoint", "path", "public_ip", "frontend_port", "blocked_by", "via", "admin_rule"]] \
        .to_numpy(dtype=object)
    epv = np.column_stack([ep[["nic_id", "vm_id", "vm_name", "private_ip", "family", "nic_name"]].to_numpy(dtype=object),
                           _name(ep["subnet_nsg"].to_numpy(dtype=object), names),
                           _name(ep["nic_nsg"].to_numpy(dtype=object), names)]) if len(ep) else None
    for fi, ei, path, pip, fport, why, via, admin_rule in cols:
        nic, vm, vm_name, private, family, nic_name, s_name, n_name = epv[ei]
        path = path if isinstance(path, str) else None
        pip = pip if isinstance(pip, str) else None
        fport = fport if isinstance(fport, str) else None
        via = via if isinstance(via, str) and via else None
        entries[fi].append({"nic_id": nic, "vm_id": vm or None, "vm_name": vm_name or None,
                            "private_ip": private or None,
                            "public_ip": pip if isinstance(pip, str) else None,
                            "path": path if isinstance(path, str) else None,
                            "frontend_port": fport if isinstance(fport, str) else None,
                            "blocked_by": why if isinstance(why, str) else None,
                            "via": via if isinstance(via, str) and via else None,
                            "subnet_nsg": s_name or None, "nic_nsg": n_name or None,
                            "family": f"IPv{family}", "admin_rule": admin_rule or None,
                            "route": route(path, pip, fport, via, admin_rule, private, port, s_name, n_name,
                                           vm_name or nic_name)})


def _under_any(ids: pd.Series, bad: set[str]) -> np.ndarray:
    """Per id (lower-case), whether it is a resource in ``bad`` or below one: each id's ancestors
    are looked up one depth at a time, so the cost grows with the ids, not with ``bad``."""
    hit = np.zeros(len(ids), dtype=bool)
    if not len(ids) or not bad:
        return hit
    parts = ids.str.split("/", expand=True)
    prefix = parts[0].fillna("")
    for k in range(1, parts.shape[1] + 1):
        if k > 1:
            nxt = parts[k - 1]
            prefix = prefix.where(nxt.isna(), prefix + "/" + nxt.fillna(""))
        hit |= prefix.isin(bad).to_numpy()
    return hit


def _per_finding(finding: np.ndarray, hit: np.ndarray, n: int) -> np.ndarray:
    """Per finding (0..n-1), whether any of its exploded rows ``hit``."""
    out = np.zeros(n, dtype=bool)
    out[finding[hit]] = True
    return out


def _mark_unknown(out: pd.DataFrame, topo: Topology, ep: pd.DataFrame, exposure: np.ndarray, endpoints_col: list,
                  reason: np.ndarray, unknown_subscriptions: set[str]) -> None:
    """Set ``unknown-topology`` (in ``exposure``, with its ``reason``) where the topology cannot answer."""
    n = len(out)
    # What the topology cannot answer: attachments it does not hold, subscriptions it did not read.
    present = set(ep["nic_id"]) | set(topo["subnets"]["subnet_id"])
    attached_ids = out["attached_ids"] if "attached_ids" in out else pd.Series([()] * n)
    which, ids = explode(pd.Series(list(attached_ids), dtype=object))
    ids = pd.Series(ids, dtype=object).astype(str).str.lower()
    absent = ~ids.isin(present).to_numpy() & ~ids.str.contains("/virtualmachinescalesets/", regex=False).to_numpy()
    missing = _per_finding(which, absent, n)
    # A resource the NSG governs whose record was malformed (a lost ASG or pool membership, an
    # unreadable scale set profile): the verdict would rest on what could not be read.
    bad = topo.incomplete
    if bad:
        touched = _per_finding(which, _under_any(ids, bad), n)
        e_which, eps = explode(pd.Series(list(endpoints_col), dtype=object))
        e_ids = pd.Series([str(e.get("nic_id") or "") for e in eps] + [str(e.get("vm_id") or "") for e in eps],
                          dtype=object)
        touched |= _per_finding(np.concatenate([e_which, e_which]), e_ids.isin(bad).to_numpy(), n)
        reason[touched & (exposure != "reachable")] = ("a resource it governs has a malformed record, or names a load "
                                                          "balancer the input does not hold (see errors)")
        missing |= touched
    unknown_sub = out["subscription_id"].astype(str).str.lower().isin(set(unknown_subscriptions)).to_numpy()
    settled = exposure == "reachable"
    reason[missing & ~settled & (reason == "")] = "attached to a subnet or NIC the snapshot's topology does not hold"
    reason[unknown_sub] = "the subscription's topology could not be read"
    exposure[(missing & ~settled) | unknown_sub] = "unknown-topology"


def unknown_exposure(findings: pd.DataFrame, note: str) -> pd.DataFrame:
    """``findings`` marked ``unknown-topology`` (a snapshot or export without topology): severity kept."""
    out = findings.copy()
    out["exposure"] = "unknown-topology"
    out["endpoints"] = [()] * len(out)
    out["exposure_note"] = note
    if "layer" not in out:
        out["layer"] = "nsg"
    return out


REACH_COLUMNS = ["subscription_id", "vm_name", "vm_id", "nic_id", "private_ip", "public_ip", "path", "frontend_port",
                 "port", "via", "subnet_nsg", "subnet_rule", "nic_nsg", "nic_rule", "power_state", "ipconfig_id",
                 "family", "admin_rule", "route"]


def reachable(parsed: ParsedRules, topo: Topology, nsgs: pd.DataFrame, port: int,
              ep: pd.DataFrame | None = None, admin: AdminRules | None = None) -> pd.DataFrame:
    """Endpoints the internet reaches on ``port`` now: a public path, and every filter in series admits.

    An endpoint with no NSG at all is reachable through a public IP or load balancer only when
    it is Basic SKU: Standard SKU ones are closed to inbound traffic until an NSG allows it.
    Firewall DNAT and Application Gateway paths arrive from inside the VNet and need no NSG.
    ``ep`` and ``admin``: the topology's endpoint table and admin rules when the caller has them
    (one per snapshot, whatever the ports). ``attrs["undecided"]``: {NSG or VNet id: why}.
    """
    ep = topo.endpoint_table if ep is None else ep
    admin = admin_rules(topo) if admin is None else admin
    paths = public_paths(ep, topo, port)
    proxies = proxy_paths(ep, topo, port)
    fam = ep["family"].to_numpy(dtype=np.int64)
    paths = pd.concat([paths.assign(src_lo=-1, src_hi=-1, proxy=False),
                       proxies[PATH_COLUMNS + ["src_lo", "src_hi"]].assign(proxy=True)], ignore_index=True)
    if not len(paths):
        out = pd.DataFrame(columns=REACH_COLUMNS)
        out.attrs["undecided"] = {}
        return out
    paths["endpoint"] = paths["endpoint"].astype(np.int64)
    e = paths["endpoint"].to_numpy()
    items = pd.DataFrame({"endpoint": e, "family": fam[e], "src_lo": paths["src_lo"].to_numpy(dtype=np.int64),
                          "src_hi": paths["src_hi"].to_numpy(dtype=np.int64)})
    known = set(nsgs["nsg_key"].astype(str))
    names = dict(zip(nsgs["nsg_key"], nsgs["nsg_name"], strict=False))
    sv = series(parsed, admin, ep, items, port, known)
    s_allow, n_allow = sv["s_allow"].to_numpy(), sv["n_allow"].to_numpy()
    s_und, n_und = sv["s_undecided"].to_numpy(), sv["n_undecided"].to_numpy()
    decision = sv["admin"].to_numpy(dtype=object)
    no_nsg = (ep["subnet_nsg"].to_numpy(dtype=object)[e] == "") & (ep["nic_nsg"].to_numpy(dtype=object)[e] == "")
    open_sku = paths["sku"].astype(str).str.lower().eq("basic").to_numpy() | paths["proxy"].to_numpy(dtype=bool)
    passing = decision == "pass"
    ok = (decision == "always") | (passing & s_allow & n_allow & ~s_und & ~n_und & (~no_nsg | open_sku))
    # A path whose filters cannot be decided (an unreadable rule first) is neither listed nor dropped unsaid.
    doubt = passing & (s_allow | s_und) & (n_allow | n_und) & (s_und | n_und)
    undecided = {k: "a rule that could not be read comes before the NSG's decision on this port"
                 for k in np.concatenate([ep["subnet_nsg"].to_numpy(dtype=object)[e][doubt & s_und],
                                          ep["nic_nsg"].to_numpy(dtype=object)[e][doubt & n_und]])}
    undecided.update({k: ADMIN_UNKNOWN for k in ep["vnet_id"].to_numpy(dtype=object)[e][decision == "unknown"]})
    p, v = paths[ok], sv[ok]
    e = p["endpoint"].to_numpy()
    subnet_nsg = ep["subnet_nsg"].to_numpy(dtype=object)[e]
    nic_nsg = ep["nic_nsg"].to_numpy(dtype=object)[e]
    always = v["admin"].to_numpy(dtype=object) == "always"
    s_name = np.where(subnet_nsg == "", "", _name(subnet_nsg, names))
    n_name = np.where(nic_nsg == "", "", _name(nic_nsg, names))
    out = pd.DataFrame({
        "subscription_id": ep["subscription_id"].to_numpy()[e], "vm_name": ep["vm_name"].to_numpy()[e],
        "vm_id": ep["vm_id"].to_numpy()[e], "nic_id": ep["nic_id"].to_numpy()[e],
        "private_ip": ep["private_ip"].to_numpy()[e], "public_ip": p["public_ip"].to_numpy(),
        "path": p["path"].to_numpy(), "frontend_port": p["frontend_port"].to_numpy(), "port": port,
        "via": p["via"].to_numpy(), "subnet_nsg": s_name,
        "subnet_rule": np.where(always & (s_name != ""), "(skipped: AlwaysAllow admin rule)", v["s_rule"].to_numpy()),
        "nic_nsg": n_name,
        "nic_rule": np.where(always & (n_name != ""), "(skipped: AlwaysAllow admin rule)", v["n_rule"].to_numpy()),
        "power_state": ep["power_state"].to_numpy()[e], "ipconfig_id": ep["ipconfig_id"].to_numpy()[e],
        "family": [f"IPv{f}" for f in ep["family"].to_numpy()[e]], "admin_rule": v["admin_rule"].to_numpy(),
    }, columns=REACH_COLUMNS)
    out["route"] = [route(a, b, c, d, r, ip, port, sn, nn, vm or nic) for a, b, c, d, r, ip, sn, nn, vm, nic in
                    zip(out["path"], out["public_ip"], out["frontend_port"], out["via"], out["admin_rule"],
                        out["private_ip"], s_name, n_name, out["vm_name"], ep["nic_name"].to_numpy()[e],
                        strict=True)]
    out = out.drop_duplicates().sort_values(["subscription_id", "vm_name", "nic_id", "path"], kind="stable") \
        .reset_index(drop=True)
    out.attrs["undecided"] = undecided
    return out


__all__ = ["EXPOSURES", "SEVERITY", "ENDPOINT_FIELDS", "PATH_COLUMNS", "applies", "effective_exposure",
           "nsg_verdicts", "reachable", "unknown_exposure", "REACH_COLUMNS", "is_unknown", "route"]
