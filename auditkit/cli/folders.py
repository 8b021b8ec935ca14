"""Where a command reads and writes: ``--snapshots`` and ``--out`` defaults, and local copies of storage URLs."""

from __future__ import annotations

import argparse
from pathlib import Path

from auditkit.cli.console import say
from auditkit.settings import default_folder


def resolve_folders(args: argparse.Namespace, local_copy: bool) -> None:
    """``--snapshots`` and ``--out`` default to the audit folder's (``auditkit init``), else the working
    directory's; with ``local_copy`` (a command that only reads) a snapshots URL is read from its local copy."""
    if getattr(args, "snapshots", "") is None:
        args.snapshots = str(default_folder("snapshots"))
    if getattr(args, "out", "") is None:
        args.out = str(default_folder("reports"))
    from auditkit.evidence.storage import is_url, plain_path

    for name in ("snapshots", "out"):
        if hasattr(args, name):
            setattr(args, name, plain_path(getattr(args, name)))
    args.snapshots_named = getattr(args, "snapshots", None)  # as the user wrote it, for messages
    if local_copy and is_url(args.snapshots_named):
        args.snapshots = str(staged_copy(args.snapshots))


def staged_copy(url: str) -> Path:
    """The local copy of a storage URL's folder, staged now; skipped blob names are said on stderr."""
    from auditkit.evidence.storage import stage

    copy = stage(url)
    for name in copy.skipped:
        say(f"auditkit: {url}: blob {name!r} skipped: not a name a local copy can hold", err=True)
    return copy.path


def warn_unreadable(unreadable) -> None:
    """One stderr line per snapshot folder that could not be read."""
    for u in unreadable:
        say(f"auditkit: snapshot folder {u.name} skipped: {u.reason}", err=True)
