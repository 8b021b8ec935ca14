"""Which rules match a packet, and the first that decides, per (endpoint, rule list).

A packet is TCP to an endpoint's port from a ``Source``: the internet (any address of one family)
or, after Azure Firewall DNAT or an Application Gateway TCP proxy, a private address range in
the virtual network. NSG and Virtual Network Manager admin rules are evaluated alike: ascending
priority, the first rule whose protocol, ports, source and destination match decides.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditkit.engine.exposure import _covers_port, _full_cover, _rule_mask
from auditkit.engine.fields import TCP_PROTOCOLS, ParsedRules
from auditkit.engine.intervals import V4_MAX, covered

# Destination service tags that contain every endpoint of a VNet; other tags (Internet, Storage...)
# name addresses outside it and never apply to a VM's private address.
_VNET_TAGS = ("virtualnetwork",)
# Admin rules name Virtual Network Manager network groups; their members are not read, so a group
# matches wherever matching can only add exposure (Allow, AlwaysAllow) and never for a Deny.
_GROUP = "/networkgroups/"


@dataclass(frozen=True)
class Source:
    """Where a packet comes from: the whole internet of ``family`` (``lo`` < 0), or the private
    IPv4 range ``lo``..``hi`` (a firewall's or gateway's address inside the virtual network)."""

    family: int = 4
    lo: int = -1
    hi: int = -1

    @property
    def internet(self) -> bool:
        return self.lo < 0


# What depends only on a parsed rule set (and a port and source), kept while that set lives: a
# scan asks for the same matches once per filter, port and address family, and again for each
# proxy path. Keyed by the set's identity; the entries go when it is collected.
_MEMO: dict[int, dict] = {}


def _memo(parsed: ParsedRules, key: tuple, compute: Callable[[], object]) -> object:
    """``compute()`` once per (``parsed``, ``key``) while ``parsed`` is alive."""
    slot = id(parsed)
    entry = _MEMO.get(slot)
    if entry is None or entry["ref"]() is not parsed:
        entry = _MEMO[slot] = {"ref": weakref.ref(parsed, lambda _, s=slot: _MEMO.pop(s, None)), "values": {}}
    values = entry["values"]
    if key not in values:
        values[key] = compute()
    return values[key]


INTERNET_V4 = Source(4)
INTERNET_V6 = Source(6)
UNKNOWN_PRIVATE = Source(4, 0, V4_MAX)  # a private source whose address is not known


def matching_rules(parsed: ParsedRules, port: int, source: Source) -> pd.DataFrame:
    """Inbound rules (custom and default) covering TCP ``port`` whose sources match ``source``
    (see ``_matching_rules``); computed once per parsed rule set, port and source."""
    found = _memo(parsed, ("matching", int(port), source), lambda: _matching_rules(parsed, int(port), source))
    return found.copy(deep=False)  # the caller's own frame: what it changes stays its own


def _matching_rules(parsed: ParsedRules, port: int, source: Source) -> pd.DataFrame:
    """Inbound rules (custom and default) covering TCP ``port`` whose sources match ``source``.

    The internet matches ``*``, ``Any``, ``Internet`` and prefixes whose union covers the whole
    family (``0.0.0.0/0`` IPv4 only, ``::/0`` IPv6 only). A private source matches ``*``, ``Any``,
    ``VirtualNetwork`` and prefixes that hold it (an Allow when they overlap its range, a Deny
    only when they hold all of it); never ``Internet``, other tags or application security groups.
    """
    rules = parsed.rules
    n = len(rules)
    fixed = _memo(parsed, ("columns",), lambda: _columns(parsed))
    ok = fixed["inbound_tcp"] & _covers_port(parsed.destination_ports, n, port)
    src = parsed.sources
    kind, r, token, allow = fixed["kind"], fixed["r"], fixed["token"], fixed["src_allow"]
    if source.internet:
        everyone = kind == "all"
        if source.family == 6:
            # Whether the Internet tag holds IPv6 addresses is not documented: it admits IPv6
            # (an Allow) but is never taken to block it (a Deny).
            everyone &= (token != "internet") | allow
        wide = _rule_mask(n, r[everyone])
        wide[_full_cover(src, np.flatnonzero(ok), "v4" if source.family == 4 else "v6")] = True
    else:
        lo, hi = src["lo"].to_numpy(), src["hi"].to_numpy()
        hit = fixed["private_any"].copy()
        hit |= (kind == "v4") & allow & (lo <= source.hi) & (hi >= source.lo)
        deny4 = np.flatnonzero((kind == "v4") & ~allow)
        if len(deny4):  # a Deny matches when its prefixes together hold the whole source range
            keys = np.unique(r[deny4])
            whole = covered(pd.DataFrame({"key": keys, "lo": source.lo, "hi": source.hi}),
                            pd.DataFrame({"key": r[deny4], "lo": lo[deny4], "hi": hi[deny4]}))
            hit[deny4] |= np.isin(r[deny4], keys[whole])
        wide = _rule_mask(n, r[hit])
    ok &= wide
    pos = np.flatnonzero(ok)
    return pd.DataFrame({"rule": pos, "nsg_key": pd.Series(fixed["nsg_key"][pos], dtype=object),
                         "priority": fixed["priority"][pos], "allow": parsed.access[pos] == "allow",
                         "rule_name": pd.Series(fixed["rule_name"][pos], dtype=object)})


def _columns(parsed: ParsedRules) -> dict[str, np.ndarray]:
    """What matching reads of a parsed rule set whatever the port and source, as arrays."""
    rules, src = parsed.rules, parsed.sources
    kind = src["kind"].to_numpy(dtype=object)
    r = src["rule"].to_numpy()
    token = src["token"].astype(str).str.lower().to_numpy(dtype=object)
    allow = parsed.access[r] == "allow"
    # Sources any private address matches: */Any, VirtualNetwork, and (for an Allow) a Virtual
    # Network Manager network group, whose members are not read.
    private_any = ((kind == "all") & (token != "internet")) | ((kind == "tag") & np.isin(token, _VNET_TAGS)) \
        | ((kind == "asg") & allow & (np.char.find(token.astype(str), _GROUP) >= 0))
    return {"inbound_tcp": (parsed.direction == "inbound") & np.isin(parsed.protocol, TCP_PROTOCOLS),
            "kind": kind, "r": r, "token": token, "src_allow": allow, "private_any": private_any,
            "nsg_key": rules["nsg_key"].to_numpy(dtype=object), "rule_name": rules["rule_name"].to_numpy(dtype=object),
            "priority": rules["priority"].to_numpy(dtype=float, na_value=np.inf)}


def applies(parsed: ParsedRules, ep: pd.DataFrame, rule: np.ndarray, endpoint: np.ndarray,
            whole: np.ndarray | None = None) -> np.ndarray:
    """Boolean per (rule, endpoint) pair: the rule's destination includes the endpoint.

    An endpoint is an address range of one family (a scale set profile stands for every address
    of its subnet's prefix). Where ``whole`` is set (a Deny), the rule applies only when one
    destination holds the whole range: a Deny over part of a scale set's prefix never blocks the
    set (the instances outside it are still reached). A prefix of the other family never applies.
    """
    if not len(rule):
        return np.zeros(0, dtype=bool)
    pairs = pd.DataFrame({"pair": np.arange(len(rule)), "rule": rule, "endpoint": endpoint})
    m = pairs.merge(parsed.destinations[["rule", "kind", "token", "lo", "hi", "lo6", "hi6"]], on="rule")
    e = m["endpoint"].to_numpy()
    kind = m["kind"].to_numpy(dtype=object)
    strict = np.zeros(len(m), dtype=bool) if whole is None else np.asarray(whole, dtype=bool)[m["pair"].to_numpy()]
    v6 = ep["family"].to_numpy()[e] == 6
    hit = kind == "all"
    lo, hi, ep_lo, ep_hi = m["lo"].to_numpy(), m["hi"].to_numpy(), ep["lo"].to_numpy()[e], ep["hi"].to_numpy()[e]
    inside = np.where(strict, (lo <= ep_lo) & (hi >= ep_hi), (lo <= ep_hi) & (hi >= ep_lo))
    hit |= (kind == "v4") & ~v6 & inside
    six = np.flatnonzero((kind == "v6") & v6)
    if len(six):  # IPv6 prefixes and endpoints are few: compared as Python integers
        lo6, hi6 = m["lo6"].to_numpy(dtype=object)[six], m["hi6"].to_numpy(dtype=object)[six]
        elo, ehi = ep["lo6"].to_numpy(dtype=object)[e[six]], ep["hi6"].to_numpy(dtype=object)[e[six]]
        hit[six] = [(a <= x and b >= y) if s else (a <= y and b >= x)
                    for a, b, x, y, s in zip(lo6, hi6, elo, ehi, strict[six], strict=True)]
    token = m["token"].to_numpy(dtype=object)
    hit |= (kind == "tag") & np.isin(token, _VNET_TAGS)
    is_asg = kind == "asg"
    if is_asg.any():
        members = {(i, a) for i, lst in zip(ep.index, ep["asgs"], strict=True) for a in lst}
        hit[is_asg] = [(x, t) in members or (_GROUP in str(t) and not s) for x, t, s in
                       zip(e[is_asg], token[is_asg], strict[is_asg], strict=True)]
    out = np.zeros(len(rule), dtype=bool)
    out[m["pair"].to_numpy()[hit]] = True
    return out


def first_unreadable(parsed: ParsedRules) -> pd.Series:
    """Per rule list (NSG key), the lowest priority (-inf when unreadable) of a custom rule with a
    parse error that could be an inbound TCP rule."""
    return _memo(parsed, ("unreadable",), lambda: _first_unreadable(parsed)).copy(deep=False)


def _first_unreadable(parsed: ParsedRules) -> pd.Series:
    rules = parsed.rules
    maybe = ~parsed.valid & ~rules["default"].to_numpy(dtype=bool) & (parsed.direction != "outbound") \
        & ~np.isin(parsed.protocol, ("udp", "icmp", "esp", "ah"))
    prio = rules["priority"].to_numpy(dtype=float, na_value=-np.inf)[maybe]
    return pd.Series(prio).groupby(rules["nsg_key"].to_numpy(dtype=object)[maybe]).min()


def first_match(parsed: ParsedRules, ep: pd.DataFrame, roles: pd.DataFrame, port: int, source: Source,
                rank: np.ndarray | None = None) -> pd.DataFrame:
    """``roles`` (endpoint, role, nsg_key) with the first matching rule of each: ``allow`` (NaN
    when none matched), ``rule_name``, ``priority``, ``rule`` (its row in ``parsed.rules``), and
    ``undecided`` (an unreadable rule comes first: the list's verdict is not known).

    ``rank`` orders rules of equal priority (lowest first), per row of ``parsed.rules``.
    """
    roles = roles.reset_index(drop=True)
    rules = matching_rules(parsed, port, source)
    # Each (endpoint, role) is one rule list to decide: its first match, by priority then rank.
    group = roles.groupby(["endpoint", "role"], sort=False).ngroup().to_numpy(dtype=np.int64)
    pairs = pd.DataFrame({"group": group, "endpoint": roles["endpoint"].to_numpy(dtype=np.int64),
                          "nsg_key": pd.Series(roles["nsg_key"].to_numpy(dtype=object), dtype=object)}) \
        .merge(rules, on="nsg_key")
    ok = applies(parsed, ep, pairs["rule"].to_numpy(), pairs["endpoint"].to_numpy(),
                 whole=~pairs["allow"].to_numpy(dtype=bool))
    g, prio, rule = (pairs[c].to_numpy()[ok] for c in ("group", "priority", "rule"))
    tie = np.zeros(len(rule)) if rank is None else rank[rule]
    order = np.lexsort((np.arange(len(g)), tie, prio, g))  # equal keys keep the rules' order
    lead = order[np.r_[True, g[order][1:] != g[order][:-1]]] if len(order) else order
    at = np.full(group.max() + 1 if len(group) else 0, -1, dtype=np.int64)
    at[g[lead]] = lead
    pick = at[group]
    hit = pick >= 0
    allow = np.full(len(roles), np.nan, dtype=object)
    allow[hit] = pairs["allow"].to_numpy(dtype=bool)[ok][pick[hit]]
    name = np.full(len(roles), np.nan, dtype=object)
    name[hit] = pairs["rule_name"].to_numpy(dtype=object)[ok][pick[hit]]
    decided = np.full(len(roles), np.inf)
    decided[hit] = prio[pick[hit]]
    out = roles.assign(allow=pd.Series(allow, dtype=object), rule_name=pd.Series(name, dtype=object),
                       priority=np.where(hit, decided, np.nan), rule=np.where(hit, rule[np.maximum(pick, 0)], np.nan)
                       if len(rule) else np.full(len(roles), np.nan))
    unread = first_unreadable(parsed).reindex(roles["nsg_key"].to_numpy(dtype=object)).to_numpy(dtype=float)
    out["undecided"] = ~np.isnan(unread) & (unread <= decided)
    return out
