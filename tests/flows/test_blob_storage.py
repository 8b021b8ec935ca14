"""Flow logs read straight from Azure Blob Storage with azure-storage-blob, against Azurite
(Microsoft's local Blob Storage emulator, from npm) on 127.0.0.1. CI installs it; locally the
test skips when Azurite is absent."""

from __future__ import annotations

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
