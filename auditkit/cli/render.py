"""``auditkit render``: one HTML report per subscription plus the tenant overview, for a period."""

from __future__ import annotations

import argparse

from auditkit.cli import options
from auditkit.cli.console import EXIT_FINDINGS, EXIT_OK, say
from auditkit.cli.folders import warn_unreadable


def render_options() -> argparse.ArgumentParser:
    """The options of a rendering, shared by ``render`` and ``monthly``."""
    p = argparse.ArgumentParser(add_help=False, parents=[options.parameters_option(), options.no_verify_option()])
    p.add_argument("--out", default=None, metavar="DIR", help="reports folder, or a storage URL (default: the audit "
                   "folder's reports/, else ./reports)")
    p.add_argument("--notebooks", metavar="DIR", help="report notebooks to run instead of those the kit ships")
    p.add_argument("--period", metavar="YYYY-MM", type=options.period,
                   help="the month to report (default: the latest snapshot's)")
    p.add_argument("--workers", type=options.workers, default=None, help="parallel report workers (default: CPU "
                   "cores)")
    p.add_argument("--flowlogs", metavar="PATH", help="NSG/VNet flow logs (files or folders) for the "
                   "'analyze before you restrict' section")
    p.add_argument("--allow-partial", action="store_true", help="swap the period in even when some reports "
                   "failed (the manifest says partial); otherwise the previous period stays and the attempt "
                   "is kept beside it")
    p.add_argument("--sign-key", metavar="KEY", help="an Ed25519 private key (OpenSSH or PEM): write a detached "
                   "signature of the manifest (manifest.json.sig)")
    p.add_argument("--pdf", action="store_true", help="also print <subscription-id>.pdf and index.pdf with the "
                   "machine's headless Chromium (listed in the manifest)")
    p.add_argument("--assets", choices=("inline", "shared"), default="inline",
                   help="inline (default): plotly.js inside every report, each one file; shared: written once "
                   "into <period>/assets/ (hashed in the manifest) and loaded by relative path, for large tenants")
    p.add_argument("--cluster", metavar="ADDRESS", help="run the reports on this Dask scheduler "
                   "(tcp://host:8786) instead of local workers; snapshots and --out must be on storage every "
                   "worker sees at the same path")
    p.add_argument("--no-notebooks", action="store_true", help="keep only the HTML (and PDF) reports, not the "
                   "executed .ipynb beside each (kept by default, as evidence)")
    return p


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``render`` and its options."""
    p = subparsers.add_parser("render", help="render one HTML report per subscription plus the tenant overview",
                              parents=[options.snapshots_option(), render_options()])
    p.add_argument("--subscription", action="append", metavar="ID", help="only these subscriptions (repeatable)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Render the period and say how it went; exit 1 when a report failed."""
    return tell_rendered(render_reports(request_of(args, args.period)))


def request_of(args: argparse.Namespace, period: str | None):
    """The library's render request from the command line of ``render`` or ``monthly``."""
    from auditkit.render import RenderRequest

    return RenderRequest(
        snapshots_dir=args.snapshots, out=args.out, period=period, subscriptions=args.subscription,
        workers=args.workers, parameters_file=args.parameters, flowlogs=args.flowlogs, notebooks=args.notebooks,
        verify=not args.no_verify, allow_partial=args.allow_partial, sign_key=args.sign_key, pdf=args.pdf,
        assets=args.assets, keep_notebooks=not args.no_notebooks, cluster=args.cluster)


def render_reports(request):
    """The library's ``render`` with a progress bar on a terminal; returns its RenderResult."""
    from dataclasses import replace

    from auditkit.cli.progress import render_progress
    from auditkit.render import render

    update, close = render_progress()
    try:
        return render(replace(request, progress=update))
    finally:
        close()


def tell_rendered(result) -> int:
    """Say what the render did (notes, failures, where the period is); 1 when a report failed."""
    warn_unreadable(result.unreadable)
    for note in result.notes:
        say(f"auditkit: {note}", err=True)
    for p in result.removed_stale:
        say(f"auditkit: removed {p.name}, left behind by a render that was stopped", err=True)
    ok = [o for o in result.outcomes if o.ok]
    for f in result.failures:
        cell = f"cell {f.error.get('cell')}" if f.error.get("cell") is not None else "set-up"
        evalue = str(f.error.get("evalue", "")).splitlines()[0] if f.error.get("evalue") else ""
        say(f"auditkit: report {f.name} failed at {cell}: {f.error.get('ename')}: {evalue}", err=True)
    signed = "; signed (manifest.json.sig)" if result.signed else ""
    manifest = f"{result.url}/manifest.json" if result.url else result.manifest
    if result.swapped:
        state = " (PARTIAL: swapped in with failures, --allow-partial)" if result.partial else ""
        say(f"rendered {result.where}: {len(ok)} reports, {len(result.failures)} failed{state}; manifest "
            f"{manifest} (sha256 {result.manifest_sha256}){signed}")
    else:
        period = f"{result.url.rsplit('/', 1)[0]}/{period_name(result)}" if result.url else \
            result.folder.parent / period_name(result)
        say(f"auditkit: {len(result.failures)} report(s) failed: {period} was left untouched; this attempt is "
            f"kept in {result.where} (manifest sha256 {result.manifest_sha256}){signed}", err=True)
    return EXIT_FINDINGS if result.failures else EXIT_OK


def period_name(result) -> str:
    """The period a render was for, also when its attempt was kept as ``<period>.failed-...``."""
    return result.folder.name.split(".failed-")[0]
