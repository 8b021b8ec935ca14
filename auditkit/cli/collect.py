"""``auditkit collect``: NSGs (and topology) from Azure Resource Graph, or from an export, into a snapshot."""

from __future__ import annotations

import argparse

from auditkit.cli import options
from auditkit.cli.console import EXIT_FINDINGS, EXIT_OK, say


def collect_options() -> argparse.ArgumentParser:
    """The options of a collection, shared by ``collect`` and ``monthly``."""
    from auditkit.collect.clouds import CLOUD_NAMES
    from auditkit.collect.credentials import AUTH_METHODS

    p = argparse.ArgumentParser(add_help=False, parents=[options.snapshots_option()])
    p.add_argument("--subscription", action="append", metavar="ID", help="a subscription to collect "
                   "(repeatable); default: every subscription the identity can read")
    p.add_argument("--management-group", action="append", metavar="ID", help="discover subscriptions in this "
                   "management group (repeatable)")
    p.add_argument("--cloud", choices=CLOUD_NAMES, default="public")
    p.add_argument("--endpoint", help="ARM base URL override (private clouds); the token scope still follows "
                   "--cloud")
    p.add_argument("--auth", choices=AUTH_METHODS, default="default",
                   help="credential: default (DefaultAzureCredential), cli, managed-identity, workload-identity, "
                        "environment; scheduled runs should use workload-identity or managed-identity")
    p.add_argument("--batch-size", type=int, default=300, help="subscriptions per request (1-1000, default 300)")
    p.add_argument("--no-topology", action="store_true", help="collect NSGs only, not the NICs, subnets, public "
                   "IPs and load balancers that decide effective exposure (findings then say unknown-topology)")
    p.add_argument("--no-layers", action="store_true", help="do not read the admin rules and firewall policy "
                   "rule groups from ARM (findings then say unknown-admin-rule, unknown-firewall-dnat)")
    p.add_argument("--allow-empty", action="store_true", help="accept a scope with no NSG (or no subscription) "
                   "at all; otherwise that is an error, never a clean tenant")
    p.add_argument("--from-file", metavar="EXPORT.json", help="import a saved export instead of querying Azure")
    return p


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``collect`` and its options."""
    p = subparsers.add_parser("collect", help="collect NSGs from Azure Resource Graph (or an export) into a snapshot",
                              parents=[options.partial_input_option(), collect_options()])
    p.add_argument("--as-of", help="the date the data describes (ISO date or timestamp; default: now)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Collect a snapshot and say what it holds; exit 1 when a subscription failed."""
    return tell_collected(*collect_snapshot(args))


def collect_snapshot(args: argparse.Namespace):
    """Collect as the options say; returns the new snapshot's path (as collect names it) and the snapshot."""
    from auditkit.collect import CollectRequest, collect, collect_from_file
    from auditkit.evidence.snapshot import open_snapshot

    if args.from_file:
        path = collect_from_file(args.from_file, snapshots_dir=args.snapshots, as_of=args.as_of,
                                 subscriptions=args.subscription or None, allow_empty=args.allow_empty,
                                 allow_partial=args.allow_partial_input)
    else:
        from auditkit.cli.progress import CollectProgress
        from auditkit.collect.credentials import credential

        progress = CollectProgress()
        try:
            path = collect(credential(args.auth, args.cloud), CollectRequest(
                subscriptions=args.subscription or None, management_groups=args.management_group or None,
                cloud=args.cloud, endpoint=args.endpoint, snapshots_dir=args.snapshots, as_of=args.as_of,
                batch_size=args.batch_size, progress=progress, allow_empty=args.allow_empty,
                allow_partial=args.allow_partial_input,
                topology=not args.no_topology, layers=not args.no_layers))
        finally:
            progress.close()
    return path, open_snapshot(path)


def tell_collected(path, snap) -> int:
    """Say the snapshot's counts and requests, and every failed subscription; 1 when one failed."""
    meta = snap.meta
    counts = meta["counts"]
    say(f"snapshot {path}: {counts['subscriptions']} subscriptions, {counts['nsgs']} NSGs, "
        f"{counts['rules']} rules; sha256 {snap.hash}")
    req = meta.get("requests")
    if req:
        say(f"requests: {req['requests']} (minimum {req['minimum_requests']}; {req['pages']} pages, "
            f"{req['retries_429']} retries after 429, {req['quota_waits']} quota waits, "
            f"{req['waited_seconds']:.1f} s waited)")
    if meta.get("partial"):
        from auditkit.evidence.partial import partial_line

        say(f"warning: partial snapshot: {partial_line(meta['partial'])}", err=True)
    failed = snap.failed
    for f in failed:
        say(f"auditkit: subscription {f['subscription_id']} failed: {f.get('status')} {f.get('code')}: "
            f"{f.get('message')}", err=True)
    for layer, failure in _layer_failures(meta):
        say(f"warning: subscription {failure['subscription_id']}: layer {layer} not read: {failure.get('status')} "
            f"{failure.get('code')}: {failure.get('message')} (its verdicts say unknown-{layer})", err=True)
    if counts.get("record_errors"):
        say(f"auditkit: {counts['record_errors']} unreadable NSG records (listed in meta.json)", err=True)
    return EXIT_FINDINGS if failed else EXIT_OK


def _layer_failures(meta: dict) -> list[tuple[str, dict]]:
    """(layer, failure) for every layer ARM refused for a subscription, as meta.json records them."""
    layers = (meta.get("topology") or {}).get("layers") or {}
    return [(layer, f) for layer, info in layers.items() for f in (info or {}).get("failures") or []]
