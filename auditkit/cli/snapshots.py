"""``auditkit snapshots``: list the snapshots with their counts and verify their hashes."""

from __future__ import annotations

import argparse

from auditkit.cli import options
from auditkit.cli.console import EXIT_FINDINGS, EXIT_OK, say


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``snapshots`` and its options."""
    p = subparsers.add_parser("snapshots", help="list snapshots with their counts and verify their hashes",
                              parents=[options.snapshots_option()])
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """One line per snapshot (and per unreadable folder); exit 1 when one is unreadable or changed."""
    from auditkit.evidence.snapshot import scan_folder

    snaps, unreadable = scan_folder(args.snapshots)
    if not snaps and not unreadable:
        say(f"no snapshots in {getattr(args, 'snapshots_named', None) or args.snapshots}")
        return EXIT_OK
    for u in unreadable:
        say(f"{u.name}  UNREADABLE  {u.reason}")
    bad = len(unreadable)
    for snap in snaps:
        problems = snap.verify()
        c = snap.meta.get("counts", {})
        state = ("ok" if not problems else "CHANGED") + ("  PARTIAL" if snap.meta.get("partial") else "")
        say(f"{snap.id}  as_of {snap.meta.get('as_of')}  subs {c.get('subscriptions', '?'):>5}  "
            f"failed {c.get('failed_subscriptions', 0):>3}  nsgs {c.get('nsgs', '?'):>7}  "
            f"rules {c.get('rules', '?'):>8}  {state}  {snap.hash[:16]}")
        for p in problems:
            say(f"  {snap.id}: {p}", err=True)
        if snap.meta.get("partial"):
            from auditkit.evidence.partial import partial_line

            say(f"  {snap.id}: partial: {partial_line(snap.meta['partial'])}")
        bad += bool(problems)
    return EXIT_FINDINGS if bad else EXIT_OK
