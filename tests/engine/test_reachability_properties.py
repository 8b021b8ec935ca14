"""Property test: effective exposure against the per-packet walk of ``engine.reference`` on random
small topologies (subnet NSG -> NIC NSG, public IPs, a load balancer with rules and NAT rules, ASGs)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.demo.network import Network
from auditkit.demo.synthetic import security_rule
from auditkit.engine.reference import _applies_to, nsg_admits, reference_reach
from auditkit.engine.scan import reach, scan
from tests.engine import test_properties  # noqa: F401 - registers and loads the hypothesis profile

SUB = "00000000-0000-4000-8000-0000000000bb"
SOURCES = [["*"], ["Internet"], ["Any"], ["0.0.0.0/0"], ["10.0.0.0/8"], ["198.51.100.0/24"], ["VirtualNetwork"],
           ["AzureLoadBalancer"], ["AzureCloud"], ["0.0.0.0/1", "128.0.0.0/1"], ["198.51.100.0/24", "*"]]
ASGS = ["asg-a", "asg-b"]
DESTS = ["*", "10.0.1.4", "10.0.1.0/24", "10.0.2.0/24", "VirtualNetwork", "Internet", "asg-a", "asg-b"]
PORTS = ["25", "22", "20-30", "*", "587"]


def asg(net: Network, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{net.rg}/providers/Microsoft.Network/applicationSecurityGroups/{name}"


@st.composite
def nsg_rules(draw, net: Network, sources: list = SOURCES, dests: list = DESTS, ports: list = PORTS) -> list[dict]:
    n = draw(st.integers(0, 5))
    prios = draw(st.lists(st.integers(100, 130), min_size=n, max_size=n, unique=True))
    out = []
    for i, prio in enumerate(prios):
        rule = security_rule("x", f"r{i}", prio, draw(st.sampled_from(["Allow", "Allow", "Allow", "Deny"])),
                             draw(st.sampled_from(["Tcp", "Tcp", "*", "Udp"])), draw(st.sampled_from(sources)),
                             [draw(st.sampled_from(ports))], ["*"],
                             direction=draw(st.sampled_from(["Inbound", "Inbound", "Inbound", "Outbound"])))
        dst = draw(st.sampled_from(dests))
        if dst.startswith("asg-"):
            del rule["properties"]["destinationAddressPrefix"]
            rule["properties"]["destinationApplicationSecurityGroups"] = [{"id": asg(net, dst)}]
        else:
            rule["properties"]["destinationAddressPrefix"] = dst
        out.append(rule)
    return out


@st.composite
def topologies(draw) -> Network:
    net = Network(SUB)
    for a in ASGS:
        net.asg(a)
    nsgs = [net.nsg(f"nsg{i}", draw(nsg_rules(net))) for i in range(draw(st.integers(1, 3)))]
    maybe_nsg = st.sampled_from([None, *nsgs])
    vnet = net.vnet("vnet1")
    subnets = [net.subnet(vnet, "s1", "10.0.1.0/24", draw(maybe_nsg)),
               net.subnet(vnet, "s2", "10.0.2.0/24", draw(maybe_nsg))]
    lb = net.load_balancer("lb")
    fe = lb.frontend(net.public_ip("pip-lb", "20.0.0.9") if draw(st.booleans()) else None)
    pool = lb.pool()
    if draw(st.booleans()):
        lb.rule("lbr", fe, pool, draw(st.sampled_from([25, 2525, 22])), draw(st.sampled_from([25, 22, 587])),
                draw(st.sampled_from(["Tcp", "Udp", "All"])))
    nat = lb.nat_rule("nat", fe, 50025, draw(st.sampled_from([25, 22])))
    for i in range(draw(st.integers(1, 4))):
        s = draw(st.integers(0, 1))
        ip = f"10.0.{s + 1}.{4 + i}"
        pip = net.public_ip(f"pip{i}", f"20.0.1.{i}") if draw(st.booleans()) else None
        net.nic(f"nic{i}", subnets[s], ip, nsg=draw(maybe_nsg), public_ip=pip, vm=net.vm(f"vm{i}"),
                pools=(pool,) if draw(st.booleans()) else (),
                nat_rules=(nat,) if draw(st.booleans()) else (),
                asgs=tuple(asg(net, a) for a in draw(st.lists(st.sampled_from(ASGS), unique=True))))
    return net


@settings(max_examples=40)
@given(topologies(), st.sampled_from([25, 22]))
def test_reach_equals_the_packet_walk(net: Network, port: int) -> None:
    nsgs, topo = net.records()
    got = reach(nsgs + topo, port)
    engine = {(nic.lower() + "/ipconfigurations/ipconfig1", path, fport)
              for nic, path, fport in zip(got["nic_id"], got["path"], got["frontend_port"], strict=True)}
    assert engine == reference_reach(nsgs, topo, port)


@settings(max_examples=40)
@given(topologies(), st.sampled_from([25, 22]))
def test_finding_exposure_agrees_with_the_packet_walk(net: Network, port: int) -> None:
    nsgs, topo = net.records()
    by_id = {n["id"].lower(): n for n in nsgs}
    paths = {ip for ip, _, _ in reference_reach(nsgs, topo, port)}
    subnet_nsg = {}
    for t in topo:
        if t["type"] == "microsoft.network/virtualnetworks":
            for s in t["properties"]["subnets"]:
                subnet_nsg[s["id"].lower()] = (s["properties"].get("networkSecurityGroup") or {}).get("id", "").lower()
    space = [ipaddress.ip_network("10.0.0.0/16")]
    f = scan(nsgs + topo, ports=[port]).findings
    for row in f.itertuples():
        nsg = by_id[row.nsg_id.lower()]
        rule = next(x for x in nsg["properties"]["securityRules"] if x["name"] == row.rule_name)
        governed, admitted = 0, []
        for t in topo:
            if t["type"] != "microsoft.network/networkinterfaces":
                continue
            cfg = t["properties"]["ipConfigurations"][0]
            c = cfg["properties"]
            nic_nsg = (t["properties"].get("networkSecurityGroup") or {}).get("id", "").lower()
            s_nsg = subnet_nsg[c["subnet"]["id"].lower()]
            if row.nsg_id.lower() not in (nic_nsg, s_nsg):
                continue
            governed += 1
            address = ipaddress.ip_address(c["privateIPAddress"])
            asgs = {a["id"].lower() for a in c.get("applicationSecurityGroups") or []}
            ok = _applies_to(rule, address, asgs, space) and all(
                nsg_admits(by_id.get(k), port, address, asgs, space) for k in (s_nsg, nic_nsg) if k)
            if ok:
                admitted.append(cfg["id"].lower())
        if not governed:
            expected = "latent"
        elif any(a in paths for a in admitted):
            expected = "reachable"
        elif admitted:
            # Allowed by every NSG but the walk found no public path (or the path needs the other NSG
            # that this finding's rule does not govern): no public path today.
            expected = "no-public-path"
        else:
            expected = "blocked"
        assert row.exposure == expected, (row.nsg_name, row.rule_name, row.endpoints)
