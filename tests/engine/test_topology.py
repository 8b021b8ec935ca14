"""Topology collection over HTTPS through the official SDK against the emulator: one query per
type, paged; a subscription whose topology cannot be read keeps its NSGs and says unknown-topology."""

from __future__ import annotations

from pathlib import Path

import pytest

import auditkit
from auditkit.collect.queries import TOPOLOGY_QUERIES
from auditkit.demo.estate import edge_network
from auditkit.demo.network import Network
from auditkit.engine.scan import reach, scan
from auditkit.evidence.snapshot import open_snapshot
from tests.collect.test_collect import run_collect
from tests.emulator import Emulator, Tenant

SUBS = ["10000000-0000-4000-8000-000000000001", "10000000-0000-4000-8000-000000000002"]


def tenant(extra_nics: int = 1100) -> tuple[Tenant, list, list]:
    nsgs, topo = edge_network(SUBS[0])
    # A big subnet in the second subscription: more NICs than one page holds (1,000 rows).
    n = Network(SUBS[1], "rg-farm")
    nsg = n.nsg("nsg-farm", [])
    vnet = n.vnet("vnet-farm", "10.70.0.0/16")
    subnet = n.subnet(vnet, "snet-farm", "10.70.0.0/20", nsg)
    for i in range(extra_nics):
        n.nic(f"nic-farm-{i:04d}", subnet, f"10.70.{i // 250}.{i % 250 + 4}")
    more_nsgs, more_topo = n.records()
    subs = [{"id": f"/subscriptions/{s}", "subscriptionId": s, "name": f"sub-{i}", "tenantId": "t",
             "type": "microsoft.resources/subscriptions", "properties": {"state": "Enabled"}}
            for i, s in enumerate(SUBS)]
    return Tenant(subscriptions=subs, nsgs=nsgs + more_nsgs, resources=topo + more_topo), nsgs + more_nsgs, \
        topo + more_topo


def test_topology_arrives_per_type_paged_and_gives_the_same_answer_as_the_records(tmp_path: Path) -> None:
    t, nsgs, topo = tenant()
    with Emulator(t, tmp_path) as emu:
        emu.faults.enforce_quota = False
        path = run_collect(emu, tmp_path)
        queries = [b["query"] for b in emu.requests]
    snap = open_snapshot(path)
    info = snap.meta["topology"]
    assert info["failed_subscriptions"] == []
    assert info["errors"] == 0
    assert info["queries"]["nics"]["rows"] == 3 + 1100
    assert info["queries"]["nics"]["requests"] == 2  # paged
    assert all(info["queries"][q]["requests"] >= 1 for q in TOPOLOGY_QUERIES)
    assert sum("networkinterfaces" in q for q in queries) == 2
    assert not any("mv-expand" in q for q in queries)
    assert len(snap.table("topo_ipconfigs")) == 3 + 1100 + 1  # NICs and the scale set profile
    assert snap.table("topo_unmodelled")["what"].tolist() == []  # the firewall is modelled now (DNAT)
    assert len(snap.table("topo_firewalls")) == 1
    live = scan(path).findings
    offline = scan(nsgs + topo).findings
    assert sorted(zip(live["rule_name"], live["port"], live["exposure"], strict=True)) == \
        sorted(zip(offline["rule_name"], offline["port"], offline["exposure"], strict=True))
    assert set(live["exposure"]) == {"reachable", "blocked", "no-public-path"}
    assert reach(path, 25)["vm_name"].tolist() == ["vm-mail-01"]


@pytest.mark.slow(seconds=7)
def test_unreadable_topology_keeps_nsgs_and_says_unknown_topology(tmp_path: Path) -> None:
    t, _, _ = tenant(extra_nics=3)
    with Emulator(t, tmp_path) as emu:
        emu.faults.enforce_quota = False
        emu.faults.topology_forbidden = {SUBS[0]}
        path = run_collect(emu, tmp_path)
    snap = open_snapshot(path)
    assert snap.meta["subscriptions"]["failed"] == []
    assert snap.meta["topology"]["failed_subscriptions"] == [SUBS[0]]
    f = auditkit.scan(path).findings
    mine = f[f["subscription_id"].str.lower() == SUBS[0]]
    assert len(mine)
    assert set(mine["exposure"]) == {"unknown-topology"}
    assert set(mine["exposure_note"]) == {"the subscription's topology could not be read"}
    assert set(mine["severity"]) <= {"high", "latent"}


def test_collect_without_topology_is_unknown_topology(tmp_path: Path) -> None:
    t, _, _ = tenant(extra_nics=3)
    with Emulator(t, tmp_path) as emu:
        emu.faults.enforce_quota = False
        path = run_collect(emu, tmp_path, topology=False)
        assert not any("networkinterfaces" in b["query"] for b in emu.requests)
    assert open_snapshot(path).meta["topology"] is None
    assert set(auditkit.scan(path).findings["exposure"]) == {"unknown-topology"}
