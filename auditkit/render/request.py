"""What a render is asked to do (``RenderRequest``) and what came of it (``RenderResult``).

One request object instead of seventeen parameters: callers build it with keywords, and every
default is written here once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit.render.workers import Outcome

# inline: plotly.js inside every report (one self-contained file each); shared: once per period.
ASSET_MODES = ("inline", "shared")


@dataclass(frozen=True)
class RenderRequest:
    """Render ``period`` from ``snapshots_dir`` into ``out/<period>/``.

    ``assets="shared"`` writes plotly.js once into ``<period>/assets/`` (hashed in the manifest)
    and has every report load it by relative path, instead of inlining it in each report;
    ``keep_notebooks=False`` keeps only the HTML (and PDF), not the executed notebooks.
    ``cluster``: the address of a Dask scheduler to run the reports on instead of local workers
    (snapshots on storage every worker sees: a shared filesystem, or a storage URL).
    ``snapshots_dir`` and ``out`` may be storage URLs (``abfs://container/path``): the snapshots
    are read from a local copy (``evidence.storage``), the period is published there (``publish``).
    """

    snapshots_dir: str | Path = "snapshots"
    out: str | Path = "reports"
    period: str | None = None  # None: the period of the latest snapshot
    subscriptions: Sequence[str] | None = None  # None: every subscription up to the period
    workers: int | None = None  # local worker processes; None: one per CPU
    ports: Any = None
    parameters_file: str | None = None
    flowlogs: str | Path | None = None
    notebooks: str | Path | None = None  # the report notebooks; None: those the kit ships
    verify: bool = True  # check every snapshot's hash before reading it
    allow_partial: bool = False  # swap the period in even when some reports failed
    sign_key: str | Path | None = None  # the private key that signs manifest.json
    pdf: bool = False
    progress: Callable[[Outcome, int, int], None] | None = None
    assets: str = "inline"  # one of ASSET_MODES
    keep_notebooks: bool = True
    cluster: str | None = None


@dataclass(frozen=True)
class RenderResult:
    """What a render did: where the period (or the failed attempt) is, each report's outcome, the manifest."""

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
