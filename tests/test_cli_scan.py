"""``auditkit scan`` as a user runs it: a real subprocess, real files, exit codes and formats."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import nsg, rule

SAMPLE = Path(__file__).resolve().parents[1] / "auditkit" / "demo" / "samples" / "tenant.json"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditkit", *args], capture_output=True, text=True, timeout=120)


def write(tmp_path: Path, obj) -> Path:
    p = tmp_path / "export.json"
    p.write_text(json.dumps(obj))
    return p


def test_json_output_shape_on_sample() -> None:
    r = run("scan", str(SAMPLE), "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"findings", "errors", "summary"}
    required = {"subscription_id", "resource_group", "nsg_id", "nsg_name", "rule_name", "priority", "port",
                "protocol", "sources", "attached", "severity", "shadowed"}
    assert out["findings"]
    assert all(required <= set(f) for f in out["findings"])
    assert all(f["shadowed"] is False for f in out["findings"])
    s = out["summary"]
    assert {"nsgs", "rules", "findings", "per_port"} <= set(s)
    assert s["nsgs"] == 7
    assert s["findings"] == 4
    assert s["per_port"] == {"25": 2, "22": 1, "3389": 1}
    assert out["errors"][0]["field"] == "destinationPortRange"
    assert out["errors"][0]["rule_name"] == "Allow-Mail-Typo"
    assert "1 input errors" in r.stderr


def test_include_shadowed_and_ports(tmp_path: Path) -> None:
    p = write(tmp_path, [nsg(rule("d", 100, access="Deny", src="Internet"), rule("a", 200), rule("s", 300, port="587"))])
    assert json.loads(run("scan", str(p), "--format", "json").stdout)["findings"] == []
    out = json.loads(run("scan", str(p), "--format", "json", "--include-shadowed").stdout)
    assert [(f["rule_name"], f["shadowed"]) for f in out["findings"]] == [("a", True)]
    out = json.loads(run("scan", str(p), "--format", "json", "--ports", "587").stdout)
    assert [(f["rule_name"], f["port"]) for f in out["findings"]] == [("s", 587)]


def test_fail_on_findings_exit_code(tmp_path: Path) -> None:
    exposed = write(tmp_path, [nsg(rule("a"))])
    assert run("scan", str(exposed)).returncode == 0
    assert run("scan", str(exposed), "--fail-on-findings").returncode == 1
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps([nsg(rule("a", src="10.0.0.0/8"))]))
    assert run("scan", str(clean), "--fail-on-findings").returncode == 0


@pytest.mark.parametrize("content", ["{oops", "[1, 2", '{"unexpected": true}'])
def test_bad_input_exit_2_one_line(tmp_path: Path, content: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    r = run("scan", str(p))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(p) in lines[0]
    assert "Traceback" not in r.stderr


def test_unreadable_path_exit_2(tmp_path: Path) -> None:
    r = run("scan", str(tmp_path / "missing.json"))
    assert r.returncode == 2
    assert "cannot read" in r.stderr


def test_bad_ports_option_is_usage_error(tmp_path: Path) -> None:
    r = run("scan", str(SAMPLE), "--ports", "25,smtp")
    assert r.returncode == 2
    assert "smtp" in r.stderr


def test_csv_neutralises_formulas(tmp_path: Path) -> None:
    evil = [rule("=HYPERLINK(\"http://x\")", 100, description="+cmd|' /C calc'!A0"),
            rule("@SUM(1)", 110), rule("-2+3", 120), rule("safe", 130)]
    p = write(tmp_path, [nsg(*evil, tags={"owner": "=1+1"})])
    out = tmp_path / "f.csv"
    r = run("scan", str(p), "--format", "csv", "-o", str(out))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 4
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value
    names = {row["rule_name"] for row in rows}
    assert "'=HYPERLINK(\"http://x\")" in names
    assert "'@SUM(1)" in names
    assert "'-2+3" in names
    assert "safe" in names
    assert {row["description"] for row in rows} >= {"'+cmd|' /C calc'!A0"}


def test_table_output_is_readable(tmp_path: Path) -> None:
    r = run("scan", str(SAMPLE))
    assert r.returncode == 0
    assert "Allow-SMTP-Any" in r.stdout
    assert "latent" in r.stdout
    assert "7 NSGs" in r.stdout


def test_table_output_shows_control_characters_escaped(tmp_path: Path) -> None:
    p = write(tmp_path, [nsg(rule("evil\x1b[31mred"))])
    r = run("scan", str(p))
    assert "\x1b" not in r.stdout
    assert "\\x1b" in r.stdout


def test_output_file_written_whole(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    r = run("scan", str(SAMPLE), "--format", "json", "-o", str(out))
    assert r.returncode == 0
    assert r.stdout == ""
    assert json.loads(out.read_text())["summary"]["findings"] == 4
    assert not list(tmp_path.glob(".*.tmp"))


PAGE = {"count": 1, "data": [nsg(rule("smtp", 100, port="25"))], "skip_token": "ew0KICAiJGlkIjogIjEi", "total_records": 2500}


def test_an_export_of_one_page_is_refused_in_one_line(tmp_path: Path) -> None:
    p = write(tmp_path, PAGE)
    for args in (("scan", str(p)), ("collect", "--from-file", str(p), "--snapshots", str(tmp_path / "s"))):
        r = run(*args)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and not r.stdout
        assert f"{p}: holds 1 of 2500 records (az graph query returned one page: skip_token is set)" in r.stderr
        assert "--allow-partial" in r.stderr
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


def test_allow_partial_says_so_in_the_json_and_on_stderr(tmp_path: Path) -> None:
    p = write(tmp_path, PAGE)
    r = run("scan", str(p), "--allow-partial", "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["partial"] == {"reason": "az graph query returned one page: skip_token is set", "records": 1,
                              "total_records": 2500}
    assert len(out["findings"]) == 1
    assert r.stderr.count("\n") == 1 and "warning:" in r.stderr and "holds 1 of 2500 records" in r.stderr
    assert json.loads(run("scan", str(SAMPLE), "--format", "json").stdout)["partial"] is None


def test_a_partial_snapshot_stays_partial(tmp_path: Path) -> None:
    p = write(tmp_path, PAGE)
    snaps = tmp_path / "s"
    r = run("collect", "--from-file", str(p), "--snapshots", str(snaps), "--allow-partial")
    assert r.returncode == 0, r.stderr
    assert "partial snapshot: holds 1 of 2500 records" in r.stderr
    (snap,) = snaps.iterdir()
    listed = run("snapshots", "--snapshots", str(snaps))
    assert "PARTIAL" in listed.stdout and "holds 1 of 2500 records" in listed.stdout
    r = run("scan", str(snap), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["partial"]["total_records"] == 2500
    assert "partial input" in r.stderr
