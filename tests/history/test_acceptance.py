"""Accepted risks evaluated as of each snapshot: out of the open count while in force, back to open the
day after expiry (the file's own checks: tests/settings/test_accepted_risks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auditkit.collect import Rows, snapshot_from_records
from auditkit.demo.estate import edge_network
from auditkit.history.kpis import kpis_of
from auditkit.history.timeline import load_history
from auditkit.settings import load_settings
from tests.evidence.test_verification import cli
from tests.settings.test_accepted_risks import ENTRY, SUB  # one accepted risk on the edge network


def folder(tmp_path: Path, entries: list) -> tuple[Path, Path]:
    """Settings with ``entries`` as exceptions, and snapshots of the edge network on Sep 1, Oct 1, Nov 1."""
    params = tmp_path / "parameters"
    params.mkdir(parents=True, exist_ok=True)
    (params / "audit.yaml").write_text("ports: [25, 22, 3389]\n")
    (params / "exceptions.yaml").write_text(yaml.safe_dump({"exceptions": entries}))
    snaps = tmp_path / "snaps"
    if not snaps.exists():
        nsgs, topo = edge_network(SUB)
        for m in (9, 10, 11):
            snapshot_from_records(Rows(nsgs, topology=topo), snapshots_dir=snaps,
                                  as_of=f"2026-{m:02d}-01T06:00:00Z")
    return params / "audit.yaml", snaps


def history(tmp_path: Path, entries: list):
    params, snaps = folder(tmp_path, entries)
    return load_history(snaps, settings=load_settings(params))


def status_of(h, nsg: str, rule: str, port: int = 25) -> str:
    f = h.findings
    row = f[(f["nsg_name"] == nsg) & (f["rule_name"] == rule) & (f["port"] == port)]
    assert len(row) == 1
    return row["status"].iloc[0]


@pytest.mark.slow(seconds=12)
def test_accepted_while_in_force_and_open_again_the_day_after_expiry(tmp_path: Path) -> None:
    base = kpis_of(history(tmp_path / "none", []))
    h = history(tmp_path / "a", [{**ENTRY, "expires": "2026-12-31"}])
    assert status_of(h, "nsg-mail-edge-subnet", "Allow-SMTP-To-Mail-Servers") == "accepted"
    k = kpis_of(h)
    assert k["accepted_findings"] == 1
    assert k["open_findings"]["25"] == base["open_findings"]["25"] - 1
    assert k["reachable_findings"]["25"] == base["reachable_findings"]["25"] - 1
    # Expired on Oct 15: accepted in the Oct 1 snapshot, open again in the Nov 1 snapshot.
    h = history(tmp_path / "b", [ENTRY])
    assert status_of(h, "nsg-mail-edge-subnet", "Allow-SMTP-To-Mail-Servers") == "open"
    t = h.timeline[h.timeline["port"] == 25].set_index("snapshot")
    assert list(t["accepted"]) == [1, 1, 0]
    assert (list(t["open"]) == [x - 1 for x in t["open"] + t["accepted"]][:2] +
        [t["open"].iloc[2]])
    k = kpis_of(h)
    assert k["accepted_findings"] == 0
    assert [e["ticket"] for e in k["expired_exceptions"]] == ["RISK-1"]
    # The expiry day itself is still covered.
    h = history(tmp_path / "c", [{**ENTRY, "expires": "2026-11-01"}])
    assert status_of(h, "nsg-mail-edge-subnet", "Allow-SMTP-To-Mail-Servers") == "accepted"


@pytest.mark.slow(seconds=13)
def test_wildcards_ports_and_widened_sources(tmp_path: Path) -> None:
    h = history(tmp_path / "w", [{**ENTRY, "nsg": f"/subscriptions/{SUB}/resourceGroups/rg-*/providers/"
                                  "Microsoft.Network/networkSecurityGroups/nsg-mail-*", "rule": "allow-s*",
                                  "port": "*", "expires": "2027-01-01"}])
    assert status_of(h, "nsg-mail-edge-subnet", "Allow-SMTP-To-Mail-Servers") == "accepted"
    assert status_of(h, "nsg-mail-edge-subnet", "Allow-SSH-Internet", 22) == "accepted"
    assert status_of(h, "nsg-mail-01-nic", "Allow-SMTP-Any") == "accepted"
    assert status_of(h, "nsg-relay-02-nic", "Allow-SMTP-Internet") == "open"  # another NSG name
    # max_sources: the rule's sources ("*") are wider than what was accepted.
    h = history(tmp_path / "m", [{**ENTRY, "expires": "2027-01-01", "max_sources": ["203.0.113.0/24"]}])
    assert status_of(h, "nsg-mail-edge-subnet", "Allow-SMTP-To-Mail-Servers") == "open"
    h = history(tmp_path / "n", [{**ENTRY, "expires": "2027-01-01", "max_sources": ["*", "Internet"]}])
    assert status_of(h, "nsg-mail-edge-subnet", "Allow-SMTP-To-Mail-Servers") == "accepted"


@pytest.mark.slow(seconds=5)
def test_unused_entries_are_listed(tmp_path: Path) -> None:
    k = kpis_of(history(tmp_path, [ENTRY, {**ENTRY, "rule": "No-Such-Rule", "ticket": "RISK-2"}]))
    assert [e["ticket"] for e in k["unused_exceptions"]] == ["RISK-2"]


@pytest.mark.slow(seconds=7)
def test_cli_reports_a_bad_exceptions_file_in_one_line(tmp_path: Path) -> None:
    params, snaps = folder(tmp_path, [{**ENTRY, "expires": "soon"}])
    r = cli("kpis", "--snapshots", str(snaps), "--parameters", str(params))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "entry 1" in r.stderr


def test_demo_accepts_its_mx_and_flags_what_expires(demo_snapshots: Path) -> None:
    from auditkit.demo.tenant import demo_parameters

    h = load_history(demo_snapshots, settings=load_settings(demo_parameters()))
    k = kpis_of(h)
    assert status_of(h, "nsg-mail-edge-subnet", "Allow-SMTP-To-Mail-Servers") == "accepted"
    assert status_of(h, "nsg-mail-01-nic", "Allow-SMTP-Any") == "accepted"  # expires 2026-11-20
    assert status_of(h, "nsg-relay-02-nic", "Allow-SMTP-Internet") == "open"  # expired 2026-08-31
    assert k["accepted_findings"] == 2
    assert [e["ticket"] for e in k["expired_exceptions"]] == ["RISK-2026-044"]
    assert k["unused_exceptions"] == []
