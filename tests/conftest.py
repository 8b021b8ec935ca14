"""Shared fixtures: the demo tenant's snapshots and its rendered reports, built once per test run.

Under pytest-xdist every worker is a process of its own: the demo is built by the first worker
that needs it, under a file lock in the run's shared temporary folder, and the others reuse it.
Tests never modify these folders (they copy them first).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.storage_emulator import azurite  # noqa: F401 - the Azurite fixture, for every test module


def _shared_root(tmp_path_factory, worker_id: str) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if worker_id != "master" else base


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def demo_snapshots(tmp_path_factory, worker_id) -> Path:
    from auditkit.demo.tenant import build_snapshots

    root = _shared_root(tmp_path_factory, worker_id) / "shared-demo"
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / "snapshots.lock"):
        if not (root / "snapshots.done").exists():
            build_snapshots(root / "snapshots")
            (root / "snapshots.done").write_text("built\n")
    return root / "snapshots"


@pytest.fixture(scope="session")
def demo_reports(demo_snapshots: Path, tmp_path_factory, worker_id) -> Path:
    """The demo's period rendered as ``auditkit demo`` renders it (its settings and flow logs)."""
    from auditkit.demo.flows import ensure_flow_logs
    from auditkit.demo.tenant import demo_parameters
    from auditkit.render import render

    root = demo_snapshots.parent
    with _exclusive(root / "reports.lock"):
        if not (root / "reports.done").exists():
            result = render(demo_snapshots, out=root / "reports", workers=2, parameters_file=demo_parameters(),
                            flowlogs=ensure_flow_logs(root / "flowlogs"))
            assert not result.failures, result.failures
            (root / "reports.done").write_text(str(result.folder))
        return Path((root / "reports.done").read_text())


@pytest.fixture(autouse=True, scope="session")
def _demo_cache(tmp_path_factory, worker_id):
    """Notebook defaults build the demo tenant in a per-user cache: keep tests out of the real one
    (one cache for the whole run; building it is safe with several processes at once)."""
    os.environ["AUDITKIT_DEMO_DIR"] = str(_shared_root(tmp_path_factory, worker_id) / "demo-cache")
    yield


# Files whose tests take minutes (a wheel installed into a fresh venv, whole periods rendered,
# browsers): scheduled first, so that the two xdist workers finish together instead of one of
# them starting a four-minute test at the end of the run (longest first).
LONG_FIRST = ["test_packaging.py", "render/test_render.py", "render/test_period_safety.py", "render/test_print.py",
              "present/test_jupyterlab.py", "render/test_browser.py", "render/test_notify.py",
              "render/test_cluster.py", "collect/test_collect.py", "render/test_security.py",
              "flows/test_blob_storage.py"]


def pytest_collection_modifyitems(session, config, items) -> None:
    def rank(item) -> int:
        path = item.path.as_posix()
        return next((i for i, name in enumerate(LONG_FIRST) if path.endswith("tests/" + name)), len(LONG_FIRST))

    items.sort(key=rank)  # stable: the order inside each file and among the rest is kept
