"""The five wrong verdicts of issue 22, and one table test per clause of the layers' semantics,
through ``scan`` and ``reach`` (records as Resource Graph and the AVNM API return them)."""

from __future__ import annotations

import pytest

from auditkit.demo.network import Network
from auditkit.demo.synthetic import security_rule
from auditkit.engine.scan import reach, scan

SUB = "00000000-0000-4000-8000-0000000000cc"


def allow(name: str, prio: int, port: str, sources: list[str], access: str = "Allow") -> dict:
    return security_rule("x", name, prio, access, "Tcp", sources, [port], ["*"])


def hub_and_spoke(nsg_rules: list[dict] | None = None, dnat_sources: list[str] | None = None,
                  classic: bool = False) -> Network:
    net = Network(SUB)
    hub = net.vnet("vnet-hub", "10.0.0.0/16")
    fw_subnet = net.subnet(hub, "AzureFirewallSubnet", "10.0.1.0/26")
    spoke = net.vnet("vnet-spoke", "10.1.0.0/16")
    nsg = net.nsg("nsg-mail", nsg_rules or [])
    subnet = net.subnet(spoke, "mail", "10.1.0.0/24", nsg)
    net.nic("nic-mail", subnet, "10.1.0.4", vm=net.vm("vm-mail"))
    pip = net.public_ip("pip-fw", "20.1.1.1")
    rule = net.dnat_rule("smtp-in", "20.1.1.1", "25", "10.1.0.4", "25", sources=dnat_sources, classic=classic)
    if classic:
        net.firewall("fw-hub", fw_subnet, "10.0.1.4", [pip], classic_dnat=[rule])
    else:
        policy = net.firewall_policy("fwp-hub")
        net.dnat_collection(policy, "rcg-dnat", "dnat-in", [rule])
        net.firewall("fw-hub", fw_subnet, "10.0.1.4", [pip], policy=policy)
    return net


def records(net: Network) -> list[dict]:
    nsgs, topo = net.records()
    return nsgs + topo


def by_layer(findings, layer: str):
    return findings[findings["layer"] == layer].reset_index(drop=True)


@pytest.mark.parametrize("classic", [False, True])
def test_a_mail_server_published_through_the_hub_firewall_is_a_reachable_finding(classic: bool) -> None:
    recs = records(hub_and_spoke(classic=classic))
    found = scan(recs, ports=(25,)).findings
    dnat = by_layer(found, "firewall-dnat")
    assert len(dnat) == 1 and dnat.at[0, "exposure"] == "reachable" and dnat.at[0, "severity"] == "critical"
    route = dnat.at[0, "endpoints"][0]["route"]
    assert route.startswith("firewall fw-hub DNAT rule") and "20.1.1.1:25 -> 10.1.0.4:25 -> subnet NSG nsg-mail" in route
    out = reach(recs, 25)
    assert out["path"].tolist() == ["firewall-dnat"] and out["vm_name"].tolist() == ["vm-mail"]


def test_dnat_from_narrow_sources_is_no_internet_path() -> None:
    recs = records(hub_and_spoke(dnat_sources=["198.51.100.0/24"]))
    assert by_layer(scan(recs, ports=(25,)).findings, "firewall-dnat").empty
    assert reach(recs, 25).empty


def test_dnat_behind_an_nsg_deny_from_the_firewall_subnet_is_blocked() -> None:
    recs = records(hub_and_spoke([allow("deny-vnet", 100, "25", ["VirtualNetwork"], "Deny")]))
    dnat = by_layer(scan(recs, ports=(25,)).findings, "firewall-dnat")
    assert dnat.at[0, "exposure"] == "blocked"
    assert dnat.at[0, "endpoints"][0]["blocked_by"] == "nsg-mail: deny-vnet"
    assert reach(recs, 25).empty


def test_an_nsg_deny_from_the_internet_does_not_stop_dnat() -> None:
    # The backend sees the firewall's address, not the internet: Deny Internet does not apply.
    recs = records(hub_and_spoke([allow("deny-internet", 100, "25", ["Internet"], "Deny")]))
    assert by_layer(scan(recs, ports=(25,)).findings, "firewall-dnat").at[0, "exposure"] == "reachable"


def test_dnat_to_an_address_no_machine_holds_is_unknown_never_clean() -> None:
    net = hub_and_spoke()
    for rec in net.others:
        if rec["type"] == "microsoft.network/firewallpolicies/rulecollectiongroups":
            rec["properties"]["ruleCollections"][0]["rules"][0]["translatedAddress"] = "10.9.9.9"
    dnat = by_layer(scan(records(net), ports=(25,)).findings, "firewall-dnat")
    assert dnat.at[0, "exposure"] == "unknown-topology"


