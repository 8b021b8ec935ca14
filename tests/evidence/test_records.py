"""Input shapes, field merging and malformed input: nothing crashes, nothing is silently dropped."""

from __future__ import annotations

import json

import pytest

import auditkit
from auditkit.engine.rules import rules_table
from auditkit.errors import InputError
from auditkit.evidence.records import read_records, records_from
from tests.builders import nsg, rule


def _records() -> list[dict]:
    return [nsg(rule("a"), name="nsg-1"), nsg(rule("b", port="22"), name="nsg-2")]


@pytest.mark.parametrize("shape", ["list", "data", "value", "table"])
def test_every_export_shape_gives_same_findings(shape: str, tmp_path) -> None:
    recs = _records()
    if shape == "list":
        obj = recs
    elif shape == "data":
        obj = {"totalRecords": 2, "count": 2, "resultTruncated": "false", "data": recs}
    elif shape == "value":
        obj = {"value": recs}
    else:
        cols = list(recs[0])
        obj = {"data": {"columns": [{"name": c, "type": "string"} for c in cols],
                        "rows": [[r[c] for c in cols] for r in recs]}}
    path = tmp_path / "export.json"
    path.write_text(json.dumps(obj))
    f = auditkit.scan(path).findings
    assert sorted(zip(f["nsg_name"], f["rule_name"], f["port"], strict=True)) == [("nsg-1", "a", 25), ("nsg-2", "b", 22)]


def test_az_network_nsg_list_shape() -> None:
    # az network nsg list: same record shape, resourceGroup field, no subscriptionId.
    rec = nsg(rule("a"))
    del rec["subscriptionId"]
    rec["resourceGroup"] = "RG-Test"
    row = auditkit.scan([rec]).findings.iloc[0]
    assert row["subscription_id"] == "00000000-0000-4000-8000-000000000001"
    assert row["resource_group"] == "RG-Test"


def test_other_resource_types_are_left_out() -> None:
    vnet = {"id": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/v",
            "type": "microsoft.network/virtualnetworks", "properties": {}}
    assert len(records_from([vnet, nsg(rule("a"))])) == 1


