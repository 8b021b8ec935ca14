"""Snapshots: what one collection read, kept on disk as immutable audit evidence.

A snapshot is a directory named by its UTC time (``2026-11-01T060000Z``) holding the raw evidence
(the exact bytes received: each Resource Graph response, or the export file, zstd-compressed in
``raw/received.zst``; records handed over in memory as zstd JSON; older snapshots' gzip JSON
stays readable), the normalised tables (Parquet: subscriptions, nsgs,
rules) and ``meta.json`` with the SHA-256 of every other file. It is written under a temporary
name and renamed into place only when complete, and never modified afterwards. The snapshot's
hash is the SHA-256 of its ``meta.json``, which pins every file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zstandard

from auditkit.errors import AuditkitError, InputError
from auditkit.evidence.records import parse_json, records_from, subscription_records_from, typed_records_from
from auditkit.evidence.storage import adopt, is_url, join, listing, remove, staging_root, upload

NAME_FORMAT = "%Y-%m-%dT%H%M%SZ"
META = "meta.json"
FORMAT_VERSION = 1
LIST_COLUMNS = ("source_prefixes", "source_ports", "destination_prefixes", "destination_ports", "source_asgs",
                "destination_asgs", "sources", "destinations", "field_errors", "attached_ids", "hidden_by",
                # topology tables (see auditkit.engine.topology)
                "pools", "nat_rules", "nat_pools", "asgs", "prefixes", "frontend_ids", "pool_ids")
TEXT_COLUMNS = ("direction", "access", "protocol")
JSON_COLUMNS = ("tags", "endpoints")
_SEP = "\x1f"  # ASCII unit separator: never part of an address, port or id
RECEIVED = "raw/received.zst"
# zstd level 3 (its default): about gzip -6's ratio on JSON at several times its speed.
ZSTD_LEVEL = 3


def compress(data: bytes) -> bytes:
    """One zstd frame (with its content size, so readers can check it)."""
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1, write_content_size=True).compress(data)


def decompress(data: bytes) -> bytes:
    """The bytes of every zstd frame in ``data``."""
    with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as reader:
        return reader.read()


def pack_received(documents: Iterable[tuple[str, bytes]]) -> tuple[bytes, list[dict]]:
    """Documents as received, as one zstd blob and their index (label, offset, size, SHA-256).

    Packed as soon as they are complete, so the uncompressed bytes can be freed before parsing.
    """
    index, parts, offset = [], [], 0
    for label, body in documents:
        index.append({"label": label, "offset": offset, "size": len(body),
                      "sha256": hashlib.sha256(body).hexdigest()})
        parts.append(body)
        offset += len(body)
    return compress(b"".join(parts)), index


def json_bytes(obj: Any) -> bytes:
    """Compact JSON (orjson; the standard library for what orjson refuses, such as huge integers)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class SnapshotError(AuditkitError):
    """A snapshot that cannot be written or read as evidence."""


def snapshot_name(as_of: datetime) -> str:
    return as_of.astimezone(UTC).strftime(NAME_FORMAT)


