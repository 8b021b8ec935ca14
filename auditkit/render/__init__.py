"""Render a period: one report per subscription plus the tenant overview, in parallel, with a manifest.

Output (``reports/<period>/``): ``index.html`` (tenant overview), ``<subscription-id>.html``, the
executed ``.ipynb`` beside each, and ``manifest.json``. Everything is written into a temporary
folder and swapped into place at the end, so re-rendering a period replaces it whole.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError
from auditkit.evidence.snapshot import list_snapshots
from auditkit.history.period import cutoff, period_of, require_snapshot_in
from auditkit.present.context import load_context
from auditkit.present.tenant import report_file, subscriptions_ranked
from auditkit.render.manifest import versions, write_manifest
from auditkit.render.workers import Job, Outcome, init_worker, run
from auditkit.settings import find_parameters, kit_path


@dataclass(frozen=True)
class RenderResult:
    folder: Path
    outcomes: list[Outcome]
    manifest: Path

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


def default_period(snapshots_dir: str | Path) -> str:
    snaps = list_snapshots(snapshots_dir)
    if not snaps:
        raise AuditkitError(f"{snapshots_dir}: no snapshots (create one with 'auditkit collect')")
    return period_of(snaps[-1].as_of)


def render(snapshots_dir: str | Path = "snapshots", out: str | Path = "reports", period: str | None = None,
           subscriptions: Sequence[str] | None = None, workers: int | None = None, ports: Any = None,
           parameters_file: str | None = None, flowlogs: str | Path | None = None,
           notebooks: str | Path | None = None, verify: bool = True,
           progress: Callable[[Outcome, int, int], None] | None = None) -> RenderResult:
    """Render ``period`` from ``snapshots_dir`` into ``out/<period>/`` and return what happened."""
    snapshots_dir = Path(snapshots_dir).resolve()
    if period is None:
        period = default_period(snapshots_dir)
    else:
        require_snapshot_in(period, [s.as_of for s in list_snapshots(snapshots_dir)])
    # Kernels run in another folder: they get the settings file by its absolute path, the shipped
    # defaults' when no user file applies, so that every report reads the same settings.
    params_path = (find_parameters(parameters_file) or kit_path("parameters", "audit.yaml")).resolve()
    ctx = load_context(str(snapshots_dir), period=period, ports=ports, verify=verify,
                       parameters=str(params_path) if params_path else None)  # fills the derived cache once
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

    out = Path(out).resolve()
    final = out / period
    tmp = out / f".tmp-{period}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    nb_dir = notebooks_dir(notebooks)
    common = {"snapshots_dir": str(snapshots_dir), "period": period,
              "ports": list(ctx.history.ports), "parameters_file": str(params_path) if params_path else None,
              "verify_snapshots": verify}
    names = dict(zip(ranked["subscription_id"], ranked["name"], strict=True))
    jobs = [Job(str(nb_dir / "tenant_overview.ipynb"), "index", f"NSG exposure audit {period}: tenant overview",
                {**common, "link_reports": True}, str(tmp))]
    flow_param = {"flowlogs_dir": str(Path(flowlogs).resolve()) if flowlogs else None}
    jobs += [Job(str(nb_dir / "subscription_audit.ipynb"), s, f"NSG exposure audit {period}: {s}",
                 {**common, **flow_param, "subscription_id": s}, str(tmp), subscription_id=s) for s in subs]

    started = datetime.now(UTC)
    outcomes: list[Outcome] = []
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    try:
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=init_worker, initargs=(str(out),)) as pool:
            futures = [pool.submit(run, j) for j in jobs]
            for fut in as_completed(futures):
                outcome = fut.result()
                outcomes.append(outcome)
                if progress:
                    progress(outcome, len(outcomes), len(jobs))
        snaps = ctx.history.snapshots
        failures = [{"report": o.name, "subscription_id": o.subscription_id, **o.error} for o in outcomes if not o.ok]
        failures += [{"report": None, "subscription_id": s, "cell": None, "ename": "InvalidSubscriptionId",
                      "evalue": "not a subscription id: no report file is named after it"} for s in invalid]
        body = {
            "tool": "auditkit",
            "period": period,
            "cutoff": cutoff(period).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "versions": versions(),
            "parameters": {**common, "subscriptions": subs, "workers": n_workers,
                           "settings": ctx.history.settings.raw, "settings_source": ctx.history.settings.source},
            "snapshots": [{"id": r.snapshot, "as_of": r.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "sha256": r.hash}
                          for r in snaps.itertuples()],
            "reports": [{"file": f"{o.name}.html" if o.ok else None, "notebook": f"{o.name}.ipynb",
                         "subscription_id": o.subscription_id,
                         "subscription_name": names.get(o.subscription_id) if o.subscription_id else None,
                         "ok": o.ok, "seconds": o.seconds} for o in sorted(outcomes, key=lambda o: o.name)],
            "failures": failures,
        }
        manifest = write_manifest(tmp, body)
        _swap(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    outcomes += [Outcome(s, s, False, 0.0, {"cell": None, "ename": "InvalidSubscriptionId",
                                             "evalue": "not a subscription id"}) for s in invalid]
    return RenderResult(final, sorted(outcomes, key=lambda o: o.name), final / manifest.name)


def _swap(tmp: Path, final: Path) -> None:
    """Replace ``final`` with ``tmp``: rename the old one aside, rename the new one in, drop the old."""
    old = final.with_name(f".old-{final.name}-{os.getpid()}-{int(time.time())}")
    if final.exists():
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