def test_dnat_rules_come_from_base_policies_and_ip_groups() -> None:
    net = Network(SUB)
    hub = net.vnet("vnet-hub", "10.0.0.0/16")
    fw_subnet = net.subnet(hub, "AzureFirewallSubnet", "10.0.1.0/26")
    net.nic("nic-ssh", net.subnet(hub, "app", "10.0.2.0/24"), "10.0.2.4", vm=net.vm("vm-ssh"))
    group = net.ip_group("ipg-everyone", ["0.0.0.0/1", "128.0.0.0/1"])
    parent = net.firewall_policy("fwp-parent")
    net.dnat_collection(parent, "rcg", "dnat", [net.dnat_rule("ssh-in", "20.1.1.1", "2222", "10.0.2.4", "22",
                                                               sources=[], ip_groups=[group])])
    child = net.firewall_policy("fwp-child")
    for rec in net.others:
        if rec["id"] == child:
            rec["properties"]["basePolicy"] = {"id": parent}
    net.firewall("fw", fw_subnet, "10.0.1.4", [net.public_ip("pip", "20.1.1.1")], policy=child)
    out = reach(records(net), 22)
    assert out["path"].tolist() == ["firewall-dnat"] and out["frontend_port"].tolist() == ["2222"]


def admin_vnet(nsg_rules: list[dict], admin: list[dict], *, with_record: bool = True) -> Network:
    net = Network(SUB)
    vnet = net.vnet("vnet-prod", "10.2.0.0/16")
    subnet = net.subnet(vnet, "app", "10.2.0.0/24", net.nsg("nsg-app", nsg_rules))
    net.nic("nic-app", subnet, "10.2.0.4", vm=net.vm("vm-app"), public_ip=net.public_ip("pip-app", "20.2.2.2"))
    if with_record:
        net.admin_rules(vnet, admin)
    return net


def test_an_admin_deny_drops_what_the_nsg_allows() -> None:
    net = admin_vnet([allow("rdp", 100, "3389", ["*"])],
                     [net_rule("deny-rdp", "Deny", 10, ["3389"])])
    found = scan(records(net), ports=(3389,)).findings
    nsg = by_layer(found, "nsg")
    assert nsg.at[0, "exposure"] == "blocked" and nsg.at[0, "severity"] == "medium"
    blocked_by = nsg.at[0, "endpoints"][0]["blocked_by"]
    assert blocked_by.startswith("admin rule deny-rdp (configuration cfg-security, collection rc-internet)")
    assert reach(records(net), 3389).empty


def test_an_admin_always_allow_delivers_what_the_nsg_denies() -> None:
    net = admin_vnet([allow("deny-ssh", 100, "22", ["*"], "Deny")],
                     [net_rule("ssh-always", "AlwaysAllow", 10, ["22"])])
    found = scan(records(net), ports=(22,)).findings
    admin = by_layer(found, "admin-rule")
    assert len(admin) == 1 and admin.at[0, "exposure"] == "reachable"
    out = reach(records(net), 22)
    assert out["vm_name"].tolist() == ["vm-app"]
    assert out["subnet_rule"].tolist() == ["(skipped: AlwaysAllow admin rule)"]


def test_an_admin_allow_hands_on_to_the_nsgs() -> None:
    net = admin_vnet([allow("deny-ssh", 100, "22", ["*"], "Deny")], [net_rule("ssh-allow", "Allow", 10, ["22"])])
    assert reach(records(net), 22).empty
    assert by_layer(scan(records(net), ports=(22,)).findings, "admin-rule").empty


@pytest.mark.parametrize(("first", "second", "reached"), [
    (("Deny", 10), ("AlwaysAllow", 20), False), (("AlwaysAllow", 10), ("Deny", 20), True),
    # equal priorities in two collections: the order is undocumented, never read as "blocked"
    (("Deny", 10), ("AlwaysAllow", 10), True)])
def test_admin_rules_decide_by_priority(first, second, reached: bool) -> None:
    rules = [net_rule("a", first[0], first[1], ["22"], collection="rc-a"),
             net_rule("b", second[0], second[1], ["22"], collection="rc-b")]
    net = admin_vnet([allow("ssh", 100, "22", ["*"], "Deny")], rules)
    assert (not reach(records(net), 22).empty) is reached


def test_an_admin_rule_for_udp_or_other_ports_does_not_decide() -> None:
    net = admin_vnet([allow("rdp", 100, "3389", ["*"])],
                     [net_rule("deny-udp", "Deny", 10, ["3389"], protocol="Udp"),
                      net_rule("deny-ssh", "Deny", 11, ["22"])])
    assert by_layer(scan(records(net), ports=(3389,)).findings, "nsg").at[0, "exposure"] == "reachable"


