"""What a report notebook loads once: the history up to the period's cutoff and its settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from auditkit import __version__
from auditkit.evidence.snapshot import list_snapshots
from auditkit.history.period import cutoff, period_of, require_snapshot_in
from auditkit.history.timeline import History, load_history
from auditkit.settings import load_settings


@dataclass(frozen=True)
class ReportContext:
    snapshots_dir: str
    period: str
    history: History  # the whole tenant
    subscriptions: pd.DataFrame  # every known subscription: id, latest name, read, last_read, reason
    demo: bool = False  # the built-in demo tenant
    version: str = __version__

    @property
    def latest(self):
        return self.history.latest.snapshot

    def subscription_name(self, subscription_id: str) -> str:
        s = self.subscriptions[self.subscriptions["subscription_id"] == subscription_id.lower()]
        return str(s["name"].iloc[0]) if len(s) else subscription_id

    def read_status(self, subscription_id: str) -> dict | None:
        """None when the latest snapshot read the subscription; else its last read time and the reason."""
        s = self.subscriptions[self.subscriptions["subscription_id"] == subscription_id.lower()]
        if len(s) and bool(s["read"].iloc[0]):
            return None
        last = s["last_read"].iloc[0] if len(s) else pd.NaT
        return {"last_read": None if pd.isna(last) else pd.Timestamp(last),
                "reason": str(s["reason"].iloc[0]) if len(s) else "not in any snapshot"}


def load_context(snapshots_dir: str, period: str | None = None, ports: Any = None, as_of: str | None = None,
                 parameters: str | None = None, demo: bool = False, verify: bool = True) -> ReportContext:
    """History up to the end of ``period`` (default: the period of the latest snapshot, or ``as_of``'s)."""
    if period is None:
        if as_of:
            period = period_of(pd.Timestamp(as_of))
        else:
            snaps = list_snapshots(snapshots_dir)
            period = period_of(snaps[-1].as_of) if snaps else None
    elif as_of is None:
        require_snapshot_in(period, [s.as_of for s in list_snapshots(snapshots_dir)])
    limit = cutoff(period) if period else as_of
    history = load_history(snapshots_dir, ports=ports, settings=load_settings(parameters), as_of=limit, verify=verify)
    # Names from the latest snapshot that saw each subscription (one lost later keeps its name).
    return ReportContext(snapshots_dir=str(snapshots_dir), period=period or "", history=history,
                         subscriptions=history.subscriptions, demo=demo)
