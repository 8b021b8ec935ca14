"""``auditkit flows``: flow-log evidence per finding: who connects, what to allow instead."""

from __future__ import annotations

import argparse
from pathlib import Path

from auditkit.cli import options
from auditkit.cli.console import EXIT_OK, write
from auditkit.errors import AuditkitError
from auditkit.formats import to_csv, to_json
from auditkit.settings import default_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``flows`` and its options."""
    from auditkit.collect.clouds import CLOUD_NAMES
    from auditkit.collect.credentials import AUTH_METHODS

    p = subparsers.add_parser("flows", help="flow-log evidence per finding: who connects, what to allow instead",
                              parents=[options.format_options(("table", "json", "csv"), "table", output=False),
                                       options.parameters_option(), options.no_verify_option()])
    p.add_argument("paths", nargs="+", metavar="PATH", help="flow-log files or folders (an export of the "
                   "insights-logs-* containers), or storage URLs: https://<account>.blob.core.windows.net[/CONTAINER[/PATH]], "
                   "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH")
    p.add_argument("--snapshot", default=None, metavar="DIR", help="a snapshot, or a folder of them (the latest is "
                   "used; default: the audit folder's snapshots/)")
    p.add_argument("--port", type=options.port, default=25)
    p.add_argument("--auth", choices=AUTH_METHODS, default="default", help="credential for storage account URLs")
    p.add_argument("--cloud", choices=CLOUD_NAMES, default="public")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read the flow logs and say, per finding on the port, who connects and what to allow instead."""
    from auditkit.engine.scan import scan
    from auditkit.evidence.snapshot import is_snapshot, list_snapshots, open_snapshot
    from auditkit.flows.logs import read_paths
    from auditkit.flows.sources import evidence_for, nsg_guids
    from auditkit.present.text import flows_text
    from auditkit.settings import load_settings

    snap_path = Path(args.snapshot) if args.snapshot else default_folder("snapshots")
    if not is_snapshot(snap_path):
        snaps = list_snapshots(snap_path)
        if not snaps:
            raise AuditkitError(f"{snap_path}: neither a snapshot nor a folder of snapshots")
        snap_path = snaps[-1].path
    snap = open_snapshot(snap_path, verify=not args.no_verify)
    result = scan(snap, ports=(args.port,))
    guids = nsg_guids(snap.table("nsgs"))
    cred = None
    if any(str(p).startswith("https://") for p in args.paths):
        from auditkit.collect.credentials import credential

        cred = credential(args.auth, args.cloud)
    settings = load_settings(args.parameters)
    logs = read_paths(args.paths, credential=cred, max_file_mb=settings.max_file_mb)
    found = evidence_for(result.findings, logs.flows, settings, guids)
    if args.format == "json":
        text = to_json({"findings": found, "skipped": logs.skipped, "snapshot": snap.id, "flows": len(logs.flows)})
    elif args.format == "csv":
        import pandas as pd

        rows = [{"nsg_id": f["nsg_id"], "rule_name": f["rule_name"], "port": f["port"],
                 "recommendation": f["recommendation"], "proposed_prefixes": f["proposed_prefixes"], **s}
                for f in found for s in (f["sources"] or [{}])]
        text = to_csv(pd.DataFrame(rows))
    else:
        text = flows_text(found, len(logs.flows), logs.skipped, args.port, snap.id)
    write(text, None)
    return EXIT_OK

