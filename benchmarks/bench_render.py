"""Benchmark: ``auditkit render`` against the loop a user would write, on N subscriptions.

    python benchmarks/bench_render.py [--subscriptions 16] [--workers 2]

The naive loop runs, per subscription and in series, one ``papermill`` CLI call and one
``jupyter nbconvert`` CLI call. ``auditkit render`` runs the same notebook per subscription plus
the tenant overview in long-lived workers. Target on 2 cores: at least 4x faster at 16
subscriptions, and a self-contained subscription report under 6 MB.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from auditkit.demo.tenant import build_snapshots
from auditkit.history.kpis import kpis
from auditkit.present.context import load_context
from auditkit.present.tenant import subscriptions_ranked
from auditkit.render import RenderRequest, render

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def naive(snapshots: Path, subs: list[str], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for s in subs:
        ipynb = out / f"{s}.ipynb"
        subprocess.run([str(BIN / "papermill"), str(ROOT / "notebooks" / "subscription_audit.ipynb"), str(ipynb),
                        "-p", "snapshots_dir", str(snapshots), "-p", "subscription_id", s, "-k", "python3",
                        "--no-progress-bar"], check=True, capture_output=True)
        subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(ipynb)], check=True,
                       capture_output=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscriptions", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-render-"))
    try:
        snaps = build_snapshots(work / "snapshots", n_subscriptions=args.subscriptions, nsgs_per_sub=12)
        kpis(snaps)  # warm the derived cache: both contenders start from the same state
        subs = list(subscriptions_ranked(load_context(str(snaps)))["subscription_id"])[: args.subscriptions]
        print(f"{len(subs)} subscriptions, 12 monthly snapshots")
        t0 = time.perf_counter()
        result = render(RenderRequest(snapshots_dir=snaps, out=work / "reports", workers=args.workers,
                                      subscriptions=subs))
        ours = time.perf_counter() - t0
        assert not result.failures, result.failures
        sizes = [p.stat().st_size for p in result.folder.glob("*.html") if p.name != "index.html"]
        print(f"auditkit render ({args.workers} workers, {len(subs)} reports + overview): {ours:.1f} s")
        loop = naive(snaps, subs, work / "naive")
        print(f"naive loop (papermill CLI + jupyter nbconvert CLI per subscription): {loop:.1f} s")
        ratio = loop / ours
        print(f"ratio: {ratio:.1f}x  (target >= 4x: {'met' if ratio >= 4 else 'MISSED'})")
        print(f"largest subscription report: {max(sizes) / 1e6:.2f} MB (target < 6 MB: "
              f"{'met' if max(sizes) < 6 * 1024 * 1024 else 'MISSED'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
