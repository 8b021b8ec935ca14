"""Guardrails in place: the kit's policy assignments and states from policyresources (emulator),
shown per subscription in the overview."""

from __future__ import annotations

from pathlib import Path

from auditkit.demo.estate import edge_network
from auditkit.demo.tenant import guardrail_rows
from auditkit.evidence.snapshot import open_snapshot
from auditkit.present.context import load_context
from auditkit.present.tenant import guardrail_text, ranking
from tests.collect.test_collect import run_collect
from tests.emulator import Emulator, Tenant

SUB = "80000000-0000-4000-8000-000000000001"


def test_guardrail_assignment_and_compliance_end_to_end(tmp_path: Path) -> None:
    nsgs, topo = edge_network(SUB)
    subs = [{"id": f"/subscriptions/{SUB}", "subscriptionId": SUB, "name": "contoso-prod-mail", "tenantId": "t",
             "type": "microsoft.resources/subscriptions", "properties": {"state": "Enabled"}}]
    policy = guardrail_rows(nsgs, [{"subscriptionId": SUB, "name": "contoso-prod-mail"}], 10)
    with Emulator(Tenant(subscriptions=subs, nsgs=nsgs, resources=topo + policy), tmp_path) as emu:
        emu.faults.enforce_quota = False
        path = run_collect(emu, tmp_path)
        assert any(b["query"].startswith("policyresources") for b in emu.requests)
    g = open_snapshot(path).table("guardrails")
    assert len(g) == 1
    row = g.iloc[0]
    # nsg-mail-edge-subnet, nsg-mail-01-nic, nsg-relay-02-nic, nsg-internal-subnet admit SMTP from the internet;
    # nsg-dmz-subnet and nsg-vmss-web do not.
    assert (row["effect"], row["port"], row["evaluated"], row["non_compliant"]) == ("Audit", "25", 6, 4)
    ctx = load_context(str(path.parent))
    assert guardrail_text(ctx, [SUB]) == ["SMTP (25) Audit: 4 non-compliant"]
    assert "SMTP (25) Audit: 4 non-compliant" in str(ranking(ctx))


def test_without_assignments_the_overview_says_none_and_old_snapshots_not_collected(tmp_path: Path) -> None:
    from auditkit.collect import Rows, snapshot_from_records

    nsgs, _ = edge_network(SUB)
    snapshot_from_records(Rows(nsgs), snapshots_dir=tmp_path / "old", as_of="2026-09-01T06:00:00Z")
    assert guardrail_text(load_context(str(tmp_path / "old")), [SUB]) == ["not collected"]
    snapshot_from_records(Rows(nsgs, policy=[]), snapshots_dir=tmp_path / "new", as_of="2026-09-01T06:00:00Z")
    assert guardrail_text(load_context(str(tmp_path / "new")), [SUB]) == ["none"]


def test_demo_mail_subscription_has_the_guardrail(demo_snapshots: Path) -> None:
    ctx = load_context(str(demo_snapshots))
    texts = dict(zip(ctx.subscriptions["name"], guardrail_text(ctx, ctx.subscriptions["subscription_id"]),
                     strict=True))
    assert texts["contoso-prod-mail"].startswith("SMTP (25) Audit: ")
    assert "non-compliant" in texts["contoso-prod-mail"]
    assert texts["contoso-prod-web"] == "none"
