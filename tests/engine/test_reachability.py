"""Effective exposure, clause by clause: NSGs in series, destinations, public paths, verdicts."""

from __future__ import annotations

import pytest

from auditkit.demo.network import Network
from auditkit.demo.synthetic import security_rule
from auditkit.engine.scan import reach, scan
from auditkit.errors import InputError

SUB = "00000000-0000-4000-8000-0000000000aa"


def r(name: str, prio: int, access: str = "Allow", src: tuple = ("*",), port: str = "25", dst="*",
      dst_asgs: tuple = ()) -> dict:
    x = security_rule("x", name, prio, access, "Tcp", list(src), [port], ["*"])
    props = x["properties"]
    if isinstance(dst, list):
        del props["destinationAddressPrefix"]
        props["destinationAddressPrefixes"] = dst
    else:
        props["destinationAddressPrefix"] = dst
    if dst_asgs:
        del props["destinationAddressPrefix"]
        props["destinationApplicationSecurityGroups"] = [{"id": a} for a in dst_asgs]
    return x


def world(**kw):
    """A VNet with subnet ``app`` (10.0.1.0/24) and one NIC 10.0.1.4 on VM ``vm1``; options below."""
    n = Network(SUB)
    nic_nsg = n.nsg("nsg-nic", kw.get("nic_rules", [r("Allow-SMTP", 100)])) if kw.get("nic_nsg", True) else None
    sub_nsg = n.nsg("nsg-subnet", kw["subnet_rules"]) if "subnet_rules" in kw else None
    vnet = n.vnet("vnet1")
    subnet = n.subnet(vnet, "app", "10.0.1.0/24", sub_nsg)
    pip = n.public_ip("pip1", "20.0.0.1", kw.get("sku", "Standard")) if kw.get("public_ip", True) else None
    asgs = tuple(n.asg(a) for a in kw.get("asgs", ()))
    vm = n.vm("vm1")
    n.nic("nic1", subnet, kw.get("ip", "10.0.1.4"), nsg=nic_nsg, public_ip=pip, vm=vm, asgs=asgs)
    return n


def verdict(n: Network, port: int = 25):
    nsgs, topo = n.records()
    f = scan(nsgs + topo, ports=[port]).findings
    return {(row.nsg_name, row.rule_name): (row.exposure, row.severity, row.endpoints) for row in f.itertuples()}


def only(n: Network, port: int = 25):
    v = verdict(n, port)
    assert len(v) == 1, v
    return next(iter(v.values()))


def asg_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/applicationSecurityGroups/{name}"


def test_nic_rule_with_public_ip_and_no_subnet_nsg_is_reachable_and_critical() -> None:
    exposure, severity, eps = only(world())
    assert (exposure, severity) == ("reachable", "critical")
    (e,) = eps
    assert e["vm_name"] == "vm1"
    assert e["private_ip"] == "10.0.1.4"
    assert e["public_ip"] == "20.0.0.1"
    assert e["path"] == "public-ip"
    assert e["frontend_port"] == "25"
    assert e["blocked_by"] is None
    assert e["nic_id"].endswith("/networkinterfaces/nic1")
    assert e["vm_id"].endswith("/virtualmachines/vm1")


def test_subnet_nsg_that_denies_blocks_the_nic_rule() -> None:
    v = verdict(world(subnet_rules=[r("Deny-SMTP", 100, "Deny")]))
    exposure, severity, (e,) = v[("nsg-nic", "Allow-SMTP")]
    assert (exposure, severity) == ("blocked", "medium")
    assert e["blocked_by"] == "nsg-subnet: Deny-SMTP"
    assert e["path"] == "public-ip"


def test_subnet_nsg_without_an_internet_rule_blocks_by_its_default_deny() -> None:
    v = verdict(world(subnet_rules=[r("Allow-SMTP-Gateway", 100, src=("198.51.100.0/24",))]))
    exposure, _, (e,) = v[("nsg-nic", "Allow-SMTP")]
    assert exposure == "blocked"
    assert e["blocked_by"] == "nsg-subnet: DenyAllInBound"


def test_nic_nsg_that_denies_blocks_the_subnet_rule() -> None:
    v = verdict(world(subnet_rules=[r("Allow-SMTP-Subnet", 100)], nic_rules=[r("Deny-SMTP", 100, "Deny")]))
    exposure, _, (e,) = v[("nsg-subnet", "Allow-SMTP-Subnet")]
    assert exposure == "blocked"
    assert e["blocked_by"] == "nsg-nic: Deny-SMTP"


