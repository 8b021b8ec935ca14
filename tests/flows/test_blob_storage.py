"""Flow logs read straight from Azure Blob Storage with azure-storage-blob, against Azurite
(Microsoft's local Blob Storage emulator, from npm) on 127.0.0.1. CI installs it; locally the
test skips when Azurite is absent."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from auditkit.flows.logs import iter_blobs, read_flow_logs, read_paths

ROOT = Path(__file__).resolve().parents[2]
# Azurite's documented development account (a public, well-known key).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_bin() -> str | None:
    for candidate in (os.environ.get("AZURITE_BLOB"), shutil.which("azurite-blob"),
                      str(ROOT / ".ci" / "azurite" / "node_modules" / ".bin" / "azurite-blob")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


BIN = azurite_bin()
if BIN is None and os.environ.get("CI") != "true":
    pytest.skip("Azurite is not installed (npm install azurite); CI installs it", allow_module_level=True)


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    assert BIN, "azurite-blob is missing: .ci/run must npm install azurite"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([BIN, "--blobHost", "127.0.0.1", "--blobPort", str(port),
                             "--inMemoryPersistence", "--skipApiVersionCheck", "--silent", "--loose"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path_factory.mktemp("azurite"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("Azurite did not start")
    yield f"http://127.0.0.1:{port}/{ACCOUNT}"
    proc.terminate()
    proc.wait(timeout=10)


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
    assert uploaded > 10 and len(remote.flows) == len(here.flows) > 0
    assert sorted(remote.flows["source"]) == sorted(here.flows["source"])
    assert sum(v["incomplete_records"] for v in remote.skipped.values()) == \
        sum(v["incomplete_records"] for v in here.skipped.values()) >= 1
    assert all(k.startswith("insights-logs-") for k in remote.skipped)
    # The same through read_paths with a URL.
    assert len(read_paths([azurite], credential=cred).flows) == len(here.flows)
