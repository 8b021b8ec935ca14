"""Who changed what: resourcechanges collected over HTTPS through the SDK (emulator), attributed to
the findings' rules, and first_seen moved to the change time where known."""

from __future__ import annotations

from pathlib import Path

from auditkit.demo.estate import edge_network
from auditkit.demo.tenant import change_record
from auditkit.evidence.snapshot import open_snapshot
from auditkit.history.timeline import load_history
from auditkit.present.context import load_context
from auditkit.present.subscription import findings_table
from tests.collect.test_collect import run_collect
from tests.emulator import Emulator, Tenant

SUB = "70000000-0000-4000-8000-000000000001"


def test_changes_are_collected_paged_and_attributed_end_to_end(tmp_path: Path) -> None:
    nsgs, topo = edge_network(SUB)
    relay = next(n for n in nsgs if n["name"] == "nsg-relay-02-nic")
    # month 11 -> as of 2026-11-01; the change days before it. Plus 1,200 unrelated changes: two pages.
    change = change_record(relay["id"], 0, "Internet", "203.0.113.0/24", 11, 0)
    noise = [{**change_record(relay["id"], 5, "x", "y", 11, k), "id": f"{relay['id']}/changes/n{k:05d}"}
             for k in range(1, 1201)]
    for c in [change, *noise]:
        c["subscriptionId"] = SUB
    subs = [{"id": f"/subscriptions/{SUB}", "subscriptionId": SUB, "name": "sub", "tenantId": "t",
             "type": "microsoft.resources/subscriptions", "properties": {"state": "Enabled"}}]
    with Emulator(Tenant(subscriptions=subs, nsgs=nsgs, resources=topo, changes=[change, *noise]), tmp_path) as emu:
        emu.faults.enforce_quota = False
        path = run_collect(emu, tmp_path, as_of="2026-11-01T06:00:00Z")
        change_queries = [b for b in emu.requests if b["query"].startswith("resourcechanges")]
    assert len(change_queries) == 2  # paged
    snap = open_snapshot(path)
    assert snap.meta["changes"]["rows"] == 1201
    assert snap.meta["changes"]["attributed"] == 1
    h = load_history(path.parent)
    row = h.findings[h.findings["rule_name"] == "Allow-SMTP-Internet"].iloc[0]
    who = change["properties"]["changeAttributes"]
    assert (row["changed_by"], row["client_type"]) == (who["changedBy"], who["clientType"]) == \
        ("terraform-sp (service principal)", "Terraform")
    assert row["first_seen_source"] == "change"
    assert row["first_seen"] == row["changed_at"] < snap.as_of
    other = h.findings[h.findings["rule_name"] == "Allow-RDP-Any"].iloc[0]
    assert other["first_seen_source"] == "snapshot"
    assert other["changed_by"] is None
    html = str(findings_table(load_context(str(path.parent)), SUB))
    assert "terraform-sp (service principal) (Terraform, " in html
    assert "(change)" in html
    assert "(snapshot)" in html


def test_demo_attributes_the_rules_that_opened_during_the_year(demo_snapshots: Path) -> None:
    h = load_history(demo_snapshots)
    f = h.findings
    changed = f[f["first_seen_source"] == "change"]
    assert len(changed) >= 3
    assert changed["changed_by"].notna().all()
    assert (f.loc[f["first_seen_source"] == "snapshot", "first_seen"] >= h.snapshots["as_of"].iloc[0]).all()


def test_a_findings_timeline_marks_who_changed_it(demo_snapshots: Path) -> None:
    from auditkit.present.explore import timeline

    ctx = load_context(str(demo_snapshots))
    f = ctx.history.findings
    row = f[f["first_seen_source"] == "change"].iloc[0]
    fig = timeline(ctx, row)
    assert len(fig.data) == 2
    assert fig.data[1].marker.symbol == "diamond"
    assert any(row["changed_by"] in t for t in fig.data[1].text)
    quiet = f[f["changed_by"].isna()].iloc[0]
    assert len(timeline(ctx, quiet).data) == 1
