"""Table-driven tests of the exposure semantics: one case per line of the rules, named for what it proves."""

from __future__ import annotations

import pytest

import auditkit
from tests.builders import nsg, rule

Case = tuple  # (id, [rules], expected {(rule name, port)})

# 1. Custom inbound Allow only; direction and access compared case-insensitively.
DIRECTION_ACCESS: list[Case] = [
    ("inbound_allow_is_found", [rule("a")], {("a", 25)}),
    ("lower_case_direction_and_access", [rule("a", direction="inbound", access="allow")], {("a", 25)}),
    ("upper_case_direction_and_access", [rule("a", direction="INBOUND", access="ALLOW")], {("a", 25)}),
    ("outbound_allow_is_not", [rule("a", direction="Outbound")], set()),
    ("inbound_deny_is_not", [rule("a", access="Deny")], set()),
]

# 2. Protocol covers TCP.
PROTOCOL: list[Case] = [
    ("tcp", [rule("a", protocol="Tcp")], {("a", 25)}),
    ("tcp_upper", [rule("a", protocol="TCP")], {("a", 25)}),
    ("star", [rule("a", protocol="*")], {("a", 25)}),
    ("any", [rule("a", protocol="Any")], {("a", 25)}),
    ("udp_is_not", [rule("a", protocol="Udp")], set()),
    ("icmp_is_not", [rule("a", protocol="Icmp")], set()),
    ("esp_is_not", [rule("a", protocol="Esp")], set()),
    ("ah_is_not", [rule("a", protocol="Ah")], set()),
]

# 3. Destination port coverage, numeric.
PORTS: list[Case] = [
    ("single_port", [rule("a", port="25")], {("a", 25)}),
    ("star_covers_every_audited_port", [rule("a", port="*")], {("a", 25), ("a", 22), ("a", 3389)}),
    ("range_inclusive_low", [rule("a", port="25-30")], {("a", 25)}),
    ("range_inclusive_high", [rule("a", port="20-25")], {("a", 25), ("a", 22)}),
    ("range_covering_rdp", [rule("a", port="3000-4000")], {("a", 3389)}),
    ("list_entry", [rule("a", ports=["80", "443", "25"])], {("a", 25)}),
    ("list_with_range", [rule("a", ports=["80", "20-23"])], {("a", 22)}),
    ("2525_is_not_25", [rule("a", port="2525")], set()),
    ("250_is_not_25", [rule("a", port="250")], set()),
    ("26_30_is_not_25", [rule("a", port="26-30")], set()),
    ("125_is_not_25", [rule("a", port="125")], set()),
    ("singular_and_plural_merge", [rule("a", port="22", destinationPortRanges=["25"])], {("a", 22), ("a", 25)}),
    ("full_range_0_65535", [rule("a", port="0-65535")], {("a", 25), ("a", 22), ("a", 3389)}),
]

# 4. Internet-wide sources.
SOURCES: list[Case] = [
    ("star", [rule("a", src="*")], {("a", 25)}),
    ("any", [rule("a", src="Any")], {("a", 25)}),
    ("internet", [rule("a", src="Internet")], {("a", 25)}),
    ("internet_lower_case", [rule("a", src="internet")], {("a", 25)}),
    ("zero_slash_zero", [rule("a", src="0.0.0.0/0")], {("a", 25)}),
    ("ipv6_slash_zero", [rule("a", src="::/0")], {("a", 25)}),
    ("two_halves_of_ipv4", [rule("a", srcs=["0.0.0.0/1", "128.0.0.0/1"])], {("a", 25)}),
    ("four_quarters_of_ipv4", [rule("a", srcs=["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"])],
     {("a", 25)}),
    ("two_halves_of_ipv6", [rule("a", srcs=["::/1", "8000::/1"])], {("a", 25)}),
    ("one_half_is_partial", [rule("a", srcs=["0.0.0.0/1"])], set()),
    ("halves_with_a_hole", [rule("a", srcs=["0.0.0.0/1", "128.0.0.0/2", "224.0.0.0/3"])], set()),
    ("host_bits_masked", [rule("a", src="1.2.3.4/0")], {("a", 25)}),
    ("private_prefix", [rule("a", src="10.0.0.0/8")], set()),
    ("public_partial_prefix", [rule("a", src="203.0.113.0/24")], set()),
    ("virtual_network_tag", [rule("a", src="VirtualNetwork")], set()),
    ("load_balancer_tag", [rule("a", src="AzureLoadBalancer")], set()),
    ("azure_cloud_is_broad_not_finding", [rule("a", src="AzureCloud")], set()),
    ("application_security_group", [rule("a", src_asgs=["/subscriptions/x/asg/web"])], set()),
    ("star_among_private", [rule("a", srcs=["10.0.0.0/8", "*"])], {("a", 25)}),
    ("source_ports_never_limit", [rule("a", sport="1024-2048")], {("a", 25)}),
]

