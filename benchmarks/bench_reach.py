"""Benchmark: effective exposure (auditkit.engine.reachability) on a synthetic tenant.

    python benchmarks/bench_reach.py [--nsgs 20000] [--nics 100000] [--admin-rules 5000]
        [--admin-vnets 2000] [--dnat 500] [--app-gateways 4] [--ipv6 2000] [--repeat 1]

A tenant of 20,000 NSGs (4 custom rules each plus the 6 defaults) and 100,000 NICs: subnets
governed by the NSGs, about half the NICs with an NSG of their own, a third with a public IP, a
tenth behind public load balancers (load-balancing rules to 25 and 3389, inbound NAT rules to 22),
application security groups. The layers beyond NSGs: Virtual Network Manager admin rules (5,000
over 2,000 VNets: Deny, Allow and AlwaysAllow on 22, 25 and 3389 from Internet or *), hub
firewalls whose policies' rule collection groups hold 500 DNAT rules from * onto NIC addresses,
a few Application Gateways with TCP/TLS listeners, and NICs with an IPv6 ip configuration and a
public IPv6 address. Prints the time of each phase (building records, topology_table, the scan
without and with effective exposure for ports 25, 22 and 3389, ``reach`` per port) and the
process's peak memory. ``--repeat`` runs the scans and ``reach`` that many times (median shown).
Targets (2 cores): exposure for 3 ports in under 20 s, peak under 4 GB.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import time
from collections import Counter

from auditkit.demo.network import Network
from auditkit.demo.synthetic import synthetic_nsgs
from auditkit.engine.admin_rules import admin_rules
from auditkit.engine.endpoints import endpoints
from auditkit.engine.fields import parse_rules
from auditkit.engine.reachability import reachable
from auditkit.engine.rules import rules_table
from auditkit.engine.scan import scan
from auditkit.engine.topology import topology_table

PORTS = (25, 22, 3389)
NIC = "microsoft.network/networkinterfaces"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat: int) -> tuple[object, float]:
    """``fn()``'s last result and the median of its wall times over ``repeat`` runs."""
    times, out = [], None
    for _ in range(max(1, repeat)):
        out = None  # the previous run's result is not held while the next one runs
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def nsg_tenant(n_nsgs: int, n_nics: int, n_ipv6: int, rng: random.Random) -> tuple[list, list]:
    """(Networks, one per resource group with its VNet, and the NICs' IPv4 addresses): subnets
    governed by the generated NSGs, NICs behind public IPs and load balancers, some dual-stack."""
    nsgs = list(synthetic_nsgs(n_nsgs, custom_rules=4))
    by_rg: dict[tuple[str, str], list[dict]] = {}
    for rec in nsgs:
        rec["properties"].pop("subnets", None)
        by_rg.setdefault((rec["subscriptionId"], rec["resourceGroup"]), []).append(rec)
    nets, addresses = [], []
    per_nsg = max(1, n_nics // n_nsgs)
    every_v6 = max(1, n_nics // n_ipv6) if n_ipv6 else 0
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
                address = f"10.{k % 250}.{j % 250}.{i + 4}"
                six = bool(every_v6) and made % every_v6 == 0 and made // every_v6 <= n_ipv6
                net.nic(f"nic-{j}-{i}", subnet, address,
                        nsg=recs[(j + 1) % len(recs)]["id"] if rng.random() < 0.5 else None,
                        public_ip=net.public_ip(f"pip-{j}-{i}", f"20.{made % 250}.{made // 250 % 250}.{i + 4}")
                        if 0.1 <= r < 0.43 else None,
                        vm=net.vm(f"vm-{j}-{i}"), pools=(pool,) if r < 0.1 else (), nat_rules=nat,
                        ipv6=f"fd00:{k:x}:{j:x}::{i + 4:x}" if six else None,
                        public_ipv6=net.public_ip(f"pip6-{j}-{i}", f"2001:db8:{k:x}:{j:x}::{i + 4:x}", version="IPv6")
                        if six else None)
                addresses.append(address)
        nets.append(net)
    return nets, addresses


def add_admin_rules(nets: list, n_rules: int, n_vnets: int, rng: random.Random) -> int:
    """Effective admin rules for ``n_vnets`` VNets, ``n_rules`` in all, drawn from a pool of rule
    definitions of three configurations (an AVNM rule applies to every VNet of its groups)."""
    pool = []
    for c, configuration in enumerate(("cfg-baseline", "cfg-prod", "cfg-jump")):
        for n in range(20):
            access = rng.choices(("Deny", "Allow", "AlwaysAllow"), weights=(5, 3, 2))[0]
            port = rng.choice(("22", "25", "3389", "20-30"))
            pool.append((f"{access.lower()}-{port}-{n}", access, 10 + 50 * c + n, port, rng.choice(("Internet", "*")),
                         configuration, f"rc-{access.lower()}"))
    vnets = [(net, vnet) for net in nets for vnet in net.vnets]
    chosen = rng.sample(vnets, k=min(n_vnets, len(vnets)))
    made = 0
    for v, (net, vnet) in enumerate(chosen):
        count = n_rules // len(chosen) + (v < n_rules % len(chosen))
        picks = rng.sample(pool, k=min(count, len(pool)))
        net.admin_rules(vnet, [net.admin_rule(name, access, prio, [port], sources=[src], configuration=cfg,
                                              collection=coll) for name, access, prio, port, src, cfg, coll in picks])
        made += len(picks)
    return made


def hubs(sub: str, n_dnat: int, n_gateways: int, addresses: list, rng: random.Random) -> Network:
    """Hub firewalls (one per 100 DNAT rules) whose policies' rule collection groups (25 rules each)
    publish NIC addresses on 25, 22 and 3389 to *, and Application Gateways with TCP/TLS listeners."""
    net = Network(sub, "rg-hub")
    n_fw = max(1, -(-n_dnat // 100))
    made = 0
    for h in range(n_fw):
        vnet = net.vnet(f"vnet-hub-{h}", f"10.255.{h}.0/24")
        subnet = net.subnet(vnet, "AzureFirewallSubnet", f"10.255.{h}.0/26")
        pip = f"52.{h}.0.10"
        policy = net.firewall_policy(f"fwp-hub-{h}")
        share = n_dnat // n_fw + (h < n_dnat % n_fw)
        for g in range(-(-share // 25)):
            rules = []
            for r in range(min(25, share - 25 * g)):
                made += 1
                port = str(rng.choice(PORTS))
                rules.append(net.dnat_rule(f"dnat-{g}-{r}", pip, str(10000 + made), rng.choice(addresses), port))
            net.dnat_collection(policy, f"rcg-{g}", f"dnat-{g}", rules, group_priority=200 + g)
        net.firewall(f"fw-hub-{h}", subnet, f"10.255.{h}.4", [net.public_ip(f"pip-fw-{h}", pip)], policy=policy)
    for a in range(n_gateways):
        port = PORTS[a % len(PORTS)]
        net.app_gateway(f"agw-{a}", net.public_ip(f"pip-agw-{a}", f"52.200.{a}.10"),
                        [(f"tcp-{a}", "Tcp", 10000 + port), (f"tls-{a}", "Tls", 20000 + port)],
                        rng.sample(addresses, k=3), port)
    return net


def tenant(args: argparse.Namespace, seed: int = 5) -> tuple[list, list, dict]:
    """NSG records, topology records (the layers beyond NSGs among them) and what was built."""
    rng = random.Random(seed)
    nets, addresses = nsg_tenant(args.nsgs, args.nics, args.ipv6, rng)
    n_admin = add_admin_rules(nets, args.admin_rules, args.admin_vnets, rng)
    nets.append(hubs(nets[0].sub, args.dnat, args.app_gateways, addresses, rng))
    nsg_out, topo = [], []
    for net in nets:
        a, b = net.records()
        nsg_out.extend(a)
        topo.extend(b)
    types = Counter(t["type"] for t in topo)
    built = {"admin rules": n_admin, "admin VNets": types["microsoft.network/virtualnetworks/effectivesecurityadminrules"],
             "DNAT rules": sum(len(c["rules"]) for t in topo if t["type"].endswith("/rulecollectiongroups")
                               for c in t["properties"]["ruleCollections"]),
             "firewalls": types["microsoft.network/azurefirewalls"],
             "app gateways": types["microsoft.network/applicationgateways"],
             "IPv6 ip configurations": sum(len(t["properties"]["ipConfigurations"]) - 1 for t in topo if t["type"] == NIC)}
    return nsg_out, topo, built


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nsgs", type=int, default=20_000)
    ap.add_argument("--nics", type=int, default=100_000)
    ap.add_argument("--admin-rules", type=int, default=5_000)
    ap.add_argument("--admin-vnets", type=int, default=2_000)
    ap.add_argument("--dnat", type=int, default=500)
    ap.add_argument("--app-gateways", type=int, default=4)
    ap.add_argument("--ipv6", type=int, default=2_000, help="NICs with an IPv6 ip configuration and public IPv6")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each scan and reach (median shown)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    nsgs, topo, built = tenant(args)
    n_nics = sum(t["type"] == NIC for t in topo)
    print(f"building records: {time.perf_counter() - t0:.1f} s: {len(nsgs):,} NSGs, {n_nics:,} NICs, "
          f"{len(topo):,} topology records; " + ", ".join(f"{v:,} {k}" for k, v in built.items())
          + f" (RSS {peak_mb():,.0f} MB)")
    gc.collect()

    t0 = time.perf_counter()
    tables = rules_table(nsgs)
    parsed = parse_rules(tables.rules)
    t1 = time.perf_counter()
    topology = topology_table(topo)
    t2 = time.perf_counter()
    print(f"rules_table + parse_rules: {t1 - t0:.2f} s ({len(tables.rules):,} rules); topology_table: {t2 - t1:.2f} s "
          f"({len(topology['ipconfigs']):,} ip configurations, {len(topology['admin_rules']):,} admin rules, "
          f"{len(topology['dnat_rules']):,} DNAT rules, {len(topology['app_listeners']):,} listeners)")

    records = nsgs + topo
    base, no_exp = timed(lambda: scan(records, ports=PORTS, exposure=False), args.repeat)
    print(f"scan without exposure: {no_exp:.2f} s ({len(base.findings):,} findings)")
    full, with_exp = timed(lambda: scan(records, ports=PORTS), args.repeat)
    f = full.findings
    counts = {layer: g["exposure"].value_counts().to_dict() for layer, g in f.groupby("layer")}
    print(f"scan with effective exposure: {with_exp:.2f} s; effective exposure for {len(PORTS)} ports: "
          f"{with_exp - no_exp:.2f} s over {len(f):,} findings: {counts}")
    del base, full, f
    gc.collect()

    ep, admin = endpoints(topology), admin_rules(topology)
    for port in PORTS:
        out, took = timed(lambda p=port: reachable(parsed, topology, tables.nsgs, p, ep=ep, admin=admin), args.repeat)
        print(f"reach {port}: {took:.2f} s; endpoint paths reachable: {len(out):,} "
              f"{out['path'].value_counts().to_dict()}")
    print(f"peak RSS: {peak_mb():,.0f} MB")
    ok = (with_exp - no_exp) < 20 and peak_mb() < 4096
    print("targets (exposure < 20 s, peak < 4 GB):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
