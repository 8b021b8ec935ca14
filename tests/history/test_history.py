"""History, KPIs and tag coverage over snapshots built with ``auditkit collect --from-file --as-of``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from auditkit.history.kpis import kpis
from auditkit.history.tag_coverage import governance
from auditkit.history.timeline import load_history
from auditkit.settings import defaults, load_settings
from tests.builders import nsg, rule

ROOT = Path(__file__).resolve().parents[2]
A = "aaaaaaaa-0000-4000-8000-00000000000a"
B = "bbbbbbbb-0000-4000-8000-00000000000b"


def sub_row(sid: str, name: str, tags: dict) -> dict:
    return {"id": f"/subscriptions/{sid}", "subscriptionId": sid, "name": name,
            "type": "microsoft.resources/subscriptions", "tags": tags}


def export(month: int) -> dict:
    """The tenant month by month (see the scenario in test_lifecycle)."""
    a = [sub_row(A, "sub-a-prod", {"environment": "prod"})]
    nsgs = []
    # f1: resolved at month 3 (present 1-2).
    nsgs.append(nsg(rule("smtp", port="25") if month <= 2 else rule("smtp", src="203.0.113.0/24"),
                    name="nsg-a1", sub=A, tags={"Owner": "alice", "Expires": "2026-03-15"}))
    # f2: present 1, resolved 2, reopened 3, open 4.
    nsgs.append(nsg(rule("ssh", port="22", src="Internet" if month != 2 else "10.0.0.0/8"), name="nsg-a2", sub=A,
                    tags={"owned-by": "bob", "review-by": "not-a-date", "Business-Justification": "legacy"}))
    # f4: new at month 4.
    nsgs.append(nsg(rule("smtp-new", port="25", src="*" if month == 4 else "10.0.0.0/8",
                         description="owner=carol ticket=CHG-9"), name="nsg-a3", sub=A,
                    tags={"environment": "Production"}))
    nsgs.append(nsg(rule("web", port="443"), name="nsg-a4", sub=A,
                    tags={"team": "net", "expiry-date": "2027-01-01", "purpose": "x", "env": "prd"}))
    nsgs.append(nsg(rule("app", port="8080"), name="nsg-a5", sub=A))
    if month <= 2:  # subscription B disappears from month 3 on
        a.append(sub_row(B, "sub-b-dev", {"env": "dev"}))
        # f3: B's RDP rule, seen 1-2, then B is gone: unknown.
        nsgs.append(nsg(rule("rdp", port="3389"), name="nsg-b1", sub=B))
        # f5: seen at 1 only, B collected at 2 and the rule gone: resolved at 2.
        nsgs.append(nsg(rule("smtp", port="25", src="*" if month == 1 else "10.1.0.0/16"), name="nsg-b2", sub=B))
    return {"data": nsgs + a}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditkit", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


@pytest.fixture(scope="module")
def snaps(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("history")
    for month in (1, 2, 3, 4):
        path = root / f"export-{month}.json"
        path.write_text(json.dumps(export(month)))
        r = cli("collect", "--from-file", str(path), "--as-of", f"2026-0{month}-01", "--snapshots",
                str(root / "snapshots"))
        assert r.returncode == 0, r.stderr
    return root / "snapshots"


def by_rule(h) -> dict:
    return {(r.nsg_name, r.rule_name, r.port): r for r in h.findings.itertuples()}


def test_lifecycle(snaps: Path) -> None:
    f = by_rule(load_history(snaps))
    f1, f2, f3 = f[("nsg-a1", "smtp", 25)], f[("nsg-a2", "ssh", 22)], f[("nsg-b1", "rdp", 3389)]
    f4, f5 = f[("nsg-a3", "smtp-new", 25)], f[("nsg-b2", "smtp", 25)]
    ts = pd.Timestamp
    assert (f1.status, f1.first_seen, f1.last_seen, f1.resolved_at) == (
        "resolved", ts("2026-01-01", tz="UTC"), ts("2026-02-01", tz="UTC"), ts("2026-03-01", tz="UTC"))
    assert (f2.status, f2.reopened, f2.first_seen, f2.last_seen) == (
        "open", 1, ts("2026-01-01", tz="UTC"), ts("2026-04-01", tz="UTC"))
    assert pd.isna(f2.resolved_at)
    assert f2.age_days == 90
    assert f3.status == "unknown"
    assert pd.isna(f3.resolved_at)  # losing read access is not a fix
    assert (f4.status, f4.first_seen, f4.age_days) == ("open", ts("2026-04-01", tz="UTC"), 0)
    assert (f5.status, f5.resolved_at) == ("resolved", ts("2026-02-01", tz="UTC"))
    assert len(f) == 5


def test_kpis_computed_by_hand(snaps: Path) -> None:
    k = kpis(snaps)
    assert k["as_of"] == "2026-04-01T00:00:00Z"
    assert k["snapshots"] == 4
    assert k["ports"] == [25, 22, 3389]
    assert k["open_findings"] == {"25": 1, "22": 1, "3389": 0}
    assert k["nsgs_with_open_findings"] == {"25": 1, "22": 1, "3389": 0}
    assert (k["resolved_findings"], k["reopened_findings"], k["unknown_findings"]) == (2, 1, 1)
    # f1: Jan 1 -> Mar 1 = 59 days; f5: Jan 1 -> Feb 1 = 31 days.
    assert k["mttr_days"] == 45.0
    assert k["open_age_days"] == {"median": 45.0, "max": 90.0}
    # One new finding (f4) after the first snapshot, over 90 days = 12.857 weeks.
    assert k["new_findings_per_week"] == round(1 / (90 / 7), 2)


def test_tag_coverage_of_latest_snapshot(snaps: Path) -> None:
    t = kpis(snaps)["tag_coverage"]
    assert t["nsgs"] == 5
    assert t["owner"] == 0.8  # a1 tag, a2 tag, a3 description, a4 team; a5 none
    assert t["expiry"] == 0.4  # a1, a4 valid; a2 unparseable counts as missing
    assert t["expired"] == 0.2  # a1 expired 2026-03-15 < 2026-04-01
    assert t["justification"] == 0.6  # a2 tag, a3 description ticket=, a4 purpose
    # Production: a1 (sub tag), a2 (sub), a3 (tag Production), a4 (env prd), a5 (sub): 5 rules,
    # documented: a2 (owner+justification tags), a3 (description), a4 (team+purpose) = 3/5.
    assert t["production_rules"] == 5
    assert t["production_rules_documented"] == 0.6
    k = kpis(snaps)
    assert [e["value"] for e in k["invalid_expiry"]] == ["not-a-date"]


def test_kpis_do_not_depend_on_the_wall_clock(snaps: Path, monkeypatch) -> None:
    before = kpis(snaps)
    import datetime as real

    class Later(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return real.datetime(2031, 1, 1, tzinfo=tz)

    monkeypatch.setattr("auditkit.evidence.snapshot.datetime", Later)
    assert kpis(snaps) == before


def test_as_of_limits_history(snaps: Path) -> None:
    k = kpis(snaps, as_of="2026-02-15")
    assert k["snapshots"] == 2
    assert k["as_of"] == "2026-02-01T00:00:00Z"
    assert k["resolved_findings"] == 2  # f2 and f5 resolved at month 2


def test_cache_beside_snapshots_and_rebuildable(snaps: Path) -> None:
    kpis(snaps)
    cache = snaps / ".cache"
    assert cache.is_dir()
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) >= 4
    for snap in (p for p in snaps.iterdir() if not p.name.startswith(".")):
        assert not any(".cache" in str(q) for q in snap.rglob("*"))
    first = kpis(snaps)
    import shutil

    shutil.rmtree(cache)
    assert kpis(snaps) == first
    # A damaged cache entry is rebuilt, never trusted.
    entry = next(p for p in cache.iterdir() if not p.name.startswith("."))
    (entry / "findings.parquet").write_bytes(b"garbage")
    assert kpis(snaps) == first


def test_cli_kpis_json_and_table(snaps: Path) -> None:
    r = cli("kpis", "--snapshots", str(snaps), "--format", "json")
    assert r.returncode == 0, r.stderr
    k = json.loads(r.stdout)
    for key in ("as_of", "snapshots", "ports", "open_findings", "nsgs_with_open_findings", "resolved_findings",
                "reopened_findings", "unknown_findings", "mttr_days", "open_age_days", "new_findings_per_week",
                "tag_coverage"):
        assert key in k
    assert set(k["tag_coverage"]) >= {"nsgs", "owner", "expiry", "expired", "justification",
                                      "production_rules_documented"}
    r = cli("kpis", "--snapshots", str(snaps), "--ports", "25")
    assert r.returncode == 0
    assert "MTTR" in r.stdout
    assert "not-a-date" in r.stdout
    assert "port 22" not in r.stdout


def test_no_snapshots_is_a_clear_error(tmp_path: Path) -> None:
    r = cli("kpis", "--snapshots", str(tmp_path))
    assert r.returncode == 2
    assert "no snapshots" in r.stderr


ALIASES = [(what, key) for what in ("owner", "expiry", "justification") for key in defaults()["tags"][what]["keys"]]


@pytest.mark.parametrize("what,key", ALIASES, ids=[f"{w}-{k}" for w, k in ALIASES])
def test_every_tag_alias(what: str, key: str) -> None:
    from auditkit.engine.rules import rules_table

    value = "2030-01-01" if what == "expiry" else "someone"
    t = rules_table([nsg(rule("a"), tags={key.upper(): value})])
    g = governance(t.nsgs, t.rules, pd.DataFrame(columns=["subscription_id", "tags"]),
                   pd.Timestamp("2026-01-01", tz="UTC"), load_settings())
    column = {"owner": "owner", "expiry": "expiry", "justification": "justification"}[what]
    assert g[column].iloc[0] == value


@pytest.mark.parametrize("text,owner,just", [
    ("owner=alice justification=CHG-1", "alice", "CHG-1"),
    ("Owner: bob; ticket=INC42", "bob", "INC42"),
    ("managed by owner = carol", "carol", None),
    ("nothing here", None, None),
    ("coowner=x", None, None),
])
def test_description_owner_and_justification(text: str, owner, just) -> None:
    from auditkit.engine.rules import rules_table

    t = rules_table([nsg(rule("a", description=text))])
    g = governance(t.nsgs, t.rules, pd.DataFrame(columns=["subscription_id", "tags"]),
                   pd.Timestamp("2026-01-01", tz="UTC"), load_settings())
    assert g["owner"].iloc[0] == owner
    assert g["justification"].iloc[0] == just


def test_empty_tag_value_is_not_an_owner() -> None:
    from auditkit.engine.rules import rules_table

    t = rules_table([nsg(rule("a"), tags={"owner": "  "})])
    g = governance(t.nsgs, t.rules, pd.DataFrame(columns=["subscription_id", "tags"]),
                   pd.Timestamp("2026-01-01", tz="UTC"), load_settings())
    assert g["owner"].iloc[0] is None


def test_unreadable_nsg_record_is_not_a_fix(tmp_path: Path) -> None:
    from auditkit.collect import Rows, snapshot_from_records

    good = nsg(rule("smtp"), name="nsg-x", sub=A)
    broken = dict(good, properties="oops")  # the record could not be read this month
    for month, rec in ((1, good), (2, broken), (3, good)):
        snapshot_from_records(Rows([rec], subscriptions=[sub_row(A, "a", {})]), snapshots_dir=tmp_path,
                              as_of=f"2026-0{month}-01")
    h = load_history(tmp_path)
    [f] = h.findings.itertuples()
    assert (f.status, f.reopened) == ("open", 0)
    assert pd.isna(f.resolved_at)
    assert kpis(tmp_path)["resolved_findings"] == 0


def test_timeline_keeps_findings_of_unreadable_subscriptions_open(snaps: Path) -> None:
    t = load_history(snaps).timeline
    rdp = t[t["port"] == 3389].set_index("snapshot")
    # f3 (subscription B) is seen in months 1-2, then B cannot be read: still open as far as we know.
    assert rdp["open"].tolist() == [1, 1, 0, 0]
    assert rdp["unreadable"].tolist() == [0, 0, 1, 1]