def test_both_nsgs_allow_then_both_findings_are_reachable() -> None:
    v = verdict(world(subnet_rules=[r("Allow-SMTP-Subnet", 100)]))
    assert {k: x[0] for k, x in v.items()} == {("nsg-nic", "Allow-SMTP"): "reachable",
                                             ("nsg-subnet", "Allow-SMTP-Subnet"): "reachable"}


def test_subnet_only_nsg_governs_its_nics() -> None:
    exposure, _, (e,) = only(world(nic_nsg=False, subnet_rules=[r("Allow-SMTP-Subnet", 100)]))
    assert exposure == "reachable"
    assert e["vm_name"] == "vm1"


@pytest.mark.parametrize(("dst", "expected"), [
    ("10.0.1.4", "reachable"), ("10.0.1.0/24", "reachable"), ("10.0.0.0/16", "reachable"),
    (["10.9.9.9", "10.0.1.4/32"], "reachable"), ("VirtualNetwork", "reachable"),
    ("10.0.1.5", "blocked"), ("10.0.2.0/24", "blocked"), ("Internet", "blocked"), ("Storage", "blocked"),
])
def test_the_rules_own_destination_decides_which_endpoints_it_exposes(dst, expected) -> None:
    exposure, _, (e,) = only(world(nic_rules=[r("Allow-SMTP", 100, dst=dst)]))
    assert exposure == expected
    if expected == "blocked":
        assert e["blocked_by"] == "nsg-nic: Allow-SMTP (its destination does not include this endpoint)"


def test_destination_application_security_groups_apply_only_to_members() -> None:
    member = world(asgs=("asg-mail",), nic_rules=[r("Allow-SMTP", 100, dst_asgs=(asg_id("asg-mail"),))])
    assert only(member)[0] == "reachable"
    other = world(asgs=("asg-web",), nic_rules=[r("Allow-SMTP", 100, dst_asgs=(asg_id("asg-mail"),))])
    assert only(other)[0] == "blocked"


def test_an_earlier_internet_deny_for_this_endpoint_only_blocks_it_in_the_same_nsg() -> None:
    exposure, _, (e,) = only(world(nic_rules=[r("Deny-Host", 90, "Deny", dst="10.0.1.4"), r("Allow-SMTP", 100)]))
    assert exposure == "blocked"
    assert e["blocked_by"] == "nsg-nic: Deny-Host"
    assert only(world(nic_rules=[r("Deny-Host", 90, "Deny", dst="10.0.1.9"), r("Allow-SMTP", 100)]))[0] \
        == "reachable"


def test_narrow_source_rules_neither_open_nor_close_to_the_internet() -> None:
    v = verdict(world(subnet_rules=[r("Deny-Scanners", 90, "Deny", src=("198.51.100.0/24",)),
                                    r("Allow-SMTP-Subnet", 100)]))
    assert v[("nsg-nic", "Allow-SMTP")][0] == "reachable"


def test_allowed_without_public_path_is_no_public_path_and_high() -> None:
    exposure, severity, (e,) = only(world(public_ip=False))
    assert (exposure, severity) == ("no-public-path", "high")
    assert e["path"] is None
    assert e["public_ip"] is None
    assert e["blocked_by"] is None


def test_nsg_governing_no_endpoint_is_latent_and_low() -> None:
    n = world()
    n.nsg("nsg-spare", [r("Allow-SMTP-Spare", 100)])
    vnet = n.vnet("vnet2", "10.1.0.0/16")
    n.subnet(vnet, "empty", "10.1.0.0/24", n.nsg("nsg-empty-subnet", [r("Allow-SMTP-Empty", 100)]))
    v = verdict(n)
    assert v[("nsg-spare", "Allow-SMTP-Spare")][:2] == ("latent", "low")
    assert v[("nsg-empty-subnet", "Allow-SMTP-Empty")][:2] == ("latent", "low")


def _lb_world(kind: str, backend: int = 25, frontend_public: bool = True, protocol: str = "Tcp"):
    n = Network(SUB)
    nsg = n.nsg("nsg-nic", [r("Allow-SMTP", 100)])
    vnet = n.vnet("vnet1")
    subnet = n.subnet(vnet, "app", "10.0.1.0/24")
    lb = n.load_balancer("lb1")
    fe = lb.frontend(n.public_ip("pip-lb", "20.0.0.9") if frontend_public else None)
    pool = lb.pool()
    nat_rules: tuple = ()
    if kind == "rule":
        lb.rule("smtp", fe, pool, 2525, backend, protocol)
    elif kind == "nat":
        nat_rules = (lb.nat_rule("nat-smtp", fe, 50025, backend),)
    elif kind == "nat-range":
        lb.nat_rule("nat-range", fe, 50000, backend, pool=pool, frontend_port_end=50099)
    n.nic("nic1", subnet, "10.0.1.4", nsg=nsg, vm=n.vm("vm1"), pools=(pool,), nat_rules=nat_rules)
    return n


