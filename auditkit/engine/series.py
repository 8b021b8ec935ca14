"""The verdict in series for one packet: admin rules of the VNet, then the subnet's NSG, then the NIC's.

Azure evaluates an inbound packet against the VNet's Virtual Network Manager security admin
rules first (``Deny`` drops, ``AlwaysAllow`` delivers and skips the NSGs, ``Allow`` goes on),
then the subnet's NSG, then the NIC's; it enters only when every NSG present allows it, and an
absent NSG allows ("How network security groups filter network traffic"). An NSG record without
default rules still ends in DenyAllInBound (65500). A private endpoint whose subnet does not
enforce network policies is filtered by no NSG ("Manage network policies for private endpoints").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditkit.engine.admin_rules import AdminRules, admin_verdicts
from auditkit.engine.fields import ParsedRules
from auditkit.engine.packets import INTERNET_V4, INTERNET_V6, Source, first_match

SERIES_COLUMNS = ["item", "endpoint", "admin", "admin_rule", "s_allow", "s_rule", "s_undecided", "n_allow", "n_rule",
                  "n_undecided"]
NOT_ENFORCED = "(not enforced on this private endpoint: privateEndpointNetworkPolicies)"


def nsg_verdicts(parsed: ParsedRules, ep: pd.DataFrame, port: int, known_nsgs: set[str],
                 source: Source = INTERNET_V4, endpoints: np.ndarray | None = None) -> pd.DataFrame:
    """Per (endpoint, role) with an NSG: does that NSG admit a packet from ``source`` on ``port``,
    and by which rule; ``endpoints`` limits the endpoints evaluated.

    ``role`` is ``subnet`` or ``nic``. An NSG referenced but absent from the snapshot is not known
    to deny: its verdict is ``allow`` with rule ``(NSG not in snapshot)``. ``undecided``: a rule
    that could not be read comes before the NSG's decision.
    """
    frames = []
    chosen = np.arange(len(ep)) if endpoints is None else np.asarray(endpoints, dtype=np.int64)
    for role, column in (("subnet", "subnet_nsg"), ("nic", "nic_nsg")):
        nsg = ep[column].to_numpy(dtype=object)[chosen]
        have = nsg != ""
        frames.append(pd.DataFrame({"endpoint": chosen[have], "role": role, "nsg_key": nsg[have]}))
    roles = pd.concat(frames, ignore_index=True)
    out = first_match(parsed, ep, roles, port, source)
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
    out["undecided"] = out["undecided"].to_numpy(dtype=bool) & known
    return out.drop(columns=["rule"])


def role_lookup(verdicts: pd.DataFrame, role: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per endpoint (0..n-1), the ``role`` NSG's verdict: allow, deciding rule, undecided."""
    allow = np.ones(n, dtype=bool)
    rule = np.full(n, "", dtype=object)
    undecided = np.zeros(n, dtype=bool)
    v = verdicts[verdicts["role"] == role]
    allow[v["endpoint"].to_numpy()] = v["allow"].to_numpy(dtype=bool)
    rule[v["endpoint"].to_numpy()] = v["rule_name"].to_numpy(dtype=object)
    undecided[v["endpoint"].to_numpy()] = v["undecided"].to_numpy(dtype=bool)
    return allow, rule, undecided


def internet_items(ep: pd.DataFrame) -> pd.DataFrame:
    """One packet per endpoint, from the internet of the endpoint's own address family."""
    return pd.DataFrame({"endpoint": np.arange(len(ep)), "family": ep["family"].to_numpy(dtype=np.int64),
                         "src_lo": -1, "src_hi": -1})


def series(parsed: ParsedRules, admin: AdminRules, ep: pd.DataFrame, items: pd.DataFrame, port: int,
           known_nsgs: set[str]) -> pd.DataFrame:
    """Per packet of ``items`` (endpoint, family, src_lo, src_hi; src_lo < 0 for the internet):
    the admin decision and rule, and each NSG's verdict (see SERIES_COLUMNS)."""
    items = items.reset_index(drop=True)
    out = pd.DataFrame({"item": np.arange(len(items)), "endpoint": items["endpoint"].to_numpy(dtype=np.int64),
                        "admin": "pass", "admin_rule": "", "s_allow": True, "s_rule": "", "s_undecided": False,
                        "n_allow": True, "n_rule": "", "n_undecided": False}, columns=SERIES_COLUMNS)
    if not len(items):
        return out
    keys = items[["family", "src_lo", "src_hi"]].drop_duplicates()
    for fam, lo, hi in keys.itertuples(index=False):  # one pass per distinct source: two, plus a few proxies
        source = (INTERNET_V4 if fam == 4 else INTERNET_V6) if lo < 0 else Source(4, int(lo), int(hi))
        rows = np.flatnonzero((items["family"].to_numpy() == fam) & (items["src_lo"].to_numpy() == lo)
                              & (items["src_hi"].to_numpy() == hi))
        e = items["endpoint"].to_numpy(dtype=np.int64)[rows]
        uniq = np.unique(e)
        a = admin_verdicts(admin, ep, uniq, port, source).set_index("endpoint").reindex(e)
        out.loc[rows, "admin"] = a["decision"].to_numpy(dtype=object)
        out.loc[rows, "admin_rule"] = a["admin_rule"].to_numpy(dtype=object)
        v = nsg_verdicts(parsed, ep, port, known_nsgs, source, uniq)
        for role, p in (("subnet", "s"), ("nic", "n")):
            allow, rule, undecided = role_lookup(v, role, len(ep))
            out.loc[rows, f"{p}_allow"] = allow[e]
            out.loc[rows, f"{p}_rule"] = rule[e]
            out.loc[rows, f"{p}_undecided"] = undecided[e]
    free = ~ep["nsg_enforced"].to_numpy(dtype=bool)[out["endpoint"].to_numpy()]
    for p in ("s", "n"):
        has = ep["subnet_nsg" if p == "s" else "nic_nsg"].to_numpy(dtype=object)[out["endpoint"].to_numpy()] != ""
        out.loc[free, f"{p}_allow"] = True
        out.loc[free, f"{p}_undecided"] = False
        out.loc[free & has, f"{p}_rule"] = NOT_ENFORCED
    return out.astype({"s_allow": bool, "n_allow": bool, "s_undecided": bool, "n_undecided": bool})
