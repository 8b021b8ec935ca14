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
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from auditkit.errors import AuditkitError
from auditkit.evidence.snapshot import list_snapshots
from auditkit.evidence.storage import filesystem, is_relative_name, is_url, plain_path, stage
from auditkit.history.period import require_snapshot_in
from auditkit.present.plotly_offline import write_bundle
from auditkit.render.manifest import MANIFEST, RunRecord, manifest_body, manifest_sha256, write_manifest
from auditkit.render.plan import Plan, default_period, make_plan
from auditkit.render.publish import keep_failed, machine_lock_folder, publish, recover, remote_lock
from auditkit.render.request import ASSET_MODES, RenderRequest, RenderResult
from auditkit.render.signature import SIGNATURE_FILE, load_private_key, sign
from auditkit.render.swap import period_lock, remove_stale, swap, tmp_name
from auditkit.render.workers import Job, Outcome, run_local


def render(request: RenderRequest) -> RenderResult:
    """Render the period ``request`` names into ``out/<period>/`` and return what happened."""
    if request.assets not in ASSET_MODES:
        raise AuditkitError(f"assets {request.assets!r}: expected one of {', '.join(ASSET_MODES)}")
    staged = None
    out, snapshots_dir = plain_path(request.out), plain_path(request.snapshots_dir)
    if is_url(out):
        filesystem(str(out))  # a URL that cannot be opened stops the run before any work
    shown = str(snapshots_dir)
    if is_url(snapshots_dir):
        staged = stage(str(snapshots_dir))
        snapshots_dir = staged.path
    else:
        snapshots_dir = Path(snapshots_dir).resolve()
    period = request.period
    if period is None:
        period = default_period(snapshots_dir, shown)
    else:
        require_snapshot_in(period, [s.as_of for s in list_snapshots(snapshots_dir)])
    key = load_private_key(request.sign_key) if request.sign_key else None  # so does a bad key
    if request.cluster:
        from auditkit.render.cluster import connect

        client = connect(request.cluster)  # so does a cluster that cannot be reached
        try:
            return _render(make_plan(request, out, snapshots_dir, period, key, staged, (request.cluster, client)))
        finally:
            client.close()
    return _render(make_plan(request, out, snapshots_dir, period, key, staged, None))


def _render(plan: Plan) -> RenderResult:
    """Hold the period's locks and render into a temporary folder, removed if the run dies."""
    final = plan.out / plan.period
    publish_to = plan.publish_to
    with period_lock(machine_lock_folder(publish_to) if publish_to else plan.out, plan.period), \
            (remote_lock(publish_to, plan.period) if publish_to else nullcontext()):
        stale = remove_stale(plan.out, plan.period)
        if publish_to:
            stale += [Path(name) for name in recover(publish_to, plan.period)]
        tmp = plan.out / tmp_name(plan.period)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            return _render_into(plan, tmp, final, tuple(stale))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _render_into(plan: Plan, tmp: Path, final: Path, stale: tuple) -> RenderResult:
    """Run every report into ``tmp``, write (and sign) its manifest, then swap it in or keep it aside."""
    common = _common_parameters(plan)
    if plan.request.assets == "shared":
        common["assets"] = write_bundle(tmp)
    ran = _run(plan, _jobs(plan, common, tmp), tmp, final)
    manifest = write_manifest(tmp, manifest_body(plan, tmp, common, ran))
    if plan.key is not None:
        (tmp / SIGNATURE_FILE).write_text(sign(manifest.read_bytes(), plan.key), encoding="ascii")
    digest = manifest_sha256(tmp)
    outcomes = sorted(ran.outcomes, key=lambda o: o.name)
    failed = any(not o.ok for o in outcomes)
    unreadable = plan.ctx.history.unreadable
    if failed and not plan.request.allow_partial:
        kept = final.with_name(f"{final.name}.failed-{datetime.now(UTC):%Y%m%dT%H%M%S}Z")
        os.rename(tmp, kept)
        url = keep_failed(kept, plan.publish_to, kept.name) if plan.publish_to else None
        return RenderResult(kept, outcomes, kept / MANIFEST, swapped=False, unreadable=unreadable,
                            removed_stale=stale, manifest_sha256=digest, signed=plan.key is not None, url=url,
                            notes=plan.notes)
    url = publish(tmp, plan.publish_to, final.name) if plan.publish_to else None
    swap(tmp, final)
    return RenderResult(final, outcomes, final / MANIFEST, swapped=True, partial=failed, unreadable=unreadable,
                        removed_stale=stale, manifest_sha256=digest, signed=plan.key is not None, url=url,
                        notes=plan.notes)


def _common_parameters(plan: Plan) -> dict:
    """The notebook parameters every report gets (recorded in the manifest too)."""
    return {"snapshots_dir": plan.staged.url if plan.staged else str(plan.snapshots_dir), "period": plan.period,
            "ports": list(plan.ctx.history.ports), "parameters_file": str(plan.params_path),
            "verify_snapshots": plan.request.verify, "in_report": True}


def _jobs(plan: Plan, common: dict, tmp: Path) -> list[Job]:
    """The tenant overview, then one report per subscription, each written into ``tmp``."""
    request, period = plan.request, plan.period
    each = {"pdf": plan.browser, "keep_notebook": request.keep_notebooks, "shared_assets": request.assets == "shared",
            "snapshots_version": plan.staged.version if plan.staged else None,
            "return_files": bool(plan.cluster and plan.publish_to)}  # cluster workers cannot see this machine's folder
    jobs = [Job(str(plan.nb_dir / "tenant_overview.ipynb"), "index", f"NSG exposure audit {period}: tenant overview",
                common, str(tmp), **each)]
    flow_param = {"flowlogs_dir": str(Path(request.flowlogs).resolve()) if request.flowlogs else None}
    jobs += [Job(str(plan.nb_dir / "subscription_audit.ipynb"), s,
                 f"NSG exposure audit {period}: {plan.names.get(s, s)} ({s})",
                 {**common, **flow_param, "subscription_id": s}, str(tmp), subscription_id=s, **each)
             for s in plan.subs]
    return jobs


def _run(plan: Plan, jobs: list[Job], tmp: Path, final: Path) -> RunRecord:
    """Run ``jobs`` on the cluster or on local workers; the refused subscriptions fail without a run."""
    started = datetime.now(UTC)
    progress = plan.request.progress
    if plan.cluster:
        from auditkit.render.cluster import run_cluster

        address, client = plan.cluster

        def arrived(outcome: Outcome, done: int, total: int) -> None:
            _written_back(tmp, [outcome])  # as each report lands: the client never holds them all
            if progress:
                progress(outcome, done, total)

        outcomes, attempts = run_cluster(jobs, client, cwd=str(final.parent), progress=arrived)
        runner = {"kind": "dask", "scheduler": address}
        n_workers = None
    else:
        n_workers = max(1, min(plan.request.workers or os.cpu_count() or 1, len(jobs)))
        outcomes = run_local(jobs, n_workers, cwd=str(final.parent), progress=progress)
        attempts = {j.name: 1 for j in jobs}
        runner = {"kind": "local", "workers": n_workers}
    outcomes += [Outcome(s, s, False, 0.0, {"cell": None, "ename": "InvalidSubscriptionId",
                                             "evalue": "not a subscription id: no report file is named after it"})
                 for s in plan.invalid]
    return RunRecord(started, outcomes, attempts, runner, n_workers)


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
