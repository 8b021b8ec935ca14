"""``auditkit scan``: the internet-exposed rules in a snapshot or an NSG export."""

from __future__ import annotations

import argparse

from auditkit import __version__
from auditkit.cli import options
from auditkit.cli.console import EXIT_FINDINGS, EXIT_OK, say, write
from auditkit.formats import records, to_csv, to_json, to_table

TABLE_COLUMNS = ["severity", "exposure", "port", "subscription_id", "resource_group", "nsg_name", "rule_name",
                 "priority", "sources", "reached"]
# Worst first; --fail-on SEVERITY fails on that severity and every worse one.
SEVERITIES = ("critical", "high", "medium", "low", "latent", "info")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``scan`` and its options."""
    p = subparsers.add_parser("scan", help="list internet-exposed rules in an NSG export",
                              parents=[options.ports_option(), options.parameters_option(),
                                       options.format_options(("table", "json", "csv"), "table"),
                                       options.no_verify_option()])
    p.add_argument("path", help="a snapshot directory, or an export: Resource Graph (list or {data}), ARM ({value}) "
                   "or az network nsg list")
    p.add_argument("--include-shadowed", action="store_true", help="also list rules hidden by earlier Deny rules")
    p.add_argument("--fail-on-findings", action="store_true", help="exit with 1 when any finding exists")
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
    from auditkit.settings import load_settings

    ports = args.ports or load_settings(args.parameters).ports
    result = scan(args.path, ports=ports, include_shadowed=args.include_shadowed, allow_empty=args.allow_empty,
                  verify=not args.no_verify, exposure=args.exposure)
    summary = result.summary()
    findings = _worst_first(result.findings)
    if args.format == "json":
        text = to_json({"findings": records(findings), "errors": records(result.errors),
                        "broad": records(result.broad), "summary": summary})
    elif args.format == "csv":
        text = to_csv(findings)
    else:
        parts = [f"auditkit {__version__}: {summary['nsgs']} NSGs, {summary['rules']} rules, "
                 f"{summary['findings']} findings ("
                 + ", ".join(f"port {p}: {n}" for p, n in summary["per_port"].items())
                 + f"; {summary['attached']} attached, {summary['latent']} latent, {summary['shadowed']} shadowed)\n",
                 _exposure_line(summary, result.topology_note),
                 to_table(findings.assign(reached=_reached(findings)), TABLE_COLUMNS,
                          empty="No internet-exposed rules on the audited ports.")]
        if len(result.errors):
            parts.append(f"\n{len(result.errors)} input errors (rules evaluated on what could be read):\n")
            parts.append(to_table(result.errors, ["nsg_id", "rule_name", "field", "message"]))
        text = "".join(parts)
    write(text, args.output)
    if len(result.errors):
        say(f"auditkit: {len(result.errors)} input errors; first: {_first_error(result.errors)}", err=True)
    if args.fail_on_findings and summary["findings"]:
        return EXIT_FINDINGS
    if args.fail_on and len(findings):
        worse = SEVERITIES[:SEVERITIES.index(args.fail_on) + 1]
        live = findings[~findings["shadowed"].astype(bool)]
        if live["severity"].isin(worse).any():
            return EXIT_FINDINGS
    return EXIT_OK


def _worst_first(findings):
    """Findings sorted critical first (then by port, subscription, NSG, priority)."""
    if not len(findings):
        return findings
    rank = findings["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).fillna(len(SEVERITIES))
    return findings.assign(_rank=rank).sort_values(["_rank", "port", "subscription_id", "nsg_name", "priority"],
                                                   kind="stable").drop(columns="_rank").reset_index(drop=True)


def _reached(findings) -> list[str]:
    """Per finding: the machines the internet reaches through it ("vm-mail-01 via 20.60.0.10:25 (load-balancer)")."""
    out = []
    for eps in findings.get("endpoints", [()] * len(findings)):
        hits = [f"{e.get('vm_name') or e.get('nic_id', '').rsplit('/', 1)[-1]} via {e['public_ip']}:{e['frontend_port']}"
                f" ({e['path']})" for e in eps or () if e.get("path") and not e.get("blocked_by")]
        out.append(", ".join(hits[:3]) + (f" (+{len(hits) - 3} more)" if len(hits) > 3 else ""))
    return out


def _exposure_line(summary: dict, note: str) -> str:
    e = summary.get("exposure", {})
    if note:
        return f"effective exposure unknown: {note}\n"
    return (f"effective exposure: {e.get('reachable', 0)} reachable, {e.get('no-public-path', 0)} no public path, "
            f"{e.get('blocked', 0)} blocked, {e.get('latent', 0)} latent, {e.get('unknown-topology', 0)} unknown\n")


def _first_error(errors) -> str:
    e = errors.iloc[0]
    where = e["nsg_id"] + (f" rule {e['rule_name']}" if e["rule_name"] else "")
    return f"{where}: {e['field']}: {e['message']}"
