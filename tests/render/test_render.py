"""Notebooks executed by papermill, reports rendered in parallel, the manifest and its verification."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from auditkit.render import RenderRequest, render
from auditkit.render.manifest import verify

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["subscription_audit", "tenant_overview", "explore_findings"]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_has_parameters_cell_and_is_thin(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in nb.cells:
        if cell.cell_type == "code" and cell is not tagged[0]:
            # Thin: every statement calls auditkit (ak.*), shows a figure, or prints an export.
            for line in cell.source.splitlines():
                line = line.strip()
                assert not line.startswith(("def ", "class ", "lambda")), f"{name}: logic in a notebook: {line}"


@pytest.mark.slow(seconds=14)
@pytest.mark.needs("chromium")
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_with_its_defaults(name: str, tmp_path: Path) -> None:
    """'Run All' on a fresh install: the defaults point at the built-in demo tenant."""
    params = {"export_to": str(tmp_path / "out.csv")} if name == "explore_findings" else {}
    pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(tmp_path / "out.ipynb"), parameters=params,
                        kernel_name="python3", progress_bar=False, cwd=str(tmp_path),
                        execution_timeout=300)  # a kernel that stops answering fails the test, never hangs the run
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "plotly-graph-div" in html
    if name == "explore_findings":
        rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8-sig"))))
        assert rows
        assert all(r["status"] == "open" and r["port"] == "25" for r in rows)
    # Opened as exported HTML in Chromium: no page or console error, every chart drawn.
    from auditkit.render.html_export import to_html
    from tests.browser import chromium_browser

    page_file = tmp_path / "out.html"
    page_file.write_text(to_html(nb, name))
    with chromium_browser() as browser:
        page = browser.new_page()
        errors: list = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
        page.goto(page_file.as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        charts = page.eval_on_selector_all("div.plotly-graph-div", "els => els.length")
        drawn = page.eval_on_selector_all("div.plotly-graph-div",
                                          "els => els.filter(e => e.querySelector('.main-svg')).length")
    assert errors == [], (errors, charts, drawn)
    assert charts == drawn > 0, (errors, charts, drawn)


def test_rendered_period_layout_and_manifest(demo_reports: Path) -> None:
    files = sorted(p.name for p in demo_reports.iterdir())
    assert "index.html" in files
    assert "index.ipynb" in files
    assert "manifest.json" in files
    subs = [f[:-5] for f in files if f.endswith(".html") and f != "index.html"]
    assert len(subs) == 8
    assert all(len(s) == 36 for s in subs)  # named by subscription id
    assert all(f"{s}.ipynb" in files for s in subs)
    m = json.loads((demo_reports / "manifest.json").read_text())
    for key in ("files", "snapshots", "parameters", "versions", "started_at", "finished_at", "failures", "period"):
        assert key in m
    assert set(m["versions"]) >= {"auditkit", "papermill", "nbconvert", "plotly", "pandas"}
    assert len(m["snapshots"]) == 12
    assert all(len(s["sha256"]) == 64 for s in m["snapshots"])
    assert set(m["files"]) == set(files) - {"manifest.json"}
    assert m["failures"] == []
    assert m["period"] == "2026-10"
    for name in files:
        if name.endswith(".html"):
            assert (demo_reports / name).stat().st_size < 6 * 1024 * 1024
    assert verify(demo_reports) == []


def test_verify_names_changed_missing_and_extra_files(demo_reports: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(demo_reports, copy)
    sub = next(p for p in copy.glob("*.html") if p.name != "index.html")
    sub.write_text(sub.read_text().replace("Executive summary", "Executive sumary"))
    (copy / "index.ipynb").unlink()
    (copy / "extra.txt").write_text("x")
    problems = verify(copy)
    assert f"{sub.name}: changed (SHA-256 differs from the manifest)" in problems
    assert "index.ipynb: missing" in problems
    assert "extra.txt: not in the manifest" in problems
    r = subprocess.run([sys.executable, "-m", "auditkit", "verify", str(copy)], capture_output=True, text=True)
    assert r.returncode == 1
    assert sub.name in r.stdout


def test_reports_hide_code_and_have_no_error_banner(demo_reports: Path) -> None:
    html = (demo_reports / "index.html").read_text()
    assert "import auditkit.present.notebook" not in html
    assert "papermill-error-cell" not in html
    import re

    # Nothing is loaded from elsewhere: no external script, stylesheet or image.
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert html.count("<script type=\"text/javascript\">/**") <= 1  # plotly.js inlined once
    assert "plotly-graph-div" in html


FAILING_CELL = """
if subscription_id and subscription_id.startswith(FAIL_PREFIX):
    raise RuntimeError("report broke on purpose")
