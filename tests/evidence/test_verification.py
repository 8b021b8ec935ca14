"""Read only evidence that is what it claims: every snapshot file is checked against meta.json
before use, by every command that reads one; unreadable snapshot folders are skipped and named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from auditkit.collect import Rows, snapshot_from_records
from tests.builders import nsg, rule


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditkit", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture()
def snaps(tmp_path: Path) -> Path:
    root = tmp_path / "snaps"
    for month in (9, 10):
        snapshot_from_records(Rows([nsg(rule("smtp")), nsg(rule("ssh", port="22"), name="nsg-2")]),
                              snapshots_dir=root, as_of=f"2026-{month:02d}-01T06:00:00Z")
    return root


def _tamper_table(path: Path) -> None:
    """Rewrite a Parquet table as a valid table with one row fewer (a plausible, silent edit)."""
    os.chmod(path, 0o644)
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path)


def _last(snaps: Path) -> Path:
    return sorted(p for p in snaps.iterdir() if not p.name.startswith("."))[-1]


@pytest.mark.slow(seconds=25)
@pytest.mark.parametrize("rel", ["rules.parquet", "nsgs.parquet", "subscriptions.parquet"])
def test_every_command_refuses_a_modified_snapshot_file(snaps: Path, rel: str, tmp_path: Path) -> None:
    assert cli("kpis", "--snapshots", str(snaps)).returncode == 0  # warms the derived cache
    target = _last(snaps) / rel
    _tamper_table(target)
    flows = tmp_path / "flows"
    flows.mkdir()
    for args in (["scan", str(_last(snaps))], ["kpis", "--snapshots", str(snaps)],
                 ["render", "--snapshots", str(snaps), "--out", str(tmp_path / "out")],
                 ["flows", str(flows), "--snapshot", str(snaps)]):
        r = cli(*args)
        if args[0] in ("scan", "flows") and rel == "subscriptions.parquet":
            assert r.returncode == 0  # scan and flows read only the NSG and rule tables
            continue
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert str(target) in r.stderr, r.stderr
        assert "SHA-256 differs from meta.json" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() or not any(p.name[:2] == "20" for p in (tmp_path / "out").iterdir())


def test_no_verify_reads_anyway_and_says_so(snaps: Path) -> None:
    _tamper_table(_last(snaps) / "rules.parquet")
    r = cli("kpis", "--snapshots", str(snaps), "--no-verify", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["snapshot_hashes_checked"] is False
    r = cli("kpis", "--snapshots", str(snaps), "--no-verify")
    assert "snapshot hashes not checked" in r.stdout
    assert cli("scan", str(_last(snaps)), "--no-verify").returncode == 0


def test_a_file_added_to_a_snapshot_is_not_read_silently(snaps: Path) -> None:
    from auditkit.evidence.snapshot import SnapshotError, open_snapshot

    snap = open_snapshot(_last(snaps))
    os.chmod(snap.path, 0o755)
    pq.write_table(pa.table({"x": [1]}), snap.path / "extra.parquet")
    with pytest.raises(SnapshotError, match="not listed in meta.json"):
        snap.table("extra")
    assert any("extra.parquet: not listed" in p for p in snap.verify())


@pytest.mark.parametrize("content,reason", [
    (b"{not json", "unreadable"),
    (b"[]", "expected an object"),
    (b'{"as_of": "yesterday", "files": {}}', "is not a time"),
    (b'{"as_of": "2026-11-01T06:00:00Z"}', "no table of file hashes"),
    (b'{"as_of": "2026-11-01T06:00:00", "files": {}}', "not a UTC time"),
    (b"", "unreadable"),
    (b"[" * 100000 + b"]" * 100000, "unreadable"),
])
def test_unreadable_meta_is_listed_and_skipped(snaps: Path, content: bytes, reason: str) -> None:
    bad = snaps / "2026-11-01T060000Z"
    bad.mkdir()
    (bad / "meta.json").write_bytes(content)
    r = cli("snapshots", "--snapshots", str(snaps))
    assert r.returncode == 1, r.stdout
    assert "2026-11-01T060000Z  UNREADABLE" in r.stdout, r.stdout
    assert reason in r.stdout, r.stdout
    assert r.stdout.count(" ok ") == 2
    r = cli("kpis", "--snapshots", str(snaps), "--format", "json")
    assert r.returncode == 0, r.stderr
    k = json.loads(r.stdout)
    assert k["snapshots"] == 2
    assert k["unreadable_snapshots"][0]["snapshot"] == "2026-11-01T060000Z"
    assert "snapshot folder 2026-11-01T060000Z skipped" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow(seconds=10)
def test_report_lists_skipped_folders_and_unchecked_hashes(snaps: Path, tmp_path: Path) -> None:
    bad = snaps / "2026-09-15T060000Z"
    bad.mkdir()
    (bad / "meta.json").write_text("{broken")
    r = cli("render", "--snapshots", str(snaps), "--out", str(tmp_path / "out"), "--no-verify", "--workers", "1",
            "--period", "2026-09")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "out" / "2026-09" / "index.html").read_text()
    assert "snapshot hashes not checked" in page
    assert "2026-09-15T060000Z" in page
    assert "unreadable" in page
    assert "snapshot folder 2026-09-15T060000Z skipped" in r.stderr
