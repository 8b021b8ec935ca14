"""``auditkit scan``: the internet-exposed rules in a snapshot or an NSG export."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, TypeVar

from auditkit.cli import options
from auditkit.cli.console import EXIT_FINDINGS, EXIT_OK, say, write
from auditkit.engine.severity import SEVERITIES
from auditkit.formats import records, to_csv, to_json

if TYPE_CHECKING:
    from pathlib import Path

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``scan`` and its options."""
    p = subparsers.add_parser("scan", help="list internet-exposed rules in an NSG export",
                              parents=[options.ports_option(), options.parameters_option(),
                                       options.format_options(("table", "json", "csv"), "table"),
                                       options.no_verify_option(), options.partial_input_option()])
    p.add_argument("path", help="a snapshot directory, or an export: Resource Graph (list or {data}), ARM ({value}) "
                   "or az network nsg list")
    p.add_argument("--include-shadowed", action="store_true", help="also list rules hidden by earlier Deny rules")
    p.add_argument("--fail-on-findings", action="store_true", help="exit with 1 when any finding exists")
    # --fail-on SEVERITY fails on that severity and every worse one.
    p.add_argument("--fail-on", choices=SEVERITIES, metavar="SEVERITY",
                   help="exit with 1 when a finding of this severity or worse exists (critical, high, medium, low)")
    p.add_argument("--exposure", action=argparse.BooleanOptionalAction, default=None,
                   help="effective exposure from the input's topology (default: on when the input has topology)")
    p.add_argument("--allow-empty", action="store_true", help="accept an input with no NSG at all (otherwise an "
                   "error: an empty export is not a clean tenant)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Scan, write the findings in the chosen format, and exit 1 if ``--fail-on*`` says so."""
    from auditkit.evidence.records import paused_gc

    with paused_gc():
        return _scan(args)


def _scan(args: argparse.Namespace) -> int:
    from auditkit.engine.scan import scan
    from auditkit.engine.severity import at_least
    from auditkit.evidence.partial import partial_line
    from auditkit.present.text import first_error, scan_table
    from auditkit.settings import load_settings

    ports = args.ports or load_settings(args.parameters).ports
    result, partial = read_input(args, args.path, lambda: scan(
        args.path, ports=ports, include_shadowed=args.include_shadowed, allow_empty=args.allow_empty,
        verify=not args.no_verify, exposure=args.exposure))
    summary = result.summary()
    findings = _worst_first(result.findings)
    if args.format == "json":
        text = to_json({"findings": records(findings), "errors": records(result.errors),
                        "broad": records(result.broad), "summary": summary, "partial": partial})
    elif args.format == "csv":
        text = to_csv(findings)
    else:
        text = scan_table(summary, findings, result.errors, result.topology_note)
    write(text, args.output)
    if partial:
        say(f"warning: {args.path}: partial input: {partial_line(partial)}", err=True)
    if len(result.errors):
        say(f"auditkit: {len(result.errors)} input errors; first: {first_error(result.errors)}", err=True)
    if args.fail_on_findings and summary["findings"]:
        return EXIT_FINDINGS
    if args.fail_on and len(findings):
        live = findings[~findings["shadowed"].astype(bool)]
        if live["severity"].isin(at_least(args.fail_on)).any():
            return EXIT_FINDINGS
    return EXIT_OK


def read_input(args: argparse.Namespace, path: str | Path, read: Callable[[], T]) -> tuple[T, dict | None]:
    """``read()`` of the input at ``path``, an incomplete export accepted where ``--allow-partial`` says so,
    and the input's ``partial`` mark: the export's, or the snapshot's (meta.json), else None."""
    from auditkit.evidence.partial import partial_accepted
    from auditkit.evidence.snapshot import is_snapshot, open_snapshot

    with partial_accepted() if args.allow_partial_input else nullcontext([]) as accepted:
        out = read()
    if accepted:
        return out, accepted[0].as_dict()
    return out, open_snapshot(path, verify=False).meta.get("partial") if is_snapshot(path) else None


def _worst_first(findings):
    """Findings sorted critical first (then by port, subscription, NSG, priority)."""
    from auditkit.engine.severity import severity_rank

    if not len(findings):
        return findings
    ranked = findings.assign(_rank=severity_rank(findings["severity"]))
    return ranked.sort_values(["_rank", "port", "subscription_id", "nsg_name", "priority"],
                              kind="stable").drop(columns="_rank").reset_index(drop=True)

