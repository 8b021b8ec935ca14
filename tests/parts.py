"""The parts outside Python that some tests drive for real: Debian's Chromium (reports opened and
printed), OpenSSH's ssh-keygen (signatures checked without the kit) and Azurite, Microsoft's Blob
Storage emulator (from npm). ``make setup`` installs them where it can (``.ci/install-parts``);
a test that needs a part this machine lacks skips with one line saying what installs it, never
an error or a failure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where ``make setup`` puts what it installs from npm (a folder of the checkout, not committed).
PARTS_DIR = Path(os.environ.get("AUDITKIT_PARTS_DIR") or ROOT / ".parts")

HOW_TO_INSTALL = {
    "chromium": "Chromium is not installed: run `make setup` as root, or `apt-get install chromium`",
    "ssh-keygen": "ssh-keygen is not installed: run `make setup` as root, or `apt-get install openssh-client`",
    "azurite": "Azurite is not installed: run `make setup` with npm on the PATH, or "
               "`npm install --prefix .parts/azurite azurite@3`",
}


def _file(path: str | Path | None) -> str | None:
    return str(path) if path and Path(path).is_file() else None


def chromium() -> str | None:
    """Debian's Chromium (the kit never downloads a browser), or ``$AUDITKIT_CHROMIUM`` as the kit reads it."""
    chosen = os.environ.get("AUDITKIT_CHROMIUM")
    if chosen:
        return _file(shutil.which(chosen) or chosen)
    return _file(shutil.which("chromium")) or _file("/usr/bin/chromium")


def ssh_keygen() -> str | None:
    return _file(shutil.which("ssh-keygen"))


def azurite() -> str | None:
    """The ``azurite-blob`` command: ``$AZURITE_BLOB``, the PATH, or the one ``make setup`` installed."""
    return (_file(os.environ.get("AZURITE_BLOB")) or _file(shutil.which("azurite-blob"))
            or _file(PARTS_DIR / "azurite" / "node_modules" / ".bin" / "azurite-blob"))


FINDERS = {"chromium": chromium, "ssh-keygen": ssh_keygen, "azurite": azurite}


def need(part: str, module: bool = False) -> str:
    """The part's path, or skip (the test, or with ``module`` the whole module) saying what installs it."""
    found = FINDERS[part]()
    if found is None:
        pytest.skip(HOW_TO_INSTALL[part], allow_module_level=module)
    return found
