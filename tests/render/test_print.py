"""Printed and PDF evidence: every demo report printed in Chromium keeps every chart inside the
printable width and the last findings column on the page; render --pdf writes PDFs listed in the
manifest; screenshots of the reports and of the PDF pages are kept for a human reader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditkit.render.manifest import verify
from tests.browser import chromium_browser

# Landscape A4 is 297 mm; the print stylesheet keeps 12 mm margins: 273 mm of content, in CSS pixels.
PRINTABLE_PX = 273 / 25.4 * 96


def _screens_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("AUDITKIT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.slow(seconds=50)
@pytest.mark.needs("chromium")
def test_every_report_prints_with_charts_and_columns_on_the_page(demo_reports: Path, tmp_path: Path) -> None:
    shots = _screens_dir(tmp_path)
    with chromium_browser() as browser:
        for path in sorted(demo_reports.glob("*.html")):
            page = browser.new_page(viewport={"width": int(PRINTABLE_PX), "height": 900})
            errors: list = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
            page.goto(path.resolve().as_uri(), wait_until="load")
            page.emulate_media(media="print")
            boxes = page.eval_on_selector_all(
                ".js-plotly-plot, .ak-findings, .ak-findings th:last-child, .ak-table",
                "els => els.map(e => { const r = e.getBoundingClientRect(); "
                "return {cls: e.className && e.className.baseVal === undefined ? String(e.className) : e.tagName, "
                "right: r.right, width: r.width}; })")
            assert errors == [], (path.name, errors)
            charts = [b for b in boxes if "js-plotly-plot" in b["cls"]]
            assert charts, f"{path.name}: no chart"
            for b in boxes:
                assert b["right"] <= PRINTABLE_PX + 1, f"{path.name}: {b} goes past the printable width"
            if path.name != "index.html":
                last = page.eval_on_selector_all(".ak-findings th:last-child", "els => els.map(e => e.textContent)")
                assert last == ["Controls failed"] or page.eval_on_selector_all(".ak-findings", "e => e.length") == 0
            pdf = tmp_path / f"{path.stem}.pdf"
            page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
            assert pdf.stat().st_size > 10_000
            page.emulate_media(media="screen")
            page.set_viewport_size({"width": 1300, "height": 900})
            page.screenshot(path=str(shots / f"{path.stem}.png"), full_page=True)
            page.close()
    if shutil.which("pdftoppm"):
        pdf = next(tmp_path.glob("*.pdf"))
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "6", str(pdf), str(shots / "pdf")],
                       check=True)
    assert len(list(shots.glob("*.png"))) >= 9


@pytest.mark.slow(seconds=21)
@pytest.mark.needs("chromium")
def test_render_pdf_writes_pdfs_listed_in_the_manifest(demo_snapshots: Path, tmp_path: Path) -> None:
    from auditkit.history.timeline import load_history

    sub = load_history(demo_snapshots).subscriptions["subscription_id"].iloc[0]
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "auditkit", "render", "--snapshots", str(demo_snapshots), "--out",
                        str(out), "--subscription", sub, "--workers", "1", "--pdf"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    period = next(p for p in out.iterdir() if p.name[:2] == "20")
    m = json.loads((period / "manifest.json").read_text())
    assert {"index.pdf", f"{sub}.pdf"} <= set(m["files"])
    assert all(rep["pdf"] for rep in m["reports"])
    for name in ("index.pdf", f"{sub}.pdf"):
        data = (period / name).read_bytes()
        assert data.startswith(b"%PDF")
        assert b"/MediaBox [0 0 841.9" in data  # landscape A4
    assert verify(period) == []


def test_pdf_without_chromium_is_one_line(demo_snapshots: Path, tmp_path: Path) -> None:
    env = {**os.environ, "AUDITKIT_CHROMIUM": str(tmp_path / "no-such-chromium")}
    r = subprocess.run([sys.executable, "-m", "auditkit", "render", "--snapshots", str(demo_snapshots), "--out",
                        str(tmp_path / "out"), "--pdf"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2
    assert "no such executable" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
