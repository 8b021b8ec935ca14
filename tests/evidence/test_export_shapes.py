"""Real-shaped exports of every tool (tests/fixtures/exports) read alike, and a record whose rules
cannot be found is an error, never an NSG without rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import auditkit
from tests.builders import nsg, rule

EXPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
SHAPES = ["arm-list.json", "sdk-typespec-as-dict.json", "sdk-as-dict.json", "az-network-nsg-list.json",
          "az-graph-query.json"]
EXPECTED = {("nsg-mail", "Allow-SMTP-Any", 25, True), ("nsg-rdp", "Allow-RDP-Internet", 3389, True)}


@pytest.mark.parametrize("name", SHAPES)
def test_every_real_export_shape_reads_the_same(name: str) -> None:
    result = auditkit.scan(EXPORTS / name)
    f = result.findings
    assert set(zip(f["nsg_name"], f["rule_name"], f["port"], f["attached"], strict=True)) == EXPECTED
    assert result.errors.empty, result.errors.to_dict(orient="records")
    assert len(result.nsgs) == 3
    assert len(result.rules) == 22
    nsgs = result.nsgs.set_index("nsg_name")
    assert nsgs.loc["nsg-mail", "nics"] == 1
    assert nsgs.loc["nsg-rdp", "subnets"] == 1
    assert not nsgs.loc["nsg-unattached", "attached"]
    assert nsgs.loc["nsg-mail", "resource_guid"] == "6f1c2d3e-0000-4000-8000-00000000a001"
    assert nsgs.loc["nsg-mail", "resource_group"].lower() == "rg-mail-prod"
    assert nsgs.loc["nsg-mail", "tags"] == {"owner": "mail-team", "environment": "prod"}
    ssh = result.rules[result.rules["rule_name"] == "Allow-SSH-Corp"].iloc[0]
    assert ssh["source_prefixes"] == ("10.0.0.0/8", "192.168.0.0/16")
    assert ssh["destination_ports"] == ("22", "2222")
    smtp = result.rules[result.rules["rule_name"] == "Allow-SMTP-Any"].iloc[0]
    assert smtp["description"] == "owner=mail-team"


@pytest.mark.parametrize("name", ["sdk-as-dict.json", "az-network-nsg-list.json"])
def test_flattened_export_through_the_cli(name: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "auditkit", "scan", str(EXPORTS / name), "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["summary"]["findings"] == 2
    assert out["summary"]["rules"] == 22
    assert out["errors"] == []
    snaps = tmp_path / "snaps"
    r = subprocess.run([sys.executable, "-m", "auditkit", "collect", "--from-file", str(EXPORTS / name),
                        "--snapshots", str(snaps), "--as-of", "2026-10-01"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    again = auditkit.scan(next(snaps.iterdir()))
    assert len(again.findings) == 2
    assert len(again.rules) == 22


@pytest.mark.parametrize("record,needle", [
    ({"properties": {"provisioningState": "Succeeded"}}, "no securityRules or defaultSecurityRules"),
    ({}, "no securityRules or defaultSecurityRules"),
    ({"properties": None, "provisioningState": "Succeeded"}, "no securityRules"),
    ({"properties": ["not", "an", "object"]}, "properties: expected an object, got list"),
])
def test_record_without_any_rule_list_is_an_error_not_a_clean_nsg(record: dict, needle: str) -> None:
    bad = {"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/networkSecurityGroups/projected",
           "name": "projected", **record}
    result = auditkit.scan([bad, nsg(rule("a"))])
    errors = result.errors
    assert len(errors) == 1
    assert needle in errors["message"].iloc[0]
    assert errors["nsg_id"].iloc[0].endswith("/projected")
    assert "projected" not in set(result.nsgs["nsg_name"])  # not counted as an NSG with no rules
    assert len(result.findings) == 1


def test_empty_rule_lists_are_a_readable_nsg() -> None:
    # An NSG with no custom rules says so: securityRules is [] (az) or absent beside the defaults.
    flat = {"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/networkSecurityGroups/empty",
            "securityRules": [], "defaultSecurityRules": []}
    result = auditkit.scan([flat])
    assert result.errors.empty
    assert len(result.nsgs) == 1
    assert len(result.rules) == 0


WRONG_TYPES = [
    ("protocol", {"protocol": ["Tcp"]}, "protocol", "is a list, expected text"),
    ("access", {"access": {"value": "Allow"}}, "access", "is an object, expected text"),
    ("direction", {"direction": 1}, "direction", "is a number, expected text"),
    ("priority_bool", {"priority": True}, "priority", "is a boolean, expected a number"),
    ("priority_list", {"priority": [100]}, "priority", "is a list, expected a number"),
    ("source_object", {"sourceAddressPrefix": {"ip": "1.2.3.4"}}, "sourceAddressPrefix", "is an object"),
    ("ports_string_not_list", {"destinationPortRange": "", "destinationPortRanges": "25"}, "destinationPortRange",
     "expected a list"),
    ("port_entry_object", {"destinationPortRange": "", "destinationPortRanges": ["22", {"p": 25}]},
     "destinationPortRange", "an entry of the list is an object"),
    ("port_bool", {"destinationPortRange": True}, "destinationPortRange", "is a boolean"),
    ("description_list", {"description": ["owner=x"]}, "description", "is a list, expected text"),
    ("asg_not_list", {"sourceApplicationSecurityGroups": "asg-1"}, "sourceApplicationSecurityGroups",
     "expected a list"),
]


@pytest.mark.parametrize("name,fields,field,text", WRONG_TYPES, ids=[w[0] for w in WRONG_TYPES])
def test_field_of_the_wrong_type_is_an_error_and_the_rest_is_evaluated(name: str, fields: dict, field: str,
                                                                        text: str) -> None:
    bad = rule("bad", 150)
    bad["properties"].update(fields)
    result = auditkit.scan([nsg(bad, rule("good", 300)), nsg(rule("other"), name="nsg-2")])
    mine = result.errors[result.errors["field"] == field]
    assert len(mine) >= 1, result.errors.to_dict(orient="records")
    assert text in " ".join(mine["message"]), result.errors.to_dict(orient="records")
    assert set(mine["rule_name"]) == {"bad"}
    assert {("nsg-test", "good"), ("nsg-2", "other")} <= set(zip(result.findings["nsg_name"],
                                                                 result.findings["rule_name"], strict=True))


def test_port_numbers_written_as_json_numbers_are_ports() -> None:
    result = auditkit.scan([nsg(rule("a", port=25), rule("b", 200, port="", ports=[3389, "22"]))])
    assert sorted(zip(result.findings["rule_name"], result.findings["port"], strict=True)) == [
        ("a", 25), ("b", 22), ("b", 3389)]
    assert result.errors.empty


def test_rule_name_of_the_wrong_type_is_reported() -> None:
    bad = rule("x")
    bad["name"] = {"oops": 1}
    result = auditkit.scan([nsg(bad)])
    assert result.errors[["field", "message"]].values.tolist() == [["name", "is an object, expected text"]]


def test_duplicate_id_with_different_content_is_reported() -> None:
    a = nsg(rule("a"))
    same = json.loads(json.dumps(a))
    other = nsg(rule("b", port="22"))
    result = auditkit.scan([a, same, other])
    assert len(result.nsgs) == 1
    assert result.errors["message"].str.contains("repeats this NSG id with different content").tolist() == [True]


def test_tags_of_the_wrong_type_are_reported_and_kept_as_text() -> None:
    result = auditkit.scan([nsg(rule("a"), tags={"owner": {"team": "mail"}, "env": "prod"})])
    assert result.errors["field"].tolist() == ["tags"]
    assert result.nsgs["tags"].iloc[0] == {"owner": '{"team": "mail"}', "env": "prod"}
    bad = nsg(rule("a"))
    bad["tags"] = ["owner", "x"]
    result = auditkit.scan([bad])
    assert result.errors["message"].tolist() == ["expected an object of tags, got a list"]
    assert len(result.findings) == 1


def test_a_snapshot_keeps_the_same_errors_as_its_export(tmp_path: Path) -> None:
    from auditkit.collect import Rows, snapshot_from_records

    bad = rule("bad", 150)
    bad["properties"]["protocol"] = ["Tcp"]
    records = [nsg(bad, rule("good", 300)), {"id": "/subscriptions/s/resourceGroups/r/providers/x/y/z"}]
    direct = auditkit.scan(records)
    snap = snapshot_from_records(Rows(records), snapshots_dir=tmp_path, as_of="2026-10-01")
    again = auditkit.scan(snap)
    cols = ["nsg_id", "rule_name", "field", "message"]
    assert sorted(map(tuple, direct.errors[cols].values.tolist())) == sorted(map(tuple, again.errors[cols].values.tolist()))
    assert len(direct.errors) == 2


@pytest.mark.parametrize("content,needle", [
    ("[]", "no NSG records: an empty input is not a clean tenant"),
    ('{"data": [], "count": 0}', "no NSG records"),
    ('{"value": []}', "no NSG records"),
    ('[{"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/vm",'
     ' "type": "microsoft.compute/virtualmachines"}]', "no NSG records (1 records of other types)"),
])
@pytest.mark.parametrize("command", ["scan", "collect"])
def test_empty_input_is_refused_unless_allowed(content: str, needle: str, command: str, tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    export.write_text(content)
    args = ["scan", str(export)] if command == "scan" else \
        ["collect", "--from-file", str(export), "--snapshots", str(tmp_path / "snaps")]
    r = subprocess.run([sys.executable, "-m", "auditkit", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert needle in r.stderr
    assert "--allow-empty" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert str(export) in r.stderr
    assert not (tmp_path / "snaps").exists() or not any((tmp_path / "snaps").iterdir())
    r = subprocess.run([sys.executable, "-m", "auditkit", *args, "--allow-empty"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
