"""A cache can make the kit faster, never different: every damaged, edited or foreign cache entry
is rebuilt from the (verified) snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from auditkit.collect import Rows, snapshot_from_records
from auditkit.history.cache import CACHE_DIR, ENTRY
from auditkit.history.kpis import kpis
from auditkit.settings import load_settings
from tests.builders import nsg, rule


@pytest.fixture()
def snaps(tmp_path: Path) -> Path:
    root = tmp_path / "snaps"
    snapshot_from_records(Rows([nsg(rule("smtp")), nsg(rule("ssh", port="22"), name="nsg-2")]),
                          snapshots_dir=root, as_of="2026-09-01T06:00:00Z")
    snapshot_from_records(Rows([nsg(rule("smtp"))]), snapshots_dir=root, as_of="2026-10-01T06:00:00Z")
    return root


def _entries(snaps: Path) -> list[Path]:
    """The per-snapshot entries (not the saved tenant histories, see ``history.saved``)."""
    return sorted(p for p in (snaps / CACHE_DIR).iterdir() if not p.name.startswith((".", "history-")))


def _fresh(snaps: Path) -> dict:
    return kpis(snaps, settings=load_settings())


def _drop_first_row(path: Path) -> None:
    pq.write_table(pq.read_table(path).slice(1), path)


def _set_hash(entry: Path, rel: str) -> None:
    import hashlib

    e = json.loads((entry / ENTRY).read_text())
    e["files"][rel]["sha256"] = hashlib.sha256((entry / rel).read_bytes()).hexdigest()
    (entry / ENTRY).write_text(json.dumps(e))


DAMAGE = {
    "emptied_findings": lambda e: (e / "findings.parquet").write_bytes(b""),
    "edited_findings": lambda e: _drop_first_row(e / "findings.parquet"),
    "truncated_governance": lambda e: (e / "governance.parquet").write_bytes(
        (e / "governance.parquet").read_bytes()[:100]),
    "wrong_schema": lambda e: (pq.write_table(pq.read_table(e / "findings.parquet").drop(["port"]),
                                              e / "findings.parquet"), _set_hash(e, "findings.parquet")),
    "entry_missing": lambda e: (e / ENTRY).unlink(),
    "entry_garbage": lambda e: (e / ENTRY).write_text("{"),
    "entry_other_engine": lambda e: (e / ENTRY).write_text(
        (e / ENTRY).read_text().replace('"engine": "', '"engine": "old-')),
    "entry_other_snapshot": lambda e: (e / ENTRY).write_text(
        json.dumps({**json.loads((e / ENTRY).read_text()),
                    "inputs": {**json.loads((e / ENTRY).read_text())["inputs"], "snapshot_sha256": "0" * 64}})),
    "coverage_not_object": lambda e: (e / ENTRY).write_text(
        json.dumps({**json.loads((e / ENTRY).read_text()), "coverage": [1, 2]})),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_cache_entry_is_rebuilt_and_results_are_the_same(snaps: Path, damage: str) -> None:
    reference = _fresh(snaps)
    for entry in _entries(snaps):
        DAMAGE[damage](entry)
    assert _fresh(snaps) == reference
    # And the rebuilt entries are whole again (a second read hits the cache and still agrees).
    assert all((e / ENTRY).is_file() for e in _entries(snaps))
    assert _fresh(snaps) == reference


def test_settings_change_selects_another_entry(snaps: Path) -> None:
    reference = _fresh(snaps)
    other = kpis(snaps, settings=load_settings(overrides={"tags": {"owner": {"keys": ["custodian"]}}}))
    assert len(_entries(snaps)) == 4  # one entry per snapshot and settings
    assert other["open_findings"] == reference["open_findings"]
    assert other["tag_coverage"]["owner"] == 0.0


def test_writes_killed_a_day_ago_are_swept_and_a_write_in_progress_is_not(snaps: Path) -> None:
    """A killed write leaves ``.tmp-*`` folders: the next write removes those a day old or more,
    never a younger one (another process's write in progress, maybe on another machine)."""
    import os
    import time

    reference = _fresh(snaps)
    cache = snaps / CACHE_DIR
    killed, live = cache / ".tmp-abc-999999", cache / ".tmp-history-def-999998"
    for folder in (killed, live):
        folder.mkdir()
        (folder / "findings.parquet").write_bytes(b"half")
    old = time.time() - 2 * 86_400
    os.utime(killed, (old, old))
    for entry in _entries(snaps):
        import shutil

        shutil.rmtree(entry)  # the next run writes again
    assert _fresh(snaps) == reference
    assert not killed.exists()
    assert live.is_dir()


def test_a_store_where_no_cache_can_be_written_still_works(snaps: Path) -> None:
    reference = _fresh(snaps)
    import shutil

    shutil.rmtree(snaps / CACHE_DIR)
    (snaps / CACHE_DIR).write_text("a file where the cache folder would go")  # (tests run as root: no chmod)
    assert _fresh(snaps) == reference
    assert (snaps / CACHE_DIR).is_file()


@pytest.mark.slow(seconds=40)
def test_one_subscription_read_from_its_partition_equals_the_tenant_history_restricted(demo_snapshots: Path,
                                                                                      tmp_path: Path) -> None:
    """A report reads only its subscription's rows of the derived cache: its history (findings,
    timeline, coverage, governance, latest tables) and the tenant's read status must be exactly
    those of the whole tenant's history computed afresh and restricted to it."""
    import shutil

    import pandas as pd

    from auditkit.demo.tenant import demo_parameters
    from auditkit.history.timeline import load_history
    from auditkit.present.context import load_context

    snaps = tmp_path / "snapshots"
    shutil.copytree(demo_snapshots, snaps, ignore=shutil.ignore_patterns(CACHE_DIR))
    settings = load_settings(demo_parameters())
    load_history(snaps, settings=settings)  # fill the cache: the reports read its partitions
    whole = load_history(snaps, settings=settings, use_cache=False)

    def same(a: pd.DataFrame, b: pd.DataFrame, obj: str) -> None:
        # Missing text is None when read back from Parquet and NaN when just computed: both "not set".
        a, b = (f.reset_index(drop=True).astype(object) for f in (a, b))
        pd.testing.assert_frame_equal(a.where(a.notna(), None), b.where(b.notna(), None), obj=obj)

    tenant = load_context(str(snaps), parameters=demo_parameters())
    subs = sorted(whole.subscriptions["subscription_id"])
    assert len(subs) >= 5
    # The subscription with most findings, one without any, and one more.
    counts = whole.findings["subscription_id"].value_counts()
    for sid in sorted({counts.index[0], *(set(subs) - set(counts.index)), subs[0]}):
        expect = whole.for_subscription(sid)
        got = load_history(snaps, settings=settings, subscription=sid)
        assert got.scope == frozenset({sid})
        for name in ("findings", "timeline", "coverage", "governance", "snapshots", "subscriptions"):
            same(getattr(got, name), getattr(expect, name), f"{sid} {name}")
        for table in ("shadowed", "broad", "errors", "reach", "unmodelled"):
            same(getattr(got.latest, table), getattr(expect.latest, table), f"{sid} latest {table}")
        ctx = load_context(str(snaps), parameters=demo_parameters(), subscription=sid)
        same(ctx.subscriptions, tenant.subscriptions, f"{sid} tenant read status")
        assert ctx.scoped(sid) is ctx.history


@pytest.fixture()
def demo_copy(demo_snapshots: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The demo's snapshots (topology, changes, accepted risks) and its settings, in a folder of their own."""
    import shutil

    from auditkit.demo.tenant import demo_parameters

    root = tmp_path / "snaps"
    shutil.copytree(demo_snapshots, root, ignore=shutil.ignore_patterns(CACHE_DIR))
    params = tmp_path / "params"
    shutil.copytree(Path(demo_parameters()).parent, params, ignore=shutil.ignore_patterns("samples"))
    return root, params / Path(demo_parameters()).name


def _same_history(a, b) -> None:
    import pandas as pd

    from auditkit.history.saved import FRAMES

    def plain(frame: pd.DataFrame) -> pd.DataFrame:  # a missing value is missing, whichever dtype holds it
        return frame.astype(object).where(frame.notna(), None)

    for name in [*FRAMES, "governance"]:
        pd.testing.assert_frame_equal(plain(getattr(a, name)), plain(getattr(b, name)), obj=name)


@pytest.mark.slow(seconds=20)
def test_a_saved_history_is_the_history_built_again(demo_copy) -> None:
    from auditkit.history.kpis import kpis_of
    from auditkit.history.saved import PREFIX
    from auditkit.history.timeline import load_history

    root, params = demo_copy
    settings = load_settings(params)
    built = load_history(root, settings=settings)  # builds, then saves
    [entry] = (root / CACHE_DIR).glob(f"{PREFIX}*")
    again = load_history(root, settings=settings)  # read back
    fresh = load_history(root, settings=settings, use_cache=False)
    assert len(fresh.findings)
    assert (fresh.findings["acceptance"].notna()).any()  # accepted risks are in it
    _same_history(fresh, again)
    _same_history(built, again)
    assert kpis_of(again) == kpis_of(fresh)
    # A damaged or edited saved history is never used: built again, and the same.
    for damage in (lambda e: _drop_first_row(e / "findings.parquet"),
                   lambda e: (e / "timeline.parquet").write_bytes(b"PAR1"),
                   lambda e: (e / "entry.json").write_text("{")):
        damage(entry)
        _same_history(fresh, load_history(root, settings=settings))


@pytest.mark.slow(seconds=14)
def test_a_saved_history_follows_its_accepted_risks_and_snapshots(demo_copy) -> None:
    from auditkit.history.kpis import kpis_of
    from auditkit.history.timeline import load_history

    root, params = demo_copy
    settings = load_settings(params)
    before = kpis_of(load_history(root, settings=settings))
    assert before["accepted_findings"] > 0
    (params.parent / "exceptions.yaml").write_text("exceptions: []\n")
    after = kpis_of(load_history(root, settings=settings))
    assert after["accepted_findings"] == 0
    assert after == kpis_of(load_history(root, settings=settings, use_cache=False))
    # A snapshot folder that became unreadable is a different run of snapshots, never the saved one.
    latest = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))[-1]
    (latest / "meta.json").write_text("{")
    shorter = kpis_of(load_history(root, settings=settings))
    assert shorter["unreadable_snapshots"]
    assert shorter["snapshots"] == before["snapshots"] - 1
