"""Tenant text is shown as text, never run: a tenant whose names, tags and descriptions carry
script payloads is rendered and opened in Chromium."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from auditkit.collect import Rows, snapshot_from_records
from auditkit.demo.synthetic import nsg_record, security_rule
from auditkit.formats import to_csv
from auditkit.render import RenderRequest, render
from tests.browser import open_report

SUB = "cccccccc-0000-4000-8000-00000000000c"
PAYLOADS = ["<script>alert('rule')</script>", "<img src=x onerror=alert('tag')>", "javascript:alert('sub')",
            "<svg/onload=alert('desc')>", "\"><script>alert('nsg')</script>"]
BIDI = "allow-\u202eliam\u2066-gw\u200b\x1b[31m"  # reads "allow-mail..." backwards, hides a zero-width space


def hostile_records() -> tuple[list, list]:
    nid = f"/subscriptions/{SUB}/resourceGroups/rg-x/providers/Microsoft.Network/networkSecurityGroups/n"
    rules = [security_rule(nid, PAYLOADS[0], 100, "Allow", "Tcp", ["*"], ["25"], ["*"],
                           description=f"owner={PAYLOADS[3]} justification=<b>bold</b> {PAYLOADS[1]}"),
             security_rule(nid, BIDI, 110, "Allow", "Tcp", ["*"], ["3389"], ["*"], description=BIDI)]
    rec = nsg_record(SUB, "rg-x", PAYLOADS[4], rules,
                     tags={"owner": PAYLOADS[1], "<b onmouseover=alert('key')>k</b>": PAYLOADS[2],
                           "expires": "<script>alert('exp')</script>", "environment": "prod"})
    subs = [{"id": f"/subscriptions/{SUB}", "subscriptionId": SUB, "name": f"{PAYLOADS[2]} {PAYLOADS[0]}",
             "type": "microsoft.resources/subscriptions", "tags": {"env": PAYLOADS[1]}}]
    return [rec], subs


@pytest.fixture(scope="module")
def hostile_reports(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    recs, subs = hostile_records()
    for day in ("2026-09-01", "2026-10-01"):
        snapshot_from_records(Rows(recs, subscriptions=subs), snapshots_dir=root / "snaps", as_of=day)
    result = render(RenderRequest(snapshots_dir=root / "snaps", out=root / "reports", workers=2))
    assert not result.failures, result.failures
    return result.folder


@pytest.mark.slow(seconds=10)
def test_payloads_never_become_markup_in_files(hostile_reports: Path) -> None:
    for path in hostile_reports.glob("*.html"):
        html = path.read_text()
        for needle in ("<script>alert(", "<img src=x", "<svg/onload", "<b onmouseover",
                       'href="javascript:', "<b>bold</b>"):
            assert needle not in html, f"{path.name} contains raw {needle!r}"
    sub_html = (hostile_reports / f"{SUB}.html").read_text()
    assert "&lt;script&gt;alert('rule')&lt;/script&gt;" in sub_html
    for ch in ("\u202e", "\u2066", "\u200b", "\x1b"):
        assert ch not in sub_html, f"raw {ch!r} in the report"
    assert "\\u202e" in sub_html
    assert "\\u200b" in sub_html


@pytest.mark.needs("chromium")
@pytest.mark.slow(seconds=15)
def test_payloads_stay_text_in_the_browser(browser, hostile_reports: Path) -> None:
    for path in sorted(hostile_reports.glob("*.html")):
        seen = open_report(browser, path)
        page = seen["page"]
        page.mouse.move(200, 300)
        assert seen["dialogs"] == [], f"{path.name} ran a payload: {seen['dialogs']}"
        assert seen["blocked"] == [], (path.name, seen["blocked"], seen["errors"])
        assert seen["errors"] == [], (path.name, seen["blocked"], seen["errors"])
        handlers = page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(e =>
            [...e.attributes].filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name))""")
        assert handlers == [], f"{path.name}: event handlers from tenant text: {handlers}"
        assert page.eval_on_selector_all("a[href^='javascript']", "els => els.length") == 0
        assert page.eval_on_selector_all("img", "els => els.length") == 0
        text = page.inner_text("body")
        if path.name != "index.html":
            assert PAYLOADS[0] in text
            assert PAYLOADS[1] in text
            assert "\u202e" not in text
            assert "allow-\\u202eliam\\u2066-gw" in text  # visible, not reordering
        assert seen["drawn"] == seen["charts"] > 0
        page.close()


def test_csv_exports_neutralise_formulas() -> None:
    import pandas as pd

    frame = pd.DataFrame({"rule_name": ["=cmd|' /C calc'!A0", "+SUM(A1)", "-1+2", "@x", "\t=1", "safe"],
                          "sources": [("=1",), ("*",), ("*",), ("*",), ("*",), ("*",)]})
    rows = list(csv.reader(io.StringIO(to_csv(frame))))[1:]
    assert [r[0][0] for r in rows[:4]] == ["'"] * 4
    assert rows[5][0] == "safe"
    assert rows[0][1] == "'=1"
    assert rows[4][0] == "\\x09=1"  # a tab is shown escaped: neither a formula nor an invisible character
