"""Benchmark: a report's render time on a large tenant against the demo tenant's, in one run.

    python benchmarks/bench_render_scale.py [--nsgs 20000] [--subscriptions 400] [--months 12]
                                            [--reports 8] [--workers 2] [--all]

Builds the demo tenant and a synthetic tenant of ``--nsgs`` NSGs over ``--subscriptions``
subscriptions (``--months`` monthly snapshots; each month some rules open and close), warms both
derived caches, then renders ``--reports`` subscription reports of each with shared assets and
no notebooks, and compares the mean seconds per subscription report (the overview, which reads
the whole tenant by design, is reported apart). With ``--all`` it then renders every subscription
of the large tenant and reports the time and bytes. Target (issue 14): at most 1.3x.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_kpis import change_month, month_start

from auditkit.collect import Rows, snapshot_from_records
from auditkit.demo.synthetic import synthetic_nsgs
from auditkit.demo.tenant import build_snapshots, demo_parameters
from auditkit.history.kpis import kpis
from auditkit.render import RenderRequest, render
from auditkit.settings import load_settings


def large_tenant(root: Path, nsgs: int, subscriptions: int, months: int) -> Path:
    records = list(synthetic_nsgs(nsgs, subscriptions=subscriptions))
    for month in range(months):
        change_month(records, month)
        snapshot_from_records(Rows(records), snapshots_dir=root, as_of=month_start(month),
                              source={"kind": "benchmark"})
    return root


def per_report(snaps: Path, out: Path, subs: list[str] | None, workers: int, params: str | None) -> tuple:
    t0 = time.perf_counter()
    result = render(RenderRequest(snapshots_dir=snaps, out=out, subscriptions=subs, workers=workers,
                                  parameters_file=params, assets="shared", keep_notebooks=False))
    wall = time.perf_counter() - t0
    assert not result.failures, result.failures
    reports = [o.seconds for o in result.outcomes if o.subscription_id]
    index = next(o.seconds for o in result.outcomes if o.name == "index")
    size = sum(p.stat().st_size for p in result.folder.rglob("*") if p.is_file())
    return sum(reports) / len(reports), index, wall, size, len(reports), result.folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nsgs", type=int, default=20_000)
    ap.add_argument("--subscriptions", type=int, default=400)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--reports", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--all", action="store_true", help="then render every subscription of the large tenant")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-render-scale-"))
    try:
        demo = build_snapshots(work / "demo")
        kpis(demo, settings=load_settings(demo_parameters()))
        t0 = time.perf_counter()
        big = large_tenant(work / "large", args.nsgs, args.subscriptions, args.months)
        print(f"large tenant: {args.nsgs:,} NSGs over {args.subscriptions} subscriptions, {args.months} snapshots "
              f"(written in {time.perf_counter() - t0:.0f} s)", flush=True)
        t0 = time.perf_counter()
        kpis(big)
        print(f"derived cache of the large tenant filled in {time.perf_counter() - t0:.1f} s", flush=True)
        from auditkit.present.context import load_context
        from auditkit.present.tenant import subscriptions_ranked

        demo_subs = list(subscriptions_ranked(load_context(str(demo), parameters=demo_parameters()))
                         ["subscription_id"])[: args.reports]
        big_subs = list(subscriptions_ranked(load_context(str(big)))["subscription_id"])[: args.reports]
        d = per_report(demo, work / "out-demo", demo_subs, args.workers, demo_parameters())
        b = per_report(big, work / "out-large", big_subs, args.workers, None)
        print(f"demo tenant: {d[4]} reports, {d[0]:.2f} s per subscription report (overview {d[1]:.1f} s)")
        print(f"large tenant: {b[4]} reports, {b[0]:.2f} s per subscription report (overview {b[1]:.1f} s)")
        ratio = b[0] / d[0]
        print(f"ratio: {ratio:.2f}x (target <= 1.3x): {'met' if ratio <= 1.3 else 'MISSED'}")
        sizes = sorted(p.stat().st_size for p in b[5].glob("*.html") if p.name != "index.html")
        index = (b[5] / "index.html").stat().st_size
        print(f"largest subscription report with shared assets: {sizes[-1] / 1e3:,.0f} KB (target < 400 KB): "
              f"{'met' if sizes[-1] < 400_000 else 'MISSED'}; the overview of {args.subscriptions} subscriptions: "
              f"{index / 1e3:,.0f} KB")
        if args.all:
            a = per_report(big, work / "out-all", None, args.workers, None)
            print(f"render of all {a[4]} subscriptions + overview: {a[2]:.0f} s wall ({a[0]:.2f} s per report per "
                  f"worker), {a[3] / 1e6:,.1f} MB in the period folder")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ratio <= 1.3 else 1


if __name__ == "__main__":
    sys.exit(main())
