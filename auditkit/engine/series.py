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
    chosen = np.arange(len(ep)) if endpoints is None else np.asarray(endpoints, dtype=np.int64)
    parts = []
    for role, column in (("subnet", "subnet_nsg"), ("nic", "nic_nsg")):
        nsg = ep[column].to_numpy(dtype=object)[chosen]
        have = nsg != ""
        parts.append((chosen[have], np.full(int(have.sum()), role, dtype=object), nsg[have]))
    keys = np.concatenate([p[2] for p in parts])
    roles = pd.DataFrame({"endpoint": np.concatenate([p[0] for p in parts]),
                          "role": pd.Series(np.concatenate([p[1] for p in parts]), dtype=object),
                          "nsg_key": pd.Series(keys, dtype=object)})
    out = first_match(parsed, ep, roles, port, source)
    allow = np.array(out["allow"].to_numpy(dtype=object), dtype=object)
    unmatched = pd.isna(allow)
    known = pd.Series(keys, dtype=object).isin(known_nsgs).to_numpy(dtype=bool) if len(keys) and known_nsgs \
        else np.zeros(len(keys), dtype=bool)
    name = np.array(out["rule_name"].to_numpy(dtype=object), dtype=object)
    allow[unmatched & known] = False  # no rule matched: the implicit DenyAllInBound (65500)
    name[unmatched & known] = "DenyAllInBound"
    allow[unmatched & ~known] = True
    name[unmatched & ~known] = "(NSG not in snapshot)"
    out["allow"] = allow.astype(bool)
    out["rule_name"] = pd.Series(name, dtype=object)
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
    n = len(items)
    e_all = items["endpoint"].to_numpy(dtype=np.int64)
    col = {"admin": np.full(n, "pass", dtype=object), "admin_rule": np.full(n, "", dtype=object)}
    for p in ("s", "n"):
        col[f"{p}_allow"], col[f"{p}_rule"] = np.ones(n, dtype=bool), np.full(n, "", dtype=object)
        col[f"{p}_undecided"] = np.zeros(n, dtype=bool)
    fam, lo, hi = (items[c].to_numpy(dtype=np.int64) for c in ("family", "src_lo", "src_hi"))
    keys = items[["family", "src_lo", "src_hi"]].drop_duplicates() if n else items[["family", "src_lo", "src_hi"]]
    for f, a, b in keys.itertuples(index=False):  # one pass per distinct source: two, plus a few proxies
        source = (INTERNET_V4 if f == 4 else INTERNET_V6) if a < 0 else Source(4, int(a), int(b))
        rows = np.flatnonzero((fam == f) & (lo == a) & (hi == b))
        e = e_all[rows]
        uniq = np.unique(e)
        at = np.searchsorted(uniq, e)  # admin_verdicts answers one row per endpoint of ``uniq``, in order
        v = admin_verdicts(admin, ep, uniq, port, source)
        col["admin"][rows] = v["decision"].to_numpy(dtype=object)[at]
        col["admin_rule"][rows] = v["admin_rule"].to_numpy(dtype=object)[at]
        v = nsg_verdicts(parsed, ep, port, known_nsgs, source, uniq)
        for role, p in (("subnet", "s"), ("nic", "n")):
            allow, rule, undecided = role_lookup(v, role, len(ep))
            col[f"{p}_allow"][rows], col[f"{p}_rule"][rows], col[f"{p}_undecided"][rows] = \
                allow[e], rule[e], undecided[e]
    free = ~ep["nsg_enforced"].to_numpy(dtype=bool)[e_all]
    for p, column in (("s", "subnet_nsg"), ("n", "nic_nsg")):
        has = ep[column].to_numpy(dtype=object)[e_all] != ""
        col[f"{p}_allow"][free] = True
        col[f"{p}_undecided"][free] = False
        col[f"{p}_rule"][free & has] = NOT_ENFORCED
    return pd.DataFrame({"item": np.arange(n), "endpoint": e_all,
                         **{c: pd.Series(v, dtype=object) if v.dtype == object else v for c, v in col.items()}},
                        columns=SERIES_COLUMNS)
