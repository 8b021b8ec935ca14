"""Writing a snapshot: every file under a temporary name, renamed into place only when complete.

To a storage URL, the snapshot is written locally, then uploaded with ``meta.json`` last.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from auditkit.evidence.arrow import to_arrow
from auditkit.evidence.codec import compress, json_bytes, sha256_file
from auditkit.evidence.layout import FORMAT_VERSION, META, RECEIVED, SnapshotError, snapshot_name
from auditkit.evidence.storage import adopt, is_url, join, listing, remove, staging_root, upload


def _write_remote(url: str, as_of: datetime, raw: dict[str, Any], tables: dict[str, pd.DataFrame], meta: dict,
                  received: tuple[bytes, list[dict]] | None) -> Path:
    name = snapshot_name(as_of)
    there = listing(join(url, name))
    if META in there:
        raise SnapshotError(f"{join(url, name)}: a snapshot for {name} already exists; snapshots are never overwritten")
    remove([join(url, name, rel) for rel in there])  # an upload that was cut off: no meta.json, never a snapshot
    staging_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".collect-", dir=staging_root()) as private:
        # Not in the local copy: another process staging the URL would remove what it does not list.
        final = write_snapshot(private, as_of, raw, tables, meta, received)
        upload(final, join(url, name), last=(META,), exclusive=True)
        return adopt(url, final)


def write_snapshot(snapshots_dir: str | Path, as_of: datetime, raw: dict[str, Any], tables: dict[str, pd.DataFrame],
                   meta: dict, received: tuple[bytes, list[dict]] | None = None) -> Path:
    """Write a complete snapshot under a temporary name, then rename it into place.

    ``received`` (from ``pack_received``) are the documents exactly as they arrived, each labelled
    with what it holds (``nsgs`` for a page of the NSG query, ``export`` for an export file): kept
    byte for byte in ``raw/received.zst``, each with its SHA-256 in ``meta.json``. ``raw`` maps a name to JSON-able
    rows handed over in memory (``raw/<name>.json.zst``); ``tables`` maps a name to a DataFrame
    (``<name>.parquet``). A crash or Ctrl-C leaves no directory under the final name.
    ``snapshots_dir`` may be a storage URL: the snapshot is written into a private folder, then
    uploaded blob by blob, none replacing an existing one, ``meta.json`` last (a folder without it
    is not a snapshot: blobs of an upload that was cut off are removed first); the path of the
    snapshot in the URL's local copy is returned.
    """
    if is_url(snapshots_dir):
        return _write_remote(str(snapshots_dir), as_of, raw, tables, meta, received)
    root = Path(snapshots_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = snapshot_name(as_of)
    final = root / name
    if final.exists():
        raise SnapshotError(f"{final}: a snapshot for {name} already exists; snapshots are never overwritten")
    tmp = root / f".tmp-{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        (tmp / "raw").mkdir(parents=True)
        for key, rows in raw.items():
            (tmp / "raw" / f"{key}.json.zst").write_bytes(compress(json_bytes(rows)))
        if received is not None:
            blob, documents = received
            (tmp / RECEIVED).write_bytes(blob)
            meta = {**meta, "received": documents}
        for key, frame in tables.items():
            pq.write_table(to_arrow(frame), tmp / f"{key}.parquet", compression="zstd")
        files = {}
        for p in sorted(tmp.rglob("*")):
            if p.is_file():
                files[p.relative_to(tmp).as_posix()] = {"sha256": sha256_file(p), "size": p.stat().st_size}
        full_meta = {"format": FORMAT_VERSION, "snapshot": name, "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     **meta, "files": files}
        (tmp / META).write_text(json.dumps(full_meta, indent=2, sort_keys=False, ensure_ascii=False) + "\n",
                                encoding="utf-8")
        for p in tmp.rglob("*"):
            if p.is_file():
                p.chmod(0o444)
        _fsync_dir(tmp)
        os.rename(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