@pytest.mark.parametrize(("kind", "path", "frontend"), [
    ("rule", "load-balancer", "2525"), ("nat", "inbound-nat", "50025"), ("nat-range", "inbound-nat", "50000-50099"),
])
def test_load_balancer_paths_show_the_frontend_port_the_internet_sees(kind, path, frontend) -> None:
    exposure, _, (e,) = only(_lb_world(kind))
    assert exposure == "reachable"
    assert (e["path"], e["frontend_port"], e["public_ip"]) == (path, frontend, "20.0.0.9")


@pytest.mark.parametrize("variant", ["other-backend-port", "internal-frontend", "udp"])
def test_load_balancer_without_a_public_tcp_path_to_the_port_is_not_a_path(variant) -> None:
    n = _lb_world("rule", backend=587 if variant == "other-backend-port" else 25,
                  frontend_public=variant != "internal-frontend", protocol="Udp" if variant == "udp" else "Tcp")
    assert only(n)[0] == "no-public-path"


def test_scale_set_profiles_are_endpoints_with_nat_pools_and_per_instance_public_ips() -> None:
    n = Network(SUB)
    nsg = n.nsg("nsg-vmss", [r("Allow-SSH", 100, port="22")])
    vnet = n.vnet("vnet1")
    subnet = n.subnet(vnet, "scale", "10.0.5.0/24")
    lb = n.load_balancer("lb-vmss")
    fe = lb.frontend(n.public_ip("pip-vmss", "20.0.0.50"))
    pool = lb.nat_pool("ssh", fe, 50000, 50119, 22)
    n.vmss("vmss-web", subnet, nsg=nsg, nat_pools=(pool,))
    exposure, _, (e,) = only(n, 22)
    assert exposure == "reachable"
    assert (e["path"], e["frontend_port"]) == ("inbound-nat", "50000-50119")
    assert e["vm_name"] == "vmss-web (scale set)"
    m = Network(SUB)
    nsg = m.nsg("nsg-vmss", [r("Allow-SSH", 100, port="22", dst="10.0.5.0/24")])
    vnet = m.vnet("vnet1")
    m.vmss("vmss-pub", m.subnet(vnet, "scale", "10.0.5.0/24"), nsg=nsg, public_ip_per_instance=True)
    exposure, _, (e,) = only(m, 22)
    assert exposure == "reachable"
    assert e["public_ip"] == "(one per instance)"
    assert e["path"] == "public-ip"


def test_input_without_topology_keeps_the_old_verdict_and_says_why() -> None:
    nsgs, _ = world().records()
    f = scan(nsgs).findings
    assert list(f["exposure"]) == ["unknown-topology"]
    assert list(f["severity"]) == ["high"]
    assert "no topology" in f["exposure_note"].iloc[0]


def test_an_attachment_missing_from_the_topology_is_unknown_not_latent() -> None:
    n = world(public_ip=False)
    nsgs, topo = n.records()
    nics = [t for t in topo if t["type"] != "microsoft.network/networkinterfaces"]
    f = scan(nsgs + nics).findings
    assert list(f["exposure"]) == ["unknown-topology"]
    assert list(f["severity"]) == ["high"]
    assert "does not hold" in f["exposure_note"].iloc[0]


def test_exposure_can_be_switched_off() -> None:
    nsgs, topo = world().records()
    f = scan(nsgs + topo, exposure=False).findings
    assert list(f["exposure"]) == ["unknown-topology"]
    assert list(f["severity"]) == ["high"]


def test_reach_lists_what_the_internet_reaches_with_the_rules_that_let_it_in() -> None:
    n = world(subnet_rules=[r("Allow-SMTP-Subnet", 100)])
    nsgs, topo = n.records()
    out = reach(nsgs + topo, 25)
    assert len(out) == 1
    row = out.iloc[0]
    assert (row["vm_name"], row["public_ip"], row["frontend_port"], row["path"]) == ("vm1", "20.0.0.1", "25",
                                                                                     "public-ip")
    assert (row["subnet_nsg"], row["subnet_rule"], row["nic_nsg"], row["nic_rule"]) == \
        ("nsg-subnet", "Allow-SMTP-Subnet", "nsg-nic", "Allow-SMTP")
    assert reach(nsgs + topo, 22).empty


