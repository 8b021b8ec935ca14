"""Snapshots: what one collection read, kept on disk as immutable audit evidence.

A snapshot is a directory named by its UTC time (``2026-11-01T060000Z``) holding the raw evidence
(the exact bytes received: each Resource Graph response, or the export file, zstd-compressed in
``raw/received.zst``; records handed over in memory as zstd JSON; older snapshots' gzip JSON
stays readable), the normalised tables (Parquet: subscriptions, nsgs,
rules) and ``meta.json`` with the SHA-256 of every other file. It is written under a temporary
name and renamed into place only when complete (``evidence.writing``), and never modified
afterwards. The snapshot's hash is the SHA-256 of its ``meta.json``, which pins every file.
This module reads and verifies them; it also exports the names of the modules it is built on.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from auditkit.errors import InputError
from auditkit.evidence.arm_pages import PREFIX as LAYER_PAGES
from auditkit.evidence.arm_pages import records_of_pages
from auditkit.evidence.arrow import JSON_COLUMNS, LIST_COLUMNS, TEXT_COLUMNS, from_arrow, to_arrow
from auditkit.evidence.codec import ZSTD_LEVEL, compress, decompress, json_bytes, pack_received, sha256_file
from auditkit.evidence.layout import FORMAT_VERSION, META, NAME_FORMAT, RECEIVED, SnapshotError, snapshot_name
from auditkit.evidence.records import parse_json, records_from, subscription_records_from, typed_records_from
from auditkit.evidence.writing import write_snapshot

__all__ = ["FORMAT_VERSION", "JSON_COLUMNS", "LIST_COLUMNS", "META", "NAME_FORMAT", "RECEIVED", "TEXT_COLUMNS",
           "ZSTD_LEVEL", "Snapshot", "SnapshotError", "Unreadable", "compress", "decompress", "from_arrow",
           "is_snapshot", "json_bytes", "latest", "list_snapshots", "open_snapshot", "pack_received", "parse_as_of",
           "scan_folder", "sha256_file", "snapshot_name", "to_arrow", "write_snapshot"]


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
        layer_pages: list = []  # ARM pages of the layers beyond Resource Graph: topology records
        for label, doc in self.received():
            where = f"{self.path / RECEIVED} ({label})"
            if name == "topology" and label.startswith(LAYER_PAGES):
                layer_pages.append((label, doc))
            elif label == name:
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
        return rows + records_of_pages(layer_pages)

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