@pytest.mark.parametrize("content,needle", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00", "not"),
    (b'"just a string"', "unknown shape"),
    (b'{"foo": 1}', "unknown shape"),
    (b'{"data": 5}', "expected a list"),
])
def test_bad_files_give_one_line_errors(tmp_path, content: bytes, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_records(path)
    message = str(info.value)
    assert needle in message
    assert str(path) in message
    assert "\n" not in message


def test_missing_file_is_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_records(tmp_path / "nope.json")


def test_singular_and_plural_fields_merge() -> None:
    r = rule("a", src="10.0.0.1", sourceAddressPrefixes=["10.0.0.2"], port="22", destinationPortRanges=["25", "80"],
             sport="", sourcePortRanges=["1-2"], dst="", destinationAddressPrefixes=["10.1.0.0/16"])
    t = rules_table([nsg(r, defaults=False)]).rules
    row = t.iloc[0]
    assert row["source_prefixes"] == ("10.0.0.1", "10.0.0.2")
    assert row["destination_ports"] == ("22", "25", "80")
    assert row["source_ports"] == ("1-2",)
    assert row["destination_prefixes"] == ("10.1.0.0/16",)


def test_rules_table_has_one_row_per_rule_with_nsg_context() -> None:
    t = rules_table([nsg(rule("a"), rule("b", 200), tags={"owner": "me"})]).rules
    assert len(t) == 8  # 2 custom + 6 default
    assert t["default"].sum() == 6
    assert set(t["rule_name"]) >= {"a", "b", "DenyAllInBound"}
    assert (t["tags"].map(lambda x: x == {"owner": "me"})).all()
    assert t["attached"].all()


MALFORMED = [
    ("port_name", rule("bad", port="smtp"), "destinationPortRange", "'smtp'"),
    ("missing_priority", rule("bad", priority=None), "priority", "missing"),
    ("priority_text", rule("bad", priority="high"), "priority", "missing"),
    ("priority_huge", rule("bad", priority=1e30), "priority", "out of range"),
    ("priority_infinite", rule("bad", priority=float("inf")), "priority", "out of range"),
    ("priority_big_int", rule("bad", priority=2**70), "priority", "out of range"),
    ("unknown_protocol", rule("bad", protocol="Gre"), "protocol", "'Gre'"),
    ("bad_cidr", rule("bad", src="10.0.0.300/8"), "sourceAddressPrefix", "'10.0.0.300/8'"),
    ("bad_prefix_length", rule("bad", src="10.0.0.0/33"), "sourceAddressPrefix", "over 32"),
    ("port_out_of_range", rule("bad", port="70000"), "destinationPortRange", "outside"),
    ("reversed_range", rule("bad", port="30-20"), "destinationPortRange", "start is after"),
    ("no_destination_port", rule("bad", port=""), "destinationPortRange", "no destination port"),
    ("no_source", rule("bad", src=""), "sourceAddressPrefix", "no source address"),
    ("bad_direction", rule("bad", direction="Sideways"), "direction", "'Sideways'"),
    ("missing_access", rule("bad", access=None), "access", "not set"),
    ("bad_ipv6", rule("bad", src="2001:db8:::1/64"), "sourceAddressPrefix", "IPv6"),
    ("garbage_source", rule("bad", src="$$$"), "sourceAddressPrefix", "not an address"),
]


@pytest.mark.parametrize("name,bad,field,text", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_rule_is_reported_and_the_rest_evaluated(name: str, bad: dict, field: str, text: str) -> None:
    result = auditkit.scan([nsg(bad, rule("good", 300)), nsg(rule("other"), name="nsg-2")])
    errs = result.errors
    assert len(errs) >= 1
    e = errs.iloc[0]
    assert e["rule_name"] == "bad"
    assert e["field"] == field
    assert text in e["message"]
    assert e["nsg_id"].endswith("/nsg-test")
    assert {("nsg-test", "good"), ("nsg-2", "other")} <= set(zip(result.findings["nsg_name"],
                                                                 result.findings["rule_name"], strict=True))


def test_malformed_records_are_reported() -> None:
    result = auditkit.scan(["not a record", {"name": "no-id", "properties": {}},
                            {"id": "/subscriptions/s/resourceGroups/r/providers/x/networkSecurityGroups/n",
                             "properties": "broken"}, nsg(rule("a"))])
    assert result.errors["field"].tolist()[:3] == ["record", "id", "properties"]
    assert len(result.findings) == 1


def test_error_never_hides_exposure_of_readable_entries() -> None:
    # One bad entry among the ports: the readable ones are still evaluated.
    result = auditkit.scan([nsg(rule("a", ports=["smtp", "25"]))])
    assert result.findings["port"].tolist() == [25]
    assert result.errors["field"].tolist() == ["destinationPortRange"]


def test_empty_input_is_not_a_clean_tenant() -> None:
    from auditkit.evidence.records import EmptyInput

    with pytest.raises(EmptyInput, match="not a clean tenant"):
        auditkit.scan([])
    result = auditkit.scan([], allow_empty=True)
    assert result.findings.empty
    assert result.errors.empty
    assert result.summary()["nsgs"] == 0
    assert result.summary()["findings"] == 0


def test_rule_that_is_not_an_object_is_reported_once_with_its_position() -> None:
    first = nsg(rule("a"), name="nsg-1")
    second = nsg(rule("b"), name="nsg-2")
    second["properties"]["securityRules"].insert(0, "garbage")
    result = auditkit.scan([first, second])
    assert result.errors[["field", "message"]].values.tolist() == [
        ["securityRules", "rule #0 is not a JSON object (str)"]]
    assert result.errors["nsg_id"].iloc[0].endswith("/nsg-2")
    assert len(result.findings) == 2
