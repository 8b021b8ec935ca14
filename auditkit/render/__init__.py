"""Render a period: one report per subscription plus the tenant overview, in parallel, with a manifest.

Output (``reports/<period>/``): ``index.html`` (tenant overview), ``<subscription-id>.html``, the
executed ``.ipynb`` beside each, and ``manifest.json`` (plus ``manifest.json.sig`` when signed).
Everything is written into a temporary folder. The period is swapped in only when every report
rendered (``swap``: atomically, one render of a period at a time); a failed run never destroys
good evidence: it is kept beside the period as ``<period>.failed-<time>/`` with its manifest
listing the failures, unless ``allow_partial``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError
from auditkit.evidence.snapshot import list_snapshots
from auditkit.evidence.storage import (
    Staged,
    StorageError,
    filesystem,
    is_relative_name,
    is_url,
    local_copy,
    plain_path,
    stage,
    upload,
)
from auditkit.history.period import cutoff, period_of, require_snapshot_in
from auditkit.present.context import load_context
from auditkit.present.plotly_offline import write_bundle
from auditkit.present.tenant import report_file, subscriptions_ranked
from auditkit.render.manifest import MANIFEST, manifest_sha256, versions, write_manifest
from auditkit.render.pdf import chromium
from auditkit.render.publish import keep_failed, machine_lock_folder, publish, recover, remote_lock
from auditkit.render.signature import SIGNATURE_FILE, load_private_key, sign
from auditkit.render.swap import period_lock, remove_stale, swap, tmp_name
from auditkit.render.workers import Job, Outcome, run_local
from auditkit.settings import find_parameters, kit_path

# inline: plotly.js inside every report (one self-contained file each); shared: once per period.
ASSET_MODES = ("inline", "shared")


@dataclass(frozen=True)
class RenderResult:
    folder: Path  # the period folder, or the failed attempt kept beside it
    outcomes: list[Outcome]
    manifest: Path
    swapped: bool = True  # the period now holds this run (False: failed, kept beside the period)
    partial: bool = False  # swapped in with failures (allow_partial)
    unreadable: tuple = ()  # snapshot folders skipped
    removed_stale: tuple = ()  # temporary folders of killed runs, removed
    manifest_sha256: str = ""
    signed: bool = False
    notes: list = field(default_factory=list)
    url: str | None = None  # where the period was published, for ``out`` at a storage URL

    @property
    def where(self) -> str:
        """The period (or failed attempt) as the user named its place: the URL, else the folder."""
        return self.url or str(self.folder)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def notebooks_dir(folder: str | Path | None = None) -> Path:
    """The report notebooks: ``folder`` or ``$AUDITKIT_NOTEBOOKS`` when given, else those the kit ships."""
    folder = folder or os.environ.get("AUDITKIT_NOTEBOOKS")
    path = Path(folder) if folder else kit_path("notebooks")
    for name in ("subscription_audit.ipynb", "tenant_overview.ipynb"):
        if not (path / name).is_file():
            raise AuditkitError(f"{path}: no {name} there (the report notebooks)")
    return path


def _written_back(tmp: Path, outcomes: list[Outcome]) -> None:
    """Write the files that cluster workers sent back (``Job.return_files``) into ``tmp``."""
    for o in outcomes:
        for rel, data in (o.files or {}).items():
            if not is_relative_name(rel):
                raise AuditkitError(f"report {o.name}: a worker returned a file outside the period: {rel!r}")
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(f".{target.name}.part")
            part.write_bytes(data)
            part.replace(target)
        o.files = None


def default_period(snapshots_dir: str | Path, shown: str | None = None) -> str:
    """The period of the latest snapshot (``shown``: the folder as the user named it, for the error)."""
    snaps = list_snapshots(snapshots_dir)
    if not snaps:
        raise AuditkitError(f"{shown or snapshots_dir}: no snapshots (create one with 'auditkit collect')")
    return period_of(snaps[-1].as_of)


def render(snapshots_dir: str | Path = "snapshots", out: str | Path = "reports", period: str | None = None,
           subscriptions: Sequence[str] | None = None, workers: int | None = None, ports: Any = None,
           parameters_file: str | None = None, flowlogs: str | Path | None = None,
           notebooks: str | Path | None = None, verify: bool = True, allow_partial: bool = False,
           sign_key: str | Path | None = None, pdf: bool = False,
           progress: Callable[[Outcome, int, int], None] | None = None, assets: str = "inline",
           keep_notebooks: bool = True, cluster: str | None = None) -> RenderResult:
    """Render ``period`` from ``snapshots_dir`` into ``out/<period>/`` and return what happened.

    ``assets="shared"`` writes plotly.js once into ``<period>/assets/`` (hashed in the manifest)
    and has every report load it by relative path, instead of inlining it in each report;
    ``keep_notebooks=False`` keeps only the HTML (and PDF), not the executed notebooks.
    ``cluster``: the address of a Dask scheduler to run the reports on instead of local workers
    (snapshots on storage every worker sees: a shared filesystem, or a storage URL).
    ``snapshots_dir`` and ``out`` may be storage URLs (``abfs://container/path``): the snapshots
    are read from a local copy (``evidence.storage``), the period is published there (``publish``).
    """
    if assets not in ASSET_MODES:
        raise AuditkitError(f"assets {assets!r}: expected one of {', '.join(ASSET_MODES)}")
    staged = None
    out, snapshots_dir = plain_path(out), plain_path(snapshots_dir)
    if is_url(out):
        filesystem(str(out))  # a URL that cannot be opened stops the run before any work
    shown = str(snapshots_dir)
    if is_url(snapshots_dir):
        staged = stage(str(snapshots_dir))
        snapshots_dir = staged.path
    else:
        snapshots_dir = Path(snapshots_dir).resolve()
    if period is None:
        period = default_period(snapshots_dir, shown)
    else:
        require_snapshot_in(period, [s.as_of for s in list_snapshots(snapshots_dir)])
    key = load_private_key(sign_key) if sign_key else None  # a bad key stops the run before any work
    if cluster:
        from auditkit.render.cluster import connect

        client = connect(cluster)  # so does a cluster that cannot be reached
        try:
            return _render(snapshots_dir, out, period, subscriptions, workers, ports, parameters_file, flowlogs,
                           notebooks, verify, allow_partial, key, pdf, progress, assets, keep_notebooks,
                           (cluster, client), staged)
        finally:
            client.close()
    return _render(snapshots_dir, out, period, subscriptions, workers, ports, parameters_file, flowlogs, notebooks,
                   verify, allow_partial, key, pdf, progress, assets, keep_notebooks, None, staged)


def _render(snapshots_dir: Path, out: str | Path, period: str, subscriptions: Sequence[str] | None,
            workers: int | None, ports: Any, parameters_file: str | None, flowlogs: Any, notebooks: Any,
            verify: bool, allow_partial: bool, key: Any, pdf: bool, progress: Any, assets: str,
            keep_notebooks: bool, cluster: tuple | None, staged: Staged | None) -> RenderResult:
    browser = chromium() if pdf else None  # so does a --pdf without a Chromium
    nb_dir = notebooks_dir(notebooks)
    # Kernels run in another folder: they get the settings file by its absolute path, the shipped
    # defaults' when no user file applies, so that every report reads the same settings.
    params_path = (find_parameters(parameters_file) or kit_path("parameters", "audit.yaml")).resolve()
    ctx = load_context(str(snapshots_dir), period=period, ports=ports, verify=verify,
                       parameters=str(params_path))  # fills the derived cache once
    notes = [f"{staged.url}: blob {name!r} skipped: not a name a local copy can hold" for name in staged.skipped] \
        if staged is not None else []
    if staged is not None:  # and every worker's copy of the snapshots then finds it filled
        try:
            upload(staged.path, staged.url, only=staged.new_derived())
        except StorageError as exc:  # read-only access to the snapshots: each worker derives its own
            notes.append(f"derived cache not shared: {exc}")
    ranked = subscriptions_ranked(ctx)
    subs = [s.lower() for s in subscriptions] if subscriptions else list(ranked["subscription_id"])
    unknown = sorted(set(subs) - set(ranked["subscription_id"]))
    if unknown:
        raise AuditkitError(f"subscription {unknown[0]} appears in no snapshot up to period {period}")
    # File names are subscription ids: anything else (user-controlled text) gets no file.
    invalid = []
    for s in list(subs):
        try:
            report_file(s)
        except ValueError:
            invalid.append(s)
            subs.remove(s)

    publish_to = str(out).rstrip("/") if is_url(out) else None
    out = local_copy(publish_to) if publish_to else Path(out).resolve()  # a URL's period is built here
    final = out / period
    with period_lock(machine_lock_folder(publish_to) if publish_to else out, period), \
            (remote_lock(publish_to, period) if publish_to else nullcontext()):
        stale = remove_stale(out, period)
        if publish_to:
            stale += [Path(name) for name in recover(publish_to, period)]
        tmp = out / tmp_name(period)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            return _render_into(tmp, final, ctx, period, subs, invalid, ranked, nb_dir, snapshots_dir, params_path,
                                flowlogs, verify, workers, allow_partial, key, progress, tuple(stale), browser,
                                assets, keep_notebooks, cluster, staged, publish_to, notes)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _render_into(tmp: Path, final: Path, ctx: Any, period: str, subs: list[str], invalid: list[str], ranked: Any,
                 nb_dir: Path, snapshots_dir: Path, params_path: Path, flowlogs: Any, verify: bool,
                 workers: int | None, allow_partial: bool, key: Any, progress: Any, stale: tuple,
                 browser: str | None = None, assets: str = "inline", keep_notebooks: bool = True,
                 cluster: tuple | None = None, staged: Staged | None = None,
                 publish_to: str | None = None, notes: list | None = None) -> RenderResult:
    common = {"snapshots_dir": staged.url if staged else str(snapshots_dir), "period": period, "ports": list(ctx.history.ports),
              "parameters_file": str(params_path), "verify_snapshots": verify, "in_report": True}
    if assets == "shared":
        common["assets"] = write_bundle(tmp)
    names = dict(zip(ranked["subscription_id"], ranked["name"], strict=True))
    each = {"pdf": browser, "keep_notebook": keep_notebooks, "shared_assets": assets == "shared",
            "snapshots_version": staged.version if staged else None,
            "return_files": bool(cluster and publish_to)}  # cluster workers cannot see this machine's folder
    jobs = [Job(str(nb_dir / "tenant_overview.ipynb"), "index", f"NSG exposure audit {period}: tenant overview",
                common, str(tmp), **each)]
    flow_param = {"flowlogs_dir": str(Path(flowlogs).resolve()) if flowlogs else None}
    jobs += [Job(str(nb_dir / "subscription_audit.ipynb"), s, f"NSG exposure audit {period}: {names.get(s, s)} ({s})",
                 {**common, **flow_param, "subscription_id": s}, str(tmp), subscription_id=s, **each)
             for s in subs]

    started = datetime.now(UTC)
    if cluster:
        from auditkit.render.cluster import run_cluster

        address, client = cluster
        def arrived(outcome: Outcome, done: int, total: int) -> None:
            _written_back(tmp, [outcome])  # as each report lands: the client never holds them all
            if progress:
                progress(outcome, done, total)

        outcomes, attempts = run_cluster(jobs, client, cwd=str(final.parent), progress=arrived)
        runner = {"kind": "dask", "scheduler": address}
        n_workers = None
    else:
        n_workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
        outcomes = run_local(jobs, n_workers, cwd=str(final.parent), progress=progress)
        attempts = {j.name: 1 for j in jobs}
        runner = {"kind": "local", "workers": n_workers}
    outcomes += [Outcome(s, s, False, 0.0, {"cell": None, "ename": "InvalidSubscriptionId",
                                             "evalue": "not a subscription id: no report file is named after it"})
                 for s in invalid]
    failures = [{"report": None if o.error.get("ename") == "InvalidSubscriptionId" else o.name,
                 "subscription_id": o.subscription_id, **o.error} for o in outcomes if not o.ok]
    partial = bool(failures) and allow_partial
    body = {
        "tool": "auditkit",
        "period": period,
        "cutoff": cutoff(period).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "complete": not failures,
        "partial": partial,
        "versions": versions(),
        "parameters": {**common, "subscriptions": subs, "workers": n_workers,
                       "settings": ctx.history.settings.raw, "settings_source": ctx.history.settings.source},
        "snapshots": [{"id": r.snapshot, "as_of": r.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "sha256": r.hash}
                      for r in ctx.history.snapshots.itertuples()],
        "snapshot_hashes_checked": verify,
        "unreadable_snapshots": [{"snapshot": u.name, "reason": u.reason} for u in ctx.history.unreadable],
        "assets": {"mode": assets, "plotly_js": common.get("assets"),
                   "stylesheets": sorted(p.relative_to(tmp).as_posix() for p in (tmp / "assets").glob("*.css"))},
        "runner": runner,
        "reports": [{"file": f"{o.name}.html" if o.ok else None,
                     "notebook": f"{o.name}.ipynb" if keep_notebooks or not o.ok else None,
                     "pdf": f"{o.name}.pdf" if o.ok and browser else None,
                     "subscription_id": o.subscription_id,
                     "subscription_name": names.get(o.subscription_id) if o.subscription_id else None,
                     "ok": o.ok, "seconds": o.seconds, "attempts": attempts.get(o.name, 0)}
                    for o in sorted(outcomes, key=lambda o: o.name)],
        "failures": failures,
    }
    manifest = write_manifest(tmp, body)
    if key is not None:
        (tmp / SIGNATURE_FILE).write_text(sign(manifest.read_bytes(), key), encoding="ascii")
    digest = manifest_sha256(tmp)
    if failures and not allow_partial:
        kept = final.with_name(f"{final.name}.failed-{datetime.now(UTC):%Y%m%dT%H%M%S}Z")
        os.rename(tmp, kept)
        url = keep_failed(kept, publish_to, kept.name) if publish_to else None
        return RenderResult(kept, sorted(outcomes, key=lambda o: o.name), kept / MANIFEST, swapped=False,
                            unreadable=ctx.history.unreadable, removed_stale=stale, manifest_sha256=digest,
                            signed=key is not None, url=url, notes=notes or [])
    url = publish(tmp, publish_to, final.name) if publish_to else None
    swap(tmp, final)
    return RenderResult(final, sorted(outcomes, key=lambda o: o.name), final / MANIFEST, swapped=True,
                        partial=partial, unreadable=ctx.history.unreadable, removed_stale=stale,
                        manifest_sha256=digest, signed=key is not None, url=url, notes=notes or [])
