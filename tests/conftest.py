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

from tests.parts import need
from tests.storage_emulator import azurite  # noqa: F401 - the Azurite fixture, for every test module


def _shared_root(tmp_path_factory) -> Path:
    """The run's temporary folder, which every xdist worker of the run shares (each has a folder in it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def demo_snapshots(tmp_path_factory) -> Path:
    from auditkit.demo.tenant import build_snapshots

    root = _shared_root(tmp_path_factory) / "shared-demo"
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / "snapshots.lock"):
        if not (root / "snapshots.done").exists():
            build_snapshots(root / "snapshots")
            (root / "snapshots.done").write_text("built\n")
    return root / "snapshots"


@pytest.fixture(scope="session")
def demo_reports(demo_snapshots: Path, tmp_path_factory) -> Path:
    """The demo's period rendered as ``auditkit demo`` renders it (its settings and flow logs)."""
    from auditkit.demo.flows import ensure_flow_logs
    from auditkit.demo.tenant import demo_parameters
    from auditkit.render import RenderRequest, render

    root = demo_snapshots.parent
    with _exclusive(root / "reports.lock"):
        if not (root / "reports.done").exists():
            result = render(RenderRequest(snapshots_dir=demo_snapshots, out=root / "reports", workers=2,
                                          parameters_file=demo_parameters(),
                                          flowlogs=ensure_flow_logs(root / "flowlogs")))
            assert not result.failures, result.failures
            (root / "reports.done").write_text(str(result.folder))
        return Path((root / "reports.done").read_text())


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium for the module's tests; they skip, saying what installs it, without one
    (mark the test ``needs("chromium")`` so that it skips before any session fixture is built)."""
    from tests.browser import chromium_browser

    with chromium_browser() as b:
        yield b


@pytest.fixture(autouse=True, scope="session")
def _demo_cache(tmp_path_factory):
    """Notebook defaults build the demo tenant in a per-user cache: keep tests out of the real one
    (one cache for the whole run; building it is safe with several processes at once)."""
    os.environ["AUDITKIT_DEMO_DIR"] = str(_shared_root(tmp_path_factory) / "demo-cache")
    yield


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    """``@pytest.mark.needs("azurite", ...)``: skip, with the line that says what installs the part,
    before any fixture is set up (session fixtures such as the demo's reports are built first otherwise)."""
    for marker in item.iter_markers("needs"):
        for part in marker.args:
            need(part)


# Tests that read the demo's rendered period wait for its render (about 25 s here, once per run):
# they are slow by that fixture, whatever their own time (make test-fast leaves them out).
RENDERED_DEMO_SECONDS = 3


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects
def pytest_collection_modifyitems(session, config, items) -> None:
    """Longest files first. Under ``make test``'s ``-n auto --dist loadfile`` each file runs whole on
    one worker (one per core), handed out in collection order: a file that takes minutes must not
    be the last one started while the other workers sit idle. A file's weight is the sum of its
    tests' ``slow(seconds=...)`` estimates (``slow`` alone counts 20 s); the order is stable."""
    for item in items:
        if "demo_reports" in getattr(item, "fixturenames", ()) and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow(seconds=RENDERED_DEMO_SECONDS))
    weight: dict = {}
    for item in items:
        marker = item.get_closest_marker("slow")
        if marker is not None:
            weight[item.path] = weight.get(item.path, 0) + marker.kwargs.get("seconds", 20)
    items.sort(key=lambda item: -weight.get(item.path, 0))
