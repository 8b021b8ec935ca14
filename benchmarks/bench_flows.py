"""Benchmark: parse 5 million flow tuples in bulk, against a per-tuple Python loop.

    python benchmarks/bench_flows.py [--tuples 5000000] [--reference 500000]

Writes NSG flow-log v2 blobs (the service's JSON, 100,000 tuples per blob) to a temporary
folder, parses them with ``auditkit.flowlogs.read_paths`` and prints the time, the rate, the
process's peak memory, and the rate of a plain per-tuple loop on a subset. Target on 2 cores:
under 20 s and under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from auditkit.flows.logs import read_paths

PER_BLOB = 100_000


def write_blobs(folder: Path, n: int) -> list[Path]:
    rng = random.Random(5)
    paths = []
    for b in range(0, n, PER_BLOB):
        k = min(PER_BLOB, n - b)
        rid = f"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-{b // PER_BLOB % 50}"
        t0 = 1_790_000_000 + b
        tuples = []
        for i in range(k):
            src = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            if i % 3 == 0:
                tuples.append(f"{t0 + i},{src},10.0.0.4,{40000 + i % 20000},25,T,I,A,B,,,,")
            else:
                tuples.append(f"{t0 + i},{src},10.0.0.4,{40000 + i % 20000},25,T,I,A,E,3,{900 + i % 50},2,400")
        # One record per 1,000 tuples, as the service writes a record every few minutes.
        records = [{"time": "2026-09-21T00:00:00Z", "category": "NetworkSecurityGroupFlowEvent", "resourceId": rid,
                    "properties": {"Version": 2, "flows": [{"rule": "UserRule_Allow-SMTP-Any", "flows": [
                        {"mac": "000D3A112233", "flowTuples": tuples[j:j + 1000]}]}]}} for j in range(0, k, 1000)]
        p = folder / f"blob-{b // PER_BLOB:04d}" / "PT1H.json"
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps({"records": records}))
        paths.append(p)
    return paths


def per_tuple_loop(paths: list[Path], limit: int) -> tuple[int, float]:
    """The loop a script would write: one dict per tuple, then a DataFrame (the same output)."""
    import pandas as pd

    t0 = time.perf_counter()
    rows: list = []
    for p in paths:
        for rec in json.loads(p.read_text())["records"]:
            for group in rec["properties"]["flows"]:
                for f in group["flows"]:
                    for t in f["flowTuples"]:
                        parts = t.split(",")
                        rows.append({"time": int(parts[0]), "source": parts[1], "destination": parts[2],
                                     "source_port": int(parts[3]), "destination_port": int(parts[4]),
                                     "protocol": parts[5], "direction": parts[6], "decision": parts[7],
                                     "state": parts[8] if len(parts) > 8 else None,
                                     "bytes": sum(int(x) for x in parts[9:13] if x) if len(parts) > 9 else 0})
                        if len(rows) >= limit:
                            frame = pd.DataFrame(rows)
                            frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
                            return len(frame), time.perf_counter() - t0
    frame = pd.DataFrame(rows)
    frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
    return len(frame), time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tuples", type=int, default=5_000_000)
    ap.add_argument("--reference", type=int, default=500_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    try:
        t0 = time.perf_counter()
        paths = write_blobs(work, args.tuples)
        print(f"wrote {args.tuples:,} tuples in {len(paths)} blobs in {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        logs = read_paths([work])
        bulk = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        n = len(logs.flows)
        print(f"auditkit.flows.logs: {n:,} flows in {bulk:.1f} s = {n / bulk:,.0f} tuples/s; peak RSS {peak:,.0f} MB")
        done, loop = per_tuple_loop(paths, args.reference)
        print(f"per-tuple loop: {done:,} tuples in {loop:.1f} s = {done / loop:,.0f} tuples/s")
        print(f"ratio: {(n / bulk) / (done / loop):.1f}x")
        ok = bulk < 20 and peak < 4096
        print(f"target (< 20 s, < 4 GB): {'met' if ok else 'MISSED'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
