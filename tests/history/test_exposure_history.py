"""Effective exposure through history, KPIs and reports: the demo's verdicts and paths, old
snapshots without topology, tampered topology files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from auditkit.collect import Rows, snapshot_from_records
from auditkit.demo.estate import EDGE_SUBSCRIPTION, edge_network
from auditkit.engine.scan import scan
from auditkit.evidence.snapshot import list_snapshots
from auditkit.history.kpis import kpis, kpis_of
from auditkit.history.timeline import load_history
from auditkit.present.context import load_context
from auditkit.present.subscription import reachability
from tests.evidence.test_verification import _tamper_table, cli

SUB = "30000000-0000-4000-8000-000000000001"


def test_demo_edge_network_carries_the_right_exposure_and_path(demo_snapshots: Path) -> None:
    f = scan(list_snapshots(demo_snapshots)[-1]).findings
    edge = f[f["resource_group"] == "rg-mail-edge"]
    got = {(r.nsg_name, r.rule_name): r for r in edge.itertuples()}
    mail = got[("nsg-mail-01-nic", "Allow-SMTP-Any")]
    assert mail.exposure == "reachable"
    assert mail.severity == "critical"
    assert [(e["vm_name"], e["path"], e["public_ip"], e["frontend_port"]) for e in mail.endpoints] == \
        [("vm-mail-01", "load-balancer", "20.60.0.10", "25")]
    ssh = got[("nsg-mail-01-nic", "Allow-SSH-Any")]
    assert [(e["path"], e["frontend_port"], e["via"]) for e in ssh.endpoints] == \
        [("inbound-nat", "50022", "lb-mail-public/nat-ssh-mail-01")]
    assert got[("nsg-mail-edge-subnet", "Allow-SMTP-To-Mail-Servers")].exposure == "reachable"  # ASG member
    relay = got[("nsg-relay-02-nic", "Allow-SMTP-Internet")]
    assert relay.exposure == "blocked"
    assert relay.severity == "medium"
    assert relay.endpoints[0]["blocked_by"] == "nsg-dmz-subnet: Deny-SMTP-Internet"
    internal = got[("nsg-internal-subnet", "Allow-SMTP-Anywhere")]
    assert internal.exposure == "no-public-path"
    assert internal.severity == "high"
    old = got[("nsg-internal-subnet", "Allow-SMTP-To-Old-Relay")]
    assert old.exposure == "blocked"
    assert "destination does not include" in old.endpoints[0]["blocked_by"]
    vmss = got[("nsg-vmss-web", "Allow-RDP-Any")]
    assert vmss.exposure == "reachable"
    assert vmss.endpoints[0]["frontend_port"] == "50100-50199"
    # Elsewhere in the demo: latent NSGs stay latent; every attached finding has a verdict from topology.
    assert set(f["exposure"]) == {"reachable", "no-public-path", "blocked", "latent"}
    assert set(f.loc[~f["attached"].astype(bool), "exposure"]) == {"latent"}


def test_kpis_count_reachable_findings_and_endpoints_per_port(demo_snapshots: Path) -> None:
    k = kpis(demo_snapshots)
    h = load_history(demo_snapshots)
    open_f = h.findings[h.findings["status"] == "open"]
    for p in h.ports:
        mine = open_f[(open_f["port"] == p) & (open_f["exposure"] == "reachable")]
        assert k["reachable_findings"][str(p)] == len(mine) > 0
        nics = {e["nic_id"] for eps in mine["endpoints"] for e in eps if e["path"] and not e["blocked_by"]}
        assert k["reachable_endpoints"][str(p)] == len(nics)
    assert sum(k["open_findings_by_exposure"].values()) == sum(k["open_findings"].values())
    assert k["reachable_machines"] <= sum(k["reachable_endpoints"].values())
    r = cli("kpis", "--snapshots", str(demo_snapshots), "--format", "json")
    assert json.loads(r.stdout)["reachable_findings"] == k["reachable_findings"]


def _edge_records() -> tuple[list, list]:
    return edge_network(SUB)


def test_old_snapshots_without_topology_still_load_as_unknown_topology(tmp_path: Path) -> None:
    nsgs, topo = _edge_records()
    root = tmp_path / "snaps"
    snapshot_from_records(Rows(nsgs), snapshots_dir=root, as_of="2026-09-01T06:00:00Z")  # before topology existed
    h = load_history(root)
    assert set(h.findings["exposure"]) == {"unknown-topology"}
    assert set(h.findings["severity"]) <= {"high", "latent"}
    k = kpis_of(h)
    assert k["reachable_findings"] == {"25": 0, "22": 0, "3389": 0}
    assert k["open_findings_by_exposure"]["unknown-topology"] == sum(k["open_findings"].values())
    ctx = load_context(str(root))
    assert "has no topology" in str(reachability(ctx, SUB))
    snapshot_from_records(Rows(nsgs, topology=topo), snapshots_dir=root, as_of="2026-10-01T06:00:00Z")
    h = load_history(root)
    assert "reachable" in set(h.findings["exposure"])
    assert "unknown-topology" not in set(h.findings["exposure"])
    html = str(reachability(load_context(str(root)), SUB))
    assert "vm-mail-01" in html
    assert "20.60.0.10:50022" in html
    assert "fw-hub" not in html  # a firewall is modelled now (its DNAT rules), not listed as unmodelled
    assert "nothing here publishes machines outside the modelled layers" in html


@pytest.mark.slow(seconds=5)
def test_a_modified_topology_file_is_refused_by_every_command(tmp_path: Path) -> None:
    nsgs, topo = _edge_records()
    root = tmp_path / "snaps"
    snap = snapshot_from_records(Rows(nsgs, topology=topo), snapshots_dir=root, as_of="2026-10-01T06:00:00Z")
    assert cli("kpis", "--snapshots", str(root)).returncode == 0  # warms the derived cache
    target = snap / "topo_ipconfigs.parquet"
    _tamper_table(target)  # one NIC fewer: a machine would silently vanish from the answer
    for args in (["scan", str(snap)], ["reach", str(snap)], ["kpis", "--snapshots", str(root)]):
        r = cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert str(target) in r.stderr, (args, r.stderr)
        assert "SHA-256 differs" in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1


def test_reports_put_reachable_findings_first_and_rank_subscriptions_by_them(demo_reports: Path,
                                                                               demo_snapshots: Path) -> None:
    ctx = load_context(str(demo_snapshots))
    edge_id = next(s for s, n in zip(ctx.subscriptions["subscription_id"], ctx.subscriptions["name"], strict=True)
                   if n == EDGE_SUBSCRIPTION)
    html = (demo_reports / f"{edge_id}.html").read_text()
    table = html[html.index('id="findings"'):html.index('id="reach"')]
    exposures = [x for x in pd.Series(table.split(' ak-exp-')[1:]).str.split('"').str[0]]
    order = ["reachable", "no-public-path", "unknown-topology", "blocked", "latent"]
    assert exposures
    assert exposures[0] == "reachable"
    assert [order.index(x) for x in exposures if x in order] == sorted(order.index(x) for x in exposures if x in order)
    assert "20.60.0.10:50022 (inbound NAT lb-mail-public/nat-ssh-mail-01) -&gt; subnet NSG nsg-mail-edge-subnet " \
           "-&gt; NIC NSG nsg-mail-01-nic -&gt; vm-mail-01 10.60.1.4:22" in table
    # The demo's MX rules are accepted on record: out of the findings table, in their own section.
    accepted = html[html.index('id="accepted"'):html.index('id="trends"')]
    assert "RISK-2025-117" in accepted
    assert "ciso@contoso.example" in accepted
    assert "2026-11-20 (expires within 30 days)" in accepted
    assert "2026-08-31 (expired: open again)" in accepted
    assert "RISK-2025-117" not in table
    index = (demo_reports / "index.html").read_text()
    ranked = index[index.index("Subscriptions ranked"):]
    cells = [int(c) for c in pd.Series(ranked.split('<td class="ak-exp-reachable">')[1:]).str.split("<").str[0]]
    assert cells == sorted(cells, reverse=True)
    assert cells[0] > 0
