"""The recommendation chain, called directly with the facts of one finding (no flow logs)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from auditkit.flows.recommend import Facts, recommend

ROW = {"subscription_id": "s", "resource_group": "rg", "nsg_name": "nsg", "rule_name": "Allow-SMTP-Any",
       "nsg_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg"}
# Logged for long enough, with one legitimate sender: restrict.
BASE = Facts(finding=ROW, port=25, jit=False, logged=True, v1_only=False, any_allowed=True, days=30,
             first="2026-09-01", last="2026-09-30", min_days=30, legit=1, gateway_seen=False,
             proposed=["203.0.113.0/24"], keep=())


@pytest.mark.parametrize("change,expected", [
    ({}, "restrict"),
    ({"jit": True, "logged": False}, "jit-managed"),  # JIT first, whatever the logs say
    ({"logged": False}, "needs-evidence"),
    ({"v1_only": True, "legit": 0}, "needs-evidence"),
    ({"days": 29}, "needs-evidence"),
    ({"legit": 0, "proposed": []}, "decommission"),
    ({"legit": 0, "gateway_seen": True, "proposed": []}, "needs-evidence"),
])
def test_the_first_condition_that_holds_decides(change: dict, expected: str) -> None:
    assert recommend(replace(BASE, **change)).name == expected


def test_thin_data_says_how_many_days_it_saw() -> None:
    rec = recommend(replace(BASE, days=3))
    assert rec.note.startswith("Only 3 day(s) of flow logs for this NSG (2026-09-01 to 2026-09-30)")
    assert rec.command == ""


def test_only_restrict_and_decommission_propose_a_command() -> None:
    assert recommend(BASE).command.startswith("az network nsg rule update")
    assert recommend(replace(BASE, legit=0, proposed=[])).command != ""
    assert recommend(replace(BASE, jit=True)).command == ""


def test_version_1_logs_with_no_allowed_flow_are_not_the_v1_case() -> None:
    rec = recommend(replace(BASE, v1_only=True, legit=0, any_allowed=False, proposed=[]))
    assert rec.name == "decommission"
