"""Optional parts are extras: without one, the kit still imports and every other command works,
and a command that needs it stops with one line naming the ``pip install`` that adds it (exit 2).
Each run is a fresh interpreter in which the extra's modules cannot be imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "tests" / "fixtures" / "exports" / "az-graph-query.json"
CLUSTER = ["distributed"]
STORAGE = ["fsspec", "adlfs"]
STORAGE_LINE = "storage URLs need the storage extra: pip install 'auditkit[storage]'"


def run_without(missing: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m auditkit ARGS`` where the modules ``missing`` cannot be imported."""
    prelude = (f"import runpy, sys\nfor m in {missing!r}: sys.modules[m] = None\n"
               f"sys.argv = ['auditkit', *{list(args)!r}]\nrunpy.run_module('auditkit', run_name='__main__')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDITKIT_STAGING": str(cwd / "staging")}
    env = {k: v for k, v in env.items() if not k.startswith("AZURE_STORAGE_")}
    return subprocess.run([sys.executable, "-c", prelude], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("extras") / "snapshots"
    assert main(["collect", "--from-file", str(EXPORT), "--snapshots", str(folder),
                 "--as-of", "2026-10-31T00:00:00Z"]) == 0
    return folder


def test_the_kit_imports_whole_without_any_extra(tmp_path: Path) -> None:
    code = ("import importlib, pkgutil, sys\n"
            f"for m in {CLUSTER + STORAGE!r}: sys.modules[m] = None\n"
            "import auditkit\n"
            "for m in pkgutil.walk_packages(auditkit.__path__, 'auditkit.'):\n"
            "    if m.name != 'auditkit.__main__': importlib.import_module(m.name)\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout == "ok\n"


def test_render_cluster_without_the_cluster_extra_is_one_line(snapshots: Path, tmp_path: Path) -> None:
    r = run_without(CLUSTER, "render", "--snapshots", str(snapshots), "--out", str(tmp_path / "reports"),
                    "--cluster", "tcp://127.0.0.1:9", cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-3000:]
    assert r.stderr == "auditkit: error: --cluster (render, monthly) needs the cluster extra: pip install 'auditkit[cluster]'\n"
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_other_commands_work_without_the_cluster_and_storage_extras(snapshots: Path, tmp_path: Path) -> None:
    r = run_without(CLUSTER + STORAGE, "snapshots", "--snapshots", str(snapshots), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "  ok  " in r.stdout
    r = run_without(CLUSTER + STORAGE, "scan", str(EXPORT), cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr[-3000:]


@pytest.mark.parametrize("missing", [["adlfs"], STORAGE], ids=["no-adlfs", "no-fsspec"])
def test_storage_urls_without_the_storage_extra_are_one_line(missing: list[str], snapshots: Path,
                                                             tmp_path: Path) -> None:
    url = "abfs://audit@example.dfs.core.windows.net/snapshots"
    r = run_without(missing, "snapshots", "--snapshots", url, cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-3000:]
    assert r.stderr == f"auditkit: error: {url}: {STORAGE_LINE}\n"
    blobs = "https://example.blob.core.windows.net/insights-logs-flowlogflowevent"
    r = run_without(missing, "flows", "--snapshot", str(snapshots), blobs, cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-3000:]
    assert r.stderr == f"auditkit: error: {blobs}: {STORAGE_LINE}\n"
