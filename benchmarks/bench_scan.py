"""Benchmark: auditkit.engine.scan on a synthetic tenant against the per-packet reference evaluator.

    python benchmarks/bench_scan.py [--nsgs 100000] [--reference-nsgs 500]

Prints rules per second for the vectorised engine and for the reference (first-match over
concrete packets, on a subset), their ratio, and the process's peak memory. Targets (2 cores):
1,000,000 rules for 3 ports in under 15 s, peak under 3 GB.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time

import auditkit
from auditkit.demo.synthetic import synthetic_nsgs
from auditkit.engine.reference import reference_findings


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nsgs", type=int, default=100_000)
    ap.add_argument("--custom-rules", type=int, default=4, help="custom rules per NSG (plus 6 defaults)")
    ap.add_argument("--reference-nsgs", type=int, default=500)
    args = ap.parse_args()
    ports = (25, 22, 3389)

    t0 = time.perf_counter()
    records = list(synthetic_nsgs(args.nsgs, custom_rules=args.custom_rules))
    n_rules = sum(len(r["properties"]["securityRules"]) + len(r["properties"]["defaultSecurityRules"])
                  for r in records)
    gen_s = time.perf_counter() - t0
    gc.collect()
    base_mb = peak_mb()
    print(f"tenant: {len(records):,} NSGs, {n_rules:,} rules (generated in {gen_s:.1f} s, RSS {base_mb:,.0f} MB)")

    t0 = time.perf_counter()
    result = auditkit.scan(records, ports=ports)
    scan_s = time.perf_counter() - t0
    scan_peak = peak_mb()
    engine_rate = n_rules / scan_s
    print(f"auditkit.engine.scan: {scan_s:.2f} s for {n_rules:,} rules x {len(ports)} ports = {engine_rate:,.0f} rules/s; "
          f"{len(result.findings):,} findings, {result.summary()['shadowed']:,} shadowed")
    print(f"peak RSS: {scan_peak:,.0f} MB (records alone {base_mb:,.0f} MB; scan added {scan_peak - base_mb:,.0f} MB)")

    subset = records[: args.reference_nsgs]
    sub_rules = sum(len(r["properties"]["securityRules"]) + len(r["properties"]["defaultSecurityRules"])
                    for r in subset)
    t0 = time.perf_counter()
    ref = reference_findings(subset, ports)
    ref_s = time.perf_counter() - t0
    ref_rate = sub_rules / ref_s
    engine_sub = auditkit.scan(subset, ports=ports, include_shadowed=True).findings
    same = {(i.lower(), r, int(p), bool(s)) for i, r, p, s in
            zip(engine_sub["nsg_id"], engine_sub["rule_name"], engine_sub["port"], engine_sub["shadowed"],
                strict=True)} == ref
    print(f"reference evaluator: {ref_s:.2f} s for {sub_rules:,} rules = {ref_rate:,.0f} rules/s "
          f"(verdicts {'identical' if same else 'DIFFERENT'} on this subset)")
    print(f"ratio: engine is {engine_rate / ref_rate:.1f}x the reference's rules/s")
    target_ok = scan_s < 15 and scan_peak < 3 * 1024
    print(f"target (<15 s, <3 GB peak): {'met' if target_ok else 'MISSED'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
