"""``auditkit reach``: what the internet reaches on a port now, and the NSG rules that let the traffic in."""

from __future__ import annotations

import argparse

from auditkit.cli import options
from auditkit.cli.console import EXIT_FINDINGS, EXIT_OK, say, write
from auditkit.formats import records, to_csv, to_json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``reach`` and its options."""
    p = subparsers.add_parser("reach", help="what the internet reaches on a port now: VMs, public IPs, frontend "
                                            "ports, and the NSG rules that let the traffic in",
                              parents=[options.format_options(("table", "json", "csv"), "table"),
                                       options.no_verify_option(), options.partial_input_option()])
    p.add_argument("snapshot", help="a snapshot directory (or an export that carries topology)")
    p.add_argument("--port", type=options.port, default=25, help="TCP port (default 25)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the reachable endpoints; exit 1 when the answer may be incomplete."""
    from auditkit.cli.scan import read_input
    from auditkit.engine.scan import reach
    from auditkit.evidence.partial import partial_line
    from auditkit.present.text import reach_table

    out, partial = read_input(args, args.snapshot, lambda: reach(args.snapshot, args.port, verify=not args.no_verify))
    unknown = out.attrs.get("unknown_subscriptions", [])
    incomplete = out.attrs.get("incomplete", [])
    complete = not (incomplete or unknown or partial)
    if args.format == "json":
        text = to_json({"port": args.port, "reachable": records(out), "unknown_subscriptions": unknown,
                        "incomplete": list(incomplete), "partial": partial, "complete": complete})
    elif args.format == "csv":
        text = to_csv(out)
    else:
        text = reach_table(out, args.port, complete=complete)
    write(text, args.output)
    # Every reason the answer may miss a path is said, one line each; any of them makes it exit 1.
    if partial:
        say(f"auditkit: {args.snapshot}: partial input, so this answer is incomplete: {partial_line(partial)}",
            err=True)
    if incomplete:
        why = out.attrs.get("incomplete_why", {}).get(incomplete[0], "")
        say(f"auditkit: {len(incomplete)} resource record(s) could not be read whole or name a resource the input "
            f"does not hold, so this answer may miss what they publish; first: {incomplete[0]}"
            + (f" ({why})" if why else ""), err=True)
    if unknown:
        say(f"auditkit: topology of {len(unknown)} subscription(s) could not be read, so this answer is incomplete "
            f"for them: {', '.join(unknown)}", err=True)
    if not complete:
        return EXIT_FINDINGS
    return EXIT_OK