# 5. Shadowing by earlier Deny rules.
SHADOW: list[Case] = [
    ("deny_internet_first_shadows", [rule("d", 100, access="Deny", src="Internet"), rule("a", 200)], set()),
    ("deny_star_first_shadows", [rule("d", 100, access="Deny", src="*", port="*"), rule("a", 200)], set()),
    ("deny_after_allow_does_not", [rule("a", 100), rule("d", 200, access="Deny", src="*")], {("a", 25)}),
    ("equal_priority_is_not_earlier", [rule("d", 100, access="Deny"), rule("a", 100)], {("a", 25)}),
    ("two_slash_one_denies_shadow_zero_zero",
     [rule("d1", 100, access="Deny", src="0.0.0.0/1"), rule("d2", 110, access="Deny", src="128.0.0.0/1"),
      rule("a", 200, src="0.0.0.0/0")], set()),
    ("one_slash_one_deny_does_not",
     [rule("d1", 100, access="Deny", src="0.0.0.0/1"), rule("a", 200, src="0.0.0.0/0")], {("a", 25)}),
    ("deny_partial_prefix_does_not", [rule("d", 100, access="Deny", src="203.0.113.0/24"), rule("a", 200)],
     {("a", 25)}),
    ("deny_to_one_host_does_not", [rule("d", 100, access="Deny", dst="10.0.0.4"), rule("a", 200)], {("a", 25)}),
    ("deny_udp_only_does_not", [rule("d", 100, access="Deny", protocol="Udp"), rule("a", 200)], {("a", 25)}),
    ("deny_source_port_80_only_does_not", [rule("d", 100, access="Deny", sport="80"), rule("a", 200)],
     {("a", 25)}),
    ("outbound_deny_does_not", [rule("d", 100, access="Deny", direction="Outbound"), rule("a", 200)], {("a", 25)}),
    ("deny_other_port_does_not", [rule("d", 100, access="Deny", port="22"), rule("a", 200, port="22-25")],
     {("a", 25)}),
    ("deny_range_covering_port_shadows", [rule("d", 100, access="Deny", port="1-1024"), rule("a", 200)], set()),
    ("deny_zero_zero_does_not_cover_star_ipv6",
     [rule("d", 100, access="Deny", src="0.0.0.0/0"), rule("a", 200, src="*")], {("a", 25)}),
    ("deny_both_families_covers_star",
     [rule("d", 100, access="Deny", srcs=["0.0.0.0/0", "::/0"]), rule("a", 200, src="*")], set()),
    ("deny_internet_covers_zero_zero", [rule("d", 100, access="Deny", src="Internet"), rule("a", 200, src="0.0.0.0/0")],
     set()),
    ("deny_to_same_destination_shadows",
     [rule("d", 100, access="Deny", dst="10.0.0.0/24"), rule("a", 200, dst="10.0.0.4")], set()),
    ("deny_to_narrower_destination_does_not",
     [rule("d", 100, access="Deny", dst="10.0.0.4"), rule("a", 200, dst="10.0.0.0/24")], {("a", 25)}),
    ("deny_tcp_shadows_star_protocol_allow_for_tcp",
     [rule("d", 100, access="Deny", protocol="Tcp"), rule("a", 200, protocol="*")], set()),
    ("deny_star_protocol_shadows_tcp_allow", [rule("d", 100, access="Deny", protocol="*"), rule("a", 200)], set()),
    ("hidden_behind_earlier_allow_is_still_found", [rule("first", 100), rule("second", 200)],
     {("first", 25), ("second", 25)}),
    ("deny_shadows_only_its_port",
     [rule("d", 100, access="Deny", port="25"), rule("a", 200, ports=["22", "25"])], {("a", 22)}),
    ("malformed_deny_shadows_nothing",
     [rule("d", 100, access="Deny", src="Internet", sport="eighty"), rule("a", 200)], {("a", 25)}),
    ("default_deny_all_never_shadows_custom", [rule("a", 4096)], {("a", 25)}),
    ("ipv6_only_allow_to_ipv4_host_admits_nothing_so_is_not_proven_hidden",
     [rule("d", 100, access="Deny"), rule("a", 200, src="::/0", dst="10.0.0.0/24")], {("a", 25)}),
    ("deny_to_internet_tag_does_not_shadow_traffic_to_the_vnet",
     [rule("d", 100, access="Deny", dst="Internet"), rule("a", 200, dst="10.0.0.4")], {("a", 25)}),
    ("deny_to_internet_tag_shadows_allow_to_internet_tag",
     [rule("d", 100, access="Deny", dst="Internet"), rule("a", 200, dst="Internet")], set()),
    ("ipv4_denies_shadow_star_allow_to_ipv4_host",
     [rule("d", 100, access="Deny", src="0.0.0.0/0"), rule("a", 200, src="*", dst="10.0.0.4")], set()),
]