"""


@pytest.mark.slow(seconds=40)
def test_a_failed_run_never_destroys_good_evidence(demo_snapshots: Path, demo_reports: Path, tmp_path: Path,
                                                  monkeypatch) -> None:
    from auditkit.present.context import load_context
    from auditkit.present.tenant import subscriptions_ranked
    from auditkit.render.manifest import manifest_sha256

    subs = list(subscriptions_ranked(load_context(str(demo_snapshots)))["subscription_id"])
    victim = subs[2]
    out = tmp_path / "reports"
    # The good evidence: the demo's whole period as rendered once for the run (a copy, never the original).
    good = json.loads((demo_reports / "manifest.json").read_text())
    assert good["complete"] is True
    assert good["failures"] == []
    shutil.copytree(demo_reports, out / "2026-10")
    kept_hash = manifest_sha256(out / "2026-10")

    nbdir = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, nbdir)
    nb = nbformat.read(nbdir / "subscription_audit.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell(f"FAIL_PREFIX = {victim[:8]!r}" + FAILING_CELL))
    nbformat.write(nb, nbdir / "subscription_audit.ipynb")
    monkeypatch.setenv("AUDITKIT_NOTEBOOKS", str(nbdir))
    failed = render(RenderRequest(snapshots_dir=demo_snapshots, out=out, workers=1, subscriptions=[subs[0], victim]))
    # One failing subscription does not stop the others...
    assert [f.subscription_id for f in failed.failures] == [victim]
    err = failed.failures[0].error
    assert err["ename"] == "RuntimeError"
    assert "on purpose" in err["evalue"]
    assert isinstance(err["cell"], int)
    # ...but the period is swapped in only when every report rendered: the good one stays untouched.
    assert not failed.swapped
    assert failed.folder.name.startswith("2026-10.failed-")
    assert manifest_sha256(out / "2026-10") == kept_hash
    assert verify(out / "2026-10") == []
    m = json.loads(failed.manifest.read_text())
    assert m["failures"][0]["subscription_id"] == victim
    assert m["complete"] is False
    assert not (failed.folder / f"{victim}.html").exists()
    assert (failed.folder / f"{victim}.ipynb").exists()
    assert (failed.folder / f"{subs[0]}.html").exists()
    assert verify(failed.folder) == []

    partial = render(RenderRequest(snapshots_dir=demo_snapshots, out=out, workers=1, subscriptions=[subs[0], victim],
                                   allow_partial=True))
    assert partial.swapped
    assert partial.partial
    assert partial.folder == out / "2026-10"
    m = json.loads(partial.manifest.read_text())
    assert m["partial"] is True
    assert m["complete"] is False
    assert len(m["failures"]) == 1
    # No temporary, old or lock files are left behind by any of the runs.
    names = sorted(p.name for p in out.iterdir())
    assert names == ["2026-10", failed.folder.name], names


@pytest.mark.slow(seconds=7)
def test_cli_render_exit_code_and_unknown_subscription(demo_snapshots: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "auditkit", "render", "--snapshots", str(demo_snapshots), "--out",
                        str(tmp_path), "--subscription", "00000000-0000-0000-0000-000000000000"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "appears in no snapshot" in r.stderr


def test_period_selection(demo_snapshots: Path) -> None:
    from auditkit.history.period import cutoff, period_of
    from auditkit.present.context import load_context

    assert period_of("2026-11-01T06:00:00Z") == "2026-10"
    assert period_of("2026-11-15T00:00:00Z") == "2026-11"
    assert cutoff("2026-10").isoformat() == "2026-11-07T23:59:59+00:00"
    ctx = load_context(str(demo_snapshots), period="2026-05")
    assert ctx.history.snapshots["as_of"].iloc[-1].strftime("%Y-%m-%d") == "2026-06-01"


def test_overview_shows_a_subscription_that_can_no_longer_be_read(demo_reports: Path) -> None:
    import re

    html = (demo_reports / "index.html").read_text()
    html = html[html.index("Subscriptions ranked"):]
    row = re.search(r"<tr><td>contoso-legacy-dc</td>.*?</tr>", html)
    assert row, "the lost subscription keeps its name"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))
    # name, id, reachable, 3 ports, open, unknown, read, guardrail, report
    assert cells[2] == "-"
    assert cells[6] == "0"
    assert int(cells[7]) > 0
    assert cells[8] == "not read"


@pytest.mark.slow(seconds=22)
def test_relative_parameters_file_reaches_the_kernels(demo_snapshots: Path, tmp_path: Path, monkeypatch) -> None:
    import yaml

    from auditkit.present.context import load_context
    from auditkit.present.tenant import subscriptions_ranked

    params = yaml.safe_load((ROOT / "parameters" / "audit.yaml").read_text())
    params["tags"]["owner"]["keys"] = ["custodian"]
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    sub = subscriptions_ranked(load_context(str(demo_snapshots)))["subscription_id"].iloc[0]
    result = render(RenderRequest(snapshots_dir=demo_snapshots, out=tmp_path / "out", workers=1, subscriptions=[sub],
                                  parameters_file="mine.yaml"))
    assert result.failures == []
    m = json.loads(result.manifest.read_text())
    assert m["parameters"]["settings"]["tags"]["owner"]["keys"] == ["custodian"]
    assert Path(m["parameters"]["parameters_file"]).is_absolute()


@pytest.mark.parametrize("period,needle", [
    ("2027-03", "period 2027-03 has no snapshot"),
    ("2024-01", "nearest periods with snapshots: 2025-11"),
    ("2026-1", "is not a month written YYYY-MM"),
    (" 2026-10", "is not a month written YYYY-MM"),
    ("2026-10 ", "is not a month written YYYY-MM"),
    ("2026-13", "is not a month written YYYY-MM"),
    ("２０２６-10", "is not a month written YYYY-MM"),
])
def test_render_refuses_a_period_without_snapshots(demo_snapshots: Path, tmp_path: Path, period: str,
                                                    needle: str) -> None:
    r = subprocess.run([sys.executable, "-m", "auditkit", "render", "--snapshots", str(demo_snapshots), "--out",
                        str(tmp_path / "out"), "--period", period], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    if "has no snapshot" in needle:
        assert "2026-10" in r.stderr  # the nearest period that exists