def test_unreadable_admin_rules_are_unknown_never_blocked() -> None:
    net = admin_vnet([allow("rdp", 100, "3389", ["*"])], [])
    net.others[-1]["properties"]["value"] = {"not": "a list"}
    nsg = by_layer(scan(records(net), ports=(3389,)).findings, "nsg")
    assert nsg.at[0, "exposure"] == "unknown-admin-rule"  # an admin Deny could drop it: not known
    assert nsg.at[0, "severity"] == "high"
    assert reach(records(net), 3389).attrs["incomplete"]
    net = admin_vnet([allow("rdp", 100, "3389", ["*"])], [net_rule("bad", "Deny", "x", ["3389"])])
    nsg = by_layer(scan(records(net), ports=(3389,)).findings, "nsg")
    assert nsg.at[0, "exposure"] == "unknown-admin-rule"


def net_rule(name: str, access: str, priority, ports: list[str], **kw) -> dict:
    return Network(SUB).admin_rule(name, access, priority, ports, **kw)


def dual_stack(rules: list[dict]) -> Network:
    net = Network(SUB)
    vnet = net.vnet("vnet-ds", "10.3.0.0/16")
    subnet = net.subnet(vnet, "ds", "10.3.0.0/24", net.nsg("nsg-ds", rules))
    net.nic("nic-ds", subnet, "10.3.0.4", vm=net.vm("vm-ds"), public_ip=net.public_ip("pip4", "20.3.3.3"),
            ipv6="fd00:db8::4", public_ipv6=net.public_ip("pip6", "2603:1000::4", version="IPv6"))
    return net


def test_a_dual_stack_vm_reachable_on_22_only_over_ipv6() -> None:
    net = dual_stack([allow("deny-v4", 100, "22", ["0.0.0.0/0"], "Deny"), allow("allow-v6", 110, "22", ["::/0"])])
    out = reach(records(net), 22)
    assert out["family"].tolist() == ["IPv6"] and out["public_ip"].tolist() == ["2603:1000::4"]
    nsg = scan(records(net), ports=(22,)).findings
    assert nsg.set_index("rule_name").at["allow-v6", "exposure"] == "reachable"


def test_an_ipv4_allow_does_not_admit_ipv6_and_a_star_admits_both() -> None:
    out = reach(records(dual_stack([allow("v4", 100, "22", ["0.0.0.0/0"])])), 22)
    assert out["family"].tolist() == ["IPv4"]
    out = reach(records(dual_stack([allow("all", 100, "22", ["*"])])), 22)
    assert sorted(out["family"]) == ["IPv4", "IPv6"]


def test_a_deny_from_internet_is_not_taken_to_block_ipv6() -> None:
    out = reach(records(dual_stack([allow("deny", 100, "22", ["Internet"], "Deny"), allow("all", 110, "22", ["*"])])),
                22)
    assert out["family"].tolist() == ["IPv6"]


def private_endpoint(policies: str | None) -> Network:
    net = Network(SUB)
    hub = net.vnet("vnet", "10.0.0.0/16")
    fw_subnet = net.subnet(hub, "AzureFirewallSubnet", "10.0.1.0/26")
    nsg = net.nsg("nsg-pe", [allow("deny", 100, "25", ["*"], "Deny")])
    subnet = net.subnet(hub, "pe", "10.0.3.0/24", nsg, private_endpoint_policies=policies)
    net.nic("nic-pe", subnet, "10.0.3.4", private_endpoint=True)
    policy = net.firewall_policy("fwp")
    net.dnat_collection(policy, "g", "c", [net.dnat_rule("in", "20.1.1.1", "25", "10.0.3.4", "25")])
    net.firewall("fw", fw_subnet, "10.0.1.4", [net.public_ip("pip", "20.1.1.1")], policy=policy)
    return net


@pytest.mark.parametrize(("policies", "reached"), [(None, True), ("Disabled", True), ("RouteTableEnabled", True),
                                                    ("Enabled", False), ("NetworkSecurityGroupEnabled", False)])
def test_a_private_endpoint_is_blocked_by_an_nsg_only_where_its_subnet_enforces_them(policies, reached) -> None:
    assert (not reach(records(private_endpoint(policies)), 25).empty) is reached


