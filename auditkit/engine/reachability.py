"""Effective exposure: does a finding's rule let the internet reach a machine, and by which path.

Azure evaluates inbound traffic with the subnet's NSG first and then the NIC's; it enters only
when every NSG present allows it, and an absent NSG allows ("How network security groups filter
network traffic"). Each NSG is evaluated as the engine evaluates rules: by ascending priority,
first match wins, default rules included (a record without them still ends in DenyAllInBound,
65500). The packet is one from an arbitrary internet address: a rule matches it when its sources
cover the whole internet (``*``, ``Any``, ``Internet``, prefixes covering all of IPv4 or IPv6);
rules naming narrower sources neither open nor close the endpoint to the internet at large. The
destination is the endpoint's own address: a rule applies only when its destination prefix
contains it, its destination ``VirtualNetwork`` tag (every endpoint is in a VNet), or one of its
destination application security groups holds the endpoint's ip configuration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditkit.engine.endpoints import endpoints as endpoint_table
from auditkit.engine.exposure import _covers_port, _full_cover, _rule_mask
from auditkit.engine.fields import TCP_PROTOCOLS, ParsedRules, lowered
from auditkit.engine.paths import PATH_COLUMNS, public_paths
from auditkit.engine.topology import Topology

EXPOSURES = ("reachable", "no-public-path", "blocked", "latent", "unknown-topology")
SEVERITY = {"reachable": "critical", "no-public-path": "high", "blocked": "medium", "latent": "low"}
ENDPOINT_FIELDS = ["nic_id", "vm_id", "vm_name", "private_ip", "public_ip", "path", "frontend_port", "blocked_by",
                   "via", "subnet_nsg", "nic_nsg"]
# Destination service tags that contain every endpoint of a VNet; other tags (Internet, Storage...)
# name addresses outside it and never apply to a VM's private address.
_VNET_TAGS = ("virtualnetwork",)


def _internet_rules(parsed: ParsedRules, port: int) -> pd.DataFrame:
    """Inbound rules (custom and default) whose sources are the whole IPv4 internet, that cover TCP ``port``.

    Endpoints are reached over IPv4 (their public IPs and load balancer frontends are IPv4): a
    rule from ``::/0`` alone admits no IPv4 packet and is left out here.
    """
    rules = parsed.rules
    n = len(rules)
    ok = (parsed.direction == "inbound") & np.isin(parsed.protocol, TCP_PROTOCOLS) & _covers_port(
        parsed.destination_ports, n, port)
    src = parsed.sources
    wide = _rule_mask(n, src.loc[src["kind"] == "all", "rule"].to_numpy())
    wide[_full_cover(src, np.flatnonzero(ok), "v4")] = True
    ok &= wide
    pos = np.flatnonzero(ok)
    return pd.DataFrame({"rule": pos, "nsg_key": rules["nsg_key"].to_numpy(dtype=object)[pos],
                         "priority": rules["priority"].to_numpy(dtype=float, na_value=np.inf)[pos],
                         "allow": parsed.access[pos] == "allow",
                         "rule_name": rules["rule_name"].to_numpy(dtype=object)[pos]})


def applies(parsed: ParsedRules, ep: pd.DataFrame, rule: np.ndarray, endpoint: np.ndarray,
            whole: np.ndarray | None = None) -> np.ndarray:
    """Boolean per (rule, endpoint) pair: the rule's destination includes the endpoint.

    An endpoint is an address range (a scale set profile stands for every address of its subnet's
    prefix). Where ``whole`` is set (a Deny), the rule applies only when one destination holds the
    whole range: a Deny over part of a scale set's prefix never blocks the set (the instances
    outside it are still reached), and an IPv6 destination never denies an IPv4 packet.
    """
    if not len(rule):
        return np.zeros(0, dtype=bool)
    pairs = pd.DataFrame({"pair": np.arange(len(rule)), "rule": rule, "endpoint": endpoint})
    m = pairs.merge(parsed.destinations[["rule", "kind", "token", "lo", "hi"]], on="rule")
    e = m["endpoint"].to_numpy()
    kind = m["kind"].to_numpy(dtype=object)
    strict = np.zeros(len(m), dtype=bool) if whole is None else np.asarray(whole, dtype=bool)[m["pair"].to_numpy()]
    # An IPv6 destination: applied when it can only add exposure (the endpoint's family is unknown).
    hit = (kind == "all") | ((kind == "v6") & ~strict)
    lo, hi, ep_lo, ep_hi = m["lo"].to_numpy(), m["hi"].to_numpy(), ep["lo"].to_numpy()[e], ep["hi"].to_numpy()[e]
    inside = np.where(strict, (lo <= ep_lo) & (hi >= ep_hi), (lo <= ep_hi) & (hi >= ep_lo))
    hit |= (kind == "v4") & inside
    hit |= (kind == "tag") & np.isin(m["token"].to_numpy(dtype=object), _VNET_TAGS)
    is_asg = kind == "asg"
    if is_asg.any():
        members = {(i, a) for i, lst in zip(ep.index, ep["asgs"], strict=True) for a in lst}
        hit[is_asg] = [(x, t) in members for x, t in zip(e[is_asg], m["token"].to_numpy(dtype=object)[is_asg],
                                                         strict=True)]
    out = np.zeros(len(rule), dtype=bool)
    out[m["pair"].to_numpy()[hit]] = True
    return out


def nsg_verdicts(parsed: ParsedRules, ep: pd.DataFrame, port: int, known_nsgs: set[str]) -> pd.DataFrame:
    """Per (endpoint, role) with an NSG: does that NSG admit the internet on ``port``, and by which rule.

    ``role`` is ``subnet`` or ``nic``. An NSG referenced but absent from the snapshot is not known
    to deny: its verdict is ``allow`` with rule ``(NSG not in snapshot)``.
    """
    frames = []
    for role, column in (("subnet", "subnet_nsg"), ("nic", "nic_nsg")):
        nsg = ep[column].to_numpy(dtype=object)
        have = np.flatnonzero(nsg != "")
        frames.append(pd.DataFrame({"endpoint": have, "role": role, "nsg_key": nsg[have]}))
    roles = pd.concat(frames, ignore_index=True)
    rules = _internet_rules(parsed, port)
    pairs = roles.merge(rules, on="nsg_key")
    ok = applies(parsed, ep, pairs["rule"].to_numpy(), pairs["endpoint"].to_numpy(),
                 whole=~pairs["allow"].to_numpy(dtype=bool))
    first = pairs[ok].sort_values(["endpoint", "role", "priority"], kind="stable") \
        .drop_duplicates(["endpoint", "role"])
    out = roles.merge(first[["endpoint", "role", "allow", "rule_name", "priority"]], on=["endpoint", "role"],
                      how="left")
    unmatched = out["allow"].isna().to_numpy()
    known = out["nsg_key"].isin(known_nsgs).to_numpy()
    allow = np.array(out["allow"].to_numpy(dtype=object), dtype=object)
    name = np.array(out["rule_name"].to_numpy(dtype=object), dtype=object)
    allow[unmatched & known] = False  # no rule matched: the implicit DenyAllInBound (65500)
    name[unmatched & known] = "DenyAllInBound"
    allow[unmatched & ~known] = True
    name[unmatched & ~known] = "(NSG not in snapshot)"
    out["allow"] = allow.astype(bool)
    out["rule_name"] = name
    # An unreadable rule before the NSG's decision might have decided otherwise: the NSG's verdict
    # for this port is not known (parse errors are in ``parsed.errors``; such a rule never shadows).
    decided = out["priority"].to_numpy(dtype=float, na_value=np.inf)
    first_unread = _first_unreadable(parsed).reindex(out["nsg_key"].to_numpy(dtype=object)).to_numpy(dtype=float)
    out["undecided"] = ~np.isnan(first_unread) & (first_unread <= decided) & known
    return out


def _first_unreadable(parsed: ParsedRules) -> pd.Series:
    """Per NSG key, the lowest priority (-inf when unreadable) of a custom rule with a parse error
    that could be an inbound TCP rule."""
    rules = parsed.rules
    maybe = ~parsed.valid & ~rules["default"].to_numpy(dtype=bool) & (parsed.direction != "outbound") \
        & ~np.isin(parsed.protocol, ("udp", "icmp", "esp", "ah"))
    prio = rules["priority"].to_numpy(dtype=float, na_value=-np.inf)[maybe]
    return pd.Series(prio).groupby(rules["nsg_key"].to_numpy(dtype=object)[maybe]).min()


def _role_lookup(verdicts: pd.DataFrame, role: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per endpoint, the ``role`` NSG's verdict: allow, deciding rule, and undecided (see nsg_verdicts)."""
    allow = np.ones(n, dtype=bool)
    rule = np.full(n, "", dtype=object)
    undecided = np.zeros(n, dtype=bool)
    v = verdicts[verdicts["role"] == role]
    allow[v["endpoint"].to_numpy()] = v["allow"].to_numpy(dtype=bool)
    rule[v["endpoint"].to_numpy()] = v["rule_name"].to_numpy(dtype=object)
    undecided[v["endpoint"].to_numpy()] = v["undecided"].to_numpy(dtype=bool)
    return allow, rule, undecided


