"""Benchmark: effective exposure (auditkit.engine.reachability) on a synthetic tenant.

    python benchmarks/bench_reach.py [--nsgs 20000] [--nics 100000]

A tenant of 20,000 NSGs (4 custom rules each plus the 6 defaults) and 100,000 NICs: subnets
governed by the NSGs, about half the NICs with an NSG of their own, a third with a public IP, a
tenth behind public load balancers (load-balancing rules to 25 and 3389, inbound NAT rules to 22),
application security groups. Prints the time of the scan without and with effective exposure for
ports 25, 22 and 3389, of ``reach`` per port, and the process's peak memory.
Targets (2 cores): exposure for 3 ports in under 20 s, peak under 4 GB.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time

import auditkit
from auditkit.demo.network import Network
from auditkit.demo.synthetic import synthetic_nsgs
from auditkit.engine.fields import parse_rules
from auditkit.engine.reachability import reachable
from auditkit.engine.rules import rules_table
from auditkit.engine.topology import topology_table


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tenant(n_nsgs: int, n_nics: int, seed: int = 5) -> tuple[list, list]:
    """NSG records (attached to the subnets built here) and topology records."""
    rng = random.Random(seed)
    nsgs = list(synthetic_nsgs(n_nsgs, custom_rules=4))
    by_rg: dict[tuple[str, str], list[dict]] = {}
    for rec in nsgs:
        rec["properties"].pop("subnets", None)
        by_rg.setdefault((rec["subscriptionId"], rec["resourceGroup"]), []).append(rec)
    nets, topo = [], []
    per_nsg = max(1, n_nics // n_nsgs)
    made = 0
    for k, ((sub, rg), recs) in enumerate(by_rg.items()):
        net = Network(sub, rg)
        for rec in recs:  # the kit's builder links NSGs it created; these come from the generator
            net.nsgs[rec["id"]] = rec
        vnet = net.vnet(f"vnet-{k}", f"10.{k % 250}.0.0/16")
        lb = net.load_balancer(f"lb-{k}")
        fe = lb.frontend(net.public_ip(f"pip-lb-{k}", f"20.{k % 250}.{k // 250 % 250}.1"))
        pool = lb.pool()
        lb.rule("smtp", fe, pool, 25, 25)
        lb.rule("rdp", fe, pool, 3389, 3389)
        for j, rec in enumerate(recs):
            subnet = net.subnet(vnet, f"snet-{j}", f"10.{k % 250}.{j % 250}.0/24", rec["id"])
            for i in range(per_nsg):
                if made >= n_nics:
                    break
                made += 1
                r = rng.random()
                nat = (lb.nat_rule(f"ssh-{j}-{i}", fe, 50000 + (j * per_nsg + i) % 15000, 22),) if r < 0.1 else ()
                net.nic(f"nic-{j}-{i}", subnet, f"10.{k % 250}.{j % 250}.{i + 4}",
                        nsg=recs[(j + 1) % len(recs)]["id"] if rng.random() < 0.5 else None,
                        public_ip=net.public_ip(f"pip-{j}-{i}", f"20.{made % 250}.{made // 250 % 250}.{i + 4}")
                        if 0.1 <= r < 0.43 else None,
                        vm=net.vm(f"vm-{j}-{i}"), pools=(pool,) if r < 0.1 else (), nat_rules=nat)
        nets.append(net)
    nsg_out = []
    for net in nets:
        a, b = net.records()
        nsg_out.extend(a)
        topo.extend(b)
    return nsg_out, topo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nsgs", type=int, default=20_000)
    ap.add_argument("--nics", type=int, default=100_000)
    args = ap.parse_args()
    ports = (25, 22, 3389)
    t0 = time.perf_counter()
    nsgs, topo = tenant(args.nsgs, args.nics)
    n_nics = sum(t["type"] == "microsoft.network/networkinterfaces" for t in topo)
    print(f"tenant: {len(nsgs):,} NSGs, {n_nics:,} NICs, {len(topo):,} topology records "
          f"(generated in {time.perf_counter() - t0:.1f} s, RSS {peak_mb():,.0f} MB)")
    gc.collect()

    t0 = time.perf_counter()
    tables = rules_table(nsgs)
    topology = topology_table(topo)
    parsed = parse_rules(tables.rules)
    print(f"tables: {time.perf_counter() - t0:.2f} s ({len(tables.rules):,} rules, "
          f"{len(topology['ipconfigs']):,} ip configurations)")

    t0 = time.perf_counter()
    base = auditkit.scan(nsgs + topo, ports=ports, exposure=False)
    no_exp = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = auditkit.scan(nsgs + topo, ports=ports)
    with_exp = time.perf_counter() - t0
    counts = full.findings["exposure"].value_counts().to_dict()
    print(f"scan without exposure: {no_exp:.2f} s; with exposure: {with_exp:.2f} s; effective exposure for "
          f"{len(ports)} ports: {with_exp - no_exp:.2f} s over {len(base.findings):,} findings: {counts}")

    t0 = time.perf_counter()
    n = {p: len(reachable(parsed, topology, tables.nsgs, p)) for p in ports}
    print(f"reach, 3 ports: {time.perf_counter() - t0:.2f} s; endpoint paths reachable: {n}")
    print(f"peak RSS: {peak_mb():,.0f} MB")
    ok = (with_exp - no_exp) < 20 and peak_mb() < 4096
    print("targets (exposure < 20 s, peak < 4 GB):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