def _found(*rules: dict, **kw) -> set:
    result = auditkit.scan([nsg(*rules, **kw)])
    return {(f.rule_name, f.port) for f in result.findings.itertuples()}


@pytest.mark.parametrize("name,rules,expected", DIRECTION_ACCESS + PROTOCOL + PORTS + SOURCES + SHADOW,
                         ids=[c[0] for c in DIRECTION_ACCESS + PROTOCOL + PORTS + SOURCES + SHADOW])
def test_semantics(name: str, rules: list, expected: set) -> None:
    assert _found(*rules) == expected


def test_default_rules_never_produce_findings() -> None:
    # A default rule that would qualify by its fields still must not be a finding.
    record = nsg(defaults=False)
    record["properties"]["defaultSecurityRules"] = [rule("WeirdDefault", 65000, port="*", id="x")]
    assert auditkit.scan([record]).findings.empty


def test_unattached_nsg_finding_is_latent() -> None:
    result = auditkit.scan([nsg(rule("a"), attached=False), nsg(rule("b"), name="nsg-2")])
    sev = dict(zip(result.findings["rule_name"], result.findings["severity"], strict=True))
    att = dict(zip(result.findings["rule_name"], result.findings["attached"], strict=True))
    assert sev == {"a": "latent", "b": "high"}
    assert att == {"a": False, "b": True}


def test_nic_attachment_counts_as_attached() -> None:
    record = nsg(rule("a"), attached=False)
    record["properties"]["networkInterfaces"] = [{"id": "/subscriptions/x/nic/1"}]
    assert auditkit.scan([record]).findings["attached"].tolist() == [True]


def test_shadowed_findings_listed_on_request() -> None:
    rules = [rule("d", 100, access="Deny", src="Internet"), rule("a", 200)]
    plain = auditkit.scan([nsg(*rules)])
    assert plain.findings.empty
    assert plain.summary()["shadowed"] == 1
    shown = auditkit.scan([nsg(*rules)], include_shadowed=True)
    assert shown.findings[["rule_name", "shadowed", "severity"]].values.tolist() == [["a", True, "info"]]


def test_nsgs_with_same_name_in_two_resource_groups_are_different() -> None:
    result = auditkit.scan([nsg(rule("a"), name="nsg-web", rg="rg-1"), nsg(rule("a"), name="nsg-web", rg="rg-2")])
    assert result.findings["nsg_id"].nunique() == 2
    assert result.summary()["nsgs_with_findings"]["25"] == 2


def test_deny_in_another_nsg_does_not_shadow() -> None:
    result = auditkit.scan([nsg(rule("d", 100, access="Deny", src="*"), name="nsg-a"),
                            nsg(rule("a", 200), name="nsg-b")])
    assert {(f.nsg_name, f.rule_name) for f in result.findings.itertuples()} == {("nsg-b", "a")}


def test_nsg_ids_compare_case_insensitively() -> None:
    # Same NSG twice with different id case (overlapping pages): evaluated once.
    a = nsg(rule("a"))
    b = nsg(rule("a"))
    b["id"] = b["id"].upper()
    assert len(auditkit.scan([a, b]).findings) == 1


def test_custom_ports() -> None:
    assert _found(rule("a", port="587")) == set()
    result = auditkit.scan([nsg(rule("a", port="587"))], ports=(587,))
    assert result.findings["port"].tolist() == [587]


def test_broad_source_reported_apart() -> None:
    result = auditkit.scan([nsg(rule("a", src="AzureCloud", port="22"))])
    assert result.findings.empty
    assert result.broad["rule_name"].tolist() == ["a"]


def test_finding_fields() -> None:
    f = auditkit.scan([nsg(rule("a", srcs=["0.0.0.0/1", "128.0.0.0/1"], port="25"), tags={"owner": "x"})]).findings
    row = f.iloc[0]
    assert row["sources"] == ("0.0.0.0/1", "128.0.0.0/1")
    assert row["priority"] == 100
    assert row["protocol"] == "Tcp"
    assert row["subscription_id"].startswith("0000")
    assert row["resource_group"] == "rg-test"
    assert row["nsg_name"] == "nsg-test"
    assert row["tags"] == {"owner": "x"}
