"""``auditkit init``: make a folder an audit folder (notebooks, settings, snapshots/, reports/)."""

from __future__ import annotations

import argparse
from pathlib import Path

from auditkit.cli.console import EXIT_OK, say


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``init`` and its argument."""
    p = subparsers.add_parser("init", help="make a folder an audit folder: notebooks, settings, snapshots/, reports/")
    p.add_argument("folder", nargs="?", default=".", help="the folder (default: the working directory)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Create what is missing, leave alone what is there, and say both."""
    from auditkit.settings import init_folder

    created, kept = init_folder(args.folder)
    for p in created:
        say(f"created {p}")
    for p in kept:
        say(f"left alone (already there) {p}")
    say(f"audit folder ready: {Path(args.folder).resolve()}; next steps in its README.md")
    return EXIT_OK
