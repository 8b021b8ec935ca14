"""A snapshot of an incomplete input (--allow-partial) never reads as a whole tenant: the KPIs,
the scope block that opens every report and the provenance table name it."""

from __future__ import annotations

import json
from pathlib import Path

from auditkit.collect import collect_from_file
from auditkit.history.kpis import kpis
from auditkit.present import provenance, scope
from auditkit.present.context import load_context
from auditkit.settings import load_settings
from tests.builders import nsg, rule


def _snapshots(tmp_path: Path, last_partial: bool) -> Path:
    rows = [nsg(rule("smtp", 100, port="25"), name=f"n{i}") for i in range(2)]
    for month, envelope in ((1, {}), (2, {"skip_token": "ew0K", "total_records": 2500} if last_partial else {})):
        p = tmp_path / f"export-{month}.json"
        p.write_text(json.dumps({"count": 2, "data": rows, **envelope}))
        collect_from_file(p, snapshots_dir=tmp_path / "s", as_of=f"2026-0{month}-01", allow_partial=last_partial)
    return tmp_path / "s"


def test_kpis_and_reports_name_a_partial_snapshot(tmp_path: Path) -> None:
    snaps = _snapshots(tmp_path, last_partial=True)
    k = kpis(snaps, settings=load_settings())
    [p] = k["partial_snapshots"]
    assert p["records"] == 2 and p["total_records"] == 2500 and "skip_token is set" in p["reason"]
    assert k["latest_snapshot_partial"] is True
    ctx = load_context(str(snaps))
    opening = str(scope.block(ctx))
    assert "The latest snapshot is partial: this report covers part of the scope, not the whole tenant." in opening
    assert "holds 2 of 2500 records" in opening and "PARTIAL" in opening
    assert "holds 2 of 2500 records" in str(provenance.method(ctx))


def test_whole_snapshots_say_whole(tmp_path: Path) -> None:
    snaps = _snapshots(tmp_path, last_partial=False)
    k = kpis(snaps, settings=load_settings())
    assert k["partial_snapshots"] == [] and k["latest_snapshot_partial"] is False
    opening = str(scope.block(load_context(str(snaps))))
    assert "partial" not in opening.lower()
    assert "every snapshot used is a whole collection of its scope" in opening
