"""Reports opened from disk in a real headless Chromium (Debian's), the way an auditor opens them.

Every non-file request is blocked and recorded (the test fails if any was attempted), page and
console errors fail the test, and every chart container must hold a drawn SVG. Without Chromium
these tests skip, saying what installs it (``tests/parts.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import open_report


@pytest.mark.needs("chromium")
@pytest.mark.slow(seconds=20)
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


@pytest.mark.needs("chromium")
@pytest.mark.slow(seconds=12)
def test_overview_links_to_each_subscription_report(browser, demo_reports: Path) -> None:
    seen = open_report(browser, demo_reports / "index.html")
    hrefs = seen["page"].eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    subs = sorted(p.name for p in demo_reports.glob("*.html") if p.name != "index.html")
    assert sorted(h for h in hrefs if h and h.endswith(".html")) == subs
    seen["page"].click(f"a[href='{subs[0]}']")
    seen["page"].wait_for_load_state("load")
    assert seen["page"].url.endswith(subs[0])