def _name(nsg_key: np.ndarray, names: dict) -> np.ndarray:
    """NSG names for ids ("" stays "")."""
    return np.array([names.get(k, k.rsplit("/", 1)[-1]) if k else "" for k in nsg_key], dtype=object)


def effective_exposure(findings: pd.DataFrame, parsed: ParsedRules, topo: Topology,
                       nsgs: pd.DataFrame, unknown_subscriptions: set[str] = frozenset()) -> pd.DataFrame:
    """``findings`` with ``exposure``, ``severity`` and ``endpoints`` (a tuple of dicts, see ENDPOINT_FIELDS).

    Findings of subscriptions in ``unknown_subscriptions`` (their topology was not read), and
    findings whose NSG is attached to a subnet or NIC missing from the topology, get
    ``unknown-topology`` and keep their severity.
    """
    out = findings.copy()
    n = len(out)
    exposure = np.full(n, "latent", dtype=object)
    endpoints_col = [()] * n
    reason = np.full(n, "", dtype=object)
    if not n:
        out["exposure"], out["endpoints"], out["exposure_note"] = exposure, endpoints_col, reason
        return out
    ep = endpoint_table(topo)
    known = set(nsgs["nsg_key"].astype(str))
    names = dict(zip(nsgs["nsg_key"], nsgs["nsg_name"], strict=False))
    key = lowered(out["nsg_id"])  # as the rules table keys NSGs (str.lower, not Arrow's)
    rule_pos = _rule_positions(parsed, key, out["rule_name"].to_numpy(dtype=object))
    entries: dict[int, list] = {i: [] for i in range(n)}
    for port in pd.unique(out["port"]):
        rows = np.flatnonzero(out["port"].to_numpy() == port)
        g = _port_pairs(out, key, rule_pos, rows, int(port), parsed, ep, topo, known, names)
        if g is None:
            continue
        per = g.groupby("finding").agg(reach=("reach", "any"), allowed=("allowed", "any"),
                                       undecided=("undecided", "any"))
        idx = per.index.to_numpy()
        exposure[idx] = np.where(per["reach"], "reachable", np.where(
            per["undecided"], "unknown-topology", np.where(per["allowed"], "no-public-path", "blocked")))
        reason[idx[(exposure[idx] == "unknown-topology")]] = \
            "an NSG in series has a rule that could not be read before its decision (see errors)"
        _add_endpoints(entries, g, ep, names)
    for i, lst in entries.items():
        endpoints_col[i] = tuple(lst)
    _mark_unknown(out, topo, ep, exposure, endpoints_col, reason, unknown_subscriptions)
    out["exposure"] = exposure
    out["endpoints"] = endpoints_col
    out["exposure_note"] = reason
    sev = out["severity"].to_numpy(dtype=object).copy()
    shadow = out["shadowed"].to_numpy(dtype=bool) if "shadowed" in out else np.zeros(n, dtype=bool)
    mapped = pd.Series(exposure).map(SEVERITY).to_numpy(dtype=object)
    use = ~shadow & pd.notna(mapped)
    sev[use] = mapped[use]
    out["severity"] = sev
    return out


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


