"""Derived tables per snapshot (findings, governance), cached beside the snapshots.

History reads many snapshots; re-evaluating each raw snapshot every time would be slow. The
cache lives in ``<snapshots>/.cache/`` (never inside a snapshot, which stays as collected), one
folder per snapshot keyed by the snapshot's hash, the engine version, the audited ports and the
settings. It can be deleted at any time and is rebuilt on demand, written then renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from auditkit.engine.scan import scan
from auditkit.evidence.snapshot import Snapshot, from_arrow, to_arrow
from auditkit.history.tag_coverage import coverage, governance, with_rule_documentation
from auditkit.settings import Settings

# Bump when the engine's verdicts or the derived tables change: old cache entries are then ignored.
ENGINE_VERSION = "3"
CACHE_DIR = ".cache"

FINDING_COLUMNS = ["nsg_key", "nsg_id", "subscription_id", "resource_group", "nsg_name", "rule_name", "priority",
                   "port", "protocol", "sources", "destination_ports", "attached", "severity", "description"]


class Derived:
    """What history needs from one snapshot; the governance table is read only when asked for."""

    def __init__(self, snapshot: Snapshot, findings: pd.DataFrame, governance: pd.DataFrame | Path,
                 coverage: dict):
        self.snapshot = snapshot
        self.findings = findings
        self._governance = governance
        self.coverage = coverage

    @property
    def governance(self) -> pd.DataFrame:
        if isinstance(self._governance, Path):
            self._governance = from_arrow(pq.read_table(self._governance))
        return self._governance


def cache_key(snapshot: Snapshot, ports: tuple[int, ...], settings: Settings) -> str:
    text = f"{snapshot.hash}|{ENGINE_VERSION}|{','.join(map(str, ports))}|{settings.fingerprint}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _compute(snapshot: Snapshot, ports: tuple[int, ...], settings: Settings) -> Derived:
    result = scan(snapshot, ports=ports)
    f = result.findings
    f = f.assign(nsg_key=f["nsg_id"].astype(str).str.lower(), subscription_id=f["subscription_id"].astype(str).str.lower())
    subs = snapshot.table("subscriptions")
    gov = with_rule_documentation(governance(result.nsgs, result.rules, subs, snapshot.as_of, settings),
                                  result.rules, settings)
    return Derived(snapshot, f[FINDING_COLUMNS].reset_index(drop=True), gov, coverage(gov))


def derived(snapshot: Snapshot, ports: tuple[int, ...], settings: Settings, use_cache: bool = True) -> Derived:
    """The derived tables of a snapshot, from the cache when present, else computed and cached."""
    folder = snapshot.path.parent / CACHE_DIR / f"{snapshot.id}-{cache_key(snapshot, ports, settings)}"
    if use_cache and (folder / "coverage.json").is_file():
        try:
            return Derived(snapshot, from_arrow(pq.read_table(folder / "findings.parquet"), arrow_strings=True),
                           folder / "governance.parquet", json.loads((folder / "coverage.json").read_text()))
        except Exception:  # noqa: BLE001 - a damaged cache entry is rebuilt, never trusted
            shutil.rmtree(folder, ignore_errors=True)
    d = _compute(snapshot, ports, settings)
    if use_cache:
        _store(folder, d)
    return d


def _store(folder: Path, d: Derived) -> None:
    tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        pq.write_table(to_arrow(d.findings), tmp / "findings.parquet")
        pq.write_table(to_arrow(d.governance), tmp / "governance.parquet")
        (tmp / "coverage.json").write_text(json.dumps(d.coverage))
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    except OSError:
        # A read-only snapshot store still works, only slower: the cache is an optimisation.
        shutil.rmtree(tmp, ignore_errors=True)
