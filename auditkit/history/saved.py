"""A tenant's whole history, saved once built: the KPIs of an unchanged run of snapshots read it
back instead of re-reading every snapshot's findings.

The history of N snapshots is built from all N snapshots' findings; asked again (the next KPI
run, the overview report) with the same snapshots, settings and accepted risks, it is the same.
It is saved beside the per-snapshot entries (``<snapshots>/.cache/history-<key>/``) as Parquet
tables with the hashes of everything it was built from; an entry whose inputs, hashes or columns
differ in any way is ignored and the history built again, as for every cache of the kit. The
per-snapshot entries are still opened (and the snapshots' files hashed) on every read: a saved
history never hides a modified snapshot.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from auditkit import __version__
from auditkit.evidence.arrow import from_arrow, to_arrow
from auditkit.history.cache import CACHE_DIR, ENGINE_VERSION, Derived, entry_writer
from auditkit.settings import Settings

SAVED_FORMAT = 2  # 2: the snapshots frame says which are partial
PREFIX = "history-"
ENTRY = "entry.json"
FRAMES = ("findings", "timeline", "coverage", "snapshots", "subscriptions")
KEEP = 8  # saved histories kept per snapshot folder (the newest; other months' reports ask for others)
_JSON = "json"  # a column of dicts or None, kept as JSON text


def inputs(ds: list[Derived], ports: tuple[int, ...], settings: Settings, verified: bool, unreadable: tuple,
           exceptions: tuple) -> dict:
    """Everything a history is built from, as recorded in (and compared with) a saved entry."""
    return {"format": SAVED_FORMAT, "auditkit": __version__, "engine": ENGINE_VERSION, "ports": list(ports),
            "settings": settings.fingerprint, "verified": bool(verified),
            "snapshots": [[d.snapshot.id, d.snapshot.hash] for d in ds],
            "unreadable": [[u.name, u.reason] for u in unreadable],
            "exceptions": [e.as_dict() for e in exceptions]}


def _folder(root: Path, recorded: dict) -> Path:
    text = json.dumps(recorded, sort_keys=True, default=str)
    return root / CACHE_DIR / f"{PREFIX}{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def _encode(frame: pd.DataFrame) -> tuple[pa.Table, list[str]]:
    json_columns = [c for c in frame.columns if frame[c].dtype == object and
                    frame[c].map(lambda v: isinstance(v, dict)).any()]
    if json_columns:
        frame = frame.assign(**{c: [None if v is None else orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
                                    for v in frame[c]] for c in json_columns})
    return to_arrow(frame), json_columns


def _decode(table: pa.Table, json_columns: list[str]) -> pd.DataFrame:
    frame = from_arrow(table, arrow_strings=True)
    for c in json_columns:
        frame[c] = pd.Series([None if v is None else orjson.loads(v) for v in frame[c]], dtype=object)
    return frame


def load(root: Path, recorded: dict) -> dict[str, pd.DataFrame] | None:
    """The frames of the history saved for ``recorded`` inputs, if every hash and column checks out."""
    folder = _folder(root, recorded)
    try:
        entry = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
        if not isinstance(entry, dict) or entry.get("inputs") != json.loads(json.dumps(recorded, default=str)):
            return None
        frames = {}
        for name in FRAMES:
            info = entry["frames"][name]
            data = (folder / f"{name}.parquet").read_bytes()
            if hashlib.sha256(data).hexdigest() != info["sha256"]:
                return None
            table = pq.read_table(pa.BufferReader(data))
            if table.column_names != info["columns"] or not set(info["json"]) <= set(table.column_names):
                return None
            frames[name] = _decode(table, info["json"])
        return frames
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
        return None  # missing, damaged or foreign: built again, never trusted


def save(root: Path, recorded: dict, frames: dict[str, pd.DataFrame]) -> None:
    """Save ``frames`` for ``recorded`` inputs (written under a temporary name, then renamed)."""
    folder = _folder(root, recorded)
    try:
        with entry_writer(folder) as tmp:
            info: dict[str, Any] = {}
            for name in FRAMES:
                table, json_columns = _encode(frames[name])
                pq.write_table(table, tmp / f"{name}.parquet")
                info[name] = {"sha256": hashlib.sha256((tmp / f"{name}.parquet").read_bytes()).hexdigest(),
                              "columns": table.column_names, "json": json_columns}
            (tmp / ENTRY).write_text(json.dumps({"inputs": recorded, "frames": info}, indent=1, default=str),
                                     encoding="utf-8")
        _prune(folder.parent)
    except (OSError, ValueError, TypeError, pa.ArrowException):
        pass  # a read-only snapshot store, or a frame Parquet cannot hold: slower next time, never wrong


def _prune(cache: Path) -> None:
    saved = sorted((p for p in cache.glob(f"{PREFIX}*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in saved[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)


def frames_of(history: Any) -> dict[str, pd.DataFrame]:
    return {name: getattr(history, name) for name in FRAMES}

