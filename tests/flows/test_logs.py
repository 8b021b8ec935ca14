"""Flow logs in every format and quirk, per-finding evidence, and the demo end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from auditkit.demo.synthetic import nsg_record, security_rule
from auditkit.flows.logs import read_flow_logs, read_paths
from auditkit.flows.sources import aggregate, classify, evidence_for
from auditkit.settings import load_settings

SUB = "dddddddd-0000-4000-8000-00000000000d"
NSG = f"/subscriptions/{SUB}/resourceGroups/rg-mail/providers/Microsoft.Network/networkSecurityGroups/nsg-mail"
RID = NSG.upper()
T0 = 1_790_000_000  # 2026-09-21


def nsg_blob(version: int, rule: str, tuples: list[str], mac: str = "00-0D-3A-11-22-33", rid: str = RID) -> bytes:
    rec = {"time": "2026-09-21T00:00:00Z", "systemId": "x", "category": "NetworkSecurityGroupFlowEvent",
           "resourceId": rid, "operationName": "NetworkSecurityGroupFlowEvents",
           "properties": {"Version": version, "flows": [{"rule": rule, "flows": [{"mac": mac, "flowTuples": tuples}]}]}}
    return json.dumps({"records": [rec]}).encode()


def vnet_blob(acl: str, rule: str, tuples: list[str]) -> bytes:
    rec = {"time": "2026-09-21T00:00:00Z", "flowLogVersion": 4, "flowLogGUID": "g", "macAddress": "00224871C205",
           "category": "FlowLogFlowEvent", "flowLogResourceID": "x", "targetResourceID": "y",
           "flowRecords": {"flows": [{"aclID": acl, "flowGroups": [{"rule": rule, "flowTuples": tuples}]}]}}
    return json.dumps({"records": [rec]}).encode()


def test_nsg_v1() -> None:
    logs = read_flow_logs([("v1.json", nsg_blob(1, "UserRule_Allow-SMTP", [
        f"{T0},203.0.113.5,10.0.0.4,50000,25,T,I,A", f"{T0},192.0.2.9,10.0.0.4,50001,25,U,I,D"]))])
    f = logs.flows
    assert f[["source", "destination_port", "protocol", "direction", "decision", "rule"]].values.tolist() == [
        ["203.0.113.5", 25, "T", "I", "A", "Allow-SMTP"], ["192.0.2.9", 25, "U", "I", "D", "Allow-SMTP"]]
    assert (f["nsg_id"] == NSG.lower()).all()
    assert (f["mac"] == "000D3A112233").all()
    assert f["time"].iloc[0] == pd.Timestamp(T0, unit="s", tz="UTC")
    assert f["log"].iloc[0] == "nsg-v1"


def test_nsg_v2_counters_summed_and_empty_on_begin_rows() -> None:
    logs = read_flow_logs([("v2.json", nsg_blob(2, "UserRule_Allow-SMTP", [
        f"{T0},203.0.113.5,10.0.0.4,50000,25,T,I,A,B,,,,",
        f"{T0 + 60},203.0.113.5,10.0.0.4,50000,25,T,I,A,C,3,1000,2,200",
        f"{T0 + 120},203.0.113.5,10.0.0.4,50000,25,T,I,A,E,4,3000,3,300"]))])
    f = logs.flows
    assert f["state"].tolist() == ["B", "C", "E"]
    assert f["bytes_src_to_dst"].sum() == 4000
    assert f["bytes_dst_to_src"].sum() == 500
    assert f["packets"].sum() == 12
    assert f["bytes"].tolist() == [0, 1200, 3300]


@pytest.mark.parametrize("ts,unit", [(T0, "s"), (T0 * 1000 + 123, "ms")])
def test_vnet_seconds_and_milliseconds(ts: int, unit: str) -> None:
    logs = read_flow_logs([("vnet.json", vnet_blob("GUID-1", "UserRule_Allow-SMTP", [
        f"{ts},101.33.218.153,10.0.0.6,55188,25,6,I,D,NX,0,0,0,0",
        f"{ts},101.33.218.154,10.0.0.6,55189,25,6,I,E,NX_ENCRYPTED,3,400,2,100"]))])
    f = logs.flows
    assert f["time"].iloc[0] == pd.Timestamp(ts, unit=unit, tz="UTC")
    assert f["decision"].tolist() == ["D", "A"]
    assert f["state"].tolist() == ["D", "E"]
    assert (f["acl_id"] == "guid-1").all()
    assert f["protocol"].tolist() == ["T", "T"]
    assert f["log"].iloc[0] == "vnet"
    assert f["bytes"].tolist() == [0, 500]


def test_truncated_blob_keeps_complete_records() -> None:
    recs = [json.loads(nsg_blob(2, "UserRule_A", [f"{T0 + i},203.0.113.{i},10.0.0.4,5000,25,T,I,A,B,,,,"]))[
        "records"][0] for i in range(3)]
    text = json.dumps({"records": recs})
    cut = text[: text.rindex("203.0.113.2")]  # the service was appending the third record
    logs = read_flow_logs([("appending.json", cut.encode())])
    assert logs.flows["source"].tolist() == ["203.0.113.0", "203.0.113.1"]
    assert logs.skipped["appending.json"] == {"incomplete_records": 1, "unreadable_records": 0, "malformed_tuples": 0,
                                                 "file_skipped": ""}


def test_malformed_tuples_are_counted_not_dropped_silently() -> None:
    logs = read_flow_logs([("bad.json", nsg_blob(2, "UserRule_A", [
        f"{T0},203.0.113.5,10.0.0.4,50000,25,T,I,A,B,,,,",
        "not,a,tuple",
        f"{T0},203.0.113.5,10.0.0.4,50000,smtp,T,I,A,B,,,,",
        f"{T0},999.1.1.1.1,10.0.0.4,50000,25,T,I,A,B,,,,",
        f"{T0},203.0.113.5,10.0.0.4,50000,25,X,I,A,B,,,,",
        f"{T0},203.0.113.5,10.0.0.4,50000,25,T,I,A,E,1,2,3,4"]))])
    assert len(logs.flows) == 2
    assert logs.skipped["bad.json"] == {"incomplete_records": 0, "unreadable_records": 0, "malformed_tuples": 4,
                                          "file_skipped": ""}


def test_not_json_at_all_is_skipped_not_fatal() -> None:
    logs = read_flow_logs([("junk.json", b"\x00\xffnot json"), ("ok.json", nsg_blob(1, "UserRule_A", [
        f"{T0},203.0.113.5,10.0.0.4,50000,25,T,I,A"]))])
    assert len(logs.flows) == 1
    assert logs.skipped["junk.json"]["file_skipped"] == "not UTF-8 text"


def test_resource_id_key_read_case_insensitively() -> None:
    blob = json.loads(nsg_blob(1, "UserRule_A", [f"{T0},203.0.113.5,10.0.0.4,50000,25,T,I,A"]))
    blob["records"][0]["resourceID"] = blob["records"][0].pop("resourceId")
    logs = read_flow_logs([("x.json", json.dumps(blob).encode())])
    assert logs.flows["nsg_id"].iloc[0] == NSG.lower()


def test_classify_and_aggregate() -> None:
    cls = classify(pd.Series(["203.0.113.9", "10.1.2.3", "192.0.2.25", "100.64.0.1", "fd00::1", "2001:db8::1"]),
                   ["203.0.113.0/24"])
    assert cls.tolist() == ["gateway", "private", "internet", "private", "private", "internet"]
    assert aggregate(["192.0.2.25", "192.0.2.26"], 24) == ["192.0.2.24/30"]
    assert aggregate(["192.0.2.1", "192.0.2.254", "198.51.100.7"], 24) == ["192.0.2.0/24", "198.51.100.7/32"]
    assert aggregate(["192.0.2.1", "192.0.3.1"], 24) == ["192.0.2.1/32", "192.0.3.1/32"]  # never wider than /24
    assert aggregate(["192.0.2.5"], 24, keep=["203.0.113.0/24"]) == ["192.0.2.5/32", "203.0.113.0/24"]


def _finding(rule: str, port: int = 25) -> pd.DataFrame:
    return pd.DataFrame([{"subscription_id": SUB, "resource_group": "rg-mail", "nsg_id": NSG, "nsg_name": "nsg-mail",
                          "rule_name": rule, "port": port, "priority": 100, "sources": ("*",), "attached": True}])


# The shipped defaults name no gateway; these tests play one (the demo's documentation prefixes).
# These tests look at one day of logs: the observation window (tested apart) is lowered to a day.
GATEWAY_SETTINGS = load_settings(overrides={"flows": {"mail_gateways": ["203.0.113.0/24", "198.51.100.16/28"],
                                                      "min_window_days": 1}})


def _session(src: str, t: int, rule: str = "UserRule_Allow-SMTP-Any") -> list[str]:
    return [f"{t},{src},10.0.0.4,40000,25,T,I,A,B,,,,", f"{t + 5},{src},10.0.0.4,40000,25,T,I,A,E,10,5000,8,900"]


def test_proposal_keeps_gateway_and_real_senders_and_drops_scanners() -> None:
    tuples = _session("203.0.113.10", T0) + _session("192.0.2.25", T0 + 100) + _session("192.0.2.26", T0 + 200)
    tuples += [f"{T0 + 300},45.1.2.3,10.0.0.4,1234,25,T,I,A,B,,,,",  # a scanner: SYN, nothing more
               f"{T0 + 301},45.1.2.3,10.0.0.4,1234,25,T,I,A,E,1,60,0,0"]  # a reset: bytes one way only
    logs = read_flow_logs([("f.json", nsg_blob(2, "UserRule_Allow-SMTP-Any", tuples))])
    [e] = evidence_for(_finding("Allow-SMTP-Any"), logs.flows, GATEWAY_SETTINGS)
    assert e["recommendation"] == "restrict"
    assert e["proposed_prefixes"] == ["192.0.2.24/30", "198.51.100.16/28", "203.0.113.0/24"]
    assert "45.1.2.3" not in " ".join(e["proposed_prefixes"])
    by_source = {s["source"]: s for s in e["sources"]}
    assert by_source["45.1.2.3"]["class"] == "internet"
    assert by_source["45.1.2.3"]["completed"] == 0
    assert by_source["203.0.113.10"]["class"] == "gateway"
    assert set(by_source["192.0.2.25"]) >= {"source", "class", "flows", "bytes", "allowed"}
    assert e["command"].startswith("az network nsg rule update")
    assert "192.0.2.24/30" in e["command"]
    assert json.loads(e["arm_patch"])["properties"]["sourceAddressPrefixes"] == e["proposed_prefixes"]
    assert "sourceAddressPrefixes: [ '192.0.2.24/30'" in e["bicep"]


def test_no_legitimate_traffic_means_decommission() -> None:
    logs = read_flow_logs([("f.json", nsg_blob(2, "UserRule_Allow-SMTP-Any", [
        f"{T0},45.1.2.3,10.0.0.4,1234,25,T,I,A,B,,,,"]))])
    [e] = evidence_for(_finding("Allow-SMTP-Any"), logs.flows, GATEWAY_SETTINGS)
    assert e["recommendation"] == "decommission"
    assert e["proposed_prefixes"] == []
    assert e["command"].startswith("az network nsg rule delete")
    assert "587" in e["note"]


def test_jit_rule_is_flagged_not_edited() -> None:
    rule = "SecurityCenter-JITRule-1-8a2f1c"
    logs = read_flow_logs([("f.json", nsg_blob(2, f"UserRule_{rule}", _session("192.0.2.25", T0)))])
    [e] = evidence_for(_finding(rule, port=25), logs.flows, GATEWAY_SETTINGS)
    assert e["recommendation"] == "jit-managed"
    assert e["command"] == ""


def test_truncated_rule_name_still_matches() -> None:
    long_name = "Allow-SMTP-From-The-Whole-Internet-Because-The-Legacy-Relay-Needed-It-In-2019"
    cut = ("UserRule_" + long_name)[:65]  # the service cuts names at 65 characters
    logs = read_flow_logs([("f.json", nsg_blob(2, cut, _session("192.0.2.25", T0)))])
    [e] = evidence_for(_finding(long_name), logs.flows, GATEWAY_SETTINGS)
    assert e["sources"]
    assert e["recommendation"] == "restrict"
    # A different rule that only shares a short prefix does not match.
    [other] = evidence_for(_finding("Allow-SMTP"), logs.flows, GATEWAY_SETTINGS)
    assert other["sources"] == []


def test_flows_of_other_nsg_port_or_direction_do_not_count() -> None:
    other = RID.replace("NSG-MAIL", "NSG-OTHER")
    blobs = [("a.json", nsg_blob(2, "UserRule_Allow-SMTP-Any", _session("192.0.2.25", T0), rid=other)),
             ("b.json", nsg_blob(2, "UserRule_Allow-SMTP-Any",
                                 [f"{T0},192.0.2.30,10.0.0.4,40000,587,T,I,A,E,1,900,1,900",
                                  f"{T0},10.0.0.4,192.0.2.31,40000,25,T,O,A,E,1,900,1,900"]))]
    [e] = evidence_for(_finding("Allow-SMTP-Any"), read_flow_logs(blobs).flows, GATEWAY_SETTINGS)
    assert e["sources"] == []
    assert e["recommendation"] == "decommission"


def test_vnet_flows_match_by_nsg_resource_guid() -> None:
    logs = read_flow_logs([("v.json", vnet_blob("AB12-GUID", "UserRule_Allow-SMTP-Any", [
        f"{T0 * 1000},192.0.2.25,10.0.0.4,40000,25,6,I,E,NX,10,5000,8,900"]))])
    [e] = evidence_for(_finding("Allow-SMTP-Any"), logs.flows, GATEWAY_SETTINGS, guids={NSG.lower(): "ab12-guid"})
    assert [s["source"] for s in e["sources"]] == ["192.0.2.25"]
    assert e["recommendation"] == "restrict"


def test_cli_flows_json_csv_table(tmp_path: Path) -> None:
    from auditkit.collect import Rows, snapshot_from_records

    rules = [security_rule(NSG, "Allow-SMTP-Any", 100, "Allow", "Tcp", ["*"], ["25"], ["*"])]
    snapshot_from_records(Rows([nsg_record(SUB, "rg-mail", "nsg-mail", rules)]), snapshots_dir=tmp_path / "s",
                          as_of="2026-10-01")
    logs = tmp_path / "logs" / "PT1H.json"
    logs.parent.mkdir()
    logs.write_bytes(nsg_blob(2, "UserRule_Allow-SMTP-Any", _session("192.0.2.25", T0) + ["bad,tuple"]))

    params = tmp_path / "one-day.yaml"
    params.write_text("flows:\n  min_window_days: 1\n")  # one day of logs in this test

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "auditkit", "flows", str(logs.parent), "--snapshot",
                               str(tmp_path / "s"), "--parameters", str(params), *args], capture_output=True,
                              text=True, timeout=120)

    r = run("--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"findings", "skipped"}
    [f] = out["findings"]
    assert set(f) >= {"nsg_id", "rule_name", "port", "sources", "proposed_prefixes", "command", "recommendation"}
    assert f["recommendation"] == "restrict"
    assert "192.0.2.25/32" in f["proposed_prefixes"]
    assert out["skipped"][str(logs)] == {"incomplete_records": 0, "unreadable_records": 0, "malformed_tuples": 1,
                                         "file_skipped": ""}
    r = run("--format", "csv")
    assert r.returncode == 0
    assert "192.0.2.25" in r.stdout
    assert r.stdout.startswith("nsg_id,")
    r = run()
    assert r.returncode == 0
    assert "RESTRICT" in r.stdout
    assert "1 malformed tuples" in r.stdout


@pytest.mark.slow(seconds=10)
def test_demo_finding_gets_gateway_and_partner_but_not_scanners(demo_snapshots: Path, tmp_path: Path) -> None:
    from auditkit.demo.flows import write_flow_logs
    from auditkit.demo.tenant import PARTNER_RELAY, demo_parameters

    flows = write_flow_logs(tmp_path / "flowlogs")
    r = subprocess.run([sys.executable, "-m", "auditkit", "flows", str(flows), "--snapshot", str(demo_snapshots),
                        "--format", "json", "--parameters", demo_parameters()], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    recs = [f["recommendation"] for f in out["findings"]]
    assert "restrict" in recs
    assert "decommission" in recs
    for f in out["findings"]:
        if f["recommendation"] != "restrict":
            continue
        assert "203.0.113.0/24" in f["proposed_prefixes"]
        assert f"{PARTNER_RELAY}/32" in f["proposed_prefixes"]
        scanners = [s["source"] for s in f["sources"] if s["class"] == "internet" and s["completed"] == 0]
        assert scanners
        assert (not any(s.startswith(tuple(p.split("/")[0] for p in f["proposed_prefixes"]))
                                    for s in scanners))
    incomplete = sum(v["incomplete_records"] for v in out["skipped"].values())
    assert incomplete >= 1  # the demo's current hour, still being appended
    logs = read_paths([flows])
    assert {"nsg-v2", "vnet"} <= set(logs.flows["log"])


def test_state_letters_in_the_decision_field_are_malformed() -> None:
    logs = read_flow_logs([("v1.json", nsg_blob(1, "UserRule_A", [f"{T0},203.0.113.5,10.0.0.4,50000,25,T,I,E",
                                                                  f"{T0},203.0.113.5,10.0.0.4,50000,25,T,X,A"])),
                           ("vnet.json", vnet_blob("g", "UserRule_A", [
                               f"{T0},203.0.113.5,10.0.0.4,50000,25,6,I,A,NX,0,0,0,0"]))])
    assert logs.flows.empty
    assert logs.skipped["v1.json"]["malformed_tuples"] == 2
    assert logs.skipped["vnet.json"]["malformed_tuples"] == 1


def test_chunked_parsing_gives_the_same_flows(monkeypatch) -> None:
    import auditkit.flows.logs as fl

    blobs = [(f"b{i}.json", nsg_blob(2, f"UserRule_R{i}", _session(f"192.0.2.{i}", T0 + i), rid=RID + str(i)))
             for i in range(5)] + [("v.json", vnet_blob("G", "UserRule_V", [
                 f"{T0 * 1000},192.0.2.99,10.0.0.6,1,25,6,I,E,NX,1,2,3,4"]))]
    whole = read_flow_logs(blobs).flows
    monkeypatch.setattr(fl, "CHUNK", 2)
    chunked = read_flow_logs(blobs).flows
    assert len(chunked) == len(whole) == 11
    assert chunked.astype(str).values.tolist() == whole.astype(str).values.tolist()
    assert isinstance(chunked["rule"].dtype, pd.CategoricalDtype)
    assert (set(chunked["rule"]) == {
        "R0", "R1", "R2", "R3", "R4", "V"})


def test_odd_values_are_counted_as_malformed_not_crashing() -> None:
    logs = read_flow_logs([("odd.json", nsg_blob(2, "UserRule_A", [
        f"{T0},203.0.113.5,10.0.0.4,50000,25,T,I,A,B,,,,",
        f"{T0},203.0.113.5,10.0.0.4,50000,²5,T,I,A,B,,,,",  # a superscript digit
        f"{T0},203.0.113.5,10.0.0.4,50000,٢٥,T,I,A,B,,,,",  # Arabic-Indic digits
        12345, {"not": "a tuple"},
        f"{T0},999.1.2.3,10.0.0.4,50000,25,T,I,A,B,,,,",
        f"{T0},192.000.002.025,10.0.0.4,50000,25,T,I,A,B,,,,",
        f"{T0},1:2,10.0.0.4,50000,25,T,I,A,B,,,,",
        f"{T0},2001:db8::25,10.0.0.4,50000,25,T,I,A,B,,,,",
        f"{T0 * 1_000_000},203.0.113.5,10.0.0.4,50000,25,T,I,A,B,,,,"]))])  # microseconds
    assert logs.flows["source"].tolist() == ["203.0.113.5", "2001:db8::25"]
    assert logs.skipped["odd.json"]["malformed_tuples"] == 8


def test_records_of_unexpected_shape_are_counted() -> None:
    good = json.loads(nsg_blob(1, "UserRule_A", [f"{T0},203.0.113.5,10.0.0.4,50000,25,T,I,A"]))["records"][0]
    bad_flows = json.loads(json.dumps(good))
    bad_flows["properties"]["flows"][0]["flows"] = {"mac": "x"}
    odd = {"category": "something else"}
    blob = json.dumps({"records": [good, bad_flows, odd]}).encode()
    logs = read_flow_logs([("shape.json", blob)])
    assert len(logs.flows) == 1
    assert logs.skipped["shape.json"]["unreadable_records"] == 2


def test_version_1_logs_cannot_prove_delivery() -> None:
    logs = read_flow_logs([("v1.json", nsg_blob(1, "UserRule_Allow-SMTP-Any", [
        f"{T0 + i},192.0.2.25,10.0.0.4,40000,25,T,I,A" for i in range(50)]))])
    [e] = evidence_for(_finding("Allow-SMTP-Any"), logs.flows, GATEWAY_SETTINGS)
    assert e["recommendation"] == "needs-evidence"
    assert e["command"] == ""
    assert "version 2" in e["note"]


def test_nsg_missing_from_the_logs_needs_evidence_not_deletion() -> None:
    other = RID.replace("NSG-MAIL", "NSG-OTHER")
    logs = read_flow_logs([("o.json", nsg_blob(2, "UserRule_X", _session("192.0.2.25", T0), rid=other))])
    [e] = evidence_for(_finding("Allow-SMTP-Any"), logs.flows, GATEWAY_SETTINGS)
    assert e["recommendation"] == "needs-evidence"
    assert "delete" not in e["command"]


def test_gateway_only_in_mail_proposals_and_udp_ignored() -> None:
    tuples = [f"{T0},192.0.2.40,10.0.0.4,40000,22,T,I,A,E,10,5000,8,900",
              f"{T0},192.0.2.41,10.0.0.4,40000,22,U,I,A,E,10,5000,8,900"]
    logs = read_flow_logs([("s.json", nsg_blob(2, "UserRule_Allow-SSH", tuples))])
    [e] = evidence_for(_finding("Allow-SSH", port=22), logs.flows, GATEWAY_SETTINGS)
    assert e["recommendation"] == "restrict"
    assert e["proposed_prefixes"] == ["192.0.2.40/32"]
    assert [s["source"] for s in e["sources"]] == ["192.0.2.40"]
