"""Azurite, Microsoft's local Blob Storage emulator (from npm), on 127.0.0.1 for the tests that
read and write Azure storage for real. ``make setup`` installs it where npm exists; without it
those tests skip, saying so in one line (``tests/parts.py``)."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from tests.parts import need

# Azurite's documented development account (a public, well-known key).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def connection_string(endpoint: str, key: str = KEY) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={endpoint};")


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    """The emulator's blob endpoint, ``http://127.0.0.1:PORT/devstoreaccount1``."""
    binary = need("azurite")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--blobHost", "127.0.0.1", "--blobPort", str(port),
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
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # a busy Node process may ignore SIGTERM for a while
        proc.kill()
        proc.wait(timeout=10)



def skip_without_azurite() -> None:
    """Skip the whole module when Azurite is absent (one line saying what installs it)."""
    need("azurite", module=True)
