"""Derived tables per snapshot (findings, governance), cached beside the snapshots.

History reads many snapshots; re-evaluating each raw snapshot every time would be slow. The
cache lives in ``<snapshots>/.cache/`` (never inside a snapshot, which stays as collected), one
folder per snapshot and settings. A cache can make the kit faster, never different: each entry
records the hashes of its inputs (the snapshot's ``meta.json`` and the tables it was computed
from, the engine version, the ports, the settings) and of its own files, and is checked on every
read; an entry whose inputs, schema or files differ in any way is rebuilt from the snapshot.
The entry is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from auditkit.engine.admin_rules import admin_rules
from auditkit.engine.fields import lowered
from auditkit.engine.layer_coverage import COVERAGE_COLUMNS
from auditkit.engine.reachability import REACH_COLUMNS, reachable, unknown_exposure
from auditkit.engine.scan import TOPOLOGY_MISSING, layers_failed, scan
from auditkit.evidence.arrow import from_arrow, to_arrow
from auditkit.evidence.snapshot import Snapshot
from auditkit.history.distinct import Contents
from auditkit.history.tag_coverage import (
    GOVERNANCE_COLUMNS,
    coverage,
    governance,
    governance_of,
    with_documentation,
    with_rule_documentation,
)
from auditkit.settings import Settings

# Bump when the engine's verdicts or the derived tables change: old cache entries are then ignored.
ENGINE_VERSION = "8"  # 8: admin rules, firewall DNAT, App Gateway, IPv6 (findings carry ``layer``)
ENTRY_FORMAT = 4  # 3: tables sorted by subscription in small row groups; the subscriptions with findings
# 4: layers.parquet, the layers each subscription's verdicts rest on
# Rows per Parquet row group: a report reads its subscription's row groups only (the tables are
# sorted by subscription, so the row groups' min/max statistics skip the others).
ROW_GROUP = 4096
CACHE_DIR = ".cache"
ENTRY = "entry.json"
INPUTS = ("nsgs.parquet", "rules.parquet", "subscriptions.parquet")

FINDING_COLUMNS = ["nsg_key", "nsg_id", "subscription_id", "resource_group", "nsg_name", "rule_name", "priority",
                   "port", "protocol", "sources", "destination_ports", "attached", "severity", "description",
                   "attached_ids", "exposure", "exposure_note", "endpoints", "layer"]
# The latest snapshot's appendix: rules hidden by earlier Denies, broad-source rules, unreadable input.
SHADOWED_COLUMNS = [*FINDING_COLUMNS, "hidden_by"]
BROAD_COLUMNS = ["nsg_key", "nsg_id", "subscription_id", "resource_group", "nsg_name", "rule_name", "priority", "port",
                 "sources"]
ERROR_COLUMNS = ["subscription_id", "nsg_id", "rule_name", "field", "message"]
# What the internet reaches on each audited port, and the constructs effective exposure does not model.
UNMODELLED_COLUMNS = ["subscription_id", "resource_id", "type", "name", "what"]
SCHEMA = {"findings.parquet": FINDING_COLUMNS, "governance.parquet": GOVERNANCE_COLUMNS,
          "shadowed.parquet": SHADOWED_COLUMNS, "broad.parquet": BROAD_COLUMNS, "errors.parquet": ERROR_COLUMNS,
          "reach.parquet": REACH_COLUMNS, "unmodelled.parquet": UNMODELLED_COLUMNS,
          "layers.parquet": COVERAGE_COLUMNS}
LAZY = ("governance.parquet", "shadowed.parquet", "broad.parquet", "errors.parquet", "reach.parquet",
        "unmodelled.parquet", "layers.parquet")


class Derived:
    """What history needs from one snapshot; the other tables are parsed only when asked for."""

    def __init__(self, snapshot: Snapshot, findings: pd.DataFrame | bytes, tables: dict, coverage: dict,
                 parent: Derived | None = None, subscription: str | None = None,
                 finding_subscriptions: frozenset | None = None):
        self.snapshot = snapshot
        self._findings = findings  # a DataFrame, or its verified Parquet bytes (parsed when first read)
        self._tables = tables  # file name -> DataFrame, its verified Parquet bytes, or an Arrow table
        self.coverage = coverage
        self._parent, self._subscription = parent, subscription  # a restricted view reads through its parent
        self._finding_subscriptions = finding_subscriptions

    @property
    def findings(self) -> pd.DataFrame:
        """The snapshot's open-or-not findings (not shadowed), one row per (NSG, rule, port)."""
        if isinstance(self._findings, bytes):
            self._findings = from_arrow(pq.read_table(pa.BufferReader(self._findings)), arrow_strings=True)
        return self._findings

    def finding_columns(self, columns: list[str]) -> pd.DataFrame:
        """Only ``columns`` of the findings (history reads a few of every snapshot's)."""
        if isinstance(self._findings, bytes):
            return from_arrow(pq.read_table(pa.BufferReader(self._findings), columns=columns), arrow_strings=True)
        return self._findings[columns]

    def finding_rows(self, rows: np.ndarray) -> pd.DataFrame:
        """The findings at positions ``rows``, every column."""
        if isinstance(self._findings, bytes):
            table = pq.read_table(pa.BufferReader(self._findings))
            return from_arrow(table.take(pa.array(rows, pa.int64())), arrow_strings=True)
        return self._findings.iloc[rows].reset_index(drop=True)

    @property
    def finding_subscriptions(self) -> frozenset:
        """The subscriptions (lower-cased) with a finding in the whole snapshot, even in a restricted view."""
        if self._finding_subscriptions is None:
            self._finding_subscriptions = self._parent.finding_subscriptions if self._parent is not None else \
                frozenset(self.findings["subscription_id"].astype(str).str.lower().unique())
        return self._finding_subscriptions

    def table(self, name: str) -> pd.DataFrame:
        if name not in self._tables and self._parent is not None:
            frame = self._parent.table(name)
            self._tables[name] = frame[frame["subscription_id"] == self._subscription].reset_index(drop=True)
        value = self._tables[name]
        if isinstance(value, bytes):
            value = self._tables[name] = from_arrow(pq.read_table(pa.BufferReader(value)))
        elif isinstance(value, pa.Table):
            value = self._tables[name] = from_arrow(value)
        return value

    @property
    def changes(self) -> pd.DataFrame | None:
        """The snapshot's rule changes (resourcechanges), read once; None when it has none."""
        if self._parent is not None:
            return self._parent.changes
        if "changes" not in self._tables:
            has = isinstance(self.snapshot.meta.get("changes"), dict)
            self._tables["changes"] = self.snapshot.table("changes") if has else None
        return self._tables["changes"]

    @property
    def governance(self) -> pd.DataFrame:
        return self.table("governance.parquet")

    @property
    def shadowed(self) -> pd.DataFrame:
        return self.table("shadowed.parquet")

    @property
    def broad(self) -> pd.DataFrame:
        return self.table("broad.parquet")

    @property
    def errors(self) -> pd.DataFrame:
        return self.table("errors.parquet")

    @property
    def reach(self) -> pd.DataFrame:
        """Endpoint paths the internet reaches on the audited ports (empty without topology)."""
        return self.table("reach.parquet")

    @property
    def unmodelled(self) -> pd.DataFrame:
        """Azure Firewalls, Application Gateways, Bastions, NVA routes: present, not modelled."""
        return self.table("unmodelled.parquet")

    @property
    def layers(self) -> pd.DataFrame:
        """Per subscription and layer beyond NSGs: evaluated, not read or not in input (empty without topology)."""
        return self.table("layers.parquet")

    @property
    def has_topology(self) -> bool:
        return isinstance(self.snapshot.meta.get("topology"), dict)

    def restricted(self, subscription_id: str) -> Derived:
        """The same tables for one subscription only."""
        sid = subscription_id.lower()
        if self._subscription == sid:
            return self
        gov = self.table("governance.parquet")
        tables = {"governance.parquet": gov[gov["subscription_id"] == sid].reset_index(drop=True)}
        # The other tables are filtered when first asked for (most reports read them for the latest only).
        return Derived(self.snapshot, self.findings[self.findings["subscription_id"] == sid].reset_index(drop=True),
                       tables, coverage(tables["governance.parquet"]), parent=self, subscription=sid)


