"""The ``auditkit`` command line: each subcommand calls the same functions as the notebooks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from auditkit import __version__
from auditkit.errors import AuditkitError
from auditkit.formats import records, to_csv, to_json, to_table
from auditkit.scan import DEFAULT_PORTS, parse_ports, scan

TABLE_COLUMNS = ["severity", "port", "subscription_id", "resource_group", "nsg_name", "rule_name", "priority",
                 "sources", "attached"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _ports(text: str) -> tuple[int, ...]:
    try:
        return parse_ports(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _write(text: str, out: str | None) -> None:
    if out is None or out == "-":
        sys.stdout.write(text)
        return
    path = Path(out)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def cmd_scan(args: argparse.Namespace) -> int:
    result = scan(args.path, ports=args.ports, include_shadowed=args.include_shadowed)
    summary = result.summary()
    if args.format == "json":
        text = to_json({"findings": records(result.findings), "errors": records(result.errors),
                        "broad": records(result.broad), "summary": summary})
    elif args.format == "csv":
        text = to_csv(result.findings)
    else:
        parts = [f"auditkit {__version__}: {summary['nsgs']} NSGs, {summary['rules']} rules, "
                 f"{summary['findings']} findings ("
                 + ", ".join(f"port {p}: {n}" for p, n in summary["per_port"].items())
                 + f"; {summary['attached']} attached, {summary['latent']} latent, {summary['shadowed']} shadowed)\n",
                 to_table(result.findings, TABLE_COLUMNS, empty="No internet-exposed rules on the audited ports.")]
        if len(result.errors):
            parts.append(f"\n{len(result.errors)} input errors (rules evaluated on what could be read):\n")
            parts.append(to_table(result.errors, ["nsg_id", "rule_name", "field", "message"]))
        text = "".join(parts)
    _write(text, args.output)
    if len(result.errors):
        print(f"auditkit: {len(result.errors)} input errors; first: {_first_error(result.errors)}", file=sys.stderr)
    return EXIT_FINDINGS if args.fail_on_findings and summary["findings"] else EXIT_OK


def _first_error(errors) -> str:
    e = errors.iloc[0]
    where = e["nsg_id"] + (f" rule {e['rule_name']}" if e["rule_name"] else "")
    return f"{where}: {e['field']}: {e['message']}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auditkit", description="Audit Azure NSG rules that expose "
                                     "SMTP (25), SSH (22) and RDP (3389) to the internet.")
    parser.add_argument("--version", action="version", version=f"auditkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("scan", help="list internet-exposed rules in an NSG export")
    p.add_argument("path", help="an export: Resource Graph (list or {data}), ARM ({value}) or az network nsg list")
    p.add_argument("--ports", type=_ports, default=DEFAULT_PORTS, help="comma-separated ports (default 25,22,3389)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.add_argument("--include-shadowed", action="store_true", help="also list rules hidden by earlier Deny rules")
    p.add_argument("--fail-on-findings", action="store_true", help="exit with 1 when any finding exists")
    p.set_defaults(func=cmd_scan)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AuditkitError as exc:
        print(f"auditkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("auditkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
