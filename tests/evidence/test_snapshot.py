"""Offline import: an export becomes a snapshot exactly like a live one; scan reads snapshots."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import auditkit
from auditkit.evidence.snapshot import decompress, list_snapshots, open_snapshot
from tests.builders import nsg, rule

SAMPLE = Path(__file__).resolve().parents[2] / "auditkit" / "demo" / "samples" / "tenant.json"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditkit", *args], capture_output=True, text=True, timeout=120)


def test_from_file_snapshot_has_live_layout(tmp_path: Path) -> None:
    r = cli("collect", "--from-file", str(SAMPLE), "--as-of", "2026-09-01", "--snapshots", str(tmp_path))
    assert r.returncode == 0, r.stderr
    snap = open_snapshot(tmp_path / "2026-09-01T000000Z")
    assert set(snap.meta["files"]) == {"raw/received.zst", "nsgs.parquet", "rules.parquet", "subscriptions.parquet"}
    assert snap.meta["source"]["kind"] == "file"
    assert len(snap.meta["source"]["sha256"]) == 64
    # The export is kept byte for byte (zstd), and its hash is that of the file imported.
    assert decompress((tmp_path / "2026-09-01T000000Z" / "raw" / "received.zst").read_bytes()) == SAMPLE.read_bytes()
    assert snap.meta["received"][0]["sha256"] == snap.meta["source"]["sha256"] == \
        hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert snap.meta["as_of"] == "2026-09-01T00:00:00Z"
    assert snap.verify() == []
    assert sorted(snap.collected) == ["0b3f7e2a-5c1d-4e8f-9a6b-1c2d3e4f5a6b", "7d9e1f20-3a4b-4c5d-8e6f-a1b2c3d4e5f6"]
    assert snap.raw("nsgs") == json.loads(SAMPLE.read_text())["data"]
    assert "sha256" in r.stdout


def test_scan_of_snapshot_equals_scan_of_export(tmp_path: Path) -> None:
    cli("collect", "--from-file", str(SAMPLE), "--as-of", "2026-09-01", "--snapshots", str(tmp_path))
    a = auditkit.scan(SAMPLE, include_shadowed=True)
    b = auditkit.scan(tmp_path / "2026-09-01T000000Z", include_shadowed=True)
    cols = ["nsg_id", "rule_name", "port", "shadowed", "severity", "sources", "attached", "priority"]
    assert a.findings[cols].astype(str).values.tolist() == b.findings[cols].astype(str).values.tolist()
    assert a.errors.values.tolist() == b.errors.values.tolist()
    assert a.summary() == b.summary()
    r = cli("scan", str(tmp_path / "2026-09-01T000000Z"), "--format", "json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["summary"]["findings"] == 4


def test_declared_subscriptions_count_as_collected(tmp_path: Path) -> None:
    export = tmp_path / "e.json"
    export.write_text(json.dumps({"value": [nsg(rule("a"))]}))
    from auditkit.collect import collect_from_file

    path = collect_from_file(export, snapshots_dir=tmp_path / "s", as_of="2026-10-01",
                             subscriptions=["11111111-1111-4111-8111-111111111111"])
    assert "11111111-1111-4111-8111-111111111111" in open_snapshot(path).collected


def test_snapshots_are_never_overwritten_and_listed_in_order(tmp_path: Path) -> None:
    for day in ("2026-10-01", "2026-08-01", "2026-09-01"):
        assert cli("collect", "--from-file", str(SAMPLE), "--as-of", day, "--snapshots", str(tmp_path)).returncode == 0
    again = cli("collect", "--from-file", str(SAMPLE), "--as-of", "2026-09-01", "--snapshots", str(tmp_path))
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert [s.id for s in list_snapshots(tmp_path)] == ["2026-08-01T000000Z", "2026-09-01T000000Z",
                                                        "2026-10-01T000000Z"]
    listing = cli("snapshots", "--snapshots", str(tmp_path))
    assert listing.returncode == 0
    assert listing.stdout.count(" ok ") == 3


def test_bad_as_of_is_one_line_error(tmp_path: Path) -> None:
    r = cli("collect", "--from-file", str(SAMPLE), "--as-of", "last tuesday", "--snapshots", str(tmp_path))
    assert r.returncode == 2
    assert "as-of" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_not_a_snapshot_directory(tmp_path: Path) -> None:
    r = cli("scan", str(tmp_path))
    assert r.returncode == 2
    assert "not a snapshot" in r.stderr


@pytest.mark.parametrize("bad", ["{", "[1,", '{"x": 1}'])
def test_from_file_bad_export(tmp_path: Path, bad: str) -> None:
    export = tmp_path / "bad.json"
    export.write_text(bad)
    r = cli("collect", "--from-file", str(export), "--snapshots", str(tmp_path / "s"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "s").exists() or list_snapshots(tmp_path / "s") == []


def _rehash(snap_dir: Path, meta: dict) -> None:
    """Rewrite ``meta.json`` with the hashes of the files now in ``snap_dir`` (building old layouts)."""
    meta["files"] = {p.relative_to(snap_dir).as_posix(): {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                                                          "size": p.stat().st_size}
                     for p in sorted(snap_dir.rglob("*")) if p.is_file() and p.name != "meta.json"}
    (snap_dir / "meta.json").chmod(0o644)
    (snap_dir / "meta.json").write_text(json.dumps(meta))


def test_older_gzip_raw_evidence_stays_readable(tmp_path: Path) -> None:
    import gzip

    cli("collect", "--from-file", str(SAMPLE), "--as-of", "2026-09-01", "--snapshots", str(tmp_path))
    snap_dir = tmp_path / "2026-09-01T000000Z"
    meta = json.loads((snap_dir / "meta.json").read_text())
    rows = json.loads(SAMPLE.read_text())["data"]
    (snap_dir / "raw").chmod(0o755)
    (snap_dir / "raw" / "received.zst").chmod(0o644)
    (snap_dir / "raw" / "received.zst").unlink()
    del meta["received"]
    (snap_dir / "raw" / "nsgs.json.gz").write_bytes(gzip.compress(json.dumps(rows).encode()))
    _rehash(snap_dir, meta)
    snap = open_snapshot(snap_dir)
    assert snap.verify() == []
    assert snap.raw("nsgs") == rows


def test_a_received_document_that_differs_from_its_hash_is_refused(tmp_path: Path) -> None:
    from auditkit.evidence.snapshot import SnapshotError, compress

    cli("collect", "--from-file", str(SAMPLE), "--as-of", "2026-09-01", "--snapshots", str(tmp_path))
    snap_dir = tmp_path / "2026-09-01T000000Z"
    meta = json.loads((snap_dir / "meta.json").read_text())
    target = snap_dir / "raw" / "received.zst"
    target.chmod(0o644)
    # Rewritten with a consistent file hash, but the export inside is not the one received.
    target.write_bytes(compress(SAMPLE.read_bytes().replace(b"Allow", b"Deny_", 1)))
    _rehash(snap_dir, meta)
    with pytest.raises(SnapshotError, match="differs from the SHA-256"):
        open_snapshot(snap_dir).raw("nsgs")
