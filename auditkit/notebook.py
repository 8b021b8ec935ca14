"""What the notebooks call: set-up for each notebook, then one function per section.

Notebooks stay thin: every cell is a call into this package, so tests reach all the logic.
"""

from __future__ import annotations

from typing import Any

from auditkit.demo import default_snapshots, demo_subscription
from auditkit.errors import AuditkitError
from auditkit.plotly_offline import install
from auditkit.present import charts, explore, subscription, tenant  # noqa: F401 (used by the notebooks)
from auditkit.present.context import ReportContext, load_context


def plotly_js():
    """Install the offline chart renderer; display the returned object once, at the top of the report."""
    return install()


def setup(snapshots_dir: str | None = None, period: str | None = None, ports: Any = None, as_of: str | None = None,
          parameters_file: str | None = None) -> ReportContext:
    """The report context; ``snapshots_dir=None`` means the built-in demo tenant."""
    return load_context(snapshots_dir or default_snapshots(), period=period, ports=ports, as_of=as_of,
                        parameters=parameters_file)


def flow_section(ctx: ReportContext, subscription_id: str, snapshots_dir: str | None, flowlogs_dir: str | None):
    """The flow-log evidence section; on the demo tenant the demo's flow logs are used by default."""
    if flowlogs_dir is None and snapshots_dir is None:
        from auditkit.demo_flows import default_flow_logs

        flowlogs_dir = default_flow_logs()
    return subscription.flow_evidence(ctx, subscription_id, flowlogs_dir)


def subscription_setup(snapshots_dir: str | None = None, subscription_id: str | None = None,
                       period: str | None = None, ports: Any = None, as_of: str | None = None,
                       parameters_file: str | None = None) -> tuple[ReportContext, str]:
    ctx = setup(snapshots_dir, period, ports, as_of, parameters_file)
    sid = (subscription_id or (demo_subscription() if snapshots_dir is None else "")).lower()
    if not sid:
        raise AuditkitError("subscription_id is required when snapshots_dir is given")
    known = set(ctx.subscriptions["subscription_id"]) | set(ctx.history.findings["subscription_id"]) | \
        {s.lower() for d in ctx.history.derived for s in d.snapshot.collected}
    if sid not in known:
        raise AuditkitError(f"subscription {sid} appears in no snapshot of {ctx.snapshots_dir}")
    return ctx, sid
