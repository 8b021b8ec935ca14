"""Shadowing: an Allow that earlier Deny rules fully hide admits nothing from the internet.

Azure evaluates an NSG's inbound rules in ascending priority number and the first match wins.
A candidate finding (rule R, port p) is shadowed when the inbound Deny rules with a lower
priority number that each (a) cover TCP, (b) cover p, (c) leave source ports unrestricted and
(d) have a destination that covers R's destination, together have sources whose union covers
every internet source R admits. Only Deny rules shadow: an Allow hidden behind an earlier Allow
is still exposed, because removing the first would expose the second.

The test is conservative in one direction only: it may miss a shadowing that needs several
Deny rules with different destinations, or that relies on what a service tag such as
``VirtualNetwork`` contains, and then reports the finding; it never hides a real exposure.
A Deny rule with any malformed field shadows nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditkit.engine.fields import TCP_PROTOCOLS, ParsedRules
from auditkit.engine.intervals import PORT_MAX, V4_MAX, V6_MAX, covered, covered_v6


def _denies(parsed: ParsedRules, ports: np.ndarray) -> pd.DataFrame:
    """(deny rule, port) rows for every inbound Deny that could shadow on that port."""
    direction, access, protocol = parsed.direction, parsed.access, parsed.protocol
    deny = parsed.valid & (direction == "inbound") & (access == "deny") & np.isin(protocol, TCP_PROTOCOLS)
    idx = np.flatnonzero(deny)
    if not len(idx):
        return pd.DataFrame({"deny": [], "port": []}, dtype=np.int64)
    # (c) source ports unrestricted: their union covers 0-65535.
    sp = parsed.source_ports
    sp = sp[deny[sp["rule"].to_numpy()]]
    t = pd.DataFrame({"key": idx, "lo": 0, "hi": PORT_MAX})
    all_sports = idx[covered(t, sp.rename(columns={"rule": "key"}))]
    dp = parsed.destination_ports
    dp = dp[np.isin(dp["rule"].to_numpy(), all_sports)]
    frames = []
    for p in ports:
        hit = (dp["lo"].to_numpy() <= p) & (dp["hi"].to_numpy() >= p)
        frames.append(pd.DataFrame({"deny": np.unique(dp["rule"].to_numpy()[hit]), "port": p}))
    out = pd.concat(frames, ignore_index=True)
    return out.astype(np.int64)


def _destination_covered(parsed: ParsedRules, pairs: pd.DataFrame) -> np.ndarray:
    """Per (candidate rule, deny) pair: every destination of the rule lies inside one of the deny's."""
    dst = parsed.destinations
    n = len(parsed.rules)
    deny_all = np.zeros(n, dtype=bool)
    deny_all[dst.loc[dst["kind"] == "all", "rule"].to_numpy()] = True
    ok = deny_all[pairs["deny"].to_numpy()]
    rest = np.flatnonzero(~ok)
    if not len(rest):
        return ok
    sub = pd.DataFrame({"pair": rest, "rule": pairs["rule"].to_numpy()[rest], "deny": pairs["deny"].to_numpy()[rest]})
    mine = sub.merge(dst, on="rule")  # one row per rule destination
    mine["elem"] = np.arange(len(mine))
    theirs = dst.rename(columns={"rule": "deny", "kind": "dkind", "token": "dtoken", "lo": "dlo", "hi": "dhi",
                                 "lo6": "dlo6", "hi6": "dhi6"})
    m = mine.merge(theirs, on="deny")
    kind, dkind = m["kind"].to_numpy(dtype=object), m["dkind"].to_numpy(dtype=object)
    same_token = (kind == dkind) & np.isin(kind, ["tag", "asg"]) & \
        (m["token"].str.lower().to_numpy(dtype=object) == m["dtoken"].str.lower().to_numpy(dtype=object))
    v4 = (kind == "v4") & (dkind == "v4") & (m["dlo"].to_numpy() <= m["lo"].to_numpy()) & \
        (m["hi"].to_numpy() <= m["dhi"].to_numpy())
    v6 = np.zeros(len(m), dtype=bool)
    both6 = np.flatnonzero((kind == "v6") & (dkind == "v6"))
    if len(both6):
        v6[both6] = (m["dlo6"].to_numpy()[both6] <= m["lo6"].to_numpy()[both6]) & \
            (m["hi6"].to_numpy()[both6] <= m["dhi6"].to_numpy()[both6])
    elem_ok = np.zeros(len(mine), dtype=bool)
    np.logical_or.at(elem_ok, m["elem"].to_numpy(), same_token | v4 | v6)
    # A pair is covered when none of the rule's destinations is left uncovered.
    pair_bad = np.zeros(len(pairs), dtype=bool)
    np.logical_or.at(pair_bad, mine["pair"].to_numpy(), ~elem_ok)
    has_elems = np.zeros(len(pairs), dtype=bool)
    has_elems[mine["pair"].to_numpy()] = True
    ok[rest] = has_elems[rest] & ~pair_bad[rest]
    return ok


