"""Shared fixtures: the demo tenant's snapshots and its rendered reports, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_snapshots(tmp_path_factory) -> Path:
    from auditkit.demo.tenant import build_snapshots

    return build_snapshots(tmp_path_factory.mktemp("demo") / "snapshots")


@pytest.fixture(scope="session")
def demo_reports(demo_snapshots: Path, tmp_path_factory) -> Path:
    from auditkit.render import render

    out = tmp_path_factory.mktemp("reports")
    result = render(demo_snapshots, out=out, workers=2)
    assert not result.failures, result.failures
    return result.folder


@pytest.fixture(autouse=True, scope="session")
def _demo_cache(tmp_path_factory):
    """Notebook defaults build the demo tenant in a per-user cache: keep tests out of the real one."""
    os.environ["AUDITKIT_DEMO_DIR"] = str(tmp_path_factory.mktemp("demo-cache"))
    yield
