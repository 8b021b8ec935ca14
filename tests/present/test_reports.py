"""What an auditor reads in the demo reports: one definition of open everywhere, a summary over
every port, the findings table, one remediation step per rule, the controls, the appendix, and a
page that is navigable (one H1, title, contents, way back to the overview)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from auditkit.history.kpis import kpis_of
from auditkit.present import charts
from auditkit.present.context import load_context
from auditkit.present.findings import port_label
from auditkit.present.summary import tiles
from auditkit.present.tenant import subscriptions_ranked


def _text(page: Path) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())).split())


@pytest.fixture(scope="module")
def ctx(demo_snapshots: Path):
    from auditkit.demo.tenant import demo_parameters

    return load_context(str(demo_snapshots), parameters=demo_parameters())


def test_one_definition_of_open_in_tiles_chart_heatmap_and_kpi_json(ctx) -> None:
    h = ctx.history
    k = kpis_of(h)
    cards = dict(tiles(h))
    fig = charts.open_per_port(h)
    last = {(t.meta["kind"], t.meta["port"]): t.y[-1] for t in fig.data}
    heat = charts.subscription_heatmap(subscriptions_ranked(ctx), h.ports)
    z = np.asarray(heat.data[0].z, dtype=float)
    text = np.asarray(heat.data[0].text, dtype=object)
    for j, p in enumerate(h.ports):
        opened, unknown = k["open_findings"][str(p)], k["unknown_findings_by_port"][str(p)]
        assert cards[f"open: {port_label(p)}"] == opened
        assert cards[f"unknown: {port_label(p)}"] == unknown
        assert last[("open", p)] == opened
        assert last.get(("unknown", p), 0) == unknown
        assert np.nansum(z[:, j]) == opened
        assert sum(int(s.split()[0]) for s in text[:, j] if str(s).endswith("unknown")) == unknown
    assert sum(k["open_findings"].values()) + k["unknown_findings"] == \
        int((h.findings["status"].isin(["open", "unknown"])).sum())


def test_rendered_tiles_match_the_kpi_json(ctx, demo_reports: Path) -> None:
    k = kpis_of(ctx.history)
    page = (demo_reports / "index.html").read_text()
    for p in ctx.history.ports:
        for kind, value in (("open", k["open_findings"][str(p)]), ("unknown", k["unknown_findings_by_port"][str(p)])):
            label = html.escape(f"{kind}: {port_label(p)}")
            assert f'<div class="v">{value}</div><div class="k">{label}</div>' in page, (kind, p)


def test_executive_summary_names_every_port_with_findings(ctx, demo_reports: Path) -> None:
    k = kpis_of(ctx.history)
    overview = _text(demo_reports / "index.html")
    summary = overview[overview.rindex("Executive summary"):]
    sentence = summary[:summary.index(".") + 1]
    for p in ctx.history.ports:
        if k["open_findings"][str(p)]:
            assert port_label(p) in sentence, (p, sentence)
    assert "1 subscription could not be read" in summary
    assert "have been open more than 90 days" in summary
    # Worst first: the port with the most open findings comes first.
    worst = max(ctx.history.ports, key=lambda p: k["open_findings"][str(p)])
    assert sentence.index(port_label(worst)) == min(sentence.index(port_label(p)) for p in ctx.history.ports
                                                    if k["open_findings"][str(p)])
    manifest = json.loads((demo_reports / "manifest.json").read_text())
    for rep in manifest["reports"]:
        if not rep["subscription_id"]:
            continue
        scoped = kpis_of(ctx.scoped(rep["subscription_id"]))
        text = _text(demo_reports / rep["file"])
        part = text[text.rindex("Executive summary"):]
        for p in ctx.history.ports:
            if scoped["open_findings"][str(p)]:
                assert port_label(p) in part[:400], (rep["subscription_name"], p)


def test_page_structure_title_contents_and_way_back(demo_reports: Path) -> None:
    manifest = json.loads((demo_reports / "manifest.json").read_text())
    for rep in manifest["reports"]:
        page = (demo_reports / rep["file"]).read_text()
        assert len(re.findall(r"<h1[ >]", page)) == 1, rep["file"]
        title = re.search(r"<title>(.*?)</title>", page).group(1)
        anchors = set(re.findall(r'<h[23] id="([^"]+)"', page))
        for target in re.findall(r'<a href="#([^"]+)"', page):
            assert target in anchors, (rep["file"], target)
        assert "Run All works" not in page
        assert "Contents" in page
        if rep["subscription_id"]:
            assert html.escape(rep["subscription_name"]) in title
            assert rep["subscription_id"] in title
            assert '<a href="index.html">' in page
        else:
            assert "tenant overview" in title


def test_findings_table_has_what_an_auditor_needs(demo_reports: Path) -> None:
    manifest = json.loads((demo_reports / "manifest.json").read_text())
    mail = next(r for r in manifest["reports"] if r["subscription_name"] == "contoso-prod-mail")
    page = (demo_reports / mail["file"]).read_text()
    table = page[page.index('class="ak-table ak-wide ak-findings"'):]
    table = table[:table.index("</table>")]
    for header in ("Severity", "Port", "Layer", "NSG or resource", "Resource group", "Rule", "Priority", "Sources",
                   "Ports", "Attached to", "Owner", "Justification", "Expiry", "First seen", "Last seen", "Age", "Status",
                   "Controls failed"):
        assert f">{header}</th>" in table, header
    assert "subnet vnet-" in table
    assert "at least" in table
    assert "(expired)" in table
    assert "PCI-DSS 1.3.1" in table
    assert "CIS-Azure 7.1" in table


def test_one_remediation_step_per_rule_with_one_command(demo_reports: Path) -> None:
    manifest = json.loads((demo_reports / "manifest.json").read_text())
    mail = next(r for r in manifest["reports"] if r["subscription_name"] == "contoso-prod-mail")
    page = _text(demo_reports / mail["file"])
    section = page[page.rindex("Remediation, one step per rule"):page.rindex("Appendix: hidden")]
    steps = re.findall(r"Step \d+: (\S+) / (\S+) \(", section)
    assert len(steps) == len(set(steps))  # one step per (NSG, rule)
    wide = [s for s in re.split(r"(?=Step \d+:)", section) if "dev-allow-all" in s]
    assert len(wide) == 1
    assert wide[0].count("az network nsg rule update") == 1
    assert "SMTP (25)" in wide[0]
    assert "SSH (22)" in wide[0]
    assert "RDP (3389)" in wide[0]
    assert "Narrow the ports" in wide[0]
    assert "--destination-port-ranges 25" in wide[0]
    assert "Analyze before you restrict" in wide[0]  # the checklist points at the section above it
    assert page.rindex("Analyze before you restrict: flow-log evidence") < page.rindex("Remediation, one step")


def test_appendix_lists_hidden_rules_with_the_deny_that_hides_them(demo_reports: Path) -> None:
    pages = [_text(p) for p in demo_reports.glob("*.html") if p.name != "index.html"]
    hidden = [p for p in pages if "Allow-SMTP-Legacy" in p[p.rindex("Rules hidden by earlier Deny rules"):]]
    assert hidden, "the demo's shadowed SMTP rules are listed"
    part = hidden[0][hidden[0].rindex("Rules hidden by earlier Deny rules"):]
    assert "Deny-SMTP-Internet" in part[:2000]
    assert all("NSGs without owner, expiry or justification" in p for p in pages)


def test_overview_controls_table_counts_failing_findings(ctx, demo_reports: Path) -> None:
    k = kpis_of(ctx.history)
    page = _text(demo_reports / "index.html")
    part = page[page.rindex("Controls failed"):]
    total_open = sum(k["open_findings"].values())
    assert re.search(rf"PCI-DSS 1\.3\.1 .*? {total_open} {k['unknown_findings']} ", part)
    rdp = k["open_findings"]["3389"]
    assert re.search(rf"CIS-Azure 7\.1 Ensure that RDP .*? {rdp} ", part)


@pytest.mark.slow(seconds=18)
def test_links_in_jupyterlab_point_at_rendered_reports_or_say_they_are_missing(demo_snapshots: Path, tmp_path: Path,
                                                                             monkeypatch) -> None:
    import shutil

    from auditkit.present.tenant import ranking
    from auditkit.settings import init_folder

    init_folder(tmp_path / "audit")
    shutil.copytree(demo_snapshots, tmp_path / "audit" / "snapshots", ignore=shutil.ignore_patterns(".cache"),
                    dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path / "audit" / "notebooks")
    ctx = load_context(str(tmp_path / "audit" / "snapshots"))
    sub = ctx.subscriptions["subscription_id"].iloc[0]
    assert ctx.report_href(sub) is None
    assert "not rendered" in str(ranking(ctx))
    period = tmp_path / "audit" / "reports" / ctx.period
    period.mkdir(parents=True)
    (period / f"{sub}.html").write_text("<html></html>")
    assert ctx.report_href(sub) == f"../reports/{ctx.period}/{sub}.html"
    assert f'href="../reports/{ctx.period}/{sub}.html"' in str(ranking(ctx))
