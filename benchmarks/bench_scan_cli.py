"""Benchmark: the whole ``auditkit scan`` process against ``json.load`` of the same export, same run.

    python benchmarks/bench_scan_cli.py [--rules 200000] [--formats json,table,csv] [--million]

Writes a realistic export (every field Resource Graph returns, about 0.9 KB per rule) to a
temporary folder, then times, each in a fresh process: ``python -c "import json; json.load(...)"``
and ``auditkit scan FILE --format F -o OUT`` for each format, with each process's peak RSS.
Targets (issue 14): json at most 1.3x the parse, table and csv at most 1.5x, peak at most 2x the
file size; with ``--million``, 1,000,000 rules scanned in under 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from auditkit.demo.synthetic import synthetic_nsgs

RULES_PER_NSG = 10  # 4 custom + 6 default


def write_export(path: Path, n_rules: int) -> int:
    """Write a ``{"data": [...]}`` export of ``n_rules`` rules; return its size in bytes."""
    with path.open("w", encoding="utf-8") as fh:
        n = n_rules // RULES_PER_NSG
        fh.write(f'{{"totalRecords": {n}, "count": {n}, "data": [')
        for i, rec in enumerate(synthetic_nsgs(n_rules // RULES_PER_NSG, full=True)):
            fh.write(("," if i else "") + json.dumps(rec, separators=(",", ":")))
        fh.write("]}")
    return path.stat().st_size


def timed(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB, and exit code of ``cmd`` run alone."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, proc.returncode


def best(cmd: list[str], repeat: int) -> tuple[float, float, int]:
    runs = [timed(cmd) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs), max(r[2] for r in runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=int, default=200_000)
    ap.add_argument("--formats", default="json,table,csv")
    ap.add_argument("--repeat", type=int, default=2, help="runs per command; the fastest counts")
    ap.add_argument("--million", action="store_true", help="also scan 1,000,000 rules (json), target < 15 s")
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.json"
        size = write_export(export, args.rules)
        print(f"export: {args.rules:,} rules, {size / 1e6:,.0f} MB ({size / args.rules:,.0f} bytes per rule)")
        parse_s, parse_mb, _ = best([sys.executable, "-c", f"import json; json.load(open({str(export)!r}))"],
                                    args.repeat)
        print(f"json.load alone: {parse_s:.2f} s, peak {parse_mb:,.0f} MB")
        for fmt in args.formats.split(","):
            out = Path(tmp) / f"out.{fmt}"
            wall, mb, rc = best([sys.executable, "-m", "auditkit", "scan", str(export), "--format", fmt,
                                 "-o", str(out)], args.repeat)
            limit = 1.3 if fmt == "json" else 1.5
            ratio = wall / parse_s
            met = ratio <= limit and mb * 1e6 / 2**20 <= 2 * size / 2**20 * 1.0 and rc == 0
            ok &= met
            print(f"scan --format {fmt}: {wall:.2f} s = {ratio:.2f}x the parse (target <= {limit}x), "
                  f"peak {mb:,.0f} MB = {mb * 2**20 / size:.2f}x the file (target <= 2x), "
                  f"output {out.stat().st_size / 1e6:,.1f} MB, exit {rc}: {'met' if met else 'MISSED'}")
        if args.million:
            big = Path(tmp) / "million.json"
            export.unlink()
            size = write_export(big, 1_000_000)
            wall, mb, rc = timed([sys.executable, "-m", "auditkit", "scan", str(big), "--format", "json",
                                  "-o", str(Path(tmp) / "million.out.json")])
            met = wall < 15 and rc == 0
            ok &= met
            print(f"1,000,000 rules ({size / 1e6:,.0f} MB): scan --format json {wall:.2f} s, peak {mb:,.0f} MB "
                  f"(target < 15 s): {'met' if met else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
