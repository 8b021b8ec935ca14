"""``auditkit scan`` with effective exposure and ``auditkit reach``, as a user runs them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from auditkit.demo.estate import edge_network
from auditkit.demo.synthetic import DEMO_TENANT
from tests.test_cli_scan import run, write

SUB = "20000000-0000-4000-8000-000000000001"


def export(tmp_path: Path, with_topology: bool = True) -> Path:
    nsgs, topo = edge_network(SUB)
    return write(tmp_path, {"data": nsgs + (topo if with_topology else []), "count": 1, "tenant": DEMO_TENANT})


def test_scan_json_carries_exposure_severity_and_endpoints_worst_first(tmp_path: Path) -> None:
    r = run("scan", str(export(tmp_path)), "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    f = out["findings"]
    assert [x["severity"] for x in f] == sorted((x["severity"] for x in f),
                                                key=["critical", "high", "medium", "low"].index)
    mail = next(x for x in f if x["rule_name"] == "Allow-SMTP-Any")
    assert mail["exposure"] == "reachable"
    assert mail["severity"] == "critical"
    (e,) = mail["endpoints"]
    assert e["vm_name"] == "vm-mail-01"
    assert e["path"] == "load-balancer"
    assert e["public_ip"] == "20.60.0.10"
    assert set(e) == {"nic_id", "vm_id", "vm_name", "private_ip", "public_ip", "path", "frontend_port", "blocked_by",
                      "via", "subnet_nsg", "nic_nsg", "family", "admin_rule", "route"}
    assert (e["via"], e["subnet_nsg"], e["nic_nsg"]) == ("lb-mail-public/lbr-smtp", "nsg-mail-edge-subnet",
                                                        "nsg-mail-01-nic")
    relay = next(x for x in f if x["rule_name"] == "Allow-SMTP-Internet")
    assert relay["exposure"] == "blocked"
    assert relay["endpoints"][0]["blocked_by"] == "nsg-dmz-subnet: Deny-SMTP-Internet"
    assert out["summary"]["exposure"]["reachable"] == 5


def test_scan_table_and_csv(tmp_path: Path) -> None:
    r = run("scan", str(export(tmp_path)))
    lines = r.stdout.splitlines()
    assert "effective exposure: 5 reachable, 1 no public path, 2 blocked" in r.stdout
    assert lines[3].split()[:2] == ["critical", "reachable"]
    assert "vm-mail-01 via 20.60.0.10" in r.stdout
    r = run("scan", str(export(tmp_path)), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert json.loads(next(x for x in rows if x["rule_name"] == "Allow-SMTP-Any")["endpoints"])[0]["path"] \
        == "load-balancer"


def test_fail_on_takes_a_minimum_severity(tmp_path: Path) -> None:
    path = str(export(tmp_path))
    assert run("scan", path, "--fail-on", "critical").returncode == 1
    assert run("scan", path, "--ports", "587", "--fail-on", "low").returncode == 0
    nsgs_only = str(export(tmp_path / "..", with_topology=False))
    assert run("scan", nsgs_only, "--fail-on", "critical").returncode == 0  # unknown topology: high at most
    assert run("scan", nsgs_only, "--fail-on", "high").returncode == 1
    assert run("scan", path, "--no-exposure", "--fail-on", "critical").returncode == 0
    r = run("scan", path, "--fail-on", "severe")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1


def test_reach_table_json_csv(tmp_path: Path) -> None:
    path = str(export(tmp_path))
    r = run("reach", path, "--port", "25")
    assert r.returncode == 0, r.stderr
    assert "1 endpoint paths the internet reaches on TCP 25" in r.stdout
    assert "lb-mail-public/lbr-smtp" in r.stdout
    out = json.loads(run("reach", path, "--port", "3389", "--format", "json").stdout)
    (row,) = out["reachable"]
    assert (row["vm_name"], row["path"], row["frontend_port"], row["nic_rule"]) == \
        ("vmss-web (scale set)", "inbound-nat", "50100-50199", "Allow-RDP-Any")
    rows = list(csv.DictReader(io.StringIO(run("reach", path, "--port", "22", "--format", "csv").stdout)))
    assert [(x["vm_name"], x["frontend_port"]) for x in rows] == [("vm-mail-01", "50022")]
    assert "Nothing the internet reaches on TCP 8080" in run("reach", path, "--port", "8080").stdout


def test_reach_without_topology_is_one_line_exit_2(tmp_path: Path) -> None:
    r = run("reach", str(export(tmp_path, with_topology=False)))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "no topology" in r.stderr


def test_reach_of_one_page_is_refused_or_incomplete(tmp_path: Path) -> None:
    nsgs, topo = edge_network(SUB)
    path = str(write(tmp_path, {"data": nsgs + topo, "$skipToken": "ew0K", "totalRecords": 5000}))
    r = run("reach", path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert f"{path}: holds {len(nsgs + topo)} of 5000 records" in r.stderr
    r = run("reach", path, "--allow-partial", "--format", "json")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["partial"]["total_records"] == 5000
    assert "partial input, so this answer is incomplete" in r.stderr
