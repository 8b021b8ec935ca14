"""What the notebooks call: set-up for each notebook, then one function per section.

Notebooks stay thin: every cell is a call into this package, so tests reach all the logic.
With ``snapshots_dir=None`` a notebook reads the snapshots of the audit folder it was opened in
(``auditkit init``), and the built-in demo tenant (with the demo's own settings) while that
folder has none yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditkit.demo.tenant import default_snapshots, demo_parameters, demo_subscription
from auditkit.errors import AuditkitError
from auditkit.evidence.snapshot import list_snapshots
from auditkit.present import charts, explore, subscription, tenant  # noqa: F401 (used by the notebooks)
from auditkit.present.context import ReportContext, load_context
from auditkit.present.plotly_offline import install
from auditkit.settings import audit_folder


def page(assets: str | None = None):
    """Install the chart renderer; display the returned set-up (stylesheet and plotly.js) once, at the top.

    ``assets`` (set by ``auditkit render --assets shared``): plotly.js's path relative to the
    report, loaded from there instead of inlined."""
    return install(assets)


plotly_js = page  # the name notebooks of auditkit 0.1 call


def data_source(snapshots_dir: str | None, parameters_file: str | None) -> tuple[str, str | None, bool]:
    """(snapshots folder, settings file, is the demo): what a notebook reads when given ``None``."""
    if snapshots_dir is not None:
        return str(snapshots_dir), parameters_file, False
    folder = audit_folder()
    if folder is not None and list_snapshots(folder / "snapshots"):
        return str(folder / "snapshots"), parameters_file, False
    return default_snapshots(), parameters_file or demo_parameters(), True


def setup(snapshots_dir: str | None = None, period: str | None = None, ports: Any = None, as_of: str | None = None,
          parameters_file: str | None = None, verify: bool = True, in_report: bool = False,
          subscription: str | None = None) -> ReportContext:
    """The report context (see the module docstring for ``snapshots_dir=None``); ``verify=False``
    skips the check of every snapshot file against its meta.json, and the report says so.
    ``subscription``: a subscription's report, which reads that subscription's rows only."""
    snaps, params, demo = data_source(snapshots_dir, parameters_file)
    return load_context(snaps, period=period, ports=ports, as_of=as_of, parameters=params, demo=demo, verify=verify,
                        in_report=in_report, subscription=subscription)


def flow_section(ctx: ReportContext, subscription_id: str, flowlogs_dir: str | None):
    """The flow-log evidence section; on the demo tenant the demo's flow logs are used by default."""
    if flowlogs_dir is None and ctx.demo:
        from auditkit.demo.flows import default_flow_logs

        flowlogs_dir = default_flow_logs()
    return subscription.flow_evidence(ctx, subscription_id, flowlogs_dir)


def subscription_setup(snapshots_dir: str | None = None, subscription_id: str | None = None,
                       period: str | None = None, ports: Any = None, as_of: str | None = None,
                       parameters_file: str | None = None, verify: bool = True,
                       in_report: bool = False) -> tuple[ReportContext, str]:
    demo = data_source(snapshots_dir, parameters_file)[2]
    sid = (subscription_id or (demo_subscription() if demo else "")).lower()
    if not sid:
        raise AuditkitError(f"subscription_id is required for the snapshots in "
                            f"{data_source(snapshots_dir, parameters_file)[0]}")
    ctx = setup(snapshots_dir, period, ports, as_of, parameters_file, verify, in_report, subscription=sid)
    known = set(ctx.subscriptions["subscription_id"]) | set(ctx.history.findings["subscription_id"]) | \
        {s.lower() for d in ctx.history.derived for s in d.snapshot.collected}
    if sid not in known:
        raise AuditkitError(f"subscription {sid} appears in no snapshot of {Path(ctx.snapshots_dir)}")
    return ctx, sid
