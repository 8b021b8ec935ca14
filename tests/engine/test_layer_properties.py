"""Property tests for the layers of issue 22: on random small topologies with AVNM admin rules, a
hub firewall with DNAT rules (classic or policy, base policies, IP groups), sometimes an App
Gateway TCP/TLS listener, IPv6 ip configurations with public IPv6 addresses and private endpoints,
the engine's ``reach`` must equal the oracle's per-packet walk; and the oracle keeps a few
relations of its own (an admin Deny of everything leaves only private endpoints, an AlwaysAllow of
everything takes nothing away, the IPv4 answer does not depend on IPv6 configurations).

Sources are either wide (covering a whole family) or clearly narrow, never a prefix that happens
to hold the oracle's concrete internet address (203.0.113.77, 2001:db8:ffff::77) without
covering the family: the engine reads "the internet" as the whole space, the oracle one packet.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.demo.network import Network
from auditkit.engine.reference import reference_reach
from tests.engine import test_properties  # noqa: F401 - registers and loads the hypothesis profile
from tests.engine.test_layer_oracle import engine_reach
from tests.engine.test_reachability_properties import asg
from tests.engine.test_reachability_properties import nsg_rules as reachability_rules

SUB = "00000000-0000-4000-8000-0000000000dd"
ASGS = ["asg-a", "asg-b"]
NSG_SOURCES = [["*"], ["Internet"], ["Any"], ["0.0.0.0/0"], ["::/0"], ["10.0.0.0/8"], ["10.100.0.0/24"],
               ["198.51.100.0/24"], ["VirtualNetwork"], ["AzureLoadBalancer"], ["0.0.0.0/1", "128.0.0.0/1"],
               ["::/1", "8000::/1"], ["2001:db8:1::/48"], ["198.51.100.0/24", "*"]]
NSG_DESTS = ["*", "10.0.1.4", "10.0.1.0/24", "10.0.2.0/24", "VirtualNetwork", "Internet", "fd00:db8:0:1::/64",
             "::/0", "asg-a", "asg-b"]
NSG_PORTS = ["25", "22", "20-30", "*", "587"]
ADMIN_SOURCES = [["Internet"], ["*"], ["0.0.0.0/0"], ["::/0"], ["10.0.0.0/8"], ["VirtualNetwork"],
                 ["198.51.100.0/24"], ["10.100.0.0/16"]]
ADMIN_DESTS = [["*"], ["10.0.1.0/24"], ["VirtualNetwork"], ["fd00:db8::/48"], ["10.0.2.4"], ["10.0.0.0/16"]]
ADMIN_PORTS = [["22"], ["25"], ["20-30"], ["*"], ["0-65535"], ["587"], ["22", "25"]]
DNAT_SOURCES = [["*"], ["0.0.0.0/0"], ["198.51.100.0/24"], ["10.0.0.0/8"], ["0.0.0.0/1", "128.0.0.0/1"],
                "ipg-any", "ipg-narrow"]
PROTOCOLS = [["TCP"], ["UDP"], ["Any"], ["TCP", "UDP"]]
POLICIES = [None, "Disabled", "Enabled", "NetworkSecurityGroupEnabled", "RouteTableEnabled"]


def nsg_rules(net: Network):
    """The NSG rule generator of the layer-free property tests, over both families' prefixes."""
    return reachability_rules(net, NSG_SOURCES, NSG_DESTS, NSG_PORTS)


@st.composite
def admin_rules(draw, net: Network) -> list[dict]:
    out = []
    for i in range(draw(st.integers(0, 4))):
        out.append(net.admin_rule(
            f"ar{i}", draw(st.sampled_from(["Deny", "Allow", "AlwaysAllow"])), draw(st.integers(2, 5)),
            draw(st.sampled_from(ADMIN_PORTS)), sources=draw(st.sampled_from(ADMIN_SOURCES)),
            protocol=draw(st.sampled_from(["Tcp", "Tcp", "Tcp", "Udp", "Any"])),
            destinations=draw(st.sampled_from(ADMIN_DESTS)),
            direction=draw(st.sampled_from(["Inbound", "Inbound", "Inbound", "Outbound"])),
            collection=f"rc{draw(st.integers(0, 1))}"))
    return out


