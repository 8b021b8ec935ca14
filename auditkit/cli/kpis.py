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
    from auditkit.settings import load_settings

    settings = load_settings(args.parameters)
    k = kpis(args.snapshots, ports=args.ports, settings=settings, as_of=args.as_of, verify=not args.no_verify)
    for u in k["unreadable_snapshots"]:
        say(f"auditkit: snapshot folder {u['snapshot']} skipped: {u['reason']}", err=True)
    if args.format == "json":
        write(to_json(k), None)
        return EXIT_OK
    lines = [f"KPIs as of {k['as_of']} over {k['snapshots']} snapshots (since {k['first_snapshot']})", ""]
    lines.append("open findings          " + "  ".join(f"port {p}: {n}" for p, n in k["open_findings"].items()))
    lines.append("NSGs with open findings " + "  ".join(f"port {p}: {n}" for p, n in
                                                         k["nsgs_with_open_findings"].items()))
    lines.append(f"attached / latent      {k['attached_open_findings']} / {k['latent_open_findings']}")
    lines.append(f"resolved               {k['resolved_findings']}   reopened {k['reopened_findings']}   "
                 f"unknown {k['unknown_findings']}")
    mttr = "n/a (nothing resolved)" if k["mttr_days"] is None else f"{k['mttr_days']} days"
    lines.append(f"MTTR                   {mttr}")
    age = k["open_age_days"]
    lines.append(f"open age (days)        median {age['median']}   max {age['max']}")
    rate = "n/a (one snapshot)" if k["new_findings_per_week"] is None else k["new_findings_per_week"]
    lines.append(f"new findings per week  {rate}")
    t = k["tag_coverage"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    lines.append(f"tag coverage ({t['nsgs']} NSGs)  owner {pct(t['owner'])}   expiry {pct(t['expiry'])}   "
                 f"expired {pct(t['expired'])}   justification {pct(t['justification'])}")
    lines.append(f"production rules documented  {pct(t['production_rules_documented'])} "
                 f"of {t['production_rules']}")
    if k["invalid_expiry"]:
        lines.append(f"unparseable expiry dates ({len(k['invalid_expiry'])}, counted as missing):")
        lines.extend(f"  {e['nsg_id']}: {e['value']!r}" for e in k["invalid_expiry"][:20])
        if len(k["invalid_expiry"]) > 20:
            lines.append(f"  ... {len(k['invalid_expiry']) - 20} more (see --format json)")
    if k["unread_subscriptions"]:
        lines.append(f"not read in the latest snapshot ({len(k['unread_subscriptions'])}; their findings are "
                     "unknown, never fixed):")
        lines.extend(f"  {u['name']} ({u['subscription_id']}): last read {u['last_read'] or 'never'}; {u['reason']}"
                     for u in k["unread_subscriptions"])
    if not k["snapshot_hashes_checked"]:
        lines.append("snapshot hashes not checked (--no-verify)")
    say("\n".join(lines))
    return EXIT_OK