def test_an_app_gateway_tcp_listener_is_a_path_and_a_finding() -> None:
    net = Network(SUB)
    vnet = net.vnet("vnet", "10.4.0.0/16")
    net.subnet(vnet, "appgw", "10.4.9.0/24")
    net.nic("nic-smtp", net.subnet(vnet, "smtp", "10.4.0.0/24", net.nsg("nsg-smtp", [])), "10.4.0.4",
            vm=net.vm("vm-smtp"))
    net.app_gateway("agw", net.public_ip("pip-agw", "20.4.4.4"), [("smtp", "Tcp", 25)], ["10.4.0.4"], 25)
    recs = records(net)
    out = reach(recs, 25)
    assert out["path"].tolist() == ["app-gateway"] and out["public_ip"].tolist() == ["20.4.4.4"]
    gw = by_layer(scan(recs, ports=(25,)).findings, "app-gateway")
    assert gw.at[0, "exposure"] == "reachable"


def test_layer_coverage_says_per_subscription_what_was_evaluated() -> None:
    other = "00000000-0000-4000-8000-0000000000ee"
    with_rules = admin_vnet([allow("rdp", 100, "3389", ["*"])], [])
    without = Network(other)
    vnet = without.vnet("vnet-other", "10.9.0.0/16")
    without.nic("nic-o", without.subnet(vnet, "s", "10.9.0.0/24", without.nsg("nsg-o", [allow("r", 100, "22", ["*"])])),
                "10.9.0.4")
    cov = scan(records(with_rules) + records(without), ports=(22, 3389)).layers.set_index(["subscription_id", "layer"])
    assert cov.at[(SUB, "admin-rule"), "status"] == "evaluated"
    assert cov.at[(other, "admin-rule"), "status"] == "not in input"  # its VNet has no record, others have
    assert cov.at[(SUB, "firewall-dnat"), "status"] == "not in input"  # no firewall record anywhere
    assert set(scan(records(hub_and_spoke()), ports=(25,)).layers.set_index("layer").at["firewall-dnat", "status"]
               .split()) == {"evaluated"}


def test_an_admin_deny_where_avnm_may_not_apply_is_unknown_and_where_it_never_applies_is_ignored() -> None:
    # A VNet with a subnet delegated to SQL Managed Instance: admin rules are not applied there
    # unless the configuration says so (not read): the Deny is not known to drop anything.
    net = admin_vnet([allow("rdp", 100, "3389", ["*"])], [net_rule("deny-rdp", "Deny", 10, ["3389"])])
    vnet = next(iter(net.vnets))
    net.subnet(vnet, "sqlmi", "10.2.9.0/24")
    net.vnets[vnet]["properties"]["subnets"][-1]["properties"]["delegations"] = [
        {"name": "mi", "properties": {"serviceName": "Microsoft.Sql/managedInstances"}}]
    nsg = by_layer(scan(records(net), ports=(3389,)).findings, "nsg")
    assert nsg.at[0, "exposure"] == "unknown-admin-rule"
    # A gateway subnet: admin rules never apply, the NSG decides.
    net = Network(SUB)
    vnet = net.vnet("vnet-gw", "10.5.0.0/16")
    subnet = net.subnet(vnet, "GatewaySubnet", "10.5.0.0/27", net.nsg("nsg-gw", [allow("rdp", 100, "3389", ["*"])]))
    net.nic("nic-gw", subnet, "10.5.0.4", public_ip=net.public_ip("pip-gw", "20.5.5.5"))
    net.admin_rules(vnet, [net_rule("deny-rdp", "Deny", 10, ["3389"])])
    assert by_layer(scan(records(net), ports=(3389,)).findings, "nsg").at[0, "exposure"] == "reachable"


@pytest.mark.parametrize(("where", "value"), [("sourceAddresses", None), ("ipProtocols", 6), ("translatedPort", "smtp"),
                                              ("properties", [1, 2])])
def test_an_unreadable_dnat_rule_or_firewall_is_an_error_and_reach_is_incomplete(where: str, value) -> None:
    recs = records(hub_and_spoke())
    if where == "properties":
        next(r for r in recs if r["type"].endswith("azurefirewalls"))["properties"] = value
    else:
        rcg = next(r for r in recs if r["type"].endswith("rulecollectiongroups"))
        rcg["properties"]["ruleCollections"][0]["rules"][0][where] = value
    result = scan(recs, ports=(25,))
    assert len(result.errors) == 1 and "not" in result.errors.iloc[0]["message"]
    assert reach(recs, 25).attrs["incomplete"]  # never "nothing reaches" without saying why


@pytest.mark.parametrize(("field", "value"), [("priority", True), ("access", "Block"), ("destinationPortRanges", [])])
def test_an_unreadable_admin_rule_is_listed_among_the_errors(field: str, value) -> None:
    rule = net_rule("deny-rdp", "Deny", 10, ["3389"])
    rule["properties"][field] = value
    result = scan(records(admin_vnet([allow("rdp", 100, "3389", ["*"])], [rule])), ports=(3389,))
    assert by_layer(result.findings, "nsg").at[0, "exposure"] == "unknown-admin-rule"
    assert len(result.errors) == 1
