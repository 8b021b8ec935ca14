"""The exposure engine: which custom inbound Allow rules admit TCP from the whole internet.

A finding is (NSG, rule, port) for an audited port where the rule is a custom inbound Allow,
its protocol covers TCP, a destination port range covers the port, its sources are
internet-wide, and it is not shadowed by earlier Deny rules (see ``shadowed``). All of it runs
on whole columns of the rules table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditkit.engine.fields import TCP_PROTOCOLS, ParsedRules
from auditkit.engine.intervals import V4_MAX, V6_MAX, covered, covered_v6

# Service tags that reach far beyond the organisation without being the internet: reported as
# "broad" for review, never as findings.
BROAD_TAG_PREFIXES = ("azurecloud", "azurefrontdoor", "azuretrafficmanager", "appservice", "storage", "sql")


def _rule_mask(rules_len: int, rule_positions: np.ndarray) -> np.ndarray:
    mask = np.zeros(rules_len, dtype=bool)
    mask[rule_positions] = True
    return mask


def _covers_port(intervals: pd.DataFrame, n: int, port: int) -> np.ndarray:
    lo, hi = intervals["lo"].to_numpy(), intervals["hi"].to_numpy()
    return _rule_mask(n, intervals["rule"].to_numpy()[(lo <= port) & (hi >= port)])


def _full_cover(blocks: pd.DataFrame, candidates: np.ndarray, kind: str) -> np.ndarray:
    """Rules (positions in ``candidates``) whose own blocks of ``kind`` cover the whole family."""
    b = blocks[(blocks["kind"] == kind) & np.isin(blocks["rule"].to_numpy(), candidates)]
    keys = np.unique(b["rule"].to_numpy())
    if not len(keys):
        return keys
    if kind == "v4":
        t = pd.DataFrame({"key": keys, "lo": 0, "hi": V4_MAX})
        ok = covered(t, b.rename(columns={"rule": "key"})[["key", "lo", "hi"]])
    else:
        t = pd.DataFrame({"key": keys, "lo": [0] * len(keys), "hi": [V6_MAX] * len(keys)})
        ok = covered_v6(t, pd.DataFrame({"key": b["rule"], "lo": b["lo6"], "hi": b["hi6"]}))
    return keys[ok]


def internet_wide(parsed: ParsedRules, candidates: np.ndarray) -> np.ndarray:
    """Boolean per rule: its sources admit the whole internet.

    ``*``, ``Any`` and ``Internet`` do; so does any set of prefixes whose union covers all of IPv4
    or all of IPv6 (``0.0.0.0/0``, ``::/0``, ``0.0.0.0/1`` + ``128.0.0.0/1``). Other service tags
    and application security groups do not.
    """
    n = len(parsed.rules)
    src = parsed.sources
    wide = _rule_mask(n, src.loc[src["kind"] == "all", "rule"].to_numpy())
    wide[_full_cover(src, candidates, "v4")] = True
    wide[_full_cover(src, candidates, "v6")] = True
    return wide


def broad_sources(parsed: ParsedRules) -> np.ndarray:
    """Boolean per rule: a source is a broad service tag such as ``AzureCloud`` (reported apart)."""
    src = parsed.sources
    tags = src[src["kind"] == "tag"]
    broad = tags["token"].str.startswith(BROAD_TAG_PREFIXES).to_numpy(dtype=bool)
    return _rule_mask(len(parsed.rules), tags["rule"].to_numpy()[broad])


def candidates(parsed: ParsedRules, ports: tuple[int, ...], require_internet: bool = True) -> pd.DataFrame:
    """(rule, port) pairs that meet rules 1-4: custom inbound Allow, TCP, port, internet-wide.

    With ``require_internet=False`` the source test is skipped (for the "broad sources" list).
    """
    rules = parsed.rules
    n = len(rules)
    direction, access, protocol = parsed.direction, parsed.access, parsed.protocol
    allow = (~rules["default"].to_numpy(dtype=bool)) & (direction == "inbound") & (access == "allow") \
        & np.isin(protocol, TCP_PROTOCOLS)
    per_port = {p: allow & _covers_port(parsed.destination_ports, n, p) for p in ports}
    any_port = np.zeros(n, dtype=bool)
    for mask in per_port.values():
        any_port |= mask
    wide = internet_wide(parsed, np.flatnonzero(any_port)) if require_internet else np.ones(n, dtype=bool)
    frames = [pd.DataFrame({"rule": np.flatnonzero(mask & wide), "port": p}) for p, mask in per_port.items()]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"rule": [], "port": []})
    return out.astype({"rule": np.int64, "port": np.int64})