def parse_as_of(value: str | datetime | None, default: datetime | None = None) -> datetime:
    """A UTC datetime from ``2026-09-01``, an ISO timestamp, or a datetime; ``None`` gives ``default``/now."""
    if value is None:
        return (default or datetime.now(UTC)).replace(microsecond=0)
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"as-of {value!r} is not an ISO date or timestamp (e.g. 2026-09-01)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).replace(microsecond=0)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A table as Arrow: tuple columns as lists, tag dicts as JSON text (their keys vary by NSG)."""
    columns = {}
    for c in frame.columns:
        values = frame[c]
        if c in LIST_COLUMNS:
            try:
                columns[c] = pa.array(values.to_numpy(dtype=object), type=pa.list_(pa.string()))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                columns[c] = pa.array([list(v) for v in values], type=pa.list_(pa.string()))
        elif c in JSON_COLUMNS:
            columns[c] = pa.array(_json_texts(values.to_numpy(dtype=object)), pa.string())
        elif c in TEXT_COLUMNS:
            objs = values.to_numpy(dtype=object)
            try:
                columns[c] = pa.array(objs, pa.string(), from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                columns[c] = pa.array([v if isinstance(v, str) else None for v in objs], pa.string())
        else:
            columns[c] = pa.array(values.to_numpy(dtype=object) if values.dtype == object else values, from_pandas=True)
    return pa.table(columns)


def _json_texts(values: np.ndarray) -> list:
    """Each value as JSON text with sorted keys, written once per distinct object (the rules of one
    NSG share its tags dict)."""
    codes, first = pd.factorize(np.fromiter(map(id, values), dtype=np.int64, count=len(values)))
    texts = np.empty(len(first), dtype=object)
    starts = np.unique(codes, return_index=True)[1]
    for k, i in zip(range(len(first)), starts, strict=True):
        v = values[i]
        try:
            texts[k] = orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode("utf-8")
        except TypeError:
            texts[k] = json.dumps(v, sort_keys=True, ensure_ascii=False)
    return texts[codes].tolist()


def _decoded(values: np.ndarray, decode: Any) -> np.ndarray:
    """Apply ``decode`` once per distinct value: list and tag columns repeat a few values a million times."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    out = np.empty(len(uniques) + 1, dtype=object)
    out[:-1] = [decode(u) for u in uniques]
    out[-1] = decode(None)
    return out[codes]


def _tuple_of(joined: Any) -> tuple:
    return tuple(joined.split(_SEP)) if isinstance(joined, str) and joined else ()


def from_arrow(table: pa.Table, arrow_strings: bool = False) -> pd.DataFrame:
    """The inverse of ``to_arrow``: lists back to tuples, JSON text back to dicts.

    ``arrow_strings`` keeps text columns in Arrow (no Python string per cell): for derived
    tables read many at a time.
    """
    data = {}
    for name in table.column_names:
        col = table.column(name)
        if name in LIST_COLUMNS:
            # Join each list in Arrow (C++), then split only the distinct joined values.
            joined = pc.binary_join(col, _SEP).to_numpy(zero_copy_only=False)
            empty = pc.list_value_length(col).to_numpy(zero_copy_only=False)
            joined = np.where(empty == 0, None, joined)
            data[name] = pd.Series(_decoded(joined, _tuple_of), dtype=object)
        elif name in JSON_COLUMNS:
            data[name] = pd.Series(_decoded(col.to_numpy(zero_copy_only=False),
                                            lambda v: json.loads(v) if v else {}), dtype=object)
        elif arrow_strings and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            data[name] = pd.Series(pd.arrays.ArrowStringArray(col.combine_chunks().cast(pa.large_string())))
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type):
            values = col.to_numpy(zero_copy_only=False).astype(object)
            if col.null_count:
                values[pc.is_null(col).to_numpy(zero_copy_only=False)] = None
            data[name] = pd.Series(values, dtype=object)
        elif pa.types.is_integer(col.type) and col.null_count:
            data[name] = pd.Series(col.to_pandas(), dtype="Int64")
        else:
            data[name] = col.to_pandas()
    frame = pd.DataFrame(data)
    if "priority" in frame:
        frame["priority"] = frame["priority"].astype("Int64")
    return frame


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


@dataclass(frozen=True)
class Snapshot:
    """An on-disk snapshot, read lazily.

    With ``verify`` (the default) every file is hashed as it is read and compared with the
    SHA-256 that ``meta.json`` recorded at collection: a file changed since is a ``SnapshotError``
    naming it, never silently used. ``meta.json`` itself is pinned by the snapshot's hash, which
    reports and manifests quote.
    """

    path: Path
    verify_files: bool = True

    @cached_property
    def _meta_bytes(self) -> bytes:
        try:
            return (self.path / META).read_bytes()
        except FileNotFoundError:
            raise SnapshotError(f"{self.path}: not a snapshot (no {META})") from None
        except OSError as exc:
            raise SnapshotError(f"{self.path / META}: unreadable: {exc.strerror or exc}") from None

    @cached_property
    def meta(self) -> dict:
        try:
            meta = json.loads(self._meta_bytes)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise SnapshotError(f"{self.path / META}: unreadable: {str(exc).splitlines()[0]}") from None
        problem = _meta_problem(meta)
        if problem:
            raise SnapshotError(f"{self.path / META}: {problem}")
        return meta

    @property
    def id(self) -> str:
        return self.meta.get("snapshot", self.path.name)

    @property
    def as_of(self) -> pd.Timestamp:
        return pd.Timestamp(self.meta["as_of"])

    @cached_property
    def hash(self) -> str:
        """The snapshot's identity: the SHA-256 of its ``meta.json``, which pins every other file."""
        return hashlib.sha256(self._meta_bytes).hexdigest()

    @property
    def collected(self) -> list[str]:
        return list(self.meta.get("subscriptions", {}).get("collected", []))

    @property
    def failed(self) -> list[dict]:
        return list(self.meta.get("subscriptions", {}).get("failed", []))

    @cached_property
    def subscription_names(self) -> dict[str, str]:
        """Subscription id (lower-cased) -> display name, as this snapshot saw them."""
        subs = self.table("subscriptions")
        return dict(zip(subs["subscription_id"].astype(str).str.lower(), subs["name"].astype(str), strict=True))

    def read_bytes(self, rel: str) -> bytes:
        """A file of the snapshot, checked against ``meta.json`` before anything uses it."""
        path = self.path / rel
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SnapshotError(f"{path}: unreadable: {exc.strerror or exc}") from None
        if self.verify_files:
            expected = self.meta["files"].get(rel, {}).get("sha256")
            if expected is None:
                raise SnapshotError(f"{path}: not listed in {META}: the snapshot was modified after collection")
            if hashlib.sha256(data).hexdigest() != expected:
                raise SnapshotError(f"{path}: SHA-256 differs from {META}: the file was modified after collection "
                                    "(use --no-verify only to read it anyway)")
        return data

    def check(self, rels: Iterable[str]) -> None:
        """Hash the given files against ``meta.json`` without reading them into tables (for cache hits)."""
        if not self.verify_files:
            return
        for rel in rels:
            path = self.path / rel
            expected = self.meta["files"].get(rel, {}).get("sha256")
            try:
                actual = sha256_file(path)
            except OSError as exc:
                raise SnapshotError(f"{path}: unreadable: {exc.strerror or exc}") from None
            if expected is None or actual != expected:
                raise SnapshotError(f"{path}: SHA-256 differs from {META}: the file was modified after collection "
                                    "(use --no-verify only to read it anyway)")

    def file_hash(self, rel: str) -> str | None:
        return self.meta["files"].get(rel, {}).get("sha256")

    def table(self, name: str) -> pd.DataFrame:
        return from_arrow(self.arrow(name))

    def arrow(self, name: str, columns: list[str] | None = None) -> pa.Table | None:
        """The table ``name`` as Arrow (only ``columns`` when given, if it has each of them; else
        None), its file checked against ``meta.json`` like every read."""
        data = self.read_bytes(f"{name}.parquet")
        try:
            if columns is not None:
                if not set(columns) <= set(pq.read_schema(pa.BufferReader(data)).names):
                    return None
                return pq.read_table(pa.BufferReader(data), columns=columns)
            return pq.read_table(pa.BufferReader(data))
        except (OSError, pa.ArrowException) as exc:
            raise SnapshotError(f"{self.path / (name + '.parquet')}: unreadable Parquet: {exc}") from None

    def raw(self, name: str) -> Any:
        """The raw rows of ``name`` (``nsgs``, ``subscriptions``, ``topology``...) as received."""
        files = self.meta["files"]
        for rel, unpack in ((f"raw/{name}.json.zst", decompress), (f"raw/{name}.json.gz", gzip.decompress)):
            if rel in files or (not self.verify_files and (self.path / rel).is_file()):
                try:
                    return parse_json(unpack(self.read_bytes(rel)))
                except (OSError, EOFError, ValueError, RecursionError, zstandard.ZstdError) as exc:
                    raise SnapshotError(f"{self.path / rel}: unreadable compressed JSON: {exc}") from None
        if "received" not in self.meta:
            raise SnapshotError(f"{self.path}: no raw {name} records in this snapshot")
        rows: list = []
        for label, doc in self.received():
            where = f"{self.path / RECEIVED} ({label})"
            if label == name:
                page = doc.get("data") if isinstance(doc, dict) else doc
                rows.extend(page if isinstance(page, list) else [])
            elif label == "export":
                types = (self.meta.get("received_types") or {}).get(name)
                if name == "nsgs":
                    rows.extend(records_from(doc, where=where))
                elif name == "subscriptions":
                    rows.extend(subscription_records_from(doc))
                elif types:
                    rows.extend(typed_records_from(doc, types))
        return rows

    def received(self) -> list[tuple[str, Any]]:
        """Each document as received, parsed, with its label; each checked against its SHA-256."""
        path = self.path / RECEIVED
        try:
            data = decompress(self.read_bytes(RECEIVED))
        except (zstandard.ZstdError, EOFError) as exc:
            raise SnapshotError(f"{path}: unreadable zstd: {exc}") from None
        out = []
        for doc in self.meta["received"]:
            body = data[doc["offset"]:doc["offset"] + doc["size"]]
            if hashlib.sha256(body).hexdigest() != doc["sha256"]:
                raise SnapshotError(f"{path}: document {doc['label']} at byte {doc['offset']} differs from the "
                                    f"SHA-256 {META} recorded when it was received")
            try:
                out.append((doc["label"], parse_json(body)))
            except (ValueError, RecursionError) as exc:
                raise SnapshotError(f"{path}: document {doc['label']} is not JSON: {exc}") from None
        return out

    def verify(self) -> list[str]:
        """Problems found when re-hashing every file against ``meta.json``; empty when intact."""
        problems = []
        files = self.meta.get("files", {})
        for rel, info in files.items():
            p = self.path / rel
            if not p.is_file() or p.is_symlink():
                problems.append(f"{rel}: missing")
            elif sha256_file(p) != info.get("sha256"):
                problems.append(f"{rel}: changed (SHA-256 differs from meta.json)")
        for p in self.path.rglob("*"):
            rel = p.relative_to(self.path).as_posix()
            if rel != META and rel not in files and not (p.is_dir() and not p.is_symlink()):
                problems.append(f"{rel}: not listed in meta.json")
        return problems


def _meta_problem(meta: Any) -> str | None:
    """Why a parsed ``meta.json`` cannot describe a snapshot, or None."""
    if not isinstance(meta, dict):
        return f"expected an object, got {type(meta).__name__}"
    if not isinstance(meta.get("as_of"), str):
        return "no as_of time"
    try:
        ts = pd.Timestamp(meta["as_of"])
    except (ValueError, TypeError):
        return f"as_of {meta['as_of']!r} is not a time"
    if pd.isna(ts) or ts.tzinfo is None:
        return f"as_of {meta['as_of']!r} is not a UTC time"
    files = meta.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, dict) and isinstance(v.get("sha256"), str)
                                              for v in files.values()):
        return "no table of file hashes (files)"
    subs = meta.get("subscriptions", {})
    if not isinstance(subs, dict) or not isinstance(subs.get("collected", []), list) \
            or not isinstance(subs.get("failed", []), list):
        return "subscriptions.collected / failed are not lists"
    received = meta.get("received")
    if received is not None and not (isinstance(received, list) and all(
            isinstance(d, dict) and isinstance(d.get("label"), str) and isinstance(d.get("sha256"), str)
            and all(isinstance(d.get(k), int) and not isinstance(d.get(k), bool) and d[k] >= 0
                    for k in ("offset", "size")) for d in received)):
        return "received: expected a list of documents with label, offset, size and sha256"
    return None


