"""Reports opened the way an auditor opens them: Debian's headless Chromium, driven by Playwright,
with every request that is not a local file blocked and recorded. A test that opens a browser
skips, saying what installs Chromium, on a machine without it (``tests/parts.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.parts import need

# Without the background-networking flags Chromium keeps calling out to Google's hosts.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]


@contextmanager
def chromium_browser() -> Iterator:
    """A headless Chromium for the test (skipped when this machine has none)."""
    from playwright.sync_api import sync_playwright

    path = need("chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


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
