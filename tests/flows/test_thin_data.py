"""Flow evidence never recommends deletion on thin data: counters cannot wrap, implausible tuples
are malformed, a short observation window gives needs-evidence, notes fit the port, and only
regular files (of any flow-log shape) are read, with everything else counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditkit.flows.logs import MAX_TUPLE_BYTES, read_flow_logs, read_paths
from auditkit.flows.sources import INT64_MAX, evidence_for, saturating_sum
from auditkit.settings import load_settings
from tests.flows.test_logs import T0, _finding, nsg_blob

DAY = 86400
SETTINGS = load_settings(overrides={"flows": {"mail_gateways": ["203.0.113.0/24"]}})


def _days(n: int, sender: str = "192.0.2.25", port: int = 25, skip: tuple = ()) -> list[tuple[str, bytes]]:
    """One blob per day for ``n`` days: a sender completing a real session each day."""
    blobs = []
    for d in range(n):
        if d in skip:
            continue
        t = T0 + d * DAY
        blobs.append((f"d{d}.json", nsg_blob(2, "UserRule_Allow-SMTP-Any", [
            f"{t},{sender},10.0.0.4,40000,{port},T,I,A,B,,,,", f"{t + 5},{sender},10.0.0.4,40000,{port},T,I,A,E,10,5000,8,900"])))
    return blobs


def test_five_huge_counters_never_wrap_to_a_negative_total() -> None:
    big = MAX_TUPLE_BYTES  # the largest plausible counter, five times
    tuples = [f"{T0 + i},192.0.2.25,10.0.0.4,40000,25,T,I,A,E,1,{big},1,{big}" for i in range(5)]
    logs = read_flow_logs([("big.json", nsg_blob(2, "UserRule_Allow-SMTP-Any", tuples))])
    assert len(logs.flows) == 5
    [e] = evidence_for(_finding("Allow-SMTP-Any"), logs.flows, load_settings(overrides={"flows": {
        "min_window_days": 1}}))
    [s] = e["sources"]
    assert s["bytes"] == 10 * big > 0
    assert e["recommendation"] == "restrict"


def test_saturating_sum_saturates_instead_of_wrapping() -> None:
    values = pd.Series(np.full(4, 2**62, dtype=np.int64))
    keys = [pd.Series([1, 1, 1, 2])]
    out = saturating_sum(values, keys)
    assert out.tolist() == [INT64_MAX, 2**62]
    assert (values.groupby(keys).sum() < 0).any()  # what a plain sum would have said


@pytest.mark.parametrize("counters", ["1,99999999999999999,1,1", f"1,{MAX_TUPLE_BYTES + 1},1,1",
                                      "999999999999999999,1,1,1", "1,-5,1,1", "1,1e9,1,1", "1,0x10,1,1"])
def test_implausible_or_bad_counters_make_the_tuple_malformed(counters: str) -> None:
    logs = read_flow_logs([("x.json", nsg_blob(2, "UserRule_A", [
        f"{T0},192.0.2.25,10.0.0.4,40000,25,T,I,A,E,{counters}", f"{T0},192.0.2.25,10.0.0.4,40000,25,T,I,A,B,,,,"]))])
    assert len(logs.flows) == 1
    assert logs.skipped["x.json"]["malformed_tuples"] == 1


@pytest.mark.parametrize("days,skip,expected", [(5, (), "needs-evidence"), (29, (), "needs-evidence"),
                                                (32, (3, 4), "restrict"), (30, (), "restrict"),
                                                (40, tuple(range(5, 20)), "needs-evidence")])
def test_decisions_need_the_minimum_observation_window(days: int, skip: tuple, expected: str) -> None:
    logs = read_flow_logs(_days(days, skip=skip))
    [e] = evidence_for(_finding("Allow-SMTP-Any"), logs.flows, SETTINGS)
    assert e["recommendation"] == expected
    o = e["observed"]
    assert o["days"] == days - len(skip)
    assert o["span_days"] == days
    if skip:
        first = pd.Timestamp(T0 + skip[0] * DAY, unit="s").strftime("%Y-%m-%d")
        last = pd.Timestamp(T0 + skip[-1] * DAY, unit="s").strftime("%Y-%m-%d")
        assert o["gaps"] == [[first, last]]
    if expected == "needs-evidence":
        assert f"Only {days - len(skip)} day(s) of flow logs" in e["note"]
        assert "at least 30 days" in e["note"]
        assert e["command"] == ""
        assert e["proposed_prefixes"] == []


def test_no_legitimate_traffic_over_a_short_window_is_not_a_deletion() -> None:
    scans = [(f"s{d}.json", nsg_blob(2, "UserRule_Allow-SMTP-Any", [f"{T0 + d * DAY},45.1.2.3,10.0.0.4,1,25,T,I,A,B,,,,"]))
             for d in range(3)]
    [e] = evidence_for(_finding("Allow-SMTP-Any"), read_flow_logs(scans).flows, SETTINGS)
    assert e["recommendation"] == "needs-evidence"
    assert "delete" not in e["command"]
    many = [(f"s{d}.json", nsg_blob(2, "UserRule_Allow-SMTP-Any", [f"{T0 + d * DAY},45.1.2.3,10.0.0.4,1,25,T,I,A,B,,,,"]))
            for d in range(31)]
    [e] = evidence_for(_finding("Allow-SMTP-Any"), read_flow_logs(many).flows, SETTINGS)
    assert e["recommendation"] == "decommission"
    assert "587" in e["note"]


@pytest.mark.parametrize("port", [22, 3389])
def test_notes_of_other_ports_say_nothing_of_mail(port: int) -> None:
    short = read_flow_logs(_days(3, port=port)).flows
    quiet = read_flow_logs([(f"s{d}.json", nsg_blob(2, "UserRule_Allow-SMTP-Any", [
        f"{T0 + d * DAY},45.1.2.3,10.0.0.4,1,{port},T,I,A,B,,,,"])) for d in range(31)]).flows
    v1 = read_flow_logs([(f"v{d}.json", nsg_blob(1, "UserRule_Allow-SMTP-Any", [
        f"{T0 + d * DAY},45.1.2.3,10.0.0.4,1,{port},T,I,A"])) for d in range(31)]).flows
    full = read_flow_logs(_days(31, port=port)).flows
    notes = [evidence_for(_finding("Allow-SMTP-Any", port=port), f, SETTINGS)[0]["note"] for f in (short, quiet, v1, full)]
    assert all("mail" not in n.lower() and "587" not in n for n in notes), notes


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "PT1H.json").write_bytes(nsg_blob(2, "UserRule_A", [f"{T0},192.0.2.25,10.0.0.4,1,25,T,I,A,B,,,,"]))
    record = json.loads(nsg_blob(2, "UserRule_A", [f"{T0 + 1},192.0.2.26,10.0.0.4,1,25,T,I,A,B,,,,"]))["records"][0]
    (root / "ndjson.json").write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n")
    (root / "bare-list.json").write_text(json.dumps([record]))
    (root / "single.json").write_text(json.dumps(record))
    (root / "notes.txt").write_text("not a flow log")
    (root / "other.json").write_text('{"hello": "world"}')
    os.mkfifo(root / "pipe.json")
    outside = tmp_path / "outside.json"
    outside.write_bytes(nsg_blob(2, "UserRule_A", [f"{T0},198.51.100.1,10.0.0.4,1,25,T,I,A,B,,,,"]))
    (root / "link-out.json").symlink_to(outside)
    (root / "link-in.json").symlink_to(root / "sub" / "PT1H.json")
    (root / "big.json").write_bytes(b" " * (2 << 20))
    return root


def test_only_regular_files_of_flow_logs_are_read_and_the_rest_counted(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    logs = read_paths([root], max_file_mb=1)
    reasons = {Path(k).name: v["file_skipped"] for k, v in logs.skipped.items()}
    assert reasons["pipe.json"] == "not a regular file"
    assert reasons["link-out.json"] == "a symbolic link leaving the folder"
    assert reasons["big.json"].startswith("larger than the limit of 1 MB")
    assert reasons["notes.txt"].startswith("not a flow log")
    assert reasons["other.json"].startswith("not a flow log")
    assert reasons["link-in.json"] == reasons["PT1H.json"] == reasons["ndjson.json"] == ""
    assert reasons["bare-list.json"] == reasons["single.json"] == ""
    # Read: the folder's blob twice (it and the link to it), NDJSON (2 records), bare list, single record.
    assert sorted(logs.flows["source"]) == ["192.0.2.25"] * 2 + ["192.0.2.26"] * 4
    assert "198.51.100.1" not in set(logs.flows["source"])


def test_cli_flows_counts_skipped_files(tmp_path: Path) -> None:
    from auditkit.collect import Rows, snapshot_from_records
    from tests.builders import nsg, rule

    root = _folder(tmp_path)
    snap = snapshot_from_records(Rows([nsg(rule("Allow-SMTP-Any"))]), snapshots_dir=tmp_path / "snaps",
                                 as_of="2026-09-22")
    r = subprocess.run([sys.executable, "-m", "auditkit", "flows", str(root), "--snapshot", str(snap)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "files not read" in r.stdout
    assert "pipe.json: not a regular file" in r.stdout
    assert "NEEDS-EVIDENCE" in r.stdout
    assert "flow logs: none for this NSG" in r.stdout