@st.composite
def dnat_rules(draw, net: Network, targets: list[str], groups: dict[str, str], classic: bool) -> list[dict]:
    out = []
    for i in range(draw(st.integers(1, 3))):
        src = draw(st.sampled_from(DNAT_SOURCES))
        sources, ip_groups = ([], [groups[src]]) if isinstance(src, str) else (src, [])
        out.append(Network.dnat_rule(
            f"dnat{i}", "20.1.1.1", draw(st.sampled_from(["25", "2525", "22", "50022"])), draw(st.sampled_from(targets)),
            draw(st.sampled_from(["25", "22", "587"])), sources=sources, ip_groups=ip_groups,
            protocols=draw(st.sampled_from(PROTOCOLS)), classic=classic))
    return out


def hub_firewall(draw, net: Network, targets: list[str]) -> None:
    """A hub VNet and firewall whose DNAT rules (classic, or in its policy or a base policy) point
    at ``targets``."""
    vnet = net.vnet("vnet-hub", "10.100.0.0/16")
    subnet = net.subnet(vnet, "AzureFirewallSubnet", "10.100.0.0/26")
    net.admin_rules(vnet, [])
    groups = {"ipg-any": net.ip_group("ipg-any", ["0.0.0.0/0"]),
              "ipg-narrow": net.ip_group("ipg-narrow", ["198.51.100.0/24", "192.0.2.0/24"])}
    pip = net.public_ip("pip-fw", "20.1.1.1")
    kind = draw(st.sampled_from(["classic", "policy", "base-policy"]))
    if kind == "classic":
        net.firewall("fw-hub", subnet, "10.100.0.4", [pip], classic_dnat=draw(dnat_rules(net, targets, groups, True)))
        return
    policy = net.firewall_policy("fwp-hub")
    holder = policy
    if kind == "base-policy":
        holder = net.firewall_policy("fwp-base")
        next(x for x in net.others if x["id"] == policy)["properties"]["basePolicy"] = {"id": holder}
    net.dnat_collection(holder, "rcg-dnat", "dnat-in", draw(dnat_rules(net, targets, groups, False)))
    net.firewall("fw-hub", subnet, "10.100.0.4", [pip], policy=policy)


@st.composite
def topologies(draw) -> Network:
    net = Network(SUB)
    for a in ASGS:
        net.asg(a)
    nsgs = [net.nsg(f"nsg{i}", draw(nsg_rules(net))) for i in range(draw(st.integers(1, 3)))]
    maybe_nsg = st.sampled_from([None, *nsgs])
    vnet = net.vnet("vnet1")
    net.vnets[vnet]["properties"]["addressSpace"]["addressPrefixes"].append("fd00:db8::/48")
    subnets = [net.subnet(vnet, f"s{k}", f"10.0.{k}.0/24", draw(maybe_nsg),
                          private_endpoint_policies=draw(st.sampled_from(POLICIES))) for k in (1, 2)]
    net.admin_rules(vnet, draw(admin_rules(net)))
    lb = net.load_balancer("lb")
    fe = lb.frontend(net.public_ip("pip-lb", "20.0.0.9") if draw(st.booleans()) else None)
    pool = lb.pool()
    if draw(st.booleans()):
        lb.rule("lbr", fe, pool, draw(st.sampled_from([25, 2525, 22])), draw(st.sampled_from([25, 22, 587])),
                draw(st.sampled_from(["Tcp", "Udp", "All"])))
    nat = lb.nat_rule("nat", fe, 50025, draw(st.sampled_from([25, 22])))
    addresses = []
    for i in range(draw(st.integers(1, 4))):
        s = draw(st.integers(0, 1))
        ip = f"10.0.{s + 1}.{4 + i}"
        addresses.append(ip)
        pe = draw(st.integers(0, 3)) == 0
        ipv6 = f"fd00:db8:0:{s + 1}::{4 + i}" if not pe and draw(st.booleans()) else None
        pip6 = net.public_ip(f"pip{i}-v6", f"2603:1030::{i}", version="IPv6") if ipv6 and draw(st.booleans()) \
            else None
        pip = net.public_ip(f"pip{i}", f"20.0.1.{i}") if not pe and draw(st.booleans()) else None
        net.nic(f"nic{i}", subnets[s], ip, nsg=draw(maybe_nsg), public_ip=pip,
                vm=None if pe else net.vm(f"vm{i}"), ipv6=ipv6, public_ipv6=pip6, private_endpoint=pe,
                pools=(pool,) if not pe and draw(st.booleans()) else (),
                nat_rules=(nat,) if not pe and draw(st.booleans()) else (),
                asgs=tuple(asg(net, a) for a in draw(st.lists(st.sampled_from(ASGS), unique=True))))
    if draw(st.booleans()):
        hub_firewall(draw, net, addresses + ["10.0.1.99"])
    if draw(st.integers(0, 2)) == 0:
        listeners = [(f"l{j}", draw(st.sampled_from(["Tcp", "Tls", "Http"])), 2222 + j)
                     for j in range(draw(st.integers(1, 2)))]
        backend = draw(st.lists(st.sampled_from(addresses), min_size=1, unique=True))
        net.app_gateway("agw", net.public_ip("pip-agw", "20.2.2.2"), listeners, backend,
                        draw(st.sampled_from([22, 25, 587])))
    return net


