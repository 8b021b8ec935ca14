"""``auditkit monthly``: collect, then render the period that just ended (for cron / CI), and notify."""

from __future__ import annotations

import argparse

from auditkit.cli import options
from auditkit.cli.collect import collect_options, collect_snapshot, tell_collected
from auditkit.cli.console import say
from auditkit.cli.render import render_options, render_reports, request_of, tell_rendered
from auditkit.errors import AuditkitError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``monthly`` with the options of collect and render."""
    p = subparsers.add_parser("monthly", help="collect, then render the period that just ended (for cron / CI)",
                              parents=[collect_options(), render_options(),
                                       options.partial_input_option("--allow-partial-input")])
    p.add_argument("--as-of", help=argparse.SUPPRESS)
    p.add_argument("--notify", metavar="URL", help="post a short summary to this webhook when done (a failing "
                   "webhook is reported, never fails the run)")
    p.add_argument("--notify-format", choices=["json", "slack", "teams"], default="json",
                   help="the webhook's payload: plain JSON summary, or a Slack / Teams message")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Collect, then render the period the new snapshot closes: run early in a month (by the 7th),
    that is the month that just ended."""
    from auditkit.history.period import period_of

    path, snap = collect_snapshot(args)
    collected = tell_collected(path, snap)
    period = args.period or period_of(snap.as_of)
    result = render_reports(request_of(args, period))
    rendered = tell_rendered(result)
    if args.notify:
        notify(args, period, result)
    return max(collected, rendered)


def notify(args: argparse.Namespace, period: str, result) -> None:
    """Post the run's summary to ``--notify``; a failure is said on stderr and never fails the run."""
    from auditkit.evidence.storage import readable
    from auditkit.history.kpis import kpis_of
    from auditkit.history.timeline import load_history
    from auditkit.render.notify import payload, post, summary
    from auditkit.settings import load_settings

    try:
        h = load_history(readable(args.snapshots), settings=load_settings(args.parameters))
    except AuditkitError as exc:  # the reports are there: a summary that cannot be made never fails the run
        say(f"auditkit: notification to {args.notify} not sent: {exc}", err=True)
        return
    t = h.timeline[h.timeline["snapshot"] == h.snapshots["snapshot"].iloc[-1]]
    s = summary(kpis_of(h), {"new": int(t["new"].sum()), "resolved": int(t["resolved"].sum())}, period,
                result.where, result.manifest_sha256, len(result.failures))
    problem = post(args.notify, payload(s, args.notify_format))
    if problem:
        say(f"auditkit: notification to {args.notify} failed ({problem}); the reports are in {result.where}",
            err=True)
