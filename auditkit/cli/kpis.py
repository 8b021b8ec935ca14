"""``auditkit kpis``: KPIs over the snapshots: open findings, MTTR, tag coverage."""

from __future__ import annotations

import argparse

from auditkit.cli import options
from auditkit.cli.console import EXIT_OK, say, write
from auditkit.formats import to_json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``kpis`` and its options."""
    p = subparsers.add_parser("kpis", help="KPIs over the snapshots: open findings, MTTR, tag coverage",
                              parents=[options.snapshots_option(), options.ports_option(),
                                       options.format_options(("table", "json"), "table", output=False),
                                       options.no_verify_option(), options.parameters_option()])
    p.add_argument("--as-of", help="only snapshots taken at or before this date")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Say the KPIs as a table or JSON; unreadable snapshot folders on stderr."""
    from auditkit.history.kpis import kpis
    from auditkit.present.text import kpis_text
    from auditkit.settings import load_settings

    settings = load_settings(args.parameters)
    k = kpis(args.snapshots, ports=args.ports, settings=settings, as_of=args.as_of, verify=not args.no_verify)
    for u in k["unreadable_snapshots"]:
        say(f"auditkit: snapshot folder {u['snapshot']} skipped: {u['reason']}", err=True)
    if args.format == "json":
        write(to_json(k), None)
        return EXIT_OK
    say(kpis_text(k))
    return EXIT_OK
