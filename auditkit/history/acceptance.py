"""Which findings an accepted-risk entry covers, as of a given day (see ``settings.accepted_risks``).

Evaluated per snapshot, on that snapshot's own rows and date, so that history is reproducible:
a finding accepted in March and whose acceptance expired in June is open again from the first
snapshot after the expiry date, and a rule whose sources widened beyond ``max_sources`` stops
being covered the snapshot it widened.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from auditkit.settings.accepted_risks import Acceptance


def _matches(rows: pd.DataFrame, entry: Acceptance) -> np.ndarray:
    """Boolean per row: NSG id, rule, port and sources match ``entry`` (its date aside)."""
    nsg = rows["nsg_key"].astype(str).str.lower().str.match(entry.nsg_regex()).to_numpy(dtype=bool)
    rule = rows["rule_name"].astype(str).str.lower().str.match(entry.rule_regex()).to_numpy(dtype=bool)
    ok = nsg & rule
    if entry.port is not None:
        ok &= rows["port"].to_numpy(dtype=np.int64) == entry.port
    if entry.max_sources is not None and ok.any():
        allowed = set(entry.max_sources)
        ok[ok] = [all(str(s).strip().lower() in allowed for s in src) for src in rows["sources"].to_numpy()[ok]]
    return ok


def covering(rows: pd.DataFrame, days: np.ndarray, entries: Sequence[Acceptance]) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the index of the first entry in force on that row's day that covers it (0: none),
    and of the first matching entry past its date (0: none).

    ``days`` holds one ``datetime.date`` per row (the as-of date of the row's snapshot).
    """
    n = len(rows)
    in_force = np.zeros(n, dtype=np.int64)
    expired = np.zeros(n, dtype=np.int64)
    if not entries or not n:
        return in_force, expired
    day_values = np.array([np.datetime64(d, "D") for d in days]) if n else np.array([], dtype="datetime64[D]")
    for e in entries:  # a loop over entries (few); every step is vectorised over the rows
        m = _matches(rows, e)
        valid = day_values <= np.datetime64(e.expires, "D")
        in_force[(in_force == 0) & m & valid] = e.index
        expired[(expired == 0) & m & ~valid] = e.index
    return in_force, expired


def unused(rows: pd.DataFrame, entries: Sequence[Acceptance]) -> list[Acceptance]:
    """Entries that match no row (a stale or mistyped acceptance)."""
    return [e for e in entries if not _matches(rows, e).any()] if len(rows) else list(entries)