def shadowed(parsed: ParsedRules, cands: pd.DataFrame) -> np.ndarray:
    """Boolean per candidate row (rule, port): hidden by earlier inbound Deny rules."""
    return _shadowed(parsed, cands)[0]


def shadowed_by(parsed: ParsedRules, cands: pd.DataFrame) -> tuple[np.ndarray, list[tuple]]:
    """``shadowed`` plus, per candidate, the names of the earlier Deny rules that hide it (in
    priority order; empty for a candidate that is not hidden)."""
    result, pairs = _shadowed(parsed, cands)
    hidden: list[tuple] = [()] * len(cands)
    if result.any() and len(pairs):
        rules = parsed.rules
        p = pairs[result[pairs["cand"].to_numpy()]]
        prio = rules["priority"].to_numpy(dtype=float, na_value=np.nan)[p["deny"].to_numpy()]
        p = p.assign(prio=prio, name=rules["rule_name"].to_numpy()[p["deny"].to_numpy()]).sort_values(["cand", "prio"])
        for cand, names in p.groupby("cand")["name"]:
            hidden[int(cand)] = tuple(dict.fromkeys(names))
    return result, hidden


def _shadowed(parsed: ParsedRules, cands: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    result = np.zeros(len(cands), dtype=bool)
    none = pd.DataFrame({"cand": [], "deny": []}, dtype=np.int64)
    if not len(cands):
        return result, none
    rules = parsed.rules
    nsg = pd.factorize(rules["nsg_key"])[0]
    priority = rules["priority"].to_numpy(dtype=float, na_value=np.nan)
    denies = _denies(parsed, np.unique(cands["port"].to_numpy()))
    if not len(denies):
        return result, none
    c = pd.DataFrame({"cand": np.arange(len(cands)), "rule": cands["rule"].to_numpy(),
                      "port": cands["port"].to_numpy()})
    c["nsg"] = nsg[c["rule"].to_numpy()]
    denies["nsg"] = nsg[denies["deny"].to_numpy()]
    pairs = c.merge(denies, on=["nsg", "port"])
    # Strictly lower priority number; a rule without a readable priority cannot be proven hidden.
    earlier = priority[pairs["deny"].to_numpy()] < priority[pairs["rule"].to_numpy()]
    pairs = pairs[earlier].reset_index(drop=True)
    if not len(pairs):
        return result, none
    pairs = pairs[_destination_covered(parsed, pairs)].reset_index(drop=True)
    if not len(pairs):
        return result, none

    src = parsed.sources
    # A rule whose destinations are all IPv6 admits no IPv4 packet, and the other way round.
    dst = parsed.destinations
    dkind = dst["kind"].to_numpy(dtype=object)
    any_family = np.isin(dkind, ["all", "tag", "asg"])
    reach4 = np.zeros(len(rules), dtype=bool)
    reach6 = np.zeros(len(rules), dtype=bool)
    reach4[dst["rule"].to_numpy()[any_family | (dkind == "v4")]] = True
    reach6[dst["rule"].to_numpy()[any_family | (dkind == "v6")]] = True
    # A rule that admits no packet on its own (IPv6 sources, IPv4 destinations) cannot be proven
    # hidden by Deny rules: it stays a finding, like the reference evaluator says.
    skind = src["kind"].to_numpy(dtype=object)
    src4 = np.zeros(len(rules), dtype=bool)
    src6 = np.zeros(len(rules), dtype=bool)
    src4[src["rule"].to_numpy()[(skind == "all") | (skind == "v4")]] = True
    src6[src["rule"].to_numpy()[(skind == "all") | (skind == "v6")]] = True
    admits = (src4 & reach4) | (src6 & reach6)
    # Deny sources per candidate.
    deny_src = pairs[["cand", "deny"]].merge(src.rename(columns={"rule": "deny"}), on="deny")
    all_cands = np.unique(deny_src.loc[deny_src["kind"] == "all", "cand"].to_numpy())
    all_cands = all_cands[admits[c["rule"].to_numpy()[all_cands]]]
    result[all_cands] = True

    # The internet sources the candidate admits: everything for */Any/Internet, else its prefixes.
    pending = np.setdiff1d(np.unique(pairs["cand"].to_numpy()), all_cands)
    if not len(pending):
        return result, pairs
    cand_rule = c["rule"].to_numpy()
    own = src[src["kind"].isin(["all", "v4", "v6"])]
    own = pd.DataFrame({"rule": own["rule"].to_numpy(), "kind": own["kind"].to_numpy(),
                        "lo": own["lo"].to_numpy(), "hi": own["hi"].to_numpy(),
                        "lo6": own["lo6"].to_numpy(), "hi6": own["hi6"].to_numpy()})
    targets = pd.DataFrame({"cand": pending, "rule": cand_rule[pending]}).merge(own, on="rule")
    trule = targets["rule"].to_numpy()
    tkind = targets["kind"].to_numpy(dtype=object)
    targets = targets[((tkind == "v4") & reach4[trule]) | ((tkind == "v6") & reach6[trule]) | (tkind == "all")]
    is_all = targets["kind"].to_numpy() == "all"
    all4 = is_all & reach4[targets["rule"].to_numpy()]
    all6 = is_all & reach6[targets["rule"].to_numpy()]
    v4_t = pd.concat([
        targets.loc[targets["kind"] == "v4", ["cand", "lo", "hi"]],
        pd.DataFrame({"cand": targets.loc[all4, "cand"].to_numpy(), "lo": 0, "hi": V4_MAX}),
    ], ignore_index=True)
    v6_t = pd.concat([
        pd.DataFrame({"cand": targets.loc[targets["kind"] == "v6", "cand"].to_numpy(),
                      "lo": targets.loc[targets["kind"] == "v6", "lo6"].to_numpy(),
                      "hi": targets.loc[targets["kind"] == "v6", "hi6"].to_numpy()}),
        pd.DataFrame({"cand": targets.loc[all6, "cand"].to_numpy(), "lo": [0] * int(all6.sum()),
                      "hi": [V6_MAX] * int(all6.sum())}),
    ], ignore_index=True)
    v4_b = deny_src.loc[deny_src["kind"] == "v4", ["cand", "lo", "hi"]]
    v6_b = deny_src.loc[deny_src["kind"] == "v6", ["cand", "lo6", "hi6"]].rename(columns={"lo6": "lo", "hi6": "hi"})
    ok4 = covered(v4_t.rename(columns={"cand": "key"}), v4_b.rename(columns={"cand": "key"}))
    ok6 = covered_v6(v6_t.rename(columns={"cand": "key"}), v6_b.rename(columns={"cand": "key"}))
    uncovered = np.zeros(len(cands), dtype=bool)
    np.logical_or.at(uncovered, v4_t["cand"].to_numpy(dtype=np.int64), ~ok4)
    np.logical_or.at(uncovered, v6_t["cand"].to_numpy(dtype=np.int64), ~ok6)
    has_target = np.zeros(len(cands), dtype=bool)
    has_target[v4_t["cand"].to_numpy(dtype=np.int64)] = True
    has_target[v6_t["cand"].to_numpy(dtype=np.int64)] = True
    result[pending] = has_target[pending] & ~uncovered[pending]
    return result, pairs
