"""What a report notebook loads once: the history up to the period's cutoff and its settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from auditkit import __version__
from auditkit.evidence.snapshot import list_snapshots
from auditkit.evidence.storage import readable
from auditkit.history.period import cutoff, period_of, require_snapshot_in
from auditkit.history.timeline import History, load_history, read_status
from auditkit.settings import load_settings
from auditkit.settings.controls import load_controls


@dataclass(frozen=True)
class ReportContext:
    snapshots_dir: str
    period: str
    history: History  # the whole tenant, or one subscription's (``load_context(subscription=...)``)
    subscriptions: pd.DataFrame  # every known subscription: id, latest name, read, last_read, reason
    demo: bool = False  # the built-in demo tenant
    controls: list = field(default_factory=list)  # compliance controls (settings.controls)
    in_report: bool = False  # rendered by ``auditkit render``: the reports sit side by side
    rendered_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    version: str = __version__
    _scoped: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def latest(self):
        return self.history.latest.snapshot

    def scoped(self, subscription_id: str) -> History:
        """The history restricted to one subscription, built once per report."""
        sid = subscription_id.lower()
        if sid not in self._scoped:
            self._scoped[sid] = self.history.for_subscription(sid)
        return self._scoped[sid]

    def subscription_name(self, subscription_id: str) -> str:
        s = self.subscriptions[self.subscriptions["subscription_id"] == subscription_id.lower()]
        return str(s["name"].iloc[0]) if len(s) else subscription_id

    def report_href(self, name: str) -> str | None:
        """A link to a rendered report (``index`` or a subscription id) of this period, or None.

        In a rendered period the reports sit side by side; in JupyterLab the link points at the
        audit folder's ``reports/<period>/`` relative to the notebook, when that report exists.
        """
        if self.in_report:
            return f"{name}.html"
        from auditkit.settings import default_folder

        target = default_folder("reports") / self.period / f"{name}.html"
        if self.demo:
            target = default_folder("reports") / "demo" / self.period / f"{name}.html"
        if not target.is_file():
            return None
        return Path(os.path.relpath(target, Path.cwd())).as_posix()

    def read_status(self, subscription_id: str) -> dict | None:
        """None when the latest snapshot read the subscription; else its last read time and the reason."""
        s = self.subscriptions[self.subscriptions["subscription_id"] == subscription_id.lower()]
        if len(s) and bool(s["read"].iloc[0]):
            return None
        last = s["last_read"].iloc[0] if len(s) else pd.NaT
        return {"last_read": None if pd.isna(last) else pd.Timestamp(last),
                "reason": str(s["reason"].iloc[0]) if len(s) else "not in any snapshot"}


def load_context(snapshots_dir: str, period: str | None = None, ports: Any = None, as_of: str | None = None,
                 parameters: str | None = None, demo: bool = False, verify: bool = True,
                 in_report: bool = False, subscription: str | None = None) -> ReportContext:
    """History up to the end of ``period`` (default: the period of the latest snapshot, or ``as_of``'s).

    With ``subscription`` (a subscription's report) the history is that subscription's alone,
    read from its rows of the derived cache; ``subscriptions`` still lists the whole tenant's.
    ``snapshots_dir`` may be a storage URL (``abfs://...``): its local copy is read.
    """
    snapshots_dir = str(readable(snapshots_dir))
    if period is None:
        if as_of:
            period = period_of(pd.Timestamp(as_of))
        else:
            snaps = list_snapshots(snapshots_dir)
            period = period_of(snaps[-1].as_of) if snaps else None
    elif as_of is None:
        require_snapshot_in(period, [s.as_of for s in list_snapshots(snapshots_dir)])
    limit = cutoff(period) if period else as_of
    history = load_history(snapshots_dir, ports=ports, settings=load_settings(parameters), as_of=limit, verify=verify,
                           subscription=subscription)
    # Names from the latest snapshot that saw each subscription (one lost later keeps its name).
    subscriptions = history.subscriptions if subscription is None else read_status(history.derived)[0]
    return ReportContext(snapshots_dir=str(snapshots_dir), period=period or "", history=history,
                         subscriptions=subscriptions, demo=demo, controls=load_controls(parameters),
                         in_report=in_report)
