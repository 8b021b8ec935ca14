"""The reports' words for the layers beyond NSGs: the unknown-<layer> exposures ranked and counted,
paths through a firewall, a gateway or an admin rule written whole, tickets that never hand an NSG
command to a rule of another layer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from auditkit.engine.reachability import EXPOSURES, is_unknown
from auditkit.history.timeline import load_history
from auditkit.present.context import load_context
from auditkit.present.findings import EXPOSURE_ORDER, endpoint_text, exposure_rank, path_text
from auditkit.present.subscription import executive_summary
from auditkit.present.summary import summary_text
from auditkit.present.text import exposure_line
from auditkit.present.tickets import ocsf, ticket_records
from tests.engine.test_layers import SUB, admin_vnet, allow, hub_and_spoke, net_rule
from tests.history.test_layer_history import snapshot

GATEWAY = {"path": "app-gateway", "public_ip": "2603:1000::9", "frontend_port": "2222", "family": "IPv6",
           "vm_name": "vm-app", "private_ip": "fd00:db8::9", "blocked_by": None,
           "route": "gateway agw-edge listener tcp-ssh [2603:1000::9]:2222 -> [fd00:db8::9]:22 -> vm-app"}


def test_every_unknown_exposure_ranks_after_no_public_path_and_before_blocked() -> None:
    unknown = [x for x in EXPOSURES if is_unknown(x)]
    assert len(unknown) == 4 and all(EXPOSURE_ORDER[x] == EXPOSURE_ORDER["unknown-topology"] for x in unknown)
    ranks = exposure_rank(pd.Series(["blocked", "unknown-app-gateway", "reachable", "unknown-future-layer"]))
    assert ranks.tolist() == [3, 2, 0, 2]  # an unknown-* the kit does not know yet is still unknown, never last


def test_paths_name_the_whole_route_and_unknowns_say_what_was_not_read() -> None:
    assert path_text("reachable", [GATEWAY], 22) == GATEWAY["route"] + " over IPv6"
    assert endpoint_text({**GATEWAY, "route": None}, 22).startswith("[2603:1000::9]:2222 (app-gateway)")
    assert path_text("unknown-firewall-dnat", [], 25) == "unknown: the subscription's firewalls could not be read"
    assert path_text("unknown-admin-rule", [], 25, "its VNet's rules were not read") == \
        "unknown: its VNet's rules were not read"


def test_the_scan_line_counts_every_unknown_exposure() -> None:
    summary = {"exposure": {"reachable": 1, "unknown-topology": 1}}
    findings = pd.DataFrame({"exposure": ["reachable", "unknown-topology", "unknown-admin-rule",
                                          "unknown-firewall-dnat", "unknown-admin-rule"],
                             "shadowed": [False, False, False, False, True]})
    assert exposure_line(summary, "", findings).endswith("0 latent, 3 unknown\n")
    assert exposure_line({"exposure": {"unknown-topology": 1, "unknown-app-gateway": 2}}, "").endswith(
        "3 unknown\n")


def test_the_summary_says_unknown_when_admin_rules_were_not_read(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    snapshot(root, admin_vnet([allow("rdp", 100, "3389", ["*"])], [], with_record=False),
             failed_layers={"admin-rule": [SUB]})
    h = load_history(root)
    text = summary_text(h, h.findings, "in this subscription", unread=0)
    assert "whether any machine is reachable is unknown (a layer that decides could not be read)" in text
    assert "none is reachable" not in text
    assert "a layer that decides could not be read" in str(executive_summary(load_context(str(root)), SUB))


def test_tickets_of_a_dnat_finding_carry_its_layer_and_no_nsg_command(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    snapshot(root, hub_and_spoke())
    ctx = load_context(str(root))
    records = ticket_records(ctx.history, ctx.controls, {})
    assert [r["layer"] for r in records] == ["firewall-dnat"]
    assert "az network nsg" not in records[0]["remediation"]
    assert ("az network firewall policy rule-collection-group collection rule update" in records[0]["remediation"]
            and "--rcg-name rcg-dnat --collection-name dnat-in --name smtp-in --source-addresses"
            in records[0]["remediation"])
    found = ocsf(records, ctx.history.snapshots["as_of"].iloc[-1])
    assert found[0]["resources"][0]["type"] == "Microsoft.Network/azureFirewalls"
    assert found[0]["unmapped"]["layer"] == "firewall-dnat"


def test_none_reachable_is_never_said_while_a_verdict_is_unknown(tmp_path: Path) -> None:
    net = admin_vnet([allow("rdp", 100, "3389", ["*"])], [net_rule("deny-rdp", "Deny", 10, ["3389"])])
    other = net.vnet("vnet-other", "10.4.0.0/16")
    subnet = net.subnet(other, "app", "10.4.0.0/24", net.nsg("nsg-other", [allow("rdp-2", 100, "3389", ["*"])]))
    net.nic("nic-other", subnet, "10.4.0.4", vm=net.vm("vm-other"), public_ip=net.public_ip("pip-o", "20.4.4.4"))
    net.admin_rules(other, [])["properties"]["value"] = {"not": "a list"}  # unreadable: its verdict is unknown
    root = tmp_path / "snaps"
    snapshot(root, net)
    h = load_history(root)
    assert sorted(h.findings["exposure"]) == ["blocked", "unknown-admin-rule"]
    text = summary_text(h, h.findings, "in this subscription", unread=0)
    assert "none is known to be reachable from the internet today" in text
    assert "1 is unknown because the admin rules, firewalls or gateways that decide could not be read" in text