def _port_pairs(out: pd.DataFrame, key: np.ndarray, rule_pos: np.ndarray, rows: np.ndarray, port: int,
                parsed: ParsedRules, ep: pd.DataFrame, topo: Topology, known: set, names: dict) -> pd.DataFrame | None:
    """Per (finding on ``port``, endpoint it governs): whether every NSG lets the internet in
    (``allowed``), the first NSG that denies (``blocked_by``), its public path and ``reach``."""
    f = pd.DataFrame({"finding": rows, "nsg_key": key[rows], "rule": rule_pos[rows]})
    governed = _governed(f, ep)
    if not len(governed):
        return None
    e = governed["endpoint"].to_numpy()
    own = applies(parsed, ep, governed["rule"].to_numpy(dtype=np.int64), e)
    verdicts = nsg_verdicts(parsed, ep, port, known)
    s_allow, s_rule, s_undecided = _role_lookup(verdicts, "subnet", len(ep))
    n_allow, n_rule, n_undecided = _role_lookup(verdicts, "nic", len(ep))
    subnet_nsg = ep["subnet_nsg"].to_numpy(dtype=object)[e]
    nic_nsg = ep["nic_nsg"].to_numpy(dtype=object)[e]
    blocked = np.full(len(e), None, dtype=object)
    f_key = key[governed["finding"].to_numpy()]
    # The other NSG in series undecided: its verdict neither blocks nor admits (the finding's own
    # NSG is judged as findings judge it: an unreadable rule never shadows).
    s_unknown = s_undecided[e] & (subnet_nsg != f_key)
    n_unknown = n_undecided[e] & (nic_nsg != f_key)
    f_rule = out["rule_name"].to_numpy(dtype=object)[governed["finding"].to_numpy()]
    # Inbound order: the subnet's NSG, then the NIC's; the first that denies is named.
    nic_deny = ~n_allow[e] & ~n_unknown
    blocked[nic_deny] = [f"{a}: {b}" for a, b in zip(_name(nic_nsg[nic_deny], names), n_rule[e][nic_deny],
                                                      strict=True)]
    sub_deny = ~s_allow[e] & ~s_unknown
    blocked[sub_deny] = [f"{a}: {b}" for a, b in zip(_name(subnet_nsg[sub_deny], names), s_rule[e][sub_deny],
                                                      strict=True)]
    blocked[~own] = [f"{a}: {b} (its destination does not include this endpoint)"
                     for a, b in zip(_name(f_key[~own], names), f_rule[~own], strict=True)]
    undecided = own & ~sub_deny & ~nic_deny & (s_unknown | n_unknown)
    allowed = own & (s_allow[e] | s_unknown) & (n_allow[e] | n_unknown) & ~undecided
    g = governed.assign(allowed=allowed, undecided=undecided, blocked_by=blocked)
    g = g.merge(public_paths(ep, topo, port), on="endpoint", how="left")
    g["reach"] = g["allowed"].to_numpy(dtype=bool) & g["path"].notna().to_numpy()
    return g


