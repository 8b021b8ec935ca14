"""The layers of issue 22 clause by clause (/tmp/spec22.md): AVNM admin rules, firewall DNAT, App
Gateway TCP/TLS listeners, IPv6, private endpoint policies. Each case is a small explicit topology
with the answer written by hand; the oracle (``engine.reference.reference_reach``) must give it,
and the engine's ``reach`` must give the oracle's answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from auditkit.demo.network import Network
from auditkit.demo.synthetic import security_rule
from auditkit.engine.reference import reference_reach
from auditkit.engine.scan import reach

SUB = "00000000-0000-4000-8000-0000000000cc"
NIC4 = "10.0.1.4"
NIC6 = "fd00:db8:0:1::4"
FIREWALL_IP = "10.100.0.4"
FW_PUBLIC = "20.1.1.1"

CASES: dict[str, Callable[[], tuple[Network, int, set]]] = {}


def case(fn: Callable[[], tuple[Network, int, set]]) -> Callable:
    CASES[fn.__name__] = fn
    return fn


def r(name: str, prio: int, access: str = "Allow", src: tuple = ("*",), port: str = "22", dst: str = "*",
      protocol: str = "Tcp") -> dict:
    """An inbound NSG rule."""
    x = security_rule("x", name, prio, access, protocol, list(src), [port], ["*"])
    x["properties"]["destinationAddressPrefix"] = dst
    return x


def cid(name: str = "nic1", v6: bool = False) -> str:
    nic = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/networkInterfaces/{name}"
    return f"{nic}/ipConfigurations/{'ipconfig-v6' if v6 else 'ipconfig1'}".lower()


def world(nsg: list | None = None, *, admin: list | None = None, public_ip: bool = True, ipv6: bool = False,
          public_ipv6: bool = False, pe: bool = False, policies: str | None = None,
          pip_version: str = "IPv4") -> Network:
    """VNet ``vnet-app`` (10.0.0.0/16, with ``ipv6`` also fd00:db8::/48), subnet ``app`` and NIC
    ``nic1`` at 10.0.1.4 (with ``ipv6`` a second ip configuration fd00:db8:0:1::4); ``nsg`` the
    NIC NSG's custom rules (None: no NSG); ``admin`` the VNet's effective admin rules."""
    n = Network(SUB)
    nsg_id = n.nsg("nsg-nic", nsg) if nsg is not None else None
    vnet = n.vnet("vnet-app")
    subnet = n.subnet(vnet, "app", "10.0.1.0/24", private_endpoint_policies=policies)
    if ipv6:
        n.vnets[vnet]["properties"]["addressSpace"]["addressPrefixes"].append("fd00:db8::/48")
        n.vnets[vnet]["properties"]["subnets"][0]["properties"]["addressPrefixes"] = ["10.0.1.0/24",
                                                                                      "fd00:db8:0:1::/64"]
    n.admin_rules(vnet, admin or [])
    pip = n.public_ip("pip1", "20.0.0.1" if pip_version == "IPv4" else "2603:1030::1", version=pip_version) \
        if public_ip else None
    pip6 = n.public_ip("pip1-v6", "2603:1030::10", version="IPv6") if public_ipv6 else None
    n.nic("nic1", subnet, NIC4, nsg=nsg_id, public_ip=pip, vm=None if pe else n.vm("vm1"),
          ipv6=NIC6 if ipv6 else None, public_ipv6=pip6, private_endpoint=pe)
    return n


def hub(n: Network, rules: list | None = None, *, classic: list | None = None, attach: bool = True) -> str | None:
    """A hub VNet with firewall ``fw-hub`` (10.100.0.4, public 20.1.1.1); ``rules``: the DNAT rules
    of its policy (one collection); ``classic``: its classic DNAT rules. Returns the policy id."""
    vnet = n.vnet("vnet-hub", "10.100.0.0/16")
    subnet = n.subnet(vnet, "AzureFirewallSubnet", "10.100.0.0/26")
    n.admin_rules(vnet, [])
    pip = n.public_ip("pip-fw", FW_PUBLIC)
    policy = n.firewall_policy("fwp-hub") if rules is not None else None
    if policy and rules:
        n.dnat_collection(policy, "rcg-dnat", "dnat-in", rules)
    n.firewall("fw-hub", subnet, FIREWALL_IP, [pip], policy=policy if attach else None, classic_dnat=classic)
    return policy


def smtp(port: str = "25", target: str = NIC4, translated: str = "25", **kw) -> dict:
    return Network.dnat_rule("smtp-in", FW_PUBLIC, port, target, translated, **kw)


def gateway(n: Network, protocol: str = "Tcp", backend_port: int = 22, backend: tuple = (NIC4,)) -> str:
    return n.app_gateway("agw", n.public_ip("pip-agw", "20.2.2.2"), [("ssh", protocol, 2222)], list(backend),
                         backend_port)


def admin(name: str, access: str, prio: int, port: str = "22", **kw) -> dict:
    return Network.admin_rule(Network(SUB), name, access, prio, [port], **kw)


def network_group(rule: dict, side: str = "destinations") -> dict:
    rule["properties"][side] = [{"addressPrefix": f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/"
                                 "Microsoft.Network/networkManagers/avnm-corp/networkGroups/ng-prod",
                                 "addressPrefixType": "NetworkGroup"}]
    return rule


PUBLIC_22 = {(cid(), "public-ip", "22")}
ALLOW_22 = [r("Allow-SSH", 100)]
DENY_22 = [r("Deny-SSH", 100, "Deny")]


# --- 1. AVNM security admin rules ------------------------------------------------------------------------

@case
def no_admin_rule_nsg_allow_is_reachable():
    return world(ALLOW_22), 22, PUBLIC_22


@case
def admin_deny_drops_an_nsg_allow():
    return world([r("Allow-RDP", 100, port="3389")], admin=[admin("deny-rdp", "Deny", 10, "3389")]), 3389, set()


@case
def admin_always_allow_delivers_an_nsg_deny():
    return world(DENY_22, admin=[admin("jump-ssh", "AlwaysAllow", 10)]), 22, PUBLIC_22


@case
def admin_always_allow_delivers_without_any_nsg():
    # Reading chosen: AlwaysAllow skips the NSG stage, the Standard SKU's "closed until an NSG
    # allows" included (never "blocked" without knowing).
    return world(None, admin=[admin("jump-ssh", "AlwaysAllow", 10)]), 22, PUBLIC_22


@case
def admin_allow_continues_to_an_nsg_deny():
    return world(DENY_22, admin=[admin("ok-ssh", "Allow", 10)]), 22, set()


@case
def admin_allow_continues_to_an_nsg_allow():
    return world(ALLOW_22, admin=[admin("ok-ssh", "Allow", 10)]), 22, PUBLIC_22


@case
def admin_lower_priority_number_first_deny():
    rules = [admin("aa", "AlwaysAllow", 20), admin("deny", "Deny", 10)]
    return world(ALLOW_22, admin=rules), 22, set()


@case
def admin_lower_priority_number_first_always_allow():
    rules = [admin("deny", "Deny", 20), admin("aa", "AlwaysAllow", 10)]
    return world(DENY_22, admin=rules), 22, PUBLIC_22


@case
def admin_tie_always_allow_before_deny():
    rules = [admin("deny", "Deny", 10), admin("aa", "AlwaysAllow", 10)]
    return world(DENY_22, admin=rules), 22, PUBLIC_22


@case
def admin_tie_allow_before_deny_then_nsg_allows():
    rules = [admin("deny", "Deny", 10), admin("allow", "Allow", 10)]
    return world(ALLOW_22, admin=rules), 22, PUBLIC_22


@case
def admin_tie_allow_before_deny_then_nsg_denies():
    rules = [admin("deny", "Deny", 10), admin("allow", "Allow", 10)]
    return world(DENY_22, admin=rules), 22, set()


@case
def admin_tie_always_allow_before_allow():
    rules = [admin("allow", "Allow", 10), admin("aa", "AlwaysAllow", 10)]
    return world(DENY_22, admin=rules), 22, PUBLIC_22


@case
def admin_udp_deny_does_not_match():
    return world(ALLOW_22, admin=[admin("deny-udp", "Deny", 10, protocol="Udp")]), 22, PUBLIC_22


@case
def admin_udp_always_allow_does_not_match():
    return world(DENY_22, admin=[admin("aa-udp", "AlwaysAllow", 10, protocol="Udp")]), 22, set()


@case
def admin_any_protocol_deny_matches():
    return world(ALLOW_22, admin=[admin("deny-any", "Deny", 10, protocol="Any")]), 22, set()


@case
def admin_other_port_does_not_match():
    return world(ALLOW_22, admin=[admin("deny-rdp", "Deny", 10, "3389")]), 22, PUBLIC_22


@case
def admin_port_range_matches():
    return world(ALLOW_22, admin=[admin("deny-low", "Deny", 10, "20-30")]), 22, set()


@case
def admin_all_ports_match():
    return world(ALLOW_22, admin=[admin("deny-all", "Deny", 10, "0-65535")]), 22, set()


@case
def admin_destination_other_subnet_does_not_match():
    return world(ALLOW_22, admin=[admin("deny", "Deny", 10, destinations=["10.0.2.0/24"])]), 22, PUBLIC_22


@case
def admin_destination_the_address_matches():
    return world(ALLOW_22, admin=[admin("deny", "Deny", 10, destinations=[NIC4])]), 22, set()


@case
def admin_destination_virtual_network_matches():
    return world(ALLOW_22, admin=[admin("deny", "Deny", 10, destinations=["VirtualNetwork"])]), 22, set()


@case
def admin_destination_network_group_never_matches_a_deny():
    return world(ALLOW_22, admin=[network_group(admin("deny", "Deny", 10))]), 22, PUBLIC_22


@case
def admin_destination_network_group_matches_an_always_allow():
    return world(DENY_22, admin=[network_group(admin("aa", "AlwaysAllow", 10))]), 22, PUBLIC_22


@case
def admin_source_private_prefix_does_not_match_the_internet():
    return world(ALLOW_22, admin=[admin("deny", "Deny", 10, sources=["10.0.0.0/8"])]), 22, PUBLIC_22


@case
def admin_source_star_matches_the_internet():
    return world(ALLOW_22, admin=[admin("deny", "Deny", 10, sources=["*"])]), 22, set()


@case
def admin_outbound_rule_does_not_apply():
    return world(ALLOW_22, admin=[admin("deny", "Deny", 10, direction="Outbound")]), 22, PUBLIC_22


@case
def admin_rules_of_another_vnet_do_not_apply():
    n = world(ALLOW_22)
    n.admin_rules(n.vnet("vnet-other", "10.9.0.0/16"), [admin("deny", "Deny", 10)])
    return n, 22, PUBLIC_22


@case
def admin_deny_ipv4_wide_source_drops_ipv4_only():
    n = world([r("Allow-SSH", 100)], admin=[admin("deny", "Deny", 10, sources=["0.0.0.0/0"])], ipv6=True,
              public_ipv6=True)
    return n, 22, {(cid(v6=True), "public-ip", "22")}


@case
def admin_deny_ipv6_wide_source_drops_ipv6_only():
    n = world([r("Allow-SSH", 100)], admin=[admin("deny", "Deny", 10, sources=["::/0"])], ipv6=True,
              public_ipv6=True)
    return n, 22, PUBLIC_22


@case
def admin_deny_internet_drops_ipv4_and_is_not_taken_to_drop_ipv6():
    # Whether the Internet tag holds IPv6 is undocumented: a Deny from it never blocks IPv6.
    n = world([r("Allow-SSH", 100)], admin=[admin("deny", "Deny", 10)], ipv6=True, public_ipv6=True)
    return n, 22, {(cid(v6=True), "public-ip", "22")}


# --- 2. Azure Firewall DNAT: the packet arrives from the firewall's private address --------------------

DNAT_25 = {(cid(), "firewall-dnat", "25")}


def mail(nsg: list | None = None, **kw) -> Network:
    """``world`` for SMTP behind the hub firewall: no public IP of its own, NSG defaults only."""
    return world([] if nsg is None else nsg, public_ip=False, **kw)


@case
def dnat_to_a_backend_with_default_rules_only_is_reachable():
    n = mail()
    hub(n, [smtp()])
    return n, 25, DNAT_25


@case
def dnat_frontend_port_is_the_rule_destination_port():
    n = mail()
    hub(n, [smtp(port="2525")])
    return n, 25, {(cid(), "firewall-dnat", "2525")}


@case
def dnat_needs_no_nsg():
    n = world(None, public_ip=False)
    hub(n, [smtp()])
    return n, 25, DNAT_25


@case
def dnat_blocked_by_an_nsg_deny_from_virtual_network():
    n = mail([r("Deny-Vnet", 100, "Deny", ("VirtualNetwork",), "25")])
    hub(n, [smtp()])
    return n, 25, set()


@case
def dnat_blocked_by_an_nsg_deny_of_the_firewall_prefix():
    n = mail([r("Deny-Hub", 100, "Deny", ("10.100.0.0/24",), "25")])
    hub(n, [smtp()])
    return n, 25, set()


@case
def dnat_not_blocked_by_an_nsg_deny_from_internet():
    n = mail([r("Deny-Internet", 100, "Deny", ("Internet",), "25")])
    hub(n, [smtp()])
    return n, 25, DNAT_25


@case
def dnat_not_blocked_by_an_nsg_deny_of_another_prefix():
    n = mail([r("Deny-Other", 100, "Deny", ("10.200.0.0/16",), "25")])
    hub(n, [smtp()])
    return n, 25, DNAT_25


@case
def dnat_with_narrow_sources_is_not_an_internet_path():
    n = mail()
    hub(n, [smtp(sources=["198.51.100.0/24"])])
    return n, 25, set()


@case
def dnat_with_ipv4_wide_sources_is_an_internet_path():
    n = mail()
    hub(n, [smtp(sources=["0.0.0.0/0"])])
    return n, 25, DNAT_25


@case
def dnat_ip_group_covering_the_internet_is_a_source():
    n = mail()
    group = n.ip_group("ipg-any", ["0.0.0.0/0"])
    hub(n, [smtp(sources=[], ip_groups=[group])])
    return n, 25, DNAT_25


@case
def dnat_narrow_ip_group_is_not_an_internet_source():
    n = mail()
    group = n.ip_group("ipg-partners", ["198.51.100.0/24", "192.0.2.0/24"])
    hub(n, [smtp(sources=[], ip_groups=[group])])
    return n, 25, set()


@case
def dnat_udp_rule_is_not_a_tcp_path():
    n = mail()
    hub(n, [smtp(protocols=["UDP"])])
    return n, 25, set()


@case
def dnat_any_protocol_is_a_tcp_path():
    n = mail()
    hub(n, [smtp(protocols=["Any"])])
    return n, 25, DNAT_25


@case
def dnat_translated_port_must_be_the_audited_port():
    n = mail()
    hub(n, [smtp(translated="587")])
    return n, 25, set()


@case
def dnat_translated_address_names_the_backend():
    n = mail()
    hub(n, [smtp(target="10.0.1.99")])
    return n, 25, set()


@case
def dnat_rule_of_a_base_policy_is_inherited():
    n = mail()
    base = n.firewall_policy("fwp-base")
    n.dnat_collection(base, "rcg-base", "dnat-base", [smtp()])
    child = hub(n, [])
    next(x for x in n.others if x["id"] == child)["properties"]["basePolicy"] = {"id": base}
    return n, 25, DNAT_25


@case
def dnat_rule_of_a_policy_no_firewall_uses_is_no_path():
    n = mail()
    hub(n, [smtp()], attach=False)
    return n, 25, set()


@case
def dnat_classic_rule_collection():
    n = mail()
    hub(n, classic=[smtp(classic=True)])
    return n, 25, DNAT_25


@case
def dnat_classic_udp_rule_is_no_path():
    n = mail()
    hub(n, classic=[smtp(classic=True, protocols=["UDP"])])
    return n, 25, set()


@case
def dnat_not_dropped_by_an_admin_deny_from_internet():
    n = mail(admin=[admin("deny-smtp", "Deny", 10, "25")])
    hub(n, [smtp()])
    return n, 25, DNAT_25


@case
def dnat_dropped_by_an_admin_deny_from_virtual_network():
    n = mail(admin=[admin("deny-vnet", "Deny", 10, "25", sources=["VirtualNetwork"])])
    hub(n, [smtp()])
    return n, 25, set()


@case
def dnat_dropped_by_an_admin_deny_of_the_firewall_prefix():
    n = mail(admin=[admin("deny-hub", "Deny", 10, "25", sources=["10.100.0.0/16"])])
    hub(n, [smtp()])
    return n, 25, set()


@case
def dnat_delivered_by_an_admin_always_allow_star():
    n = mail([r("Deny-All-25", 100, "Deny", ("*",), "25")],
             admin=[admin("aa-smtp", "AlwaysAllow", 10, "25", sources=["*"])])
    hub(n, [smtp()])
    return n, 25, DNAT_25


# --- 3. Application Gateway TCP/TLS listeners: from an unknown address of the gateway's subnet ---------

AGW = {(cid(), "app-gateway", "2222")}


@case
def app_gateway_tcp_listener_reaches_a_default_rules_backend():
    n = world([], public_ip=False)
    gateway(n)
    return n, 22, AGW


@case
def app_gateway_tls_listener_is_a_path():
    n = world([], public_ip=False)
    gateway(n, "Tls")
    return n, 22, AGW


@case
def app_gateway_http_listener_is_no_tcp_path():
    n = world([], public_ip=False)
    gateway(n, "Http")
    return n, 22, set()


@case
def app_gateway_backend_port_must_be_the_audited_port():
    n = world([], public_ip=False)
    gateway(n, backend_port=2022)
    return n, 22, set()


@case
def app_gateway_private_frontend_is_no_path():
    n = world([], public_ip=False)
    rid = gateway(n)
    gw = next(x for x in n.others if x["id"] == rid)
    gw["properties"]["frontendIPConfigurations"][0]["properties"] = {"privateIPAddress": "10.0.9.4"}
    return n, 22, set()


@case
def app_gateway_blocked_by_an_nsg_deny_star():
    n = world(DENY_22, public_ip=False)
    gateway(n)
    return n, 22, set()


@case
def app_gateway_blocked_by_an_nsg_deny_virtual_network():
    n = world([r("Deny-Vnet", 100, "Deny", ("VirtualNetwork",))], public_ip=False)
    gateway(n)
    return n, 22, set()


@case
def app_gateway_narrow_deny_is_assumed_not_to_match():
    n = world([r("Deny-Private", 100, "Deny", ("10.0.0.0/8",))], public_ip=False)
    gateway(n)
    return n, 22, AGW


@case
def app_gateway_deny_of_halves_covering_ipv4_matches():
    n = world([r("Deny-Halves", 100, "Deny", ("0.0.0.0/1", "128.0.0.0/1"))], public_ip=False)
    gateway(n)
    return n, 22, set()


@case
def app_gateway_narrow_allow_is_assumed_to_match():
    n = world([r("Allow-Gw", 100, "Allow", ("10.0.5.0/24",)), r("Deny-All", 200, "Deny")], public_ip=False)
    gateway(n)
    return n, 22, AGW


@case
def app_gateway_deny_holding_its_known_subnet_matches():
    # With the gateway's subnet in the records, a Deny prefix that holds all of it matches every
    # address the packet can come from (the spec's "narrower prefix" reading when it is unknown).
    n = world([r("Deny-Private", 100, "Deny", ("10.0.0.0/8",))], public_ip=False)
    vnet = next(iter(n.vnets))
    agw_subnet = n.subnet(vnet, "agw", "10.0.9.0/24")
    rid = gateway(n)
    gw = next(x for x in n.others if x["id"] == rid)
    gw["properties"]["gatewayIPConfigurations"] = [{"id": f"{rid}/gatewayIPConfigurations/gw", "name": "gw",
                                                     "properties": {"subnet": {"id": agw_subnet}}}]
    return n, 22, set()


@case
def app_gateway_not_blocked_by_an_nsg_deny_from_internet():
    n = world([r("Deny-Internet", 100, "Deny", ("Internet",))], public_ip=False)
    gateway(n)
    return n, 22, AGW


@case
def app_gateway_dropped_by_an_admin_deny_star():
    n = world([], public_ip=False, admin=[admin("deny", "Deny", 10, sources=["*"])])
    gateway(n)
    return n, 22, set()


@case
def app_gateway_not_dropped_by_an_admin_deny_from_internet():
    n = world([], public_ip=False, admin=[admin("deny", "Deny", 10)])
    gateway(n)
    return n, 22, AGW


# --- 4. IPv6: each family a packet of its own ------------------------------------------------------------

V6_22 = {(cid(v6=True), "public-ip", "22")}
BOTH_22 = PUBLIC_22 | V6_22


@case
def ipv6_public_ip_behind_deny_ipv4_then_allow_ipv6_reachable_over_ipv6_only():
    nsg = [r("Deny-v4", 100, "Deny", ("0.0.0.0/0",)), r("Allow-v6", 110, "Allow", ("::/0",))]
    return world(nsg, ipv6=True, public_ipv6=True), 22, V6_22


@case
def ipv4_wide_allow_does_not_admit_ipv6():
    return world([r("Allow-v4", 100, "Allow", ("0.0.0.0/0",))], ipv6=True, public_ipv6=True), 22, PUBLIC_22


@case
def star_and_internet_admit_both_families():
    nsg = [r("Allow-Internet", 100, "Allow", ("Internet",)), r("Allow-Any", 110, "Allow", ("*",), "25")]
    return world(nsg, ipv6=True, public_ipv6=True), 22, BOTH_22


@case
def ipv6_halves_cover_the_ipv6_internet():
    return world([r("Allow-v6", 100, "Allow", ("::/1", "8000::/1"))], ipv6=True, public_ipv6=True), 22, V6_22


@case
def ipv6_configuration_without_public_ipv6_has_no_path():
    return world(ALLOW_22, ipv6=True), 22, PUBLIC_22


@case
def ipv6_public_ip_on_an_ipv4_configuration_is_no_path():
    return world(ALLOW_22, pip_version="IPv6"), 22, set()


@case
def ipv6_public_ip_without_version_read_from_its_address():
    n = world(ALLOW_22, ipv6=True, public_ipv6=True)
    del n.pips[next(k for k in n.pips if k.endswith("pip1-v6"))]["properties"]["publicIPAddressVersion"]
    return n, 22, BOTH_22


@case
def nsg_ipv4_destination_does_not_apply_to_ipv6():
    nsg = [r("Allow-v4-dst", 100, "Allow", ("*",), dst="10.0.1.0/24")]
    return world(nsg, ipv6=True, public_ipv6=True), 22, PUBLIC_22


@case
def nsg_ipv6_destination_applies_to_ipv6():
    nsg = [r("Allow-v6-dst", 100, "Allow", ("*",), dst="fd00:db8:0:1::/64")]
    return world(nsg, ipv6=True, public_ipv6=True), 22, V6_22


@case
def ipv6_deny_star_blocks_both():
    return world(DENY_22, ipv6=True, public_ipv6=True), 22, set()


# --- 5. Private endpoints: NSGs enforced only under Enabled / NetworkSecurityGroupEnabled --------------

def endpoint(policies: str | None, nsg: list | None = None, **kw) -> Network:
    n = world([r("Deny-SMTP", 100, "Deny", ("*",), "25")] if nsg is None else nsg, public_ip=False, pe=True,
              policies=policies, **kw)
    hub(n, [smtp()])
    return n


@case
def private_endpoint_policies_disabled_not_blocked_by_nsg():
    return endpoint("Disabled"), 25, DNAT_25


@case
def private_endpoint_policies_absent_not_blocked_by_nsg():
    return endpoint(None), 25, DNAT_25


@case
def private_endpoint_route_table_only_not_blocked_by_nsg():
    return endpoint("RouteTableEnabled"), 25, DNAT_25


@case
def private_endpoint_nsg_enabled_blocked_by_nsg():
    return endpoint("NetworkSecurityGroupEnabled"), 25, set()


@case
def private_endpoint_policies_enabled_blocked_by_nsg():
    return endpoint("Enabled"), 25, set()


@case
def private_endpoint_is_not_subject_to_admin_rules():
    return endpoint("Enabled", [], admin=[admin("deny", "Deny", 10, "25", sources=["*"])]), 25, DNAT_25


@case
def private_endpoint_behind_an_app_gateway_not_blocked_by_nsg():
    n = world(DENY_22, public_ip=False, pe=True, policies="Disabled")
    gateway(n)
    return n, 22, AGW


# --- The tests --------------------------------------------------------------------------------------------

def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def engine_reach(records: list, port: int) -> set[tuple[str, str, str]]:
    """The engine's answer through the public API, as (ip configuration id, path, frontend port)."""
    got = reach(records, port)
    return {(str(i).lower(), str(p), _text(f))
            for i, p, f in zip(got["ipconfig_id"], got["path"], got["frontend_port"], strict=True)}


@pytest.mark.parametrize("name", list(CASES))
def test_the_oracle_answers_each_clause(name: str) -> None:
    net, port, expected = CASES[name]()
    nsgs, topo = net.records()
    assert reference_reach(nsgs, topo, port) == expected


@pytest.mark.parametrize("name", list(CASES))
def test_the_engine_answers_as_the_oracle(name: str) -> None:
    net, port, _ = CASES[name]()
    nsgs, topo = net.records()
    assert engine_reach(nsgs + topo, port) == reference_reach(nsgs, topo, port)
