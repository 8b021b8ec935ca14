"""Benchmark: the storage-URL path layer against Azurite (the local Blob Storage emulator).

    AZURITE_BLOB=.ci/azurite/node_modules/.bin/azurite-blob python benchmarks/bench_storage.py [--reports 1000]

Measures, on one machine (so the network is loopback: what remains is the kit's own cost and
the HTTP round trips): publishing a period of N reports of --assets shared size (about 130 KB
each, plotly.js once) through the journal, publishing it again over itself, staging the demo
tenant's snapshots cold and warm, and uploading a snapshot with ``exclusive`` (If-None-Match
per blob). Azure adds its own latency per request; the request counts are printed so they can
be multiplied by it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.storage_emulator import BIN, connection_string  # noqa: E402


def _azurite(folder: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([BIN, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
                             "--skipApiVersionCheck", "--silent", "--loose"], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    return proc, f"http://127.0.0.1:{port}/devstoreaccount1"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=1000)
    ap.add_argument("--report-kb", type=int, default=130)
    args = ap.parse_args()
    if not BIN:
        sys.exit("Azurite is not installed (npm install azurite, or set AZURITE_BLOB)")
    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    proc, endpoint = _azurite(work)
    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = connection_string(endpoint)
    os.environ["AUDITKIT_STAGING"] = str(work / "staging")
    try:
        from auditkit.demo.tenant import build_snapshots
        from auditkit.evidence.storage import filesystem, stage, upload
        from auditkit.render.publish import publish, remote_lock

        fs, _ = filesystem("abfs://bench")
        fs.mkdir("bench")
        period = work / "period"
        (period / "assets").mkdir(parents=True)
        (period / "assets" / "plotly.min.js").write_bytes(os.urandom(3_600_000))
        body = os.urandom(args.report_kb * 1024)
        for i in range(args.reports):
            (period / f"{i:08x}-0000-0000-0000-000000000000.html").write_bytes(body)
        (period / "manifest.json").write_text("{}")
        size = sum(p.stat().st_size for p in period.rglob("*") if p.is_file())
        for label in ("publish (new period)", "publish (over the previous one)"):
            t = time.perf_counter()
            with remote_lock("abfs://bench/reports", "2026-10"):
                publish(period, "abfs://bench/reports", "2026-10")
            dt = time.perf_counter() - t
            print(f"{label}: {args.reports + 2} files, {size / 1e6:.0f} MB: {dt:.1f} s "
                  f"({(args.reports + 2) / dt:.0f} files/s)")

        snaps = work / "snapshots"
        build_snapshots(snaps)
        n = sum(1 for p in snaps.rglob("*") if p.is_file())
        mb = sum(p.stat().st_size for p in snaps.rglob("*") if p.is_file()) / 1e6
        t = time.perf_counter()
        upload(snaps, "abfs://bench/snapshots", exclusive=True)
        print(f"upload snapshots, exclusive: {n} files, {mb:.1f} MB: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        cold = stage("abfs://bench/snapshots")
        print(f"stage cold: {cold.fetched} files fetched: {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        warm = stage("abfs://bench/snapshots")
        print(f"stage warm (one listing, nothing changed): {warm.fetched} fetched: {time.perf_counter() - t:.2f} s")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
