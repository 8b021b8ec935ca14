"""The collector driven through the official azure-mgmt-resourcegraph client over real HTTPS,
against the local Resource Graph emulator in tests/emulator.py."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import auditkit
from auditkit import cli
from auditkit.collect import CollectRequest, collect
from auditkit.collect.queries import TOPOLOGY_QUERIES
from auditkit.collect.resourcegraph import CredentialError, Pacing
from auditkit.demo.synthetic import nsg_record, security_rule, subscription_id
from auditkit.engine.topology import TOPOLOGY_TABLES
from auditkit.evidence.snapshot import decompress, list_snapshots, open_snapshot
from tests.emulator import Emulator, FakeCredential, Tenant

ROOT = Path(__file__).resolve().parents[2]
FAST = Pacing(backoff_initial=0.01, backoff_cap=0.05, jitter=0.01, max_429_retries=12, max_wait_seconds=30)


def make_tenant(n_subs: int = 1500, n_nsgs: int = 3000, big_rules: int = 600) -> Tenant:
    import random

    rng = random.Random(11)
    subs = sorted(subscription_id(rng) for _ in range(n_subs))
    sub_rows = [{"id": f"/subscriptions/{s}", "subscriptionId": s, "name": f"sub-{i:04d}-{'prod' if i % 3 else 'dev'}",
                 "type": "microsoft.resources/subscriptions", "tags": {"env": "prod" if i % 3 else "dev"},
                 "properties": {"state": "Enabled"}} for i, s in enumerate(subs)]
    nsgs = []
    for i in range(n_nsgs):
        sub = subs[i % n_subs]
        name = f"nsg-{i:05d}"
        nid = f"/subscriptions/{sub}/resourceGroups/rg-{i % 40}/providers/Microsoft.Network/networkSecurityGroups/{name}"
        count = big_rules if i == 7 else 2
        # Odd rules are on port 25; every 50th of them is open to "*": 12 findings in the big NSG.
        rules = [security_rule(nid, f"r{j:04d}", 100 + j, "Allow", "Tcp", ["*" if j % 50 == 1 else "10.0.0.0/8"],
                               ["25" if j % 2 else "443"], ["*"]) for j in range(count)]
        nsgs.append(nsg_record(sub, f"rg-{i % 40}", name, rules))
    return Tenant(subscriptions=sub_rows, nsgs=nsgs, management_groups={"mg-root": subs[:10]})


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    return make_tenant()


@pytest.fixture(scope="module")
def small_tenant() -> Tenant:
    return make_tenant(n_subs=12, n_nsgs=40, big_rules=5)


@pytest.fixture()
def emulator(tenant: Tenant, tmp_path: Path):
    with Emulator(tenant, tmp_path) as emu:
        emu.faults.enforce_quota = False
        yield emu


@pytest.fixture()
def small(small_tenant: Tenant, tmp_path: Path):
    with Emulator(small_tenant, tmp_path) as emu:
        emu.faults.enforce_quota = False
        yield emu


def run_collect(emu: Emulator, tmp_path: Path, credential=None, **kw) -> Path:
    kw.setdefault("pacing", FAST)
    return collect(credential or FakeCredential(), CollectRequest(endpoint=emu.url, snapshots_dir=tmp_path / "snaps", **kw),
                   connection_verify=emu.ca_file, retry_backoff_factor=0.01)


@pytest.mark.slow(seconds=19)
def test_whole_tenant_arrives_exactly_once(emulator: Emulator, tenant: Tenant, tmp_path: Path) -> None:
    path = run_collect(emulator, tmp_path)
    snap = open_snapshot(path)
    nsgs = snap.table("nsgs")
    assert len(nsgs) == 3000
    assert nsgs["nsg_key"].is_unique
    assert set(nsgs["nsg_key"]) == {n["id"].lower() for n in tenant.nsgs}
    rules = snap.table("rules")
    big = rules[(rules["nsg_name"] == "nsg-00007") & ~rules["default"]]
    assert len(big) == 600
    assert big["rule_name"].is_unique
    meta = snap.meta
    assert meta["counts"]["subscriptions"] == 1500
    assert meta["subscriptions"]["failed"] == []
    assert meta["subscriptions"]["requested"]["all"] is True
    # Requests: 2 discovery pages + 5 batches of 300 subscriptions (600 NSGs each, one page), then
    # each of the topology queries once per batch (this tenant has no topology: empty pages).
    req = meta["requests"]
    assert req["minimum_requests"] == 7 + len(TOPOLOGY_QUERIES) * 5 + 5 + 5  # and resourcechanges, policyresources once per batch
    assert {q: v["requests"] for q, v in meta["topology"]["queries"].items()} == {q: 5 for q in TOPOLOGY_QUERIES}
    assert req["requests"] <= 1.1 * req["minimum_requests"]
    bodies = emulator.requests
    assert all(len(b.get("subscriptions") or []) <= 300 for b in bodies)
    assert all((b["options"].get("$top") or 0) <= 1000 for b in bodies)
    assert not any("mv-expand" in b["query"] for b in bodies)
    assert all("order by id asc" in b["query"] and "project id" in b["query"] for b in bodies)
    findings = auditkit.scan(path).findings
    assert (findings["nsg_name"] == "nsg-00007").sum() == 12
    assert len(findings) == 2999 + 12


@pytest.mark.slow(seconds=6)
def test_pages_of_1000_and_requests_at_minimum(small: Emulator, tmp_path: Path) -> None:
    # One batch of 12 subscriptions, 40 NSGs: a page each. Then a tiny batch size forces paging per batch.
    path = run_collect(small, tmp_path, batch_size=5)
    req = open_snapshot(path).meta["requests"]
    assert req["requests"] == req["minimum_requests"] == 1 + 3 + len(TOPOLOGY_QUERIES) * 3 + 3 + 3
    assert len(open_snapshot(path).table("nsgs")) == 40


def test_paging_follows_skip_token_even_when_truncated_says_false(tenant: Tenant, tmp_path: Path) -> None:
    # 1,500 subscriptions need two pages; the first says resultTruncated "false" and carries a token.
    with Emulator(tenant, tmp_path) as emu:
        emu.faults.enforce_quota = False
        path = run_collect(emu, tmp_path, subscriptions=[s["subscriptionId"] for s in tenant.subscriptions[:2]])
        assert open_snapshot(path).meta["counts"]["nsgs"] == 4
        # Discovery alone over the whole tenant: 2 pages.
        from azure.mgmt.resourcegraph import ResourceGraphClient

        from auditkit.collect.queries import SUBSCRIPTIONS_QUERY
        from auditkit.collect.resourcegraph import Querier, Stats

        client = ResourceGraphClient(FakeCredential(), base_url=emu.url, connection_verify=emu.ca_file)
        stats = Stats()
        rows = Querier(client, stats, FAST).rows(SUBSCRIPTIONS_QUERY)
        assert len(rows) == 1500
        assert stats.pages == 2


@pytest.mark.slow(seconds=14)
def test_throttling_is_survived(small: Emulator, tmp_path: Path) -> None:
    small.faults.throttle_next = 3  # 429 without Retry-After, three times in a row
    small.faults.enforce_quota = True
    small.faults.quota_per_window = 3
    small.faults.quota_window_seconds = 1.0
    # NSGs only: each topology and layer query would add its batches, and seconds of quota waits.
    path = run_collect(small, tmp_path, batch_size=2, topology=False)
    meta = open_snapshot(path).meta
    assert meta["counts"]["nsgs"] == 40
    assert meta["subscriptions"]["failed"] == []
    assert meta["requests"]["retries_429"] >= 3
    assert meta["requests"]["quota_waits"] >= 1
    assert 429 in small.statuses


def test_throttling_beyond_bounds_fails_the_batch_not_the_run(small: Emulator, tmp_path: Path) -> None:
    small.faults.throttle_next = 10_000
    pacing = Pacing(backoff_initial=0.001, backoff_cap=0.002, jitter=0.0, max_429_retries=3, max_wait_seconds=5)
    path = run_collect(small, tmp_path, subscriptions=[s["subscriptionId"] for s in small.tenant.subscriptions],
                       pacing=pacing)
    failed = open_snapshot(path).meta["subscriptions"]["failed"]
    assert len(failed) == 12
    assert {f["status"] for f in failed} == {429}


def test_transient_503_is_retried(small: Emulator, tmp_path: Path) -> None:
    small.faults.unavailable_next = 2
    path = run_collect(small, tmp_path)
    assert open_snapshot(path).meta["counts"]["nsgs"] == 40
    assert small.statuses.count(503) == 2


@pytest.mark.slow(seconds=6)
def test_forbidden_subscription_is_isolated_and_recorded(small: Emulator, tmp_path: Path) -> None:
    subs = [s["subscriptionId"] for s in small.tenant.subscriptions]
    small.faults.forbidden = {subs[4], subs[9]}
    path = run_collect(small, tmp_path, subscriptions=subs)
    meta = open_snapshot(path).meta
    failed = {f["subscription_id"]: f for f in meta["subscriptions"]["failed"]}
    assert set(failed) == {subs[4], subs[9]}
    assert all(f["status"] == 403 and f["code"] == "AuthorizationFailed" for f in failed.values())
    assert len(meta["subscriptions"]["collected"]) == 10
    nsgs = open_snapshot(path).table("nsgs")
    assert set(nsgs["subscription_id"].str.lower()) == {s.lower() for s in subs} - {subs[4], subs[9]}
    readable = {s.lower() for s in subs} - {subs[4], subs[9]}
    assert len(nsgs) == sum(n["subscriptionId"].lower() in readable for n in small.tenant.nsgs) == 34


@pytest.mark.slow(seconds=7)
def test_collect_cli_exit_code_when_a_subscription_failed(small: Emulator, tmp_path: Path, monkeypatch,
                                                         capsys) -> None:
    subs = [s["subscriptionId"] for s in small.tenant.subscriptions]
    small.faults.forbidden = {subs[0]}
    monkeypatch.setattr("auditkit.collect.credentials.credential", lambda auth, cloud: FakeCredential())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", small.ca_file)
    code = cli.main(["collect", "--endpoint", small.url, "--snapshots", str(tmp_path / "s"), *sum(
        (["--subscription", s] for s in subs), [])])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"subscription {subs[0]} failed: 403 AuthorizationFailed" in err
    assert "requests:" in out
    assert "minimum" in out


def test_unauthorised_names_cloud_and_tenant(small: Emulator, tmp_path: Path, monkeypatch) -> None:
    small.faults.reject_token = True
    monkeypatch.setenv("AZURE_TENANT_ID", "contoso-tenant")
    with pytest.raises(CredentialError) as info:
        run_collect(small, tmp_path)
    msg = str(info.value)
    assert "401" in msg
    assert "'public'" in msg
    assert "contoso-tenant" in msg
    assert "\n" not in msg
    assert not (tmp_path / "snaps").exists() or not any((tmp_path / "snaps").iterdir())


def test_sovereign_cloud_scope_follows_cloud(small_tenant: Tenant, tmp_path: Path) -> None:
    scope = "https://management.core.usgovcloudapi.net/.default"
    with Emulator(small_tenant, tmp_path, scope=scope) as emu:
        emu.faults.enforce_quota = False
        cred = FakeCredential()
        path = run_collect(emu, tmp_path, credential=cred, cloud="usgov")
        assert open_snapshot(path).meta["token_scope"] == scope
        assert cred.scopes[0] == (scope,)
        # The public cloud's scope is refused by a US Gov endpoint.
        with pytest.raises(CredentialError):
            run_collect(emu, tmp_path, cloud="public")


def test_management_group_scope(small: Emulator, tmp_path: Path) -> None:
    path = run_collect(small, tmp_path, management_groups=["mg-root"])
    meta = open_snapshot(path).meta
    assert len(meta["subscriptions"]["collected"]) == 10
    assert small.requests[0]["managementGroups"] == ["mg-root"]


def test_truncated_result_and_repeated_token_are_errors(small_tenant: Tenant, tmp_path: Path) -> None:
    with Emulator(small_tenant, tmp_path) as emu:
        emu.faults.enforce_quota = False
        emu.faults.truncated = True
        subs = [s["subscriptionId"] for s in small_tenant.subscriptions]
        path = run_collect(emu, tmp_path, subscriptions=subs)
        failed = open_snapshot(path).meta["subscriptions"]["failed"]
        assert {f["code"] for f in failed} == {"ResultTruncated"}
        assert len(failed) == 12


def test_repeated_skip_token_is_an_error(tenant: Tenant, tmp_path: Path) -> None:
    from azure.mgmt.resourcegraph import ResourceGraphClient

    from auditkit.collect.queries import SUBSCRIPTIONS_QUERY
    from auditkit.collect.resourcegraph import GraphError, Querier, Stats

    with Emulator(tenant, tmp_path) as emu:
        emu.faults.enforce_quota = False
        emu.faults.repeat_token = True
        client = ResourceGraphClient(FakeCredential(), base_url=emu.url, connection_verify=emu.ca_file)
        with pytest.raises(GraphError, match="RepeatedSkipToken"):
            Querier(client, Stats(), FAST).rows(SUBSCRIPTIONS_QUERY)


def test_emulator_rejects_what_the_service_rejects(tenant: Tenant, tmp_path: Path) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.resourcegraph import ResourceGraphClient
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    with Emulator(tenant, tmp_path) as emu:
        emu.faults.enforce_quota = False
        client = ResourceGraphClient(FakeCredential(), base_url=emu.url, connection_verify=emu.ca_file)
        subs = [s["subscriptionId"] for s in tenant.subscriptions[:1001]]
        with pytest.raises(HttpResponseError) as info:
            client.resources(QueryRequest(query="resources", subscriptions=subs))
        assert info.value.status_code == 400
        with pytest.raises(HttpResponseError) as info:
            client.resources(QueryRequest(query="resources", options=QueryRequestOptions(top=1001)))
        assert info.value.status_code == 400
    with pytest.raises(Exception, match="outside 1-1000"):
        collect(FakeCredential(), CollectRequest(batch_size=1001, snapshots_dir=tmp_path))


INTERRUPTED = """
import signal, sys
# Ctrl-C as on a terminal, even when this test runs where SIGINT is ignored (background jobs, CI).
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {root!r})
from auditkit.collect import CollectRequest, collect
from tests.emulator import FakeCredential
collect(FakeCredential(), CollectRequest(endpoint={url!r}, snapshots_dir={snaps!r}, batch_size=1), connection_verify={ca!r})
"""


@pytest.mark.slow(seconds=10)
def test_interrupted_collection_leaves_no_snapshot(small: Emulator, tmp_path: Path) -> None:
    small.faults.delay = 0.2  # 12 batches + discovery: a few seconds
    snaps = tmp_path / "snaps"
    script = INTERRUPTED.format(root=str(ROOT), url=small.url, snaps=str(snaps), ca=small.ca_file)
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(small.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(small.requests) >= 4
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    assert list_snapshots(snaps) == []
    assert not snaps.exists() or os.listdir(snaps) == []


@pytest.mark.slow(seconds=6)
def test_snapshot_is_complete_evidence(small: Emulator, tmp_path: Path) -> None:
    path = run_collect(small, tmp_path, as_of="2026-11-01T06:00:00Z")
    assert path.name == "2026-11-01T060000Z"
    snap = open_snapshot(path)
    meta = snap.meta
    for key in ("as_of", "collected_at", "version", "cloud", "endpoint", "queries", "subscriptions", "counts", "files"):
        assert key in meta, key
    assert set(meta["files"]) == {"raw/received.zst", "nsgs.parquet", "rules.parquet", "subscriptions.parquet",
                                  "changes.parquet", "guardrails.parquet",
                                  *(f"topo_{t}.parquet" for t in TOPOLOGY_TABLES)}
    assert snap.verify() == []
    # The raw evidence is every response body exactly as the service sent it, each hashed.
    bodies = decompress((path / "raw" / "received.zst").read_bytes())
    docs = meta["received"]
    assert [bodies[d["offset"]:d["offset"] + d["size"]] for d in docs] == small.sent
    assert [d["sha256"] for d in docs] == [hashlib.sha256(b).hexdigest() for b in small.sent]
    assert {d["label"] for d in docs} == {"subscriptions", "nsgs", "topology", "changes", "guardrails"}
    assert len(snap.raw("topology")) == meta["topology"]["raw_rows"]
    raw = snap.raw("nsgs")
    assert len(raw) == 40
    assert raw[0] == sorted(small.tenant.nsgs, key=lambda r: r["id"].lower())[0]
    subs = snap.table("subscriptions")
    assert subs["name"].str.startswith("sub-").all()
    # Never overwritten.
    with pytest.raises(Exception, match="already exists"):
        run_collect(small, tmp_path, as_of="2026-11-01T06:00:00Z")


def test_tampered_snapshot_is_named(small: Emulator, tmp_path: Path, capsys) -> None:
    path = run_collect(small, tmp_path)
    target = path / "rules.parquet"
    target.chmod(0o644)
    with open(target, "ab") as fh:
        fh.write(b"x")
    assert cli.main(["snapshots", "--snapshots", str(tmp_path / "snaps")]) == 1
    assert "rules.parquet: changed" in capsys.readouterr().err


@pytest.mark.slow(seconds=15)
def test_monthly_collects_then_renders(small: Emulator, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("auditkit.collect.credentials.credential", lambda auth, cloud: FakeCredential())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", small.ca_file)
    snaps, reports = tmp_path / "snapshots", tmp_path / "reports"
    two = [s["subscriptionId"] for s in small.tenant.subscriptions[:2]]
    code = cli.main(["monthly", "--endpoint", small.url, "--snapshots", str(snaps), "--out", str(reports),
                     "--as-of", "2026-12-01T06:00:00Z", "--workers", "2", "--subscription", two[0],
                     "--subscription", two[1]])
    out = capsys.readouterr().out
    assert code == 0, out
    assert (reports / "2026-11" / "index.html").is_file()
    assert "rendered" in out
    from auditkit.render.manifest import verify

    assert verify(reports / "2026-11") == []
    assert sorted(p.stem for p in (reports / "2026-11").glob("*.html")) == sorted(["index", *two])


@pytest.mark.slow(seconds=10)
def test_terminated_cli_collection_leaves_no_snapshot(small: Emulator, tmp_path: Path) -> None:
    """A scheduler's SIGTERM during a CLI collection leaves neither a snapshot nor a temporary folder."""
    small.faults.delay = 0.2
    snaps = tmp_path / "snaps"
    script = ("import sys, auditkit.collect.credentials as c\n"
              f"sys.path.insert(0, {str(ROOT)!r})\n"
              "from tests.emulator import FakeCredential\n"
              "c.credential = lambda auth, cloud: FakeCredential()\n"
              "from auditkit.cli import main\n"
              f"sys.exit(main(['collect', '--endpoint', {small.url!r}, '--snapshots', {str(snaps)!r}, "
              "'--batch-size', '1']))\n")
    env = {**os.environ, "REQUESTS_CA_BUNDLE": small.ca_file}
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 30
    while len(small.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err, err
    assert list_snapshots(snaps) == []
    assert not snaps.exists() or os.listdir(snaps) == []


def test_an_identity_that_sees_no_subscription_is_not_a_clean_tenant(tmp_path: Path) -> None:
    from auditkit.evidence.records import EmptyInput

    with Emulator(Tenant(subscriptions=[], nsgs=[]), tmp_path) as emu:
        emu.faults.enforce_quota = False
        with pytest.raises(EmptyInput, match="no subscription .* not a clean tenant"):
            run_collect(emu, tmp_path)
        assert not (tmp_path / "snaps").exists() or not any((tmp_path / "snaps").iterdir())
        path = run_collect(emu, tmp_path, allow_empty=True)
        assert open_snapshot(path).meta["counts"]["subscriptions"] == 0


def test_a_tenant_cut_at_10000_subscriptions_is_refused_unless_allowed(small: Emulator, tmp_path: Path,
                                                                       monkeypatch, capsys) -> None:
    from auditkit.collect.live import SubscriptionLimitHit

    small.faults.subscription_limit_hit = True
    with pytest.raises(SubscriptionLimitHit) as info:
        run_collect(small, tmp_path, management_groups=["mg-root"])
    msg = str(info.value)
    assert msg.startswith("management group(s) mg-root: 10 subscriptions found, more exist")
    assert "x-ms-tenant-subscription-limit-hit" in msg and "--allow-partial" in msg and "\n" not in msg
    assert len(small.requests) == 1  # refused after discovery, before any NSG is read
    assert not (tmp_path / "snaps").exists() or not any((tmp_path / "snaps").iterdir())

    monkeypatch.setattr("auditkit.collect.credentials.credential", lambda auth, cloud: FakeCredential())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", small.ca_file)
    base = ["collect", "--endpoint", small.url, "--snapshots", str(tmp_path / "s")]
    assert cli.main(base) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the tenant: 12 subscriptions found, more exist" in err
    assert cli.main([*base, "--allow-partial"]) == 0
    assert "partial snapshot: holds 12 records (Resource Graph used only the first 10,000" in capsys.readouterr().err
    (snap,) = list_snapshots(tmp_path / "s")
    assert snap.meta["partial"]["records"] == 12
    assert snap.meta["requests"]["subscription_limit_hit"] is True


def test_a_collection_by_subscription_is_not_cut_by_the_limit(small: Emulator, tmp_path: Path) -> None:
    subs = [s["subscriptionId"] for s in small.tenant.subscriptions]
    small.faults.subscription_limit_hit = True  # sent only to tenant or management-group scope queries
    assert "partial" not in open_snapshot(run_collect(small, tmp_path, subscriptions=subs)).meta


def test_monthly_refuses_an_export_of_one_page_before_rendering(tmp_path: Path, capsys) -> None:
    import json

    page = tmp_path / "page.json"
    sub = "aaaaaaaa-0000-4000-8000-00000000000a"
    page.write_text(json.dumps({"count": 1, "data": [nsg_record(sub, "rg", "n", [])],
                                "skip_token": "ew0K", "total_records": 1500}))
    code = cli.main(["monthly", "--from-file", str(page), "--snapshots", str(tmp_path / "s"),
                     "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"{page}: holds 1 of 1500 records" in err
    assert not (tmp_path / "r").exists()
    assert not (tmp_path / "s").exists() or not list_snapshots(tmp_path / "s")