def by_subscription(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows grouped by subscription, in their order within each (a stable sort): the order the
    derived tables are kept in, so that one subscription's rows sit in a few row groups."""
    if len(frame) < 2:
        return frame.reset_index(drop=True)
    order = np.argsort(frame["subscription_id"].to_numpy(dtype=str), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def cache_key(snapshot: Snapshot, ports: tuple[int, ...], settings: Settings) -> str:
    text = f"{snapshot.hash}|{ENGINE_VERSION}|{','.join(map(str, ports))}|{settings.fingerprint}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _inputs(snapshot: Snapshot, ports: tuple[int, ...], settings: Settings) -> dict:
    """Everything an entry was computed from, as recorded in (and compared with) its entry.json."""
    return {"format": ENTRY_FORMAT, "engine": ENGINE_VERSION, "ports": list(ports), "settings": settings.fingerprint,
            "snapshot": snapshot.id, "snapshot_sha256": snapshot.hash,
            "tables": {rel: snapshot.file_hash(rel) for rel in input_files(snapshot)}}


def input_files(snapshot: Snapshot) -> tuple[str, ...]:
    """The snapshot files the derived tables are computed from: NSGs, rules, subscriptions and,
    when it has them, the topology tables."""
    return INPUTS + tuple(sorted(rel for rel in snapshot.meta.get("files", {})
                                 if rel.startswith("topo_") and rel.endswith(".parquet")))


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(nsg_key=lowered(frame["nsg_id"]),  # as the rules table keys NSGs (str.lower)
                        subscription_id=frame["subscription_id"].astype(str).str.lower())


def _compute(snapshot: Snapshot, ports: tuple[int, ...], settings: Settings,
             contents: Contents | None = None) -> Derived:
    """The derived tables of ``snapshot``; with ``contents``, each NSG content not seen before in this
    run is evaluated once (``history.distinct``), else the whole snapshot is scanned."""
    subs = snapshot.table("subscriptions")
    seen = contents.evaluate(snapshot) if contents is not None else None
    if seen is not None:
        found, broad_rules, errors, result = seen.findings, seen.broad, seen.errors, None
        found = unknown_exposure(found, TOPOLOGY_MISSING)
        gov = with_documentation(governance_of(seen.nsgs, seen.named, subs, snapshot.as_of, settings),
                                 seen.documentation)
    else:
        result = scan(snapshot, ports=ports, include_shadowed=True)
        found, broad_rules, errors = result.findings, result.broad, result.errors
        gov = with_rule_documentation(governance(result.nsgs, result.rules, subs, snapshot.as_of, settings),
                                      result.rules, settings)
    f = _keyed(found)
    hidden = f["shadowed"].to_numpy(dtype=bool)
    errors = errors.assign(subscription_id=errors["nsg_id"].astype(str).str.lower()
                           .str.extract(r"^/subscriptions/([^/]+)", expand=False).fillna(""))
    tables = {"governance.parquet": gov,
              "shadowed.parquet": f[hidden][SHADOWED_COLUMNS],
              "broad.parquet": _keyed(broad_rules)[BROAD_COLUMNS],
              "errors.parquet": errors[ERROR_COLUMNS].astype(str),
              "reach.parquet": _reach(result, ports, snapshot), "unmodelled.parquet": _unmodelled(result),
              "layers.parquet": _layers(result)}
    tables = {name: by_subscription(frame) for name, frame in tables.items()}
    return Derived(snapshot, by_subscription(f[~hidden][FINDING_COLUMNS]), tables, coverage(gov))


def _reach(result, ports: tuple[int, ...], snapshot: Snapshot) -> pd.DataFrame:
    if result is None or result.topology is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in REACH_COLUMNS})
    ep = result.topology.endpoint_table
    # The admin rules as the scan read them: a subscription whose rules were not read decides nothing.
    admin = admin_rules(result.topology, layers_failed(snapshot).get("admin-rule", frozenset()))
    frames = [reachable(result.parsed, result.topology, result.nsgs, p, ep, admin=admin) for p in ports]
    out = pd.concat(frames, ignore_index=True)[REACH_COLUMNS]
    out["subscription_id"] = out["subscription_id"].astype(str).str.lower()
    out["port"] = out["port"].astype("int64")
    return out.astype({c: object for c in REACH_COLUMNS if c != "port"}).reset_index(drop=True)


