"""Reports opened from disk in a real headless Chromium (Debian's), the way an auditor opens them.

Every non-file request is blocked and recorded (the test fails if any was attempted), page and
console errors fail the test, and every chart container must hold a drawn SVG. Without Chromium
these tests skip locally and fail in CI (CI=true).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).is_file()
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]

if not HAVE_CHROMIUM and os.environ.get("CI") != "true":
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium); CI installs it",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert HAVE_CHROMIUM, f"{CHROMIUM} is missing: .ci/run must apt-get install chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def open_report(browser, path: Path) -> dict:
    """Open a report; return what happened: blocked requests, errors, charts, dialogs, the page."""
    page = browser.new_page()
    seen: dict = {"blocked": [], "errors": [], "dialogs": []}

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            seen["blocked"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: seen["errors"].append(f"pageerror: {e}"))
    page.on("console", lambda m: m.type == "error" and seen["errors"].append(f"console: {m.text}"))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_timeout(300)
    seen["charts"] = page.eval_on_selector_all("div.plotly-graph-div", "els => els.length")
    seen["drawn"] = page.eval_on_selector_all("div.plotly-graph-div",
                                              "els => els.filter(e => e.querySelector('.main-svg')).length")
    seen["page"] = page
    return seen


@pytest.mark.slow
def test_every_report_opens_offline_with_charts_drawn(browser, demo_reports: Path) -> None:
    reports = sorted(demo_reports.glob("*.html"))
    assert len(reports) == 9
    for path in reports:
        seen = open_report(browser, path)
        assert seen["blocked"] == [], f"{path.name} tried the network: {seen['blocked'][:3]}"
        assert seen["errors"] == [], f"{path.name}: {seen['errors'][:3]}"
        assert seen["charts"] >= 4, f"{path.name}: {seen}"
        assert seen["drawn"] == seen["charts"], f"{path.name}: {seen}"
        text = seen["page"].inner_text("body")
        assert "NSG exposure audit" in text
        seen["page"].close()


@pytest.mark.slow
def test_overview_links_to_each_subscription_report(browser, demo_reports: Path) -> None:
    seen = open_report(browser, demo_reports / "index.html")
    hrefs = seen["page"].eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    subs = sorted(p.name for p in demo_reports.glob("*.html") if p.name != "index.html")
    assert sorted(h for h in hrefs if h and h.endswith(".html")) == subs
    seen["page"].click(f"a[href='{subs[0]}']")
    seen["page"].wait_for_load_state("load")
    assert seen["page"].url.endswith(subs[0])

