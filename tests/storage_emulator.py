"""Azurite, Microsoft's local Blob Storage emulator (from npm), on 127.0.0.1 for the tests that
read and write Azure storage for real. CI installs it; locally those tests skip when it is absent."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


def connection_string(endpoint: str, key: str = KEY) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={endpoint};")


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    """The emulator's blob endpoint, ``http://127.0.0.1:PORT/devstoreaccount1``."""
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


def skip_without_azurite() -> None:
    if BIN is None and os.environ.get("CI") != "true":
        pytest.skip("Azurite is not installed (npm install azurite); CI installs it", allow_module_level=True)
