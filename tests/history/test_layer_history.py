"""The layers beyond NSGs through history, KPIs and the subscription report (issue 22): a mail
server published by the hub firewall, an admin Deny over an NSG Allow, an AlwaysAllow admin rule
over an NSG Deny, SSH reachable over IPv6 only, and admin rules a collection could not read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from auditkit.collect import Rows, snapshot_from_records
from auditkit.collect.collection import Collection
from auditkit.collect.store import write
from auditkit.demo.network import Network
from auditkit.engine.layer_coverage import COVERAGE_COLUMNS
from auditkit.history.kpis import kpis_of
from auditkit.history.timeline import History, load_history
from auditkit.present.context import load_context
from auditkit.present.subscription import findings_table, reachability, remediation
from auditkit.present.text import kpis_text
from tests.engine.test_layers import SUB, admin_vnet, allow, dual_stack, hub_and_spoke, net_rule

AS_OF = "2026-10-01T06:00:00Z"


def snapshot(root: Path, net: Network, failed_layers: dict | None = None) -> Path:
    """``net`` as a snapshot in ``root``; with ``failed_layers``, one whose collection could not read them."""
    nsgs, topo = net.records()
    if failed_layers is None:
        return snapshot_from_records(Rows(nsgs, topology=topo), snapshots_dir=root, as_of=AS_OF)
    now = datetime(2026, 10, 1, 6, tzinfo=UTC)
    return write(Collection(rows=Rows(nsgs, topology=topo), as_of=now, collected_at=now, requested=[SUB],
                            collected=[SUB], failed=[], source={"source": {"kind": "records"}, "cloud": None,
                                                                 "endpoint": None},
                            failed_layers=failed_layers), root)


def open_findings(h: History, layer: str | None = None):
    f = h.findings[h.findings["status"] == "open"]
    return (f if layer is None else f[f["layer"] == layer]).reset_index(drop=True)


def report(root: Path) -> tuple[str, str, str]:
    """The findings table, the reach section and the remediation of the subscription, as HTML."""
    ctx = load_context(str(root))
    return str(findings_table(ctx, SUB)), str(reachability(ctx, SUB)), str(remediation(ctx, SUB))


def test_a_mail_server_published_through_the_hub_firewall(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    snapshot(root, hub_and_spoke())  # no NSG names an internet source: only the DNAT rule publishes port 25
    h = load_history(root)
    dnat = open_findings(h, "firewall-dnat")
    assert len(dnat) == 1 and dnat.at[0, "exposure"] == "reachable" and dnat.at[0, "severity"] == "critical"
    assert open_findings(h, "nsg").empty
    k = kpis_of(h)
    assert k["reachable_findings"]["25"] == 1 and k["reachable_machines"] == 1
    assert k["open_findings_by_layer"] == {"nsg": 0, "admin-rule": 0, "firewall-dnat": 1, "app-gateway": 0}
    assert k["layers"]["firewall-dnat"] == {"evaluated": 1, "not read": [], "not in input": 0}
    table, reach, steps = report(root)
    route = "20.1.1.1:25 -&gt; 10.1.0.4:25 -&gt; subnet NSG nsg-mail -&gt; vm-mail"
    assert f"firewall fw-hub DNAT rule fwp-hub/rcg-dnat/dnat-in/smtp-in {route}" in table
    assert '<td class="ak-col-layer_label">firewall DNAT</td>' in table
    assert "firewall fw-hub" in table  # what the finding is a rule of, where an NSG's attachments go
    assert "&lt;NA&gt;" not in table  # a DNAT rule has no NSG priority: a blank cell
    assert route in reach and '<td class="ak-col-path">firewall-dnat</td>' in reach
    assert "Azure Firewall DNAT rules</td><td class=\"ak-col-status \">evaluated" in reach
    assert "--nsg-name" not in steps  # no NSG command for a DNAT rule: the rule's own fix
    assert "az network firewall policy rule-collection-group collection rule update" in steps
    assert "--policy-name fwp-hub --rcg-name rcg-dnat --collection-name dnat-in --name smtp-in" in steps
    # The cache read back gives the same answer, and the kpis table names the layer.
    assert kpis_of(load_history(root)) == k
    assert "open by layer          nsg: 0  admin-rule: 0  firewall-dnat: 1  app-gateway: 0" in kpis_text(k)


def test_an_admin_deny_over_an_nsg_allow_is_blocked_by_the_admin_rule(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    snapshot(root, admin_vnet([allow("rdp", 100, "3389", ["*"])], [net_rule("deny-rdp", "Deny", 10, ["3389"])]))
    h = load_history(root)
    nsg = open_findings(h, "nsg")
    assert len(nsg) == 1 and nsg.at[0, "exposure"] == "blocked" and nsg.at[0, "severity"] == "medium"
    k = kpis_of(h)
    assert k["open_findings_by_exposure"]["blocked"] == 1
    assert k["reachable_findings"]["3389"] == 0 and k["reachable_machines"] == 0
    assert h.latest.reach.empty  # the history's reach table applies the admin rules too
    table, reach, _ = report(root)
    assert "blocked by admin rule deny-rdp (configuration cfg-security, collection rc-internet)" in table
    assert "Nothing in this subscription is reachable" in reach


def test_an_always_allow_admin_rule_over_an_nsg_deny_is_a_reachable_admin_rule_finding(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    snapshot(root, admin_vnet([allow("deny-ssh", 100, "22", ["*"], "Deny")],
                              [net_rule("ssh-always", "AlwaysAllow", 10, ["22"])]))
    h = load_history(root)
    admin = open_findings(h, "admin-rule")
    assert len(admin) == 1 and admin.at[0, "exposure"] == "reachable"
    k = kpis_of(h)
    assert k["reachable_findings"]["22"] == 1
    assert k["open_findings_by_layer"]["admin-rule"] == 1
    table, reach, _ = report(root)
    assert "admin rule ssh-always (configuration cfg-security, collection rc-internet) -&gt; vm-app" in table
    assert '<td class="ak-col-layer_label">admin rule</td>' in table
    assert "(skipped: AlwaysAllow admin rule)" in reach and "admin rule ssh-always" in reach


def test_a_dual_stack_vm_reachable_on_22_only_over_ipv6(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    snapshot(root, dual_stack([allow("deny-v4", 100, "22", ["0.0.0.0/0"], "Deny"),
                               allow("allow-v6", 110, "22", ["::/0"])]))
    h = load_history(root)
    f = open_findings(h).set_index("rule_name")
    assert f.at["allow-v6", "exposure"] == "reachable" and f.at["allow-v6", "layer"] == "nsg"
    assert kpis_of(h)["reachable_findings"]["22"] == 1
    assert h.latest.reach["family"].tolist() == ["IPv6"]
    table, reach, _ = report(root)
    assert ("[2603:1000::4]:22 (public IP) -&gt; subnet NSG nsg-ds -&gt; NIC NSG none -&gt; vm-ds "
            "[fd00:db8::4]:22 over IPv6") in table
    assert "[2603:1000::4]:22" in reach and '<td class="ak-col-family">IPv6</td>' in reach
    assert "20.3.3.3" not in reach  # IPv4 is denied: not a path the internet takes


def test_admin_rules_the_collection_could_not_read_are_unknown_never_blocked(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    net = admin_vnet([allow("rdp", 100, "3389", ["*"])], [], with_record=False)
    snapshot(root, net, failed_layers={"admin-rule": [SUB.upper()]})
    h = load_history(root)
    nsg = open_findings(h, "nsg")
    assert nsg["exposure"].tolist() == ["unknown-admin-rule"]
    k = kpis_of(h)
    assert k["open_findings_by_exposure"]["unknown-admin-rule"] == 1
    assert k["open_findings_by_exposure"]["blocked"] == 0 and k["reachable_findings"]["3389"] == 0
    assert k["layers"]["admin-rule"] == {"evaluated": 0, "not read": [SUB], "not in input": 0}
    assert f"admin-rule not read in {SUB}: verdicts short of reachable are unknown there" in kpis_text(k)
    table, reach, _ = report(root)
    assert "unknown-admin-rule" in table and "unknown: " in table
    assert "Virtual Network Manager admin rules</td><td class=\"ak-col-status ak-status-unknown\">not read" in reach
    assert "verdicts short of reachable are unknown there" in reach
    assert "known to be reachable" in reach and "the answer is incomplete" in reach  # never "nothing reachable"
    assert "Nothing in this subscription is reachable" not in reach


def test_a_snapshot_without_topology_has_an_empty_layer_table_and_nsg_findings(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    nsgs, _ = hub_and_spoke([allow("smtp", 100, "25", ["*"])]).records()
    snapshot_from_records(Rows(nsgs), snapshots_dir=root, as_of=AS_OF)
    h = load_history(root)
    assert list(h.latest.layers.columns) == COVERAGE_COLUMNS and h.latest.layers.empty
    assert set(h.findings["layer"]) == {"nsg"} and set(h.findings["exposure"]) == {"unknown-topology"}
    k = kpis_of(h)
    assert k["layers"]["admin-rule"] == {"evaluated": 0, "not read": [], "not in input": 0}
    assert k["open_findings_by_layer"]["nsg"] == 1


def test_a_dnat_finding_is_accepted_by_an_entry_naming_its_firewall_and_rule(tmp_path: Path) -> None:
    import yaml

    from auditkit.settings import load_settings

    root = tmp_path / "snaps"
    snapshot(root, hub_and_spoke())
    params = tmp_path / "parameters"
    params.mkdir()
    (params / "audit.yaml").write_text("ports: [25, 22, 3389]\n")
    (params / "exceptions.yaml").write_text(yaml.safe_dump({"exceptions": [{
        "nsg": f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/azureFirewalls/fw-hub",
        "rule": "fwp-hub/rcg-dnat/dnat-in/smtp-in", "port": 25, "approved_by": "ciso@example.com",
        "justification": "inbound MX through the hub", "expires": "2027-06-30", "ticket": "RISK-9"}]}))
    h = load_history(root, settings=load_settings(params / "audit.yaml"))
    dnat = h.findings[h.findings["layer"] == "firewall-dnat"]
    assert dnat["status"].tolist() == ["accepted"]
    k = kpis_of(h)
    assert k["accepted_findings"] == 1 and k["reachable_findings"]["25"] == 0