def _add_endpoints(entries: dict[int, list], g: pd.DataFrame, ep: pd.DataFrame, names: dict) -> None:
    """Append each (finding, endpoint) pair of ``g`` to its finding's entries (ENDPOINT_FIELDS),
    reachable ones first, then allowed ones."""
    g = g.sort_values(["finding", "reach", "allowed"], ascending=[True, False, False], kind="stable")
    # A scale set profile in a subnet of several prefixes is one row per prefix: listed once.
    g = g.assign(ipconfig=ep["ipconfig_id"].to_numpy(dtype=object)[g["endpoint"].to_numpy()]) \
        .drop_duplicates(["finding", "ipconfig", "path", "frontend_port", "via"])
    cols = g[["finding", "endpoint", "path", "public_ip", "frontend_port", "blocked_by", "via"]] \
        .to_numpy(dtype=object)
    epv = np.column_stack([ep[["nic_id", "vm_id", "vm_name", "private_ip"]].to_numpy(dtype=object),
                           _name(ep["subnet_nsg"].to_numpy(dtype=object), names),
                           _name(ep["nic_nsg"].to_numpy(dtype=object), names)]) if len(ep) else None
    for fi, ei, path, pip, fport, why, via in cols:
        nic, vm, vm_name, private, s_name, n_name = epv[ei]
        entries[fi].append({"nic_id": nic, "vm_id": vm or None, "vm_name": vm_name or None,
                            "private_ip": private or None,
                            "public_ip": pip if isinstance(pip, str) else None,
                            "path": path if isinstance(path, str) else None,
                            "frontend_port": fport if isinstance(fport, str) else None,
                            "blocked_by": why if isinstance(why, str) else None,
                            "via": via if isinstance(via, str) and via else None,
                            "subnet_nsg": s_name or None, "nic_nsg": n_name or None})


def _under_any(ids, bad) -> bool:
    """Whether one of ``ids`` is a resource in ``bad`` or below one (``bad`` holds lower-case ids):
    each id's ancestors are looked up, so the cost grows with the ids, not with ``bad``."""
    for a in ids:
        parts = a.lower().split("/")
        if any("/".join(parts[:k]) in bad for k in range(len(parts), 0, -1)):
            return True
    return False


def _mark_unknown(out: pd.DataFrame, topo: Topology, ep: pd.DataFrame, exposure: np.ndarray, endpoints_col: list,
                  reason: np.ndarray, unknown_subscriptions: set[str]) -> None:
    """Set ``unknown-topology`` (in ``exposure``, with its ``reason``) where the topology cannot answer."""
    n = len(out)
    # What the topology cannot answer: attachments it does not hold, subscriptions it did not read.
    present = set(ep["nic_id"]) | set(topo["subnets"]["subnet_id"])
    attached_ids = out["attached_ids"] if "attached_ids" in out else pd.Series([()] * n)
    missing = np.array([any(a.lower() not in present and "/virtualmachinescalesets/" not in a.lower()
                            for a in ids) for ids in attached_ids], dtype=bool)
    # A resource the NSG governs whose record was malformed (a lost ASG or pool membership, an
    # unreadable scale set profile): the verdict would rest on what could not be read.
    bad = topo.incomplete
    if bad:
        touched = np.array([_under_any(ids, bad) for ids in attached_ids], dtype=bool)
        for i, eps in enumerate(endpoints_col):
            if any(str(e.get("nic_id") or "") in bad or str(e.get("vm_id") or "") in bad for e in eps):
                touched[i] = True
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
    return out


