"""``auditkit demo``: build the demo tenant (no Azure needed), render its reports, and export its tickets
and SMTP guardrail beside them."""

from __future__ import annotations

import argparse
from pathlib import Path

from auditkit.cli import options
from auditkit.cli.console import say, write


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo`` and its options."""
    p = subparsers.add_parser("demo", help="build the demo tenant (no Azure needed) and render its reports")
    p.add_argument("--out", dest="demo_out", default=None, metavar="DIR",
                   help="default: reports/demo of the audit folder, else ./reports/demo")
    p.add_argument("--workers", type=options.workers, default=None)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Render the demo tenant; exit 1 when a report failed, as ``render`` does."""
    from auditkit.cli.export import tickets_text
    from auditkit.cli.guardrail import write_policy
    from auditkit.cli.render import render_reports, tell_rendered
    from auditkit.demo.flows import ensure_flow_logs
    from auditkit.demo.tenant import build_snapshots, demo_parameters
    from auditkit.render import RenderRequest, default_period
    from auditkit.settings import default_folder

    out = Path(args.demo_out) if args.demo_out else default_folder("reports") / "demo"
    snaps = build_snapshots(out / "snapshots")
    flowlogs = ensure_flow_logs(out / "flowlogs")
    parameters = demo_parameters()
    code = tell_rendered(render_reports(RenderRequest(snapshots_dir=str(snaps), out=str(out), workers=args.workers,
                                                      parameters_file=parameters, flowlogs=str(flowlogs))))
    index = out / default_period(snaps) / "index.html"
    # The governance loop on the demo: tickets out (OCSF) and the SMTP guardrail, beside the reports.
    tickets = out / "exports" / "findings.ocsf.json"
    tickets.parent.mkdir(parents=True, exist_ok=True)
    write(tickets_text(str(snaps), parameters, "ocsf", reports=str(out)), str(tickets))
    guardrails = out / "guardrails"
    write_policy(str(guardrails), 25, "Audit")
    say(f"tickets: {tickets}; guardrail: {guardrails}")
    if index.is_file():
        say(f"open {index} in a browser")
    return code
