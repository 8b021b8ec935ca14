"""Benchmark: ``auditkit collect --from-file`` of a realistic export, whole process, time and peak RSS.

    python benchmarks/bench_collect.py [--nsgs 100000]

Writes a realistic export (every field Resource Graph returns, ten rules per NSG, about 0.9 KB
per rule), then runs ``auditkit collect --from-file`` on it in a fresh process and reports its
wall time, peak RSS, and the snapshot's size on disk, beside ``json.load`` of the same file.
Target (issue 14): 100,000 NSGs in under 25 s with peak under 3 GB.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench_scan_cli import RULES_PER_NSG, timed, write_export


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nsgs", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.json"
        size = write_export(export, args.nsgs * RULES_PER_NSG)
        print(f"export: {args.nsgs:,} NSGs, {args.nsgs * RULES_PER_NSG:,} rules, {size / 1e6:,.0f} MB")
        parse_s, parse_mb, _ = timed([sys.executable, "-c", f"import json; json.load(open({str(export)!r}))"])
        print(f"json.load alone: {parse_s:.2f} s, peak {parse_mb:,.0f} MB")
        snaps = Path(tmp) / "snapshots"
        wall, mb, rc = timed([sys.executable, "-m", "auditkit", "collect", "--from-file", str(export),
                              "--snapshots", str(snaps), "--as-of", "2026-11-01"])
        on_disk = sum(p.stat().st_size for p in snaps.rglob("*") if p.is_file())
        met = wall < 25 and mb < 3 * 1024 and rc == 0
        print(f"collect --from-file: {wall:.2f} s ({wall / parse_s:.2f}x the parse), peak {mb:,.0f} MB "
              f"({mb * 2**20 / size:.2f}x the file), snapshot {on_disk / 1e6:,.1f} MB on disk, exit {rc} "
              f"(target < 25 s, < 3 GB): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
