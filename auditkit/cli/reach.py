"""``auditkit reach``: what the internet reaches on a port now, and the NSG rules that let the traffic in."""

from __future__ import annotations

import argparse
from contextlib import nullcontext

from auditkit.cli import options
from auditkit.cli.console import EXIT_FINDINGS, EXIT_OK, say, write
from auditkit.formats import records, to_csv, to_json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``reach`` and its options."""
    p = subparsers.add_parser("reach", help="what the internet reaches on a port now: VMs, public IPs, frontend "
                                            "ports, and the NSG rules that let the traffic in",
                              parents=[options.format_options(("table", "json", "csv"), "table"),
                                       options.no_verify_option()])
    p.add_argument("snapshot", help="a snapshot directory (or an export that carries topology)")
    p.add_argument("--port", type=options.port, default=25, help="TCP port (default 25)")
    p.add_argument("--allow-partial", action="store_true", help="accept an export that says it is incomplete (one "
                   "page of many, truncated): the answer is then incomplete, and says so (exit 1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the reachable endpoints; exit 1 when the answer may be incomplete."""
    from auditkit.cli.scan import input_partial
    from auditkit.engine.scan import reach
    from auditkit.evidence.partial import partial_accepted, partial_line
    from auditkit.present.text import reach_table

    with partial_accepted() if args.allow_partial else nullcontext([]) as accepted:
        out = reach(args.snapshot, args.port, verify=not args.no_verify)
    partial = input_partial(accepted, args.snapshot)
    unknown = out.attrs.get("unknown_subscriptions", [])
    if args.format == "json":
        text = to_json({"port": args.port, "reachable": records(out), "unknown_subscriptions": unknown,
                        "partial": partial})
    elif args.format == "csv":
        text = to_csv(out)
    else:
        text = reach_table(out, args.port)
    write(text, args.output)
    if partial:
        say(f"auditkit: {args.snapshot}: partial input, so this answer is incomplete: {partial_line(partial)}",
            err=True)
        return EXIT_FINDINGS
    incomplete = out.attrs.get("incomplete", [])
    if incomplete:
        say(f"auditkit: {len(incomplete)} resource record(s) could not be read whole, so this answer may miss "
            f"what they publish; first: {incomplete[0]}", err=True)
        return EXIT_FINDINGS
    if unknown:
        say(f"auditkit: topology of {len(unknown)} subscription(s) could not be read, so this answer is incomplete "
            f"for them: {', '.join(unknown)}", err=True)
        return EXIT_FINDINGS
    return EXIT_OK