def _unmodelled(result) -> pd.DataFrame:
    if result is None or result.topology is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in UNMODELLED_COLUMNS})
    return result.topology["unmodelled"][UNMODELLED_COLUMNS].astype(object).reset_index(drop=True)


def _layers(result) -> pd.DataFrame:
    """The scan's layer coverage, subscriptions lower-cased; empty without topology (nothing beyond NSGs read)."""
    if result is None or result.topology is None or result.layers is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COVERAGE_COLUMNS})
    out = result.layers[COVERAGE_COLUMNS].copy()
    out["subscription_id"] = out["subscription_id"].astype(str).str.lower()
    out["records"] = out["records"].astype("int64")
    return out.astype({c: object for c in COVERAGE_COLUMNS if c != "records"}).reset_index(drop=True)


def derived(snapshot: Snapshot, ports: tuple[int, ...], settings: Settings, use_cache: bool = True,
            subscription: str | None = None, contents: Contents | None = None) -> Derived:
    """The derived tables of a snapshot, from a cache entry that checks out, else computed and cached.

    The snapshot's own tables are verified against its ``meta.json`` either way (unless the
    snapshot was opened without verification): a cache hit never hides a modified snapshot.
    With ``subscription``, only that subscription's rows are read from the entry (a report's
    cost then does not grow with the tenant). ``contents``, shared by the snapshots of one
    history, has each distinct NSG content evaluated once (see ``history.distinct``).
    """
    sid = subscription.lower() if subscription else None
    snapshot.check(input_files(snapshot))
    folder = snapshot.path.parent / CACHE_DIR / f"{snapshot.id}-{cache_key(snapshot, ports, settings)}"
    inputs = _inputs(snapshot, ports, settings)
    if use_cache:
        hit = _load(folder, snapshot, inputs, sid)
        if hit is not None:
            return hit
    d = _compute(snapshot, ports, settings, contents)
    if use_cache:
        stored = _store(folder, d, inputs)
        if stored is not None:  # read back from the entry when needed: history holds many snapshots
            d = Derived(snapshot, stored.pop("findings.parquet"), stored, d.coverage,
                        finding_subscriptions=d.finding_subscriptions)
    return d.restricted(sid) if sid else d