def _with_admin_rule(net: Network, access: str) -> tuple[list, list]:
    """The records with one more admin rule of the workload VNet: ``access`` for every TCP packet,
    before every other rule."""
    nsgs, topo = copy.deepcopy(net.records())
    rule = net.admin_rule("everything", access, 1, ["0-65535"], sources=["*"], protocol="Any")
    for rec in topo:
        if rec["type"].endswith("effectivesecurityadminrules") and rec["id"].lower().startswith(
                next(iter(net.vnets)).lower() + "/"):
            rec["properties"]["value"].append(rule)
    return nsgs, topo


def _endpoint_configs(topo: list) -> set[str]:
    return {c["id"].lower() for t in topo if t["type"] == "microsoft.network/networkinterfaces"
            and t["properties"].get("privateEndpoint") for c in t["properties"]["ipConfigurations"]}


@pytest.mark.slow(seconds=12)
@settings(max_examples=100)
@given(topologies(), st.sampled_from([25, 22]))
def test_engine_reach_equals_the_packet_walk_across_layers(net: Network, port: int) -> None:
    nsgs, topo = net.records()
    assert engine_reach(nsgs + topo, port) == reference_reach(nsgs, topo, port)


@settings(max_examples=60)
@given(topologies(), st.sampled_from([25, 22]))
def test_an_admin_deny_of_everything_leaves_only_private_endpoints(net: Network, port: int) -> None:
    nsgs, topo = net.records()
    before = reference_reach(nsgs, topo, port)
    nsgs, topo = _with_admin_rule(net, "Deny")
    endpoints = _endpoint_configs(topo)
    assert reference_reach(nsgs, topo, port) == {t for t in before if t[0] in endpoints}


@settings(max_examples=60)
@given(topologies(), st.sampled_from([25, 22]))
def test_an_admin_always_allow_of_everything_takes_nothing_away(net: Network, port: int) -> None:
    nsgs, topo = net.records()
    before = reference_reach(nsgs, topo, port)
    nsgs, topo = _with_admin_rule(net, "AlwaysAllow")
    after = reference_reach(nsgs, topo, port)
    endpoints = _endpoint_configs(topo)
    assert before <= after
    assert {t for t in after if t[0] in endpoints} == {t for t in before if t[0] in endpoints}


@settings(max_examples=60)
@given(topologies(), st.sampled_from([25, 22]))
def test_the_ipv4_answer_does_not_depend_on_ipv6_configurations(net: Network, port: int) -> None:
    nsgs, topo = net.records()
    before = reference_reach(nsgs, topo, port)
    v4 = copy.deepcopy(topo)
    for t in v4:
        if t["type"] == "microsoft.network/networkinterfaces":
            t["properties"]["ipConfigurations"] = [c for c in t["properties"]["ipConfigurations"]
                                                   if c["properties"].get("privateIPAddressVersion") != "IPv6"]
    assert reference_reach(nsgs, v4, port) == {t for t in before if not t[0].endswith("/ipconfig-v6")}
