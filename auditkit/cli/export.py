"""``auditkit export``: one record per finding for a ticketing system (stable ids; upsert)."""

from __future__ import annotations

import argparse

from auditkit.cli import options
from auditkit.cli.console import EXIT_OK, write
from auditkit.formats import to_csv, to_json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export`` and its options."""
    p = subparsers.add_parser("export", help="one record per finding for a ticketing system (stable ids; upsert)",
                              parents=[options.snapshots_option(), options.format_options(("csv", "json", "ocsf"),
                                                                                          "json"),
                                       options.parameters_option(), options.no_verify_option()])
    p.add_argument("--since", metavar="YYYY-MM", type=options.period, default=None,
                   help="also list findings resolved since the start of this period (default: the latest one)")
    p.add_argument("--reports", default="reports", metavar="PATH", help="where the rendered reports live, for the "
                   "evidence links (default: reports)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the ticket records in the chosen format."""
    write(tickets_text(args.snapshots, args.parameters, args.format, since=args.since, reports=args.reports,
                       verify=not args.no_verify), args.output)
    return EXIT_OK


def tickets_text(snapshots: str, parameters: str | None, fmt: str, since: str | None = None,
                 reports: str = "reports", verify: bool = True) -> str:
    """The ticket records of the snapshots' findings as CSV, JSON or OCSF (``fmt``)."""
    from auditkit.history.timeline import load_history
    from auditkit.present.tickets import as_frame, ocsf, ticket_records
    from auditkit.settings import load_settings
    from auditkit.settings.controls import load_controls

    settings = load_settings(parameters)
    h = load_history(snapshots, settings=settings, verify=verify)
    names = dict(zip(h.subscriptions["subscription_id"], h.subscriptions["name"], strict=False))
    recs = ticket_records(h, load_controls(parameters), names, since=since, reports=reports)
    as_of = h.snapshots["as_of"].iloc[-1]
    if fmt == "csv":
        return to_csv(as_frame(recs))
    if fmt == "ocsf":
        return to_json({"ocsf_version": "1.8.0", "class": "Detection Finding (2004)", "findings": ocsf(recs, as_of)})
    return to_json({"as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "findings": recs})