REACH_COLUMNS = ["subscription_id", "vm_name", "vm_id", "nic_id", "private_ip", "public_ip", "path", "frontend_port",
                 "port", "via", "subnet_nsg", "subnet_rule", "nic_nsg", "nic_rule", "power_state"]


def reachable(parsed: ParsedRules, topo: Topology, nsgs: pd.DataFrame, port: int,
              ep: pd.DataFrame | None = None) -> pd.DataFrame:
    """Endpoints the internet reaches on ``port`` now: a public path and every NSG present allows.

    An endpoint with no NSG at all is reachable only through a Basic SKU public IP or load
    balancer: Standard SKU ones are closed to inbound traffic until an NSG allows it. ``ep``: the
    topology's endpoint table when the caller has it already (one per snapshot, whatever the ports).
    """
    ep = endpoint_table(topo) if ep is None else ep
    paths = public_paths(ep, topo, port)
    if not len(paths):
        return pd.DataFrame(columns=REACH_COLUMNS)
    known = set(nsgs["nsg_key"].astype(str))
    names = dict(zip(nsgs["nsg_key"], nsgs["nsg_name"], strict=False))
    verdicts = nsg_verdicts(parsed, ep, port, known)
    s_allow, s_rule, s_undecided = _role_lookup(verdicts, "subnet", len(ep))
    n_allow, n_rule, n_undecided = _role_lookup(verdicts, "nic", len(ep))
    e = paths["endpoint"].to_numpy()
    no_nsg = (ep["subnet_nsg"].to_numpy(dtype=object)[e] == "") & (ep["nic_nsg"].to_numpy(dtype=object)[e] == "")
    basic = paths["sku"].astype(str).str.lower().eq("basic").to_numpy()
    ok = s_allow[e] & n_allow[e] & (~no_nsg | basic)
    # A path whose NSGs cannot be decided (an unreadable rule first) is neither listed nor dropped unsaid.
    doubt = (s_allow[e] | s_undecided[e]) & (n_allow[e] | n_undecided[e]) & (s_undecided[e] | n_undecided[e])
    undecided_nsgs = np.concatenate([ep["subnet_nsg"].to_numpy(dtype=object)[e][doubt & s_undecided[e]],
                                     ep["nic_nsg"].to_numpy(dtype=object)[e][doubt & n_undecided[e]]])
    ok &= ~doubt
    p = paths[ok]
    e = p["endpoint"].to_numpy()
    subnet_nsg = ep["subnet_nsg"].to_numpy(dtype=object)[e]
    nic_nsg = ep["nic_nsg"].to_numpy(dtype=object)[e]
    out = pd.DataFrame({
        "subscription_id": ep["subscription_id"].to_numpy()[e], "vm_name": ep["vm_name"].to_numpy()[e],
        "vm_id": ep["vm_id"].to_numpy()[e], "nic_id": ep["nic_id"].to_numpy()[e],
        "private_ip": ep["private_ip"].to_numpy()[e], "public_ip": p["public_ip"].to_numpy(),
        "path": p["path"].to_numpy(), "frontend_port": p["frontend_port"].to_numpy(), "port": port,
        "via": p["via"].to_numpy(),
        "subnet_nsg": np.where(subnet_nsg == "", "", _name(subnet_nsg, names)),
        "subnet_rule": s_rule[e], "nic_nsg": np.where(nic_nsg == "", "", _name(nic_nsg, names)),
        "nic_rule": n_rule[e], "power_state": ep["power_state"].to_numpy()[e],
    }, columns=REACH_COLUMNS)
    out = out.drop_duplicates().sort_values(["subscription_id", "vm_name", "nic_id", "path"], kind="stable") \
        .reset_index(drop=True)
    out.attrs["undecided_nsgs"] = sorted(set(undecided_nsgs))
    return out


__all__ = ["EXPOSURES", "SEVERITY", "ENDPOINT_FIELDS", "PATH_COLUMNS", "applies", "effective_exposure",
           "nsg_verdicts", "reachable", "unknown_exposure", "REACH_COLUMNS"]
