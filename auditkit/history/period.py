"""Reporting periods: a month ``YYYY-MM`` and the snapshots that describe it.

A monthly job runs early in the next month (e.g. the 1st at 06:00) and collects the snapshot
that closes the month just ended. So period ``2026-10`` covers every snapshot taken before
``2026-11-01`` plus ``CLOSING_DAYS``; history is cumulative up to that cutoff.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pandas as pd

from auditkit.errors import InputError

CLOSING_DAYS = 7


def parse_period(text: str) -> tuple[int, int]:
    """(year, month) of a period written exactly ``YYYY-MM`` (no spaces, ASCII digits)."""
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text) if isinstance(text, str) else None
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise InputError(f"period {text!r} is not a month written YYYY-MM")
    return int(m.group(1)), int(m.group(2))


def period_start(period: str) -> datetime:
    y, mo = parse_period(period)
    return datetime(y, mo, 1, tzinfo=UTC)


def next_month(dt: datetime) -> datetime:
    return datetime(dt.year + (dt.month == 12), dt.month % 12 + 1, 1, tzinfo=UTC)


def cutoff(period: str) -> datetime:
    """The last instant whose snapshots belong to the period's report."""
    return next_month(period_start(period)) + timedelta(days=CLOSING_DAYS) - timedelta(seconds=1)


def period_of(as_of: pd.Timestamp | datetime) -> str:
    """The period a snapshot closes: early in a month (within CLOSING_DAYS) means the month before."""
    ts = pd.Timestamp(as_of)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts.day <= CLOSING_DAYS:
        prev = ts.replace(day=1) - pd.Timedelta(days=1)
        return f"{prev.year:04d}-{prev.month:02d}"
    return f"{ts.year:04d}-{ts.month:02d}"


def require_snapshot_in(period: str, as_ofs: list) -> None:
    """Refuse a period no snapshot was taken for: its report would show an older month as this one.

    The error names the nearest periods that have snapshots.
    """
    have = sorted({period_of(a) for a in as_ofs})
    if period in have:
        return
    if not have:
        raise InputError(f"period {period}: there are no snapshots at all (create one with 'auditkit collect')")
    y, m = parse_period(period)
    distance = sorted(have, key=lambda p: (abs((parse_period(p)[0] - y) * 12 + parse_period(p)[1] - m), p))
    before = [p for p in have if p < period]
    after = [p for p in have if p > period]
    near = sorted({*(before[-1:]), *(after[:1])} or set(distance[:2]))
    raise InputError(f"period {period} has no snapshot (a period's snapshots are taken in the month or by the "
                     f"{CLOSING_DAYS}th of the next); nearest periods with snapshots: {', '.join(near)}")
