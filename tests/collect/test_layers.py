"""The layers beyond NSGs collected live: Resource Graph for firewalls, policies, IP groups and app
gateways, ARM (the official azure-mgmt-network client over HTTPS) for the effective admin rules and
the rule collection groups, against tests/emulator.py and tests/arm_emulator.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditkit import cli
from auditkit.collect import CollectRequest, collect
from auditkit.collect.resourcegraph import Pacing
from auditkit.demo.network import Network
from auditkit.engine.layer_records import ADMIN_RULES_TYPE, LAYER_TYPES, RULE_COLLECTION_GROUP_TYPE
from auditkit.engine.scan import reach, scan
from auditkit.evidence.snapshot import open_snapshot
from tests.emulator import Emulator, FakeCredential, Tenant

SUB_A = "aaaaaaaa-0000-4000-8000-00000000000a"
SUB_B = "bbbbbbbb-0000-4000-8000-00000000000b"
FAST = Pacing(backoff_initial=0.01, backoff_cap=0.05, jitter=0.01, max_429_retries=5, max_wait_seconds=30)


def _subscription(sub: str, n_admin: int) -> Network:
    """A hub with a firewall (policy DNAT, an IP group, a classic DNAT), an app gateway with a TCP
    listener, a spoke VNet with ``n_admin`` admin rules and a VNet with none."""
    n = Network(sub)
    hub, spoke, bare = n.vnet("vnet-hub", "10.0.0.0/16"), n.vnet("vnet-spoke", "10.1.0.0/16"), n.vnet("vnet-bare", "10.2.0.0/16")
    fw_subnet = n.subnet(hub, "AzureFirewallSubnet", "10.0.1.0/26")
    n.subnet(spoke, "workload", "10.1.0.0/24")
    n.subnet(bare, "default", "10.2.0.0/24")
    pip_fw, pip_gw = n.public_ip("pip-fw", "20.1.1.1"), n.public_ip("pip-gw", "20.1.1.2")
    group = n.ip_group("ipg-partners", ["198.51.100.0/24"])
    policy = n.firewall_policy("fwp-hub")
    n.dnat_collection(policy, "rcg-dnat", "dnat-mail", [
        n.dnat_rule("smtp-in", "20.1.1.1", "25", "10.1.0.4", "25"),
        n.dnat_rule("ssh-partners", "20.1.1.1", "2222", "10.1.0.5", "22", sources=[], ip_groups=[group])])
    n.dnat_collection(policy, "rcg-more", "dnat-rdp", [n.dnat_rule("rdp-in", "20.1.1.1", "3389", "10.1.0.6", "3389")],
                      group_priority=300)
    n.dnat_collection(policy, "rcg-last", "dnat-none", [], group_priority=400)
    n.firewall("fw-hub", fw_subnet, "10.0.1.4", [pip_fw], policy=policy,
               classic_dnat=[n.dnat_rule("smtp-classic", "20.1.1.1", "2525", "10.1.0.4", "25", classic=True)])
    n.app_gateway("agw-tcp", pip_gw, [("smtp-tcp", "Tcp", 25)], ["10.1.0.7"], 25)
    n.admin_rules(spoke, [n.admin_rule(f"rule-{i:02d}", "Deny" if i % 2 else "AlwaysAllow", 100 + i, ["22", "3389"])
                          for i in range(n_admin)])
    return n


@pytest.fixture(scope="module")
def networks() -> dict[str, Network]:
    return {SUB_A: _subscription(SUB_A, 45), SUB_B: _subscription(SUB_B, 3)}


@pytest.fixture()
def emu(networks: dict[str, Network], tmp_path: Path):
    subs, nsgs, resources = [], [], []
    for sub, n in networks.items():
        subs.append({"id": f"/subscriptions/{sub}", "subscriptionId": sub, "name": f"sub-{sub[:4]}",
                     "type": "microsoft.resources/subscriptions", "tags": {}, "properties": {"state": "Enabled"}})
        got_nsgs, topo = n.records()
        nsgs.extend(got_nsgs)
        resources.extend(topo)
    with Emulator(Tenant(subscriptions=subs, nsgs=nsgs, resources=resources), tmp_path) as e:
        e.faults.enforce_quota = False
        e.faults.quota_per_window = 10_000  # no quota waits: these tests are about the layers
        yield e


def _collect(emu: Emulator, tmp_path: Path, **kw) -> Path:
    return collect(FakeCredential(), CollectRequest(endpoint=emu.url, snapshots_dir=tmp_path / "snaps", pacing=FAST,
                                                    subscriptions=[SUB_A, SUB_B], **kw),
                   connection_verify=emu.ca_file, retry_backoff_factor=0.01)


def _layer_records(n: Network) -> list[dict]:
    """What the builder wrote for the layer types, in the order collected (ARM records after RG rows)."""
    return [r for r in n.records()[1] if r["type"] in LAYER_TYPES]


def _key(rows: list) -> dict[str, dict]:
    return {r["id"].lower(): r for r in rows if isinstance(r, dict) and r.get("type") in LAYER_TYPES}


@pytest.mark.slow(seconds=3)
def test_every_layer_arrives_in_the_builders_shapes(emu: Emulator, networks: dict, tmp_path: Path) -> None:
    snap = open_snapshot(_collect(emu, tmp_path))
    raw = snap.raw("topology")
    want = _key(_layer_records(networks[SUB_A]) + _layer_records(networks[SUB_B]))
    got = _key(raw)
    assert got.keys() == want.keys() | {f"{v.lower()}/effectivesecurityadminrules" for n in networks.values()
                                        for v in n.vnets if v.lower().endswith(("vnet-hub", "vnet-bare"))}
    for rid, rec in want.items():
        assert got[rid] == rec, rid  # exactly the builder's record, admin rules item for item
    # A VNet without admin rules has a record saying none apply.
    bare = got[f"/subscriptions/{SUB_A}/resourcegroups/rg-net/providers/microsoft.network/virtualnetworks/vnet-bare"
               "/effectivesecurityadminrules"]
    assert bare["properties"]["value"] == [] and bare["subscriptionId"] == SUB_A
    spoke = next(r for r in got.values() if r["type"] == ADMIN_RULES_TYPE and len(r["properties"]["value"]) == 45)
    assert [i["id"] for i in spoke["properties"]["value"]] == [
        i["id"] for i in networks[SUB_A].others[-1]["properties"]["value"]]
    meta = snap.meta["topology"]
    assert meta["failed_layers"] == {"admin-rule": [], "firewall-dnat": [], "app-gateway": []}
    assert meta["raw_rows"] == len(raw)
    # Paging: 45 rules in pages of 20 (3 requests), 3 rules and 2 empty VNets (1 each), per subscription:
    # 3 + 1 + 1 for A, 1 + 1 + 1 for B; three groups in pages of 2: 2 requests per policy.
    admin_posts = [r for r in emu.arm_requests if r["method"] == "POST"]
    assert len(admin_posts) == 8 and all(r["query"]["$top"] == "20" for r in admin_posts)
    assert [bool(r["body"].get("skipToken")) for r in admin_posts[:5]].count(True) == 2
    assert len([r for r in emu.arm_requests if r["method"] == "GET"]) == 4
    layers = meta["layers"]
    assert layers["admin-rule"]["arm_requests"] == 8 and layers["admin-rule"]["pages"] == 8
    assert layers["admin-rule"]["records"] == 6
    assert layers["firewall-dnat"]["arm_requests"] == 4 and layers["firewall-dnat"]["records"] == 2 * (1 + 1 + 1 + 3)
    assert layers["app-gateway"]["records"] == 2 and layers["app-gateway"]["collected"] is True
    labels = [d["label"] for d in snap.meta["received"]]
    assert sum(label.startswith("layers.admin-rule/subscriptions/") for label in labels) == 8
    assert sum(label.startswith("layers.firewall-dnat/subscriptions/") for label in labels) == 4
    assert f"layers.admin-rule/subscriptions/{SUB_A}/resourceGroups/rg-net/providers/Microsoft.Network/" \
           "virtualNetworks/vnet-spoke/page-3" in labels
    # Firewalls and app gateways are modelled: read into their layer tables, never "not modelled".
    assert snap.table("topo_unmodelled").empty
    assert len(snap.table("topo_firewalls")) == 2 and len(snap.table("topo_admin_vnets")) == 6
    assert len(snap.table("topo_admin_rules")) == sum(len(r["properties"]["value"]) for r in got.values()
                                                      if r["type"] == ADMIN_RULES_TYPE)


def test_raw_pages_are_kept_byte_for_byte(emu: Emulator, tmp_path: Path) -> None:
    from auditkit.evidence.snapshot import decompress

    path = _collect(emu, tmp_path)
    meta = open_snapshot(path).meta
    bodies = decompress((path / "raw" / "received.zst").read_bytes())
    kept = [bodies[d["offset"]:d["offset"] + d["size"]] for d in meta["received"]]
    assert kept == emu.sent  # Resource Graph and ARM pages, in the order they were sent
    page = json.loads(next(b for b, d in zip(kept, meta["received"], strict=True)
                           if d["label"].startswith("layers.firewall-dnat")))
    assert page["value"][0]["type"] == "Microsoft.Network/FirewallPolicies/RuleCollectionGroups" and "nextLink" in page


def test_a_subscription_the_network_api_refuses_is_isolated(emu: Emulator, networks: dict, tmp_path: Path,
                                                            monkeypatch, capsys) -> None:
    emu.faults.network_forbidden = {SUB_B}
    monkeypatch.setattr("auditkit.collect.credentials.credential", lambda auth, cloud: FakeCredential())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.ca_file)
    code = cli.main(["collect", "--endpoint", emu.url, "--snapshots", str(tmp_path / "s"),
                     "--subscription", SUB_A, "--subscription", SUB_B])
    err = capsys.readouterr().err
    assert code == 0  # NSGs and topology of both were read: as a topology failure, not a failed subscription
    assert f"subscription {SUB_B}: layer admin-rule not read: 403 AuthorizationFailed" in err
    assert f"subscription {SUB_B}: layer firewall-dnat not read: 403 AuthorizationFailed" in err
    (snap_dir,) = (tmp_path / "s").iterdir()
    snap = open_snapshot(snap_dir)
    topo = snap.meta["topology"]
    assert topo["failed_layers"] == {"admin-rule": [SUB_B], "firewall-dnat": [SUB_B], "app-gateway": []}
    failure = topo["layers"]["admin-rule"]["failures"][0]
    assert (failure["subscription_id"], failure["status"], failure["code"]) == (SUB_B, 403, "AuthorizationFailed")
    got = _key(snap.raw("topology"))
    arm_types = (ADMIN_RULES_TYPE, RULE_COLLECTION_GROUP_TYPE)
    assert not [r for r in got.values() if r["subscriptionId"] == SUB_B and r["type"] in arm_types]
    assert _key(_layer_records(networks[SUB_A])).keys() <= got.keys()
    # Its firewall and app gateway came from Resource Graph and are there.
    assert any(r["subscriptionId"] == SUB_B and r["type"] == "microsoft.network/azurefirewalls" for r in got.values())
    # The verdicts say what was not read: never clean without knowing, per layer.
    result = scan(snap_dir, ports=(25, 22))
    cov = result.layers.set_index(["subscription_id", "layer"])["status"]
    assert cov[(SUB_B, "admin-rule")] == "not read" and cov[(SUB_B, "firewall-dnat")] == "not read"
    assert cov[(SUB_A, "admin-rule")] == "evaluated" and cov[(SUB_A, "firewall-dnat")] == "evaluated"
    b = result.findings[result.findings["subscription_id"].str.lower() == SUB_B]
    assert len(b) and not set(b["exposure"]) & {"blocked", "no-public-path", "latent"}, b[["layer", "exposure"]]
    assert f"/subscriptions/{SUB_B}" in reach(snap_dir, 25).attrs["incomplete"]


@pytest.mark.slow(seconds=4)
def test_429_with_retry_after_is_retried_once_by_azure_core(emu: Emulator, tmp_path: Path) -> None:
    emu.faults.network_throttle_next = 2  # the first admin rules POST, then its retry
    snap = open_snapshot(_collect(emu, tmp_path))
    layers = snap.meta["topology"]["layers"]
    assert snap.meta["topology"]["failed_layers"]["admin-rule"] == []
    assert layers["admin-rule"]["throttled_429"] == 2
    assert layers["admin-rule"]["arm_requests"] == 8 + 2
    assert emu.statuses.count(429) == 2


@pytest.mark.slow(seconds=4)
def test_a_post_429_without_retry_after_is_retried_by_the_kit_under_bounds(emu: Emulator, tmp_path: Path) -> None:
    emu.faults.network_throttle_next, emu.faults.network_retry_after = 3, None  # azure-core retries no POST 429 then
    topo = open_snapshot(_collect(emu, tmp_path)).meta["topology"]
    assert topo["failed_layers"]["admin-rule"] == [] and topo["layers"]["admin-rule"]["throttled_429"] == 3
    emu.faults.network_throttle_next = 100  # beyond FAST's 5 retries: that subscription's layer fails, not the run
    topo = open_snapshot(collect(FakeCredential(), CollectRequest(
        endpoint=emu.url, snapshots_dir=tmp_path / "again", pacing=FAST, subscriptions=[SUB_A, SUB_B]),
        connection_verify=emu.ca_file, retry_backoff_factor=0.01)).meta["topology"]
    assert topo["failed_layers"]["admin-rule"] == [SUB_A, SUB_B]
    assert {f["status"] for f in topo["layers"]["admin-rule"]["failures"]} == {429}


@pytest.mark.slow(seconds=3)
def test_a_vnet_resource_graph_could_not_read_marks_admin_rules_unknown(emu: Emulator, tmp_path: Path) -> None:
    emu.faults.topology_forbidden = {SUB_B}  # every non-NSG query refused for B
    topo = open_snapshot(_collect(emu, tmp_path)).meta["topology"]
    assert topo["failed_subscriptions"] == [SUB_B]
    assert topo["failed_layers"] == {"admin-rule": [SUB_B], "firewall-dnat": [SUB_B], "app-gateway": [SUB_B]}
    assert all(SUB_B not in r["path"] for r in emu.arm_requests)


def test_no_layers_reads_nothing_from_arm_and_says_so(emu: Emulator, tmp_path: Path) -> None:
    topo = open_snapshot(_collect(emu, tmp_path, layers=False)).meta["topology"]
    assert emu.arm_requests == []
    assert topo["failed_layers"] == {"admin-rule": [SUB_A, SUB_B], "firewall-dnat": [SUB_A, SUB_B], "app-gateway": []}
    assert topo["layers"]["admin-rule"]["collected"] is False and topo["layers"]["app-gateway"]["collected"] is True


def test_the_emulator_serves_what_arm_serves(emu: Emulator, networks: dict) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.network.models import QueryRequestOptions

    client = NetworkManagementClient(FakeCredential(), SUB_A, base_url=emu.url, connection_verify=emu.ca_file)
    with pytest.raises(HttpResponseError) as info:
        client.list_network_manager_effective_security_admin_rules("rg-net", "vnet-spoke", QueryRequestOptions(), top=21)
    assert info.value.status_code == 400
    with pytest.raises(HttpResponseError) as info:
        client.list_network_manager_effective_security_admin_rules("rg-net", "vnet-gone", QueryRequestOptions(), top=5)
    assert info.value.status_code == 404
    page = client.list_network_manager_effective_security_admin_rules("rg-net", "vnet-spoke", QueryRequestOptions(),
                                                                      top=5)
    assert len(page.value) == 5 and page.skip_token
    assert [g.name for g in client.firewall_policy_rule_collection_groups.list("rg-net", "fwp-hub")] == [
        "rcg-dnat", "rcg-more", "rcg-last"]


def test_an_export_keeps_the_layer_records(networks: dict, tmp_path: Path) -> None:
    nsgs, topo = networks[SUB_A].records()
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"data": [*nsgs, *topo]}))
    assert cli.main(["collect", "--from-file", str(export), "--snapshots", str(tmp_path / "s"), "--allow-empty"]) == 0
    (snap_dir,) = (tmp_path / "s").iterdir()
    snap = open_snapshot(snap_dir)
    got = _key(snap.raw("topology"))
    want = _key(_layer_records(networks[SUB_A]))
    assert {t for t in LAYER_TYPES} == {r["type"] for r in want.values()}
    assert got == want
