"""Rule fields as numeric intervals: port ranges and address blocks, and interval coverage.

Everything here works on whole columns: a rule field is exploded to one row per entry, parsed
with vectorised string operations, and compared as integer intervals. IPv6 blocks (rare in NSG
rules) are parsed and compared with Python integers, on their rows only.
"""

from __future__ import annotations

import ipaddress
from itertools import chain

import numpy as np
import pandas as pd

PORT_MAX = 65535
V4_MAX = 2**32 - 1
V6_MAX = 2**128 - 1

# Wildcards that match every address, and, as a source, Azure's "Internet" tag: the address
# space outside the virtual network, i.e. anyone. As a destination "Internet" is an ordinary
# tag: inbound packets go to virtual-network addresses, which it excludes.
ALL_TOKENS = frozenset({"*", "any"})
ALL_SOURCE_TOKENS = ALL_TOKENS | {"internet"}

BLOCK_COLUMNS = ["rule", "kind", "token", "lo", "hi", "lo6", "hi6"]
ERROR_COLUMNS = ["rule", "field", "message"]

_PORT = r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5}))?\s*$"
_V4 = r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:/(\d{1,2}))?$"
_TAG = r"^[A-Za-z][A-Za-z0-9._\-]*$"


def explode(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(rule position, entry) for every entry of a column of tuples; empty tuples give no row."""
    values = column.to_numpy(dtype=object)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    rule = np.repeat(np.arange(len(values), dtype=np.int64), lengths)
    entries = np.empty(int(lengths.sum()), dtype=object)
    entries[:] = list(chain.from_iterable(values))
    return rule, entries


def _tokens(column: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Entries factorised: NSG fields repeat the same few tokens ('*', '25', 'Internet') a million
    times, so each distinct token is parsed once and the result broadcast through the codes."""
    rule, entries = explode(column)
    codes, uniques = pd.factorize(entries)
    return rule, codes, pd.Series(uniques, dtype=object).astype(str)


def _errors(rule: np.ndarray, codes: np.ndarray, bad: np.ndarray, uniques: pd.Series, message: np.ndarray,
            field: str) -> pd.DataFrame:
    rows = bad[codes]
    texts = np.array([f"{v!r} {m}" if b else "" for v, m, b in zip(uniques, message, bad, strict=True)],
                     dtype=object)
    return pd.DataFrame({"rule": rule[rows], "field": field, "message": texts[codes[rows]]}, columns=ERROR_COLUMNS)


def port_intervals(column: pd.Series, field: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse a column of port-range tuples into (rule, lo, hi) rows and per-entry errors.

    ``*`` and ``Any`` are 0-65535; ``80`` is 80-80; ``1000-2000`` is inclusive.
    """
    rule, codes, u = _tokens(column)
    text = u.str.strip()
    star = text.str.lower().isin(["*", "any"]).to_numpy(dtype=bool)
    parts = text.str.extract(_PORT)
    lo = pd.to_numeric(parts[0], errors="coerce").to_numpy(dtype=float)
    hi_raw = pd.to_numeric(parts[1], errors="coerce").to_numpy(dtype=float)
    hi = np.where(np.isnan(hi_raw), lo, hi_raw)
    lo = np.where(star, 0, lo)
    hi = np.where(star, PORT_MAX, hi)
    ok = ~np.isnan(lo) & ~np.isnan(hi) & (lo <= hi) & (hi <= PORT_MAX)
    msg = np.where(np.isnan(lo), "is not a port, a range lo-hi or '*'",
                   np.where(hi > PORT_MAX, "is outside 0-65535", "is a range whose start is after its end"))
    rows = ok[codes]
    intervals = pd.DataFrame({"rule": rule[rows],
                              "lo": np.nan_to_num(lo).astype(np.int64)[codes[rows]],
                              "hi": np.nan_to_num(hi).astype(np.int64)[codes[rows]]})
    return intervals, _errors(rule, codes, ~ok, u, msg, field)


def address_blocks(prefixes: pd.Series, asgs: pd.Series, field: str,
                   source: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse address prefixes and application security groups into typed blocks.

    ``kind`` is ``all`` (``*``, ``Any``, and ``Internet`` for sources), ``v4`` (lo/hi as int64), ``v6`` (lo6/hi6 as
    Python ints), ``tag`` (any other service tag, lower-cased token) or ``asg`` (resource id).
    Host bits of a prefix are masked, as Azure does when it stores ``10.0.0.5/24``.
    """
    rule, codes, text_u = _tokens(prefixes)
    text = text_u.str.strip()
    lower = text.str.lower()
    n = len(text)
    kind = np.full(n, "", dtype=object)
    lo = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    lo6 = np.zeros(n, dtype=object)
    hi6 = np.zeros(n, dtype=object)
    message = np.full(n, "", dtype=object)

    is_all = lower.isin(ALL_SOURCE_TOKENS if source else ALL_TOKENS).to_numpy(dtype=bool)
    kind[is_all] = "all"

    v4 = text.str.extract(_V4)
    octets = v4[[0, 1, 2, 3]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    plen = pd.to_numeric(v4[4], errors="coerce").to_numpy(dtype=float)
    looks_v4 = ~np.isnan(octets[:, 0]) if n else np.zeros(0, dtype=bool)
    plen = np.where(np.isnan(plen), 32, plen)
    v4_ok = looks_v4 & (np.nan_to_num(octets, nan=999) <= 255).all(axis=1) & (plen <= 32)
    if v4_ok.any():
        o = octets[v4_ok].astype(np.int64)
        addr = (o[:, 0] << 24) | (o[:, 1] << 16) | (o[:, 2] << 8) | o[:, 3]
        size = np.left_shift(np.int64(1), (32 - plen[v4_ok]).astype(np.int64))
        start = addr & ~(size - 1)
        lo[v4_ok] = start
        hi[v4_ok] = start + size - 1
        kind[v4_ok] = "v4"
    message[looks_v4 & ~v4_ok] = "is not a valid IPv4 address or prefix"
    message[looks_v4 & ~v4_ok & (plen > 32)] = "has a prefix length over 32"

    rest = ~is_all & ~looks_v4
    has_colon = text.str.contains(":", regex=False).to_numpy(dtype=bool)
    for i in np.flatnonzero(rest & has_colon):  # distinct IPv6 tokens only: few
        try:
            net = ipaddress.IPv6Network(text.iloc[i], strict=False)
        except ValueError:
            message[i] = "is not a valid IPv6 address or prefix"
            continue
        kind[i] = "v6"
        lo6[i] = int(net.network_address)
        hi6[i] = int(net.broadcast_address)
    is_tag = rest & ~has_colon & text.str.match(_TAG).to_numpy(dtype=bool)
    kind[is_tag] = "tag"
    message[rest & ~has_colon & ~is_tag] = "is not an address, a prefix or a service tag"

    token = np.where(kind == "tag", lower.to_numpy(dtype=object), text.to_numpy(dtype=object))
    good = kind != ""
    rows = good[codes]
    c = codes[rows]
    blocks = pd.DataFrame({"rule": rule[rows], "kind": kind[c], "token": token[c], "lo": lo[c], "hi": hi[c],
                           "lo6": lo6[c], "hi6": hi6[c]}, columns=BLOCK_COLUMNS)
    errors = _errors(rule, codes, ~good, text_u, message, field)

    arule, aentries = explode(asgs)
    if len(arule):
        asg_blocks = pd.DataFrame({"rule": arule, "kind": "asg",
                                   "token": pd.Series(aentries, dtype=object).astype(str).str.lower()
                                   .to_numpy(dtype=object), "lo": 0, "hi": 0, "lo6": 0, "hi6": 0},
                                  columns=BLOCK_COLUMNS)
        blocks = pd.concat([blocks, asg_blocks], ignore_index=True)
    return blocks, errors


def covered(targets: pd.DataFrame, blocks: pd.DataFrame) -> np.ndarray:
    """For each target (key, lo, hi), whether the union of the blocks with the same key covers it.

    Integer intervals only (ports, IPv4). Blocks are clipped to the target, sorted, and a running
    maximum of their ends finds the first gap: no Python loop over rows.
    """
    result = np.zeros(len(targets), dtype=bool)
    if not len(targets) or not len(blocks):
        return result
    t = pd.DataFrame({"t": np.arange(len(targets)), "key": targets["key"].to_numpy(),
                      "tlo": targets["lo"].to_numpy(dtype=np.int64), "thi": targets["hi"].to_numpy(dtype=np.int64)})
    b = pd.DataFrame({"key": blocks["key"].to_numpy(), "lo": blocks["lo"].to_numpy(dtype=np.int64),
                      "hi": blocks["hi"].to_numpy(dtype=np.int64)})
    m = t.merge(b, on="key", how="inner")
    lo = np.maximum(m["lo"].to_numpy(), m["tlo"].to_numpy())
    hi = np.minimum(m["hi"].to_numpy(), m["thi"].to_numpy())
    keep = lo <= hi
    tt = m["t"].to_numpy()[keep]
    lo, hi = lo[keep], hi[keep]
    if not len(tt):
        return result
    order = np.lexsort((lo, tt))
    tt, lo, hi = tt[order], lo[order], hi[order]
    reach = pd.Series(hi).groupby(tt).cummax().to_numpy()
    first = np.ones(len(tt), dtype=bool)
    first[1:] = tt[1:] != tt[:-1]
    prev_reach = np.empty_like(reach)
    prev_reach[1:] = reach[:-1]
    tlo = t["tlo"].to_numpy()[tt]
    gap = np.where(first, lo > tlo, lo > prev_reach + 1)
    last = np.ones(len(tt), dtype=bool)
    last[:-1] = tt[1:] != tt[:-1]
    thi = t["thi"].to_numpy()[tt]
    gap |= last & (reach < thi)
    has_gap = np.zeros(len(targets), dtype=bool)
    np.logical_or.at(has_gap, tt, gap)
    result[np.unique(tt)] = True
    return result & ~has_gap


def covered_v6(targets: pd.DataFrame, blocks: pd.DataFrame) -> np.ndarray:
    """Like ``covered`` for IPv6 intervals held as Python ints (lo, hi): a sweep per target.

    IPv6 sources are rare in NSG rules, so this runs on few rows.
    """
    result = np.zeros(len(targets), dtype=bool)
    if not len(targets) or not len(blocks):
        return result
    by_key: dict = {}
    for key, blo, bhi in zip(blocks["key"], blocks["lo"], blocks["hi"], strict=True):
        by_key.setdefault(key, []).append((int(blo), int(bhi)))
    for i, (key, tlo, thi) in enumerate(zip(targets["key"], targets["lo"], targets["hi"], strict=True)):
        reach = int(tlo) - 1
        for blo, bhi in sorted(by_key.get(key, ())):
            if blo > reach + 1:
                break
            reach = max(reach, bhi)
            if reach >= thi:
                break
        result[i] = reach >= int(thi)
    return result
