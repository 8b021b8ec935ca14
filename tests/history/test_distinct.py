"""History evaluates each distinct NSG content once across snapshots; the results must be exactly
those of evaluating every snapshot whole, table by table and row by row, also for hostile,
malformed and look-alike rule sets."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pandas as pd
import pytest

from auditkit.collect import Rows, snapshot_from_records
from auditkit.demo.synthetic import synthetic_nsgs
from auditkit.evidence.snapshot import list_snapshots, open_snapshot
from auditkit.history.cache import SCHEMA, _compute
from auditkit.history.distinct import CONTENT, Contents
from auditkit.history.kpis import kpis, kpis_of
from auditkit.history.timeline import build_history
from auditkit.settings import load_settings
from tests.builders import nsg, rule

HOSTILE = ["=HYPERLINK(\"http://x\")", "evil\u202etxt.exe", "a:b", "1:a", "N", "", "owner=eve justification=CHG-1",
           "Ünïcødé 😀", "quote\" and \\ backslash", "\x1f", "tab\tand\nnewline"]


def _look_alikes() -> list[dict]:
    """NSGs whose rule sets differ only where a careless encoding would merge them."""
    out = []
    variants = [dict(srcs=["a", "b"]), dict(srcs=["a:b"]), dict(srcs=["a", "b"], port="22"), dict(src="a:b"),
                dict(src="*", description=""), dict(src="*"), dict(src="*", description="N"),
                dict(src="0.0.0.0/0", ports=["25", "22"]), dict(src="0.0.0.0/0", ports=["25,22"]),
                dict(src="*", priority=None), dict(src="*", priority="high"), dict(src="*", protocol="Http"),
                dict(src="*", port="25-x"), dict(src="*", port=""), dict(src="*", sports=["1", "2"], sport="")]
    for i, kw in enumerate(variants):
        out.append(nsg(rule("r1", **kw), rule("r2", 200, port="3389"), name=f"look-{i}", rg="rg-look"))
    # The same rules, in two orders: shadowing depends on priority, not on position, but errors list by position.
    out.append(nsg(rule("deny", 100, access="Deny"), rule("allow", 100), name="order-1", rg="rg-look"))
    out.append(nsg(rule("allow", 100), rule("deny", 100, access="Deny"), name="order-2", rg="rg-look"))
    out.append(nsg(name="no-rules", rg="rg-look", defaults=False))
    # Names whose lower case or order differ between Python, NumPy and Arrow (NSG ids sort the findings).
    for name in ("nsg-\u0130stanbul", "nsg-i\u0307stanbul", "NSG-\u01c4", "nsg-\u00df", "nsg-end\x00", "nsg-end",
                 "nsg-\U0001f600", "nsg-\uff21"):
        out.append(nsg(rule("smtp"), name=name, rg="rg-names"))
    return out


def _tenant(seed: int) -> list[dict]:
    rng = random.Random(seed)
    records = list(synthetic_nsgs(150, subscriptions=6, seed=seed))
    for rec in rng.sample(records, 40):
        for r in rec["properties"]["securityRules"]:
            r["name"] = rng.choice(HOSTILE) + r["name"]
            r["properties"]["description"] = rng.choice(HOSTILE)
        rec["tags"] = {rng.choice(["owner", "Owner", "env", "expiry"]): rng.choice(HOSTILE + ["2020-01-01"])}
    # The same rules in other subscriptions, attached or not, tagged otherwise: one content, many NSGs.
    for i, rec in enumerate(rng.sample(records, 20)):
        twin = copy.deepcopy(rec)
        sub = f"00000000-0000-4000-8000-{i:012d}"
        twin["id"] = twin["id"].replace(twin["subscriptionId"], sub).replace("/nsg-", "/twin-")
        twin["subscriptionId"], twin["name"] = sub, "twin-" + twin["name"]
        twin["tags"] = {"owner": f"team-{i}"} if i % 2 else {}
        twin["properties"].pop("subnets", None) if i % 3 else None
        records.append(twin)
    return records + _look_alikes()


def _month(records: list[dict], month: int) -> None:
    rng = random.Random(month)
    for rec in rng.sample(records, 25):
        rules = rec["properties"]["securityRules"]
        if rules:
            p = rules[0]["properties"]
            p["sourceAddressPrefix"] = "*" if p.get("sourceAddressPrefix") != "*" else "10.0.0.0/8"
            p.pop("sourceAddressPrefixes", None)
            p["priority"] = rng.choice([100, 100, 4096, "x", None])


@pytest.fixture(scope="module")
def snaps(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("distinct")
    records = _tenant(11)
    for month in range(4):
        _month(records, month)
        subs = [{"subscriptionId": f"00000000-0000-4000-8000-{i:012d}", "tags": {"environment": "production"}}
                for i in range(3)]
        snapshot_from_records(Rows(records, subscriptions=subs), snapshots_dir=root,
                              as_of=f"2026-0{month + 1}-01T06:00:00Z")
    # A month in which the one subscription read has no NSG at all.
    snapshot_from_records(Rows([]), snapshots_dir=root, as_of="2026-05-01T06:00:00Z",
                          subscriptions=["00000000-0000-4000-8000-000000000001"])
    return root


@pytest.mark.slow(seconds=6)
def test_each_table_is_the_same_as_evaluating_every_snapshot_whole(snaps: Path) -> None:
    settings = load_settings()
    contents = Contents(settings.ports, settings)
    nsgs = 0
    for snap in list_snapshots(snaps):
        whole = _compute(snap, settings.ports, settings)
        once = _compute(snap, settings.ports, settings, contents)
        pd.testing.assert_frame_equal(whole.findings, once.findings)
        for name in SCHEMA:
            if name != "findings.parquet":
                pd.testing.assert_frame_equal(whole.table(name), once.table(name), obj=name)
        assert whole.coverage == once.coverage
        nsgs += len(whole.governance)
    # Something was actually shared: fewer evaluations than NSG-snapshots, and findings were made.
    assert 0 < contents.evaluated < nsgs * 0.6
    assert len(contents.finding)
    assert len(contents.errors)
    assert len(contents.broad) >= 0


def test_kpis_are_the_same_as_evaluating_every_snapshot_whole(snaps: Path) -> None:
    settings = load_settings()
    whole = [_compute(s, settings.ports, settings) for s in list_snapshots(snaps)]
    expected = kpis_of(build_history(whole, settings.ports, settings))
    assert kpis(snaps, settings=settings) == expected


def test_look_alike_rule_sets_get_their_own_verdicts(tmp_path: Path) -> None:
    settings = load_settings()
    snapshot_from_records(Rows(_look_alikes()), snapshots_dir=tmp_path, as_of="2026-01-01T06:00:00Z")
    contents = Contents(settings.ports, settings)
    snap = list_snapshots(tmp_path)[0]
    once = _compute(snap, settings.ports, settings, contents)
    # As many evaluations as rule sets that differ in any field the engine reads, counted in plain Python.
    rules = snap.table("rules")
    distinct = {tuple(tuple(map(repr, row)) for row in group[CONTENT].itertuples(index=False))
                for _, group in rules.groupby("nsg_key", sort=False)}
    assert contents.evaluated == len(distinct) >= 12
    pd.testing.assert_frame_equal(_compute(snap, settings.ports, settings).findings, once.findings)


def test_a_snapshot_with_topology_is_evaluated_whole(demo_snapshots: Path) -> None:
    settings = load_settings()
    snap = open_snapshot(list_snapshots(demo_snapshots)[-1].path)
    contents = Contents(settings.ports, settings)
    assert contents.evaluate(snap) is None
    assert contents.evaluated == 0


def test_a_field_never_set_in_one_snapshot_and_set_in_the_next(tmp_path: Path) -> None:
    """No rule has a description in one snapshot, some do in the next."""
    settings = load_settings()
    snapshot_from_records(Rows([nsg(rule("smtp"))]), snapshots_dir=tmp_path, as_of="2026-01-01T06:00:00Z")
    snapshot_from_records(Rows([nsg(rule("smtp", description="owner=alice justification=CHG-1")),
                                nsg(rule("smtp"), name="nsg-2")]),
                          snapshots_dir=tmp_path, as_of="2026-02-01T06:00:00Z")
    contents = Contents(settings.ports, settings)
    for snap in list_snapshots(tmp_path):
        whole = _compute(snap, settings.ports, settings)
        once = _compute(snap, settings.ports, settings, contents)
        pd.testing.assert_frame_equal(whole.findings, once.findings)
        pd.testing.assert_frame_equal(whole.governance, once.governance)
    assert contents.evaluated == 2


def test_values_keep_their_ids_whatever_type_a_snapshot_stored_them_as() -> None:
    """A column with no value at all can come untyped (Arrow's null type) from a table written by
    another tool, text as string or large string: the same value keeps the same id."""
    import pyarrow as pa

    from auditkit.history.distinct import Vocabulary

    v = Vocabulary()
    assert v.encode(pa.array([None, None])).tolist() == [-1, -1]
    a, none, b = v.encode(pa.array(["a", None, "b"])).tolist()
    assert none == -1
    assert len({a, b, -1}) == 3
    b2, c, none = v.encode(pa.array(["b", "c", None], pa.large_string())).tolist()
    assert b2 == b
    assert none == -1
    assert len({a, b, c, -1}) == 4
    assert v.encode(pa.array([None], pa.null())).tolist() == [-1]
    assert v.encode(pa.array(["c", "a"])).tolist() == [c, a]


def test_a_snapshot_collected_before_attachments_were_recorded(tmp_path: Path) -> None:
    """Snapshots whose NSG table has no ``attached_ids`` column (older kits, other tools) are read alike."""
    import pyarrow.parquet as pq

    settings = load_settings()
    path = snapshot_from_records(Rows(_look_alikes()), snapshots_dir=tmp_path, as_of="2026-01-01T06:00:00Z")
    table = Path(path) / "nsgs.parquet"
    table.chmod(0o644)
    pq.write_table(pq.read_table(table).drop(["attached_ids"]), table)
    snap = open_snapshot(path, verify=False)
    contents = Contents(settings.ports, settings)
    whole, once = _compute(snap, settings.ports, settings), _compute(snap, settings.ports, settings, contents)
    pd.testing.assert_frame_equal(whole.findings, once.findings)
    assert contents.evaluated
    assert len(once.findings)
