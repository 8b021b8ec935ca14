"""Flow logs read straight from Azure Blob Storage through the kit's storage layer (fsspec/adlfs,
``evidence.storage``), against Azurite (Microsoft's local Blob Storage emulator, from npm) on
127.0.0.1. CI installs it; locally the tests skip when Azurite is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditkit.flows.logs import iter_blobs, read_flow_logs, read_paths
from tests.storage_emulator import ACCOUNT, KEY, skip_without_azurite

skip_without_azurite()


@pytest.mark.slow(seconds=12)
def test_flow_logs_from_blob_storage_equal_the_local_export(azurite: str, tmp_path: Path) -> None:
    from azure.storage.blob import BlobServiceClient

    from auditkit.demo.flows import write_flow_logs

    local = write_flow_logs(tmp_path / "export")
    service = BlobServiceClient(azurite, credential={"account_name": ACCOUNT, "account_key": KEY})
    uploaded = 0
    for path in local.rglob("*.json"):
        container, name = path.relative_to(local).as_posix().split("/", 1)
        client = service.get_container_client(container)
        if not client.exists():
            client.create_container()
        client.upload_blob(name, path.read_bytes())
        uploaded += 1
    cred = {"account_name": ACCOUNT, "account_key": KEY}
    remote = read_flow_logs(iter_blobs(azurite, cred))
    here = read_paths([local])
    assert uploaded > 10
    assert len(remote.flows) == len(here.flows) > 0
    assert sorted(remote.flows["source"]) == sorted(here.flows["source"])
    assert sum(v["incomplete_records"] for v in remote.skipped.values()) == \
        sum(v["incomplete_records"] for v in here.skipped.values()) >= 1
    assert all(k.startswith("insights-logs-") for k in remote.skipped)
    # The same through read_paths with a URL.
    assert len(read_paths([azurite], credential=cred).flows) == len(here.flows)


def _service(azurite: str):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient(azurite, credential={"account_name": ACCOUNT, "account_key": KEY})


def test_a_container_or_folder_url_reads_only_that_and_an_unreadable_blob_is_one_line(azurite: str) -> None:
    """A URL naming a container (or a folder in one) reads what it names, with the same names as an
    account URL; a blob cut off mid-record, or not a flow log, is counted; the rest still comes."""
    client = _service(azurite).get_container_client("flows-one-container")
    client.create_container()
    log = {"records": [{"resourceId": "/x/nsg", "properties": {"Version": 1, "flows": [
        {"rule": "r", "flows": [{"mac": "00", "flowTuples": ["1700000000,10.0.0.1,10.0.0.2,1,25,T,I,A"]}]}]}}]}
    text = json.dumps(log)
    client.upload_blob("a/PT1H.json", text)
    client.upload_blob("a/cut.json", text[:-40])
    client.upload_blob("a/binary.json", b"\xff\xfe")
    client.upload_blob("b/PT1H.json", text)
    cred = {"account_name": ACCOUNT, "account_key": KEY}
    folder = read_paths([f"{azurite}/flows-one-container/a"], credential=cred)
    assert len(folder.flows) == 1
    assert sorted(folder.skipped) == [f"flows-one-container/a/{n}" for n in ("PT1H.json", "binary.json", "cut.json")]
    assert folder.skipped["flows-one-container/a/cut.json"]["incomplete_records"] == 1
    assert folder.skipped["flows-one-container/a/binary.json"]["file_skipped"] == "not UTF-8 text"
    assert len(read_paths([f"{azurite}/flows-one-container"], credential=cred).flows) == 2
    tiny = read_paths([f"{azurite}/flows-one-container/b"], credential=cred, max_file_mb=0)
    assert "larger than the limit" in tiny.skipped["flows-one-container/b/PT1H.json"]["file_skipped"]


def test_flow_logs_at_abfs_urls_and_missing_containers(azurite: str, monkeypatch) -> None:
    """``abfs://`` reads the same way (credentials from the environment); a container URL whose
    container does not exist is a one-line error, while an account without VNet flow logs is not."""
    from auditkit.evidence.storage import StorageError
    from tests.storage_emulator import connection_string

    client = _service(azurite).get_container_client("flows-abfs")
    client.create_container()
    client.upload_blob("x/PT1H.json", json.dumps({"records": [{"resourceId": "/x/nsg", "properties": {
        "Version": 1, "flows": [{"rule": "r", "flows": [{"mac": "00", "flowTuples": [
            "1700000000,10.0.0.1,10.0.0.2,1,25,T,I,A", "1700000001,10.0.0.1,10.0.0.2,1,25,T,I,A"]}]}]}}]}))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(azurite))
    assert len(read_paths(["abfs://flows-abfs/x"]).flows) == 2
    with pytest.raises(StorageError, match=r"^abfs://no-such-flows: no such container or bucket \(no-such-flows\)$"):
        read_paths(["abfs://no-such-flows"])
    with pytest.raises(StorageError, match=r"no such container or bucket \(no-such-flows\)$"):
        read_paths([f"{azurite}/no-such-flows"])