def _load(folder: Path, snapshot: Snapshot, inputs: dict, subscription: str | None = None) -> Derived | None:
    """The entry in ``folder`` if every recorded input, hash and column checks out; else None (rebuild).

    With ``subscription``, each table is read for that subscription only: the row groups whose
    statistics exclude it are skipped, the rest filtered in Arrow.
    """
    try:
        entry = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
        if not isinstance(entry, dict) or entry.get("inputs") != inputs:
            return None
        tables = {}
        for rel, columns in SCHEMA.items():
            data = (folder / rel).read_bytes()
            if hashlib.sha256(data).hexdigest() != entry["files"][rel]["sha256"]:
                return None
            if pq.read_schema(pa.BufferReader(data)).names != columns:
                return None
            tables[rel] = data
        subs = entry["finding_subscriptions"]
        if not isinstance(subs, list) or not all(isinstance(x, str) for x in subs):
            return None
        if subscription is None:
            findings = tables.pop("findings.parquet")  # parsed when first read: a saved history may not need it
            cov = entry["coverage"]
            if not isinstance(cov, dict):
                return None
            return Derived(snapshot, findings, tables, cov, finding_subscriptions=frozenset(subs))
        only = [("subscription_id", "=", subscription)]
        part = {rel: pq.read_table(pa.BufferReader(data),
                                   filters=only if pq.read_metadata(pa.BufferReader(data)).num_rows else None)
                for rel, data in tables.items()}
        findings = from_arrow(part.pop("findings.parquet"), arrow_strings=True)
        gov = from_arrow(part.pop("governance.parquet"))
        return Derived(snapshot, findings, {"governance.parquet": gov, **part}, coverage(gov),
                       subscription=subscription, finding_subscriptions=frozenset(subs))
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
        return None  # missing, damaged or foreign: rebuilt, never trusted


LEFTOVER_SECONDS = 86_400  # an entry is written in seconds: a temporary folder a day old is a killed write's


def remove_leftovers(cache: Path, now: float | None = None) -> list[Path]:
    """Remove the temporary folders that killed writes left in ``cache`` (a day old or more; a
    younger one may be another process's write in progress, on this machine or another)."""
    now = time.time() if now is None else now
    removed = []
    for p in cache.glob(".tmp-*"):
        try:
            if p.is_dir() and not p.is_symlink() and now - p.stat().st_mtime > LEFTOVER_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        except OSError:
            pass
    return removed


@contextmanager
def entry_writer(folder: Path) -> Iterator[Path]:
    """A temporary folder beside ``folder``, renamed to it when the block ends and removed if the
    block raises: an entry is there whole or not at all. Leftovers of killed writes go first."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(folder.parent)
    tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _store(folder: Path, d: Derived, inputs: dict) -> dict[str, bytes] | None:
    """Write ``d`` as the entry ``folder``; its tables' Parquet bytes, or None when it could not be written."""
    try:
        with entry_writer(folder) as tmp:
            pq.write_table(to_arrow(d.findings[FINDING_COLUMNS]), tmp / "findings.parquet", row_group_size=ROW_GROUP)
            for name in LAZY:
                pq.write_table(to_arrow(d.table(name)[SCHEMA[name]]), tmp / name, row_group_size=ROW_GROUP)
            data = {rel: (tmp / rel).read_bytes() for rel in SCHEMA}
            files = {rel: {"sha256": hashlib.sha256(data[rel]).hexdigest()} for rel in SCHEMA}
            (tmp / ENTRY).write_text(json.dumps({"inputs": inputs, "files": files, "coverage": d.coverage,
                                                 "finding_subscriptions": sorted(d.finding_subscriptions)}, indent=1),
                                     encoding="utf-8")
        return data
    except OSError:
        return None  # a read-only snapshot store still works, only slower: the cache is an optimisation
