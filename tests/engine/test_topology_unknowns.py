"""Never clean without knowing: what the topology cannot answer is ``unknown-topology``, never safe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditkit.engine.scan import reach, scan
from tests.engine.test_reachability import SUB, _lb_world, r
from tests.test_cli_scan import run

LB = "microsoft.network/loadbalancers"


def _without_lbs(kind: str) -> list[dict]:
    nsgs, topo = _lb_world(kind).records()
    return nsgs + [t for t in topo if t["type"] != LB]


@pytest.mark.parametrize("kind", ["rule", "nat", "nat-range"])
def test_a_pool_or_nat_rule_of_a_load_balancer_the_input_lacks_is_unknown(kind) -> None:
    res = scan(_without_lbs(kind))
    assert res.findings["exposure"].tolist() == ["unknown-topology"]
    assert res.findings["severity"].tolist() == ["high"]
    assert any("load balancer" in m for m in res.errors["message"])
    assert reach(_without_lbs(kind), 25).attrs["incomplete"]


def test_a_scale_set_nat_pool_of_a_missing_load_balancer_is_unknown() -> None:
    from auditkit.demo.network import Network

    n = Network(SUB)
    nsg = n.nsg("nsg-vmss", [r("Allow-SSH", 100, port="22")])
    lb = n.load_balancer("lb-vmss")
    pool = lb.nat_pool("ssh", lb.frontend(n.public_ip("pip-vmss", "20.0.0.50")), 50000, 50119, 22)
    n.vmss("vmss-web", n.subnet(n.vnet("vnet1"), "scale", "10.0.5.0/24"), nsg=nsg, nat_pools=(pool,))
    nsgs, topo = n.records()
    res = scan(nsgs + [t for t in topo if t["type"] != LB], ports=[22])
    assert res.findings["exposure"].tolist() == ["unknown-topology"]


def test_reach_cli_says_it_cannot_tell_when_a_load_balancer_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_without_lbs("rule")))
    out = run("reach", str(path), "--port", "25")
    assert out.returncode == 1, out.stdout
    assert "load balancer" in out.stderr
    assert "Nothing the internet reaches" not in out.stdout  # never "nothing" as if it knew
    assert "incomplete" in out.stdout
    out = run("reach", str(path), "--port", "25", "--format", "json")
    assert json.loads(out.stdout)["complete"] is False
    out = run("scan", str(path), "--format", "json")
    assert [f["exposure"] for f in json.loads(out.stdout)["findings"]] == ["unknown-topology"]


@pytest.mark.parametrize(("kind", "key"), [("rule", "backendPort"), ("rule", "frontendPort"), ("nat", "backendPort"),
                                           ("nat", "frontendPort"), ("nat-range", "frontendPortRangeStart")])
def test_a_load_balancer_rule_with_an_unreadable_port_is_unknown_not_no_public_path(kind, key) -> None:
    nsgs, topo = _lb_world(kind).records()
    lb = next(t for t in topo if t["type"] == LB)
    for rules in (lb["properties"]["loadBalancingRules"], lb["properties"]["inboundNatRules"]):
        for x in rules:
            x["properties"][key] = "smtp"
    res = scan(nsgs + topo)
    assert res.findings["exposure"].tolist() == ["unknown-topology"]
    assert any("'smtp' is not a port" in m for m in res.errors["message"])
    assert reach(nsgs + topo, 25).attrs["incomplete"]


def test_an_unreadable_allow_in_the_other_nsg_in_series_is_unknown_not_blocked(tmp_path: Path) -> None:
    from tests.engine.test_reachability import verdict, world

    n = world(subnet_rules=[r("Allow-SMTP-Subnet", 100)], nic_rules=[r("Allow-SMTP-Named", 100, port="smtp")])
    exposure, severity, (e,) = verdict(n)[("nsg-subnet", "Allow-SMTP-Subnet")]
    assert exposure == "unknown-topology"
    assert severity == "high"
    assert e["blocked_by"] is None
    nsgs, topo = n.records()
    res = scan(nsgs + topo)
    assert "could not be read" in res.findings["exposure_note"].iloc[0]
    assert reach(nsgs + topo, 25).attrs["incomplete"]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(nsgs + topo))
    out = run("reach", str(path), "--port", "25")
    assert out.returncode == 1
    assert "nsg-nic" in out.stderr
    # A rule that comes after the NSG's decision changes nothing: a readable earlier deny still blocks.
    n = world(subnet_rules=[r("Allow-SMTP-Subnet", 100)],
              nic_rules=[r("Deny-SMTP", 90, "Deny"), r("Allow-SMTP-Named", 100, port="smtp")])
    assert verdict(n)[("nsg-subnet", "Allow-SMTP-Subnet")][0] == "blocked"


def test_a_subnet_with_several_address_prefixes_is_matched_on_every_prefix() -> None:
    from auditkit.demo.network import Network

    n = Network(SUB)
    nsg = n.nsg("nsg-vmss", [r("Allow-SSH", 100, port="22", dst="10.0.6.0/24")])
    vnet = n.vnet("vnet1")
    n.vmss("vmss-pub", n.subnet(vnet, "scale", "10.0.5.0/24"), nsg=nsg, public_ip_per_instance=True)
    nsgs, topo = n.records()
    props = next(t for t in topo if t["id"] == vnet)["properties"]["subnets"][0]["properties"]
    props["addressPrefixes"] = [props.pop("addressPrefix"), "10.0.6.0/24"]
    f = scan(nsgs + topo, ports=[22]).findings
    assert f["exposure"].tolist() == ["reachable"]
    assert len(f["endpoints"].iloc[0]) == 1
    assert len(reach(nsgs + topo, 22)) == 1


def test_a_deny_over_part_of_a_scale_sets_prefix_never_blocks_the_whole_set() -> None:
    """A scale set profile stands for every address of its subnet: a Deny over half of it leaves
    the other half reached, so the Allow after it is reachable, never blocked; a Deny over all of it blocks."""
    from auditkit.demo.network import Network
    from tests.engine.test_reachability import verdict

    for deny_to, expected in (("10.0.5.0/25", "reachable"), ("10.0.5.0/24", "blocked"), ("10.0.0.0/16", "blocked")):
        m = Network(SUB)
        nsg = m.nsg("nsg-vmss", [r("Deny-Part", 100, "Deny", port="22", dst=deny_to), r("Allow-SSH", 200, port="22")])
        m.vmss("vmss-pub", m.subnet(m.vnet("v"), "scale", "10.0.5.0/24"), nsg=nsg, public_ip_per_instance=True)
        got = verdict(m, 22).get(("nsg-vmss", "Allow-SSH"), ("no finding",))[0]
        assert got == expected, (deny_to, verdict(m, 22))


def test_a_deny_to_ipv6_destinations_never_blocks_an_ipv4_endpoint() -> None:
    """Endpoints are reached over IPv4 here; a Deny whose destination is IPv6 drops no IPv4 packet."""
    from tests.engine.test_reachability import verdict, world

    n = world(nic_rules=[r("Deny-V6", 100, "Deny", dst="2001:db8::/32"), r("Allow-SMTP", 200)])
    assert verdict(n)[("nsg-nic", "Allow-SMTP")][0] == "reachable"
    n = world(nic_rules=[r("Deny-V4", 100, "Deny", dst="10.0.1.0/24"), r("Allow-SMTP", 200)])
    assert verdict(n).get(("nsg-nic", "Allow-SMTP"), ("blocked",))[0] == "blocked"
