"""A render request resolved into a ``Plan``: the snapshots read, the reports to make, where they go.

Everything that can stop a run is found here, before any report starts: a period with no
snapshot, an unknown subscription, missing notebooks, no Chromium for ``pdf``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError
from auditkit.evidence.snapshot import list_snapshots
from auditkit.evidence.storage import Staged, StorageError, is_url, local_copy, upload
from auditkit.history.period import period_of
from auditkit.present.context import load_context
from auditkit.present.tenant import report_file, subscriptions_ranked
from auditkit.render.pdf import chromium
from auditkit.render.request import RenderRequest
from auditkit.settings import find_parameters, kit_path


@dataclass(frozen=True)
class Plan:
    """What one render will do, every input resolved (paths absolute, the context loaded)."""

    request: RenderRequest
    snapshots_dir: Path  # on this machine: a storage URL's local copy
    period: str
    key: Any  # the private key that signs the manifest, or None
    staged: Staged | None  # the local copy, when the snapshots are at a storage URL
    cluster: tuple | None  # (address, client) of a Dask cluster, or None: local workers
    browser: str | None  # the Chromium that prints PDFs, when asked
    nb_dir: Path
    params_path: Path
    ctx: Any  # the present.context the reports are made from
    subs: list[str]  # the subscriptions to report on
    invalid: list[str]  # asked for, but not a subscription id: reported failed, no file
    names: dict[str, str]  # subscription id -> display name
    notes: list[str]
    publish_to: str | None  # the storage URL the period is published to
    out: Path  # the local folder the period is built in


def notebooks_dir(folder: str | Path | None = None) -> Path:
    """The report notebooks: ``folder`` or ``$AUDITKIT_NOTEBOOKS`` when given, else those the kit ships."""
    folder = folder or os.environ.get("AUDITKIT_NOTEBOOKS")
    path = Path(folder) if folder else kit_path("notebooks")
    for name in ("subscription_audit.ipynb", "tenant_overview.ipynb"):
        if not (path / name).is_file():
            raise AuditkitError(f"{path}: no {name} there (the report notebooks)")
    return path


def default_period(snapshots_dir: str | Path, shown: str | None = None) -> str:
    """The period of the latest snapshot (``shown``: the folder as the user named it, for the error)."""
    snaps = list_snapshots(snapshots_dir)
    if not snaps:
        raise AuditkitError(f"{shown or snapshots_dir}: no snapshots (create one with 'auditkit collect')")
    return period_of(snaps[-1].as_of)


def make_plan(request: RenderRequest, out: Any, snapshots_dir: Path, period: str, key: Any,
              staged: Staged | None, cluster: tuple | None) -> Plan:
    """Resolve the rest of ``request`` once its snapshots, period and key are known."""
    browser = chromium() if request.pdf else None  # a --pdf without a Chromium stops the run before any work
    nb_dir = notebooks_dir(request.notebooks)
    # Kernels run in another folder: they get the settings file by its absolute path, the shipped
    # defaults' when no user file applies, so that every report reads the same settings.
    params_path = (find_parameters(request.parameters_file) or kit_path("parameters", "audit.yaml")).resolve()
    ctx = load_context(str(snapshots_dir), period=period, ports=request.ports, verify=request.verify,
                       parameters=str(params_path))  # fills the derived cache once
    notes = _share_derived(staged)
    ranked = subscriptions_ranked(ctx)
    subs, invalid = _subscriptions(request.subscriptions, list(ranked["subscription_id"]), period)
    names = dict(zip(ranked["subscription_id"], ranked["name"], strict=True))
    publish_to = str(out).rstrip("/") if is_url(out) else None
    local_out = local_copy(publish_to) if publish_to else Path(out).resolve()  # a URL's period is built here
    return Plan(request, snapshots_dir, period, key, staged, cluster, browser, nb_dir, params_path, ctx,
                subs, invalid, names, notes, publish_to, local_out)


def _share_derived(staged: Staged | None) -> list[str]:
    """Upload the derived cache just filled, so that every worker's copy of the snapshots finds it;
    return the notes to tell the user (blobs skipped, a cache that could not be shared)."""
    if staged is None:
        return []
    notes = [f"{staged.url}: blob {name!r} skipped: not a name a local copy can hold" for name in staged.skipped]
    try:
        upload(staged.path, staged.url, only=staged.new_derived())
    except StorageError as exc:  # read-only access to the snapshots: each worker derives its own
        notes.append(f"derived cache not shared: {exc}")
    return notes


def _subscriptions(asked: Any, known: list[str], period: str) -> tuple[list[str], list[str]]:
    """The subscriptions to report on, and those asked for that are no subscription id."""
    subs = [s.lower() for s in asked] if asked else list(known)
    unknown = sorted(set(subs) - set(known))
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
    return subs, invalid
