"""``auditkit export``: stable ids a ticketing system can upsert; OCSF Detection Findings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from auditkit.collect import Rows, snapshot_from_records
from auditkit.demo.synthetic import nsg_record, security_rule
from auditkit.present.tickets import finding_id
from tests.evidence.test_verification import cli

SUB = "50000000-0000-4000-8000-000000000001"
OCSF_REQUIRED = {"activity_id", "category_uid", "class_uid", "metadata", "severity_id", "time", "type_uid",
                 "finding_info", "cloud"}


def nsgs(with_smtp: bool, hostile: str = "=HYPERLINK(\"http://x\")") -> list[dict]:
    rules = [security_rule("x", "Allow-RDP", 100, "Allow", "Tcp", ["*"], ["3389"], ["*"], description=hostile)]
    if with_smtp:
        rules.append(security_rule("x", "Allow-SMTP", 110, "Allow", "Tcp", ["Internet"], ["25"], ["*"]))
    return [nsg_record(SUB, "rg-a", "nsg-a", rules)]


def export(snaps: Path, fmt: str, *extra: str) -> str:
    r = cli("export", "--snapshots", str(snaps), "--format", fmt, *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_ids_are_stable_and_a_fixed_finding_comes_back_resolved(tmp_path: Path) -> None:
    snaps = tmp_path / "snaps"
    snapshot_from_records(Rows(nsgs(True)), snapshots_dir=snaps, as_of="2026-09-01T06:00:00Z")
    first = {r["id"]: r for r in json.loads(export(snaps, "json"))["findings"]}
    nsg_id = f"/subscriptions/{SUB}/resourceGroups/rg-a/providers/Microsoft.Network/networkSecurityGroups/nsg-a"
    smtp = finding_id(nsg_id, "Allow-SMTP", 25)
    assert smtp == finding_id(nsg_id.upper(), "Allow-SMTP", 25)
    assert smtp in first
    assert {r["status"] for r in first.values()} == {"open"}
    assert first[smtp]["report"].endswith(f"/{SUB}.html#findings")
    assert ("az network nsg rule update" in
        first[smtp]["remediation"])
    snapshot_from_records(Rows(nsgs(False)), snapshots_dir=snaps, as_of="2026-10-01T06:00:00Z")
    second = {r["id"]: r for r in json.loads(export(snaps, "json"))["findings"]}
    assert set(second) == set(first)  # the same tickets, updated
    assert second[smtp]["status"] == "resolved"
    assert second[smtp]["resolved_at"] == "2026-10-01T06:00:00Z"
    assert second[smtp]["remediation"] is None
    # Resolved before the --since period: no longer listed.
    later = {r["id"] for r in json.loads(export(snaps, "json", "--since", "2026-10"))["findings"]}
    assert smtp not in later


def test_ocsf_detection_findings_carry_the_required_attributes(tmp_path: Path) -> None:
    snaps = tmp_path / "snaps"
    snapshot_from_records(Rows(nsgs(True)), snapshots_dir=snaps, as_of="2026-09-01T06:00:00Z")
    snapshot_from_records(Rows(nsgs(False)), snapshots_dir=snaps, as_of="2026-10-01T06:00:00Z")
    out = json.loads(export(snaps, "ocsf"))
    assert out["ocsf_version"] == "1.8.0"
    for f in out["findings"]:
        assert OCSF_REQUIRED <= set(f)
        assert f["class_uid"] == 2004
        assert f["category_uid"] == 2
        assert f["type_uid"] == 200400 + f["activity_id"]
        assert f["metadata"]["version"] == "1.8.0"
        assert f["metadata"]["product"]["name"] == "auditkit"
        assert f["finding_info"]["uid"] == f["metadata"]["uid"]
        assert f["cloud"]["provider"] == "Azure"
        assert f["cloud"]["account"]["uid"] == SUB
    by_status = {f["unmapped"]["auditkit_status"]: f for f in out["findings"]}
    assert (by_status["resolved"]["status_id"], by_status["resolved"]["activity_id"]) == (4, 3)
    assert (by_status["open"]["status_id"], by_status["open"]["severity"]) == (1, "High")


def test_csv_cells_stay_text_in_a_spreadsheet(tmp_path: Path) -> None:
    snaps = tmp_path / "snaps"
    snapshot_from_records(Rows(nsgs(True, hostile="owner==@SUM(1+1)")), snapshots_dir=snaps,
                          as_of="2026-09-01T06:00:00Z")
    rows = list(csv.DictReader(io.StringIO(export(snaps, "csv"))))
    assert len(rows) == 2
    assert all(len(r["id"]) == 32 for r in rows)
    assert not any(v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())


@pytest.mark.slow(seconds=7)
def test_demo_export_lists_accepted_risks_with_their_ticket(demo_snapshots: Path) -> None:
    from auditkit.demo.tenant import demo_parameters

    recs = json.loads(export(demo_snapshots, "json", "--parameters", demo_parameters()))["findings"]
    accepted = [r for r in recs if r["status"] == "accepted"]
    assert {r["accepted_ticket"] for r in accepted} == {"RISK-2025-117", "CHG-2026-311"}
    assert all(r["remediation"] is None for r in accepted)
    assert len({r["id"] for r in recs}) == len(recs)
