"""A machine without Chromium, ssh-keygen or Azurite: the tests that drive them are reported as
skipped, each with the one line saying what installs the part, never as errors or failures."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.parts import HOW_TO_INSTALL, ROOT

NEEDS = {  # test selections that need each part, on a machine that has none of them
    "azurite": ["tests/evidence/test_storage.py", "tests/flows/test_blob_storage.py",
                "tests/render/test_cluster.py::test_a_cluster_render_between_storage_urls_matches_the_local_render",
                "tests/render/test_cluster.py::test_reports_published_from_the_cluster_draw_their_charts_offline"],
    # Chromium is found at /usr/bin/chromium even off the PATH: $AUDITKIT_CHROMIUM points nowhere instead.
    "chromium": ["tests/render/test_browser.py", "tests/render/test_security.py::test_payloads_stay_text_in_the_browser",
                 "tests/render/test_print.py::test_every_report_prints_with_charts_and_columns_on_the_page",
                 "tests/render/test_print.py::test_render_pdf_writes_pdfs_listed_in_the_manifest",
                 "tests/present/test_jupyterlab.py", "tests/render/test_render.py::test_notebook_runs_with_its_defaults"],
    "ssh-keygen": ["tests/render/test_period_safety.py::test_odd_paths_signing_and_verify",
                   "tests/render/test_period_safety.py::"
                   "test_signatures_made_by_openssh_verify_and_bad_keys_are_one_line"],
}


def test_tests_of_missing_parts_skip_with_the_line_that_says_what_to_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AZURITE_BLOB", "PYTEST_XDIST_WORKER",
                                                            "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS")}
    env.update({"PATH": str(Path(sys.executable).parent), "AUDITKIT_CHROMIUM": str(tmp_path / "no-chromium"),
                "AUDITKIT_PARTS_DIR": str(tmp_path / "no-parts")})
    report = tmp_path / "report.xml"
    selected = [t for tests in NEEDS.values() for t in tests]
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
                           f"--junitxml={report}", "--basetemp", str(tmp_path / "base"), *selected],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cases = ET.parse(report).getroot().iter("testcase")
    outcome = {}
    for case in cases:
        kinds = [child.tag for child in case if child.tag in ("skipped", "error", "failure")]
        # A module skipped as a whole reads "collection skipped" in its message; the reason is the text.
        said = [f"{child.get('message', '')} {child.text or ''}" for child in case]
        outcome[f"{case.get('classname')}.{case.get('name')}"] = (kinds, said)
    assert len(outcome) >= 8, outcome  # every module above was collected, or said why not
    for test, (kinds, messages) in outcome.items():
        assert kinds == ["skipped"], (test, kinds, messages)
        assert any(line in m for m in messages for line in HOW_TO_INSTALL.values()), (test, messages)
    said = {part for part, line in HOW_TO_INSTALL.items() if line in done.stdout + report.read_text()}
    assert said == set(NEEDS), said