def is_snapshot(path: str | Path) -> bool:
    return (Path(path) / META).is_file()


def open_snapshot(path: str | Path, verify: bool = True) -> Snapshot:
    snap = Snapshot(Path(path), verify_files=verify)
    _ = snap.meta
    return snap


@dataclass(frozen=True)
class Unreadable:
    """A snapshot folder that cannot be used: its name and why."""

    name: str
    reason: str


def scan_folder(snapshots_dir: str | Path, verify: bool = True) -> tuple[list[Snapshot], list[Unreadable]]:
    """The usable snapshots of a folder, oldest ``as_of`` first, and the unreadable ones (skipped,
    never fatal: one damaged ``meta.json`` does not stop the others)."""
    root = Path(snapshots_dir)
    if not root.is_dir():
        return [], []
    good, bad = [], []
    for p in sorted(root.iterdir()):
        if not p.is_dir() or p.name.startswith(".") or not is_snapshot(p):
            continue
        snap = Snapshot(p, verify_files=verify)
        try:
            _ = snap.meta
        except SnapshotError as exc:
            bad.append(Unreadable(p.name, str(exc).split(": ", 1)[-1]))
            continue
        good.append(snap)
    return sorted(good, key=lambda s: (s.as_of, s.id)), bad


def list_snapshots(snapshots_dir: str | Path, verify: bool = True) -> list[Snapshot]:
    """Every usable snapshot in a directory, oldest ``as_of`` first; temporary and unreadable ones are left out
    (``scan_folder`` names the unreadable ones)."""
    return scan_folder(snapshots_dir, verify)[0]


def latest(snapshots: Iterable[Snapshot]) -> Snapshot | None:
    snaps = list(snapshots)
    return snaps[-1] if snaps else None