@pytest.mark.parametrize(("sku", "reachable"), [("Standard", False), ("Basic", True)])
def test_endpoint_without_any_nsg_is_open_only_behind_a_basic_public_ip(sku, reachable) -> None:
    nsgs, topo = world(nic_nsg=False, sku=sku).records()
    assert len(reach(nsgs + topo, 25)) == int(reachable)


def test_reach_refuses_an_input_without_topology() -> None:
    nsgs, _ = world().records()
    with pytest.raises(InputError, match="no topology"):
        reach(nsgs, 25)


def test_nsg_referenced_but_not_collected_is_never_assumed_to_deny() -> None:
    n = world()
    nsgs, topo = n.records()
    ghost = f"/subscriptions/{SUB}/resourceGroups/rg-other/providers/Microsoft.Network/networkSecurityGroups/ghost"
    for t in topo:
        if t["type"] == "microsoft.network/virtualnetworks":
            t["properties"]["subnets"][0]["properties"]["networkSecurityGroup"] = {"id": ghost}
    assert scan(nsgs + topo).findings["exposure"].tolist() == ["reachable"]
    assert reach(nsgs + topo, 25)["subnet_rule"].tolist() == ["(NSG not in snapshot)"]


def test_malformed_topology_records_are_reported_and_the_rest_is_read() -> None:
    nsgs, topo = world().records()
    broken = [{"id": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/networkInterfaces/bad",
               "type": "microsoft.network/networkInterfaces", "properties": {"ipConfigurations": "nope"}},
              {"type": "microsoft.network/loadbalancers", "name": "no-id"}]
    res = scan(nsgs + topo + broken)
    assert res.findings["exposure"].tolist() == ["reachable"]
    messages = res.errors["message"].tolist()
    assert any("expected a list" in m for m in messages)
    assert any("cannot be linked" in m for m in messages)


def test_a_rule_whose_destination_misses_the_endpoint_is_blocked_even_when_another_rule_admits_it() -> None:
    v = verdict(world(nic_rules=[r("Allow-SMTP-Other", 100, dst="10.0.1.5"), r("Allow-SMTP", 110)]))
    assert v[("nsg-nic", "Allow-SMTP")][0] == "reachable"
    exposure, severity, (e,) = v[("nsg-nic", "Allow-SMTP-Other")]
    assert (exposure, severity) == ("blocked", "medium")
    assert "destination does not include" in e["blocked_by"]


def test_a_malformed_membership_never_turns_into_blocked_or_latent() -> None:
    # A lost ASG membership would make the subnet rule miss the NIC (blocked); an unreadable scale set
    # profile would leave its NSG governing nothing (latent). Both must say unknown-topology.
    n = world(asgs=("asg-mail",), nic_nsg=False,
              subnet_rules=[r("Allow-SMTP", 100, dst_asgs=(asg_id("asg-mail"),))])
    nsgs, topo = n.records()
    nic = next(t for t in topo if t["type"] == "microsoft.network/networkinterfaces")
    nic["properties"]["ipConfigurations"][0]["properties"]["applicationSecurityGroups"] = [{"id": 5}]
    res = scan(nsgs + topo)
    assert res.findings["exposure"].tolist() == ["unknown-topology"]
    assert "malformed record" in res.findings["exposure_note"].iloc[0]
    assert "not a resource reference" in " ".join(res.errors["message"])
    m = Network(SUB)
    nsg = m.nsg("nsg-vmss", [r("Allow-SSH", 100, port="22")])
    m.vmss("vmss", m.subnet(m.vnet("v"), "s", "10.0.5.0/24"), nsg=nsg)
    nsgs, topo = m.records()
    vmss = next(t for t in topo if t["type"] == "microsoft.compute/virtualmachinescalesets")
    vmss["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"][0][
        "properties"]["ipConfigurations"] = "nope"
    assert scan(nsgs + topo, ports=[22]).findings["exposure"].tolist() == ["unknown-topology"]


def test_an_invalid_private_address_is_reported() -> None:
    nsgs, topo = world(ip="999.1.1.1").records()
    res = scan(nsgs + topo)
    assert "'999.1.1.1' is not an IP address" in res.errors["message"].tolist()
    assert res.findings["exposure"].tolist() == ["reachable"]  # a proven path stays proven
