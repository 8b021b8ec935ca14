"""The explore notebook in a real JupyterLab: a server started by the test (killed by its PID),
Chromium runs every cell, and the charts draw, the interactive table and the filter controls appear.
Nothing is fetched from a network."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.browser import chromium_browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "JupyterLab exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("JupyterLab did not start")


@pytest.mark.slow(seconds=20)
@pytest.mark.needs("chromium")
def test_explore_notebook_runs_in_jupyterlab_with_drawn_charts_and_interactive_table(tmp_path: Path) -> None:
    from auditkit.settings import init_folder

    folder = tmp_path / "audit"
    init_folder(folder)
    port, token = _free_port(), uuid.uuid4().hex
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jc"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jr")}
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--ServerApp.allow_root=True",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    blocked: list = []
    page_errors: list = []
    try:
        _wait_up(f"http://127.0.0.1:{port}/api/status?token={token}", proc)
        with chromium_browser() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(f"http://127.0.0.1:{port}")
                       else (blocked.append(r.request.url), r.abort()))
            page.goto(f"http://127.0.0.1:{port}/lab/tree/notebooks/explore_findings.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            # The kernel is ready when the status bar says so ("Python 3 (ipykernel) | Idle").
            page.wait_for_function("[...document.querySelectorAll('.jp-StatusBar-TextItem')]"
                                   ".some(e => e.textContent.includes('| Idle'))", timeout=90_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            page.wait_for_selector(".jp-OutputArea-output.js-plotly-plot .main-svg", state="attached", timeout=180_000)
            page.wait_for_selector(".jp-OutputArea-output table.dataTable tbody tr", state="attached", timeout=120_000)
            page.wait_for_selector(".jp-OutputArea-output .widget-dropdown select", state="attached", timeout=60_000)
            page.wait_for_function("document.querySelectorAll('.jp-OutputArea-output.js-plotly-plot .main-svg')"
                                   ".length >= 3", timeout=120_000)
            rows = page.eval_on_selector_all(".jp-OutputArea-output table.dataTable tbody tr", "els => els.length")
            assert rows >= 1
            # Tiles and tables carry their styles in JupyterLab too (the page set-up output).
            assert page.eval_on_selector_all("style", "els => els.some(e => e.textContent.includes('.ak-kpi'))")
            page.screenshot(path=str(tmp_path / "jupyterlab.png"))
            errors = page.eval_on_selector_all(".jp-OutputArea-output [data-mime-type='application/vnd.jupyter.stderr']",
                                               "els => els.map(e => e.textContent)")
            assert not [e for e in errors if "Traceback" in e or "Error" in e], errors
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
    assert not [u for u in blocked if not u.startswith("data:")], blocked
    assert page_errors == [], page_errors
