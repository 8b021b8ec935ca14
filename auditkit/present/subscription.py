"""Sections of the per-subscription audit report, one function per section (the notebook calls them)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from auditkit.flows.remediation import checklist, is_jit, restrict_command
from auditkit.history.kpis import kpis_of
from auditkit.history.timeline import STATUS_OPEN, STATUS_UNKNOWN, History
from auditkit.present import charts
from auditkit.present.context import ReportContext
from auditkit.present.html import (
    HTML,
    code_block,
    concat,
    definition_list,
    esc,
    heading,
    kpi_cards,
    paragraph,
    table,
)


def scoped(ctx: ReportContext, subscription_id: str) -> History:
    return ctx.history.for_subscription(subscription_id)


def not_read_banner(ctx: ReportContext, subscription_id: str) -> HTML:
    """The banner a report opens with when the latest snapshot did not read its subscription."""
    status = ctx.read_status(subscription_id)
    if status is None:
        return HTML("")
    since = status["last_read"]
    head = (f"Not read since {since:%Y-%m-%d}: the findings below are the last known state."
            if since is not None else "Never read in the snapshots of this period: nothing below is known.")
    return HTML(f'<div class="ak-banner" role="alert"><strong>{esc(head)}</strong> '
                f"This subscription cannot be assessed for the period. Reason: {esc(status['reason'])}</div>")


def hashes_checked(ctx: ReportContext) -> str:
    if ctx.history.verified:
        return "every file read was checked against its meta.json (SHA-256)"
    return "snapshot hashes not checked (rendered with --no-verify)"


def header(ctx: ReportContext, subscription_id: str) -> HTML:
    snap = ctx.latest
    name = ctx.subscription_name(subscription_id)
    return concat(
        HTML(f"<h1>NSG exposure audit: {esc(name)}</h1>"),
        not_read_banner(ctx, subscription_id),
        definition_list([
            ("Subscription", f"{name} ({subscription_id})"),
            ("Period", ctx.period),
            ("Latest snapshot", f"{snap.id} (as of {snap.meta.get('as_of')})"),
            ("Snapshot SHA-256", snap.hash),
            ("Snapshots in history", len(ctx.history.snapshots)),
            ("Snapshot files", hashes_checked(ctx)),
            ("Audited ports", ", ".join(map(str, ctx.history.ports))),
            ("Tool", f"auditkit {ctx.version}"),
        ]),
    )


def findings_frame(history: History) -> pd.DataFrame:
    """Open and unknown findings with governance from the latest snapshot."""
    f = history.findings
    f = f[f["status"].isin([STATUS_OPEN, STATUS_UNKNOWN])].copy()
    gov = history.governance.set_index("nsg_key")
    gov = gov[~gov.index.duplicated()]
    f["owner"] = gov["owner"].reindex(f["nsg_key"].to_numpy()).to_numpy(dtype=object)
    f["expiry"] = gov["expiry"].reindex(f["nsg_key"].to_numpy()).to_numpy(dtype=object)
    f["attached_to"] = f["attached"].map({True: "subnet/NIC", False: "nothing (latent)"})
    f["ports"] = f["destination_ports"]
    f["age"] = f["age_days"].map(lambda d: "" if pd.isna(d) else f"{d:.0f} d")
    return f.sort_values(["status", "port", "severity", "nsg_name"]).reset_index(drop=True)


def executive_summary(ctx: ReportContext, subscription_id: str) -> HTML:
    h = scoped(ctx, subscription_id)
    k = kpis_of(h)
    t = k["tag_coverage"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.0f}%"

    status = ctx.read_status(subscription_id)
    if status is not None:
        # Never "clean" without knowing: a subscription the latest snapshot did not read has no
        # open count, only the findings last known.
        since = f"{status['last_read']:%Y-%m-%d}" if status["last_read"] is not None else "never"
        cards = [(f"open on port {p}", "unknown") for p in k["open_findings"]]
        cards += [("last read", since), ("findings last known", k["unknown_findings"]),
                  ("NSGs owned", "unknown")]
        verdict = (f"This subscription was not read in the latest snapshot ({ctx.latest.id}): it cannot be assessed "
                   f"for the period. {k['unknown_findings']} finding(s) were open when it was last read ({since}).")
        return concat(heading("Executive summary"), paragraph(verdict), kpi_cards(cards))
    cards = [(f"open on port {p}", n) for p, n in k["open_findings"].items()]
    cards += [("attached (live)", k["attached_open_findings"]), ("latent (unattached NSG)", k["latent_open_findings"]),
              ("MTTR (days)", "n/a" if k["mttr_days"] is None else k["mttr_days"]),
              ("resolved", k["resolved_findings"]), ("unknown (not readable)", k["unknown_findings"]),
              ("NSGs owned", pct(t["owner"])), ("with expiry", pct(t["expiry"])),
              ("with justification", pct(t["justification"])),
              ("prod rules documented", pct(t["production_rules_documented"]))]
    open25 = k["open_findings"].get("25", 0)
    verdict = (f"{open25} rule(s) expose SMTP (TCP 25) to the internet in this subscription."
               if open25 else "No rule exposes SMTP (TCP 25) to the internet in this subscription.")
    return concat(heading("Executive summary"), paragraph(verdict), kpi_cards(cards))


FINDING_COLUMNS = ["severity", "port", "nsg_name", "resource_group", "rule_name", "priority", "sources", "ports",
                   "attached_to", "owner", "expiry", "first_seen", "age", "status"]
FINDING_HEADERS = ["Severity", "Port", "NSG", "Resource group", "Rule", "Priority", "Sources", "Ports",
                   "Attached to", "Owner", "Expiry", "First seen", "Age", "Status"]


def findings_table(ctx: ReportContext, subscription_id: str) -> HTML:
    f = findings_frame(scoped(ctx, subscription_id))
    return concat(heading("Findings"),
                  paragraph("Custom inbound Allow rules that admit TCP from the whole internet on an audited port. "
                            "'unknown' means the subscription could not be read in a later snapshot."),
                  table(f, FINDING_COLUMNS, FINDING_HEADERS, cell_class={"severity": lambda v: f"ak-sev-{v}"},
                        empty="No open findings."))


def trend_charts(ctx: ReportContext, subscription_id: str) -> list:
    h = scoped(ctx, subscription_id)
    return [charts.open_per_port(h), charts.new_vs_resolved(h), charts.mttr_over_time(h),
            charts.tag_coverage_over_time(h)]


def remediation(ctx: ReportContext, subscription_id: str, evidence: dict | None = None) -> HTML:
    """The guidance's checklist per open finding, with the command to restrict the rule.

    ``evidence`` maps (nsg id lower-cased, rule name, port) to proposed prefixes from flow logs.
    """
    f = findings_frame(scoped(ctx, subscription_id))
    f = f[f["status"] == STATUS_OPEN]
    blocks = [heading("Remediation checklist")]
    if not len(f):
        blocks.append(paragraph("Nothing to remediate."))
    for row in f.to_dict(orient="records"):
        key = (row["nsg_id"].lower(), row["rule_name"], int(row["port"]))
        prefixes = (evidence or {}).get(key)
        blocks.append(HTML(f"<h3>{esc(row['nsg_name'])} / {esc(row['rule_name'])} (port {int(row['port'])})</h3>"))
        if is_jit(row["rule_name"]):
            blocks.append(paragraph("Just-in-Time rule managed by Defender for Cloud: do not edit it by hand; "
                                    "review the JIT policy instead."))
            continue
        items = "".join(f"<li><b>{esc(step)}</b>: {esc(text)}</li>" for step, text in checklist(row, prefixes))
        blocks.append(HTML(f"<ol>{items}</ol>"))
        blocks.append(code_block(restrict_command(row, prefixes) if prefixes else restrict_command(row)))
    return concat(*blocks)


def appendix(ctx: ReportContext) -> HTML:
    snaps = ctx.history.snapshots.assign(as_of=lambda d: d["as_of"].dt.strftime("%Y-%m-%d %H:%M"))
    meta = ctx.latest.meta
    queries = meta.get("queries", {})
    blocks = [heading("Appendix: method and data provenance"),
              paragraph("A finding is (NSG, rule, port) where the rule is a custom inbound Allow, its protocol covers "
                        "TCP, a destination port range covers the port, its sources are internet-wide (*, Any, "
                        "Internet, a /0 prefix or prefixes covering all of IPv4 or IPv6) and earlier Deny rules do not "
                        "hide it. Findings are tracked across snapshots by (NSG id, rule name, port); a finding is "
                        "resolved only when its subscription was read and the finding was absent."),
              heading("Snapshots", 3),
              table(snaps, ["snapshot", "as_of", "collected", "failed", "nsgs", "hash"],
                    ["Snapshot", "As of", "Subscriptions read", "Not read (failed or missing)", "NSGs", "SHA-256 of meta.json"]),
              *unreadable_snapshots(ctx),
              heading("Source of the latest snapshot", 3),
              code_block(json.dumps(meta.get("source", {}), indent=1)),
              heading("Resource Graph queries", 3)]
    blocks += [concat(paragraph(name), code_block(text)) for name, text in queries.items()]
    blocks.append(heading("Settings", 3))
    blocks.append(code_block(json.dumps(ctx.history.settings.raw, indent=1)))
    return concat(*blocks)


def unreadable_snapshots(ctx: ReportContext) -> list:
    """Snapshot folders that were skipped because their meta.json could not be read."""
    if not ctx.history.unreadable:
        return []
    frame = pd.DataFrame([{"snapshot": u.name, "reason": u.reason} for u in ctx.history.unreadable])
    return [heading("Snapshot folders skipped (unreadable meta.json)", 3),
            table(frame, ["snapshot", "reason"], ["Folder", "Reason"])]


@dataclass
class FlowSection:
    """The 'Analyze before you restrict' section: blocks to display, and proposals for the checklist."""

    blocks: list
    proposals: dict  # (nsg id lower-cased, rule name, port) -> proposed prefixes


def flow_evidence(ctx: ReportContext, subscription_id: str, flowlogs: str | None, port: int = 25) -> FlowSection:
    """Per open finding on ``port``: who connects (flow logs), a chart by source class, and the proposal."""
    from auditkit.flows.evidence import classify, evidence_for, match_flows, nsg_guids
    from auditkit.flows.logs import read_paths

    blocks: list = [heading("Analyze before you restrict: flow-log evidence")]
    if not flowlogs:
        blocks.append(paragraph("No flow logs were given for this report: the proposed source lists below are "
                                "placeholders. Pass NSG or VNet flow logs (render --flowlogs) to see who connects."))
        return FlowSection(blocks, {})
    f = findings_frame(scoped(ctx, subscription_id))
    f = f[(f["status"] == STATUS_OPEN) & (f["port"] == port)].reset_index(drop=True)
    if not len(f):
        blocks.append(paragraph(f"No open finding on port {port}."))
        return FlowSection(blocks, {})
    logs = read_paths([flowlogs], max_file_mb=ctx.history.settings.max_file_mb)
    guids = nsg_guids(ctx.latest.table("nsgs"))
    matched = match_flows(f, logs.flows, guids)
    found = evidence_for(f, logs.flows, ctx.history.settings, guids, matched=matched)
    skipped = {k: v for k, v in logs.skipped.items() if any(v.values())}
    first, last = (logs.flows["time"].min(), logs.flows["time"].max()) if len(logs.flows) else (None, None)
    span = f"{first:%Y-%m-%d} to {last:%Y-%m-%d}" if first is not None else "no flows"
    blocks.append(paragraph(f"{len(logs.flows)} flows read from {len(logs.skipped)} blobs ({span}); skipped: "
                            f"{sum(1 for v in skipped.values() if v.get('file_skipped'))} files not read, "
                            f"{sum(v['incomplete_records'] for v in skipped.values())} incomplete records, "
                            f"{sum(v.get('unreadable_records', 0) for v in skipped.values())} unreadable records, "
                            f"{sum(v['malformed_tuples'] for v in skipped.values())} malformed tuples.", "ak-note"))
    proposals = {}
    if len(matched):
        matched = matched.assign(cls=classify(matched["source"], ctx.history.settings.mail_gateways))
    for i, e in enumerate(found):
        blocks.append(HTML(f"<h3>{esc(e['nsg_name'])} / {esc(e['rule_name'])} (port {e['port']}): "
                           f"{esc(e['recommendation'])}</h3>"))
        blocks.append(paragraph(e["note"]))
        o = e["observed"]
        gaps = ", ".join(a if a == b else f"{a} to {b}" for a, b in o["gaps"]) or "none"
        blocks.append(paragraph(f"Flow logs of this NSG: {o['days']} day(s)"
                                + (f" from {o['first']} to {o['last']}; gaps: {gaps}." if o["days"] else ".")
                                + f" At least {ctx.history.settings.min_window_days} days are required before "
                                  "restricting or removing a rule.", "ak-note"))
        src = pd.DataFrame(e["sources"])
        if len(src):
            src = src.sort_values(["class", "bytes"], ascending=[True, False])
            top = pd.concat([src[src["class"] != "internet"], src[src["class"] == "internet"].head(15)])
            blocks.append(table(top, ["source", "class", "flows", "completed", "bytes", "allowed", "denied",
                                      "first_seen", "last_seen"],
                                ["Source", "Class", "Flows", "Completed sessions", "Bytes", "Allowed", "Denied",
                                 "First seen", "Last seen"]))
            if len(src) > len(top):
                blocks.append(paragraph(f"... and {len(src) - len(top)} more internet sources (scanners).", "ak-note"))
            blocks.append(charts.flows_by_class(matched[matched["finding"] == i]))
        else:
            blocks.append(paragraph("No flow of this rule in the window."))
        if e["command"]:
            blocks.append(code_block(e["command"]))
        if e["bicep"]:
            blocks.append(paragraph("Equivalent ARM/Bicep change of the rule's properties:"))
            blocks.append(code_block(e["bicep"]))
        if e["recommendation"] == "restrict":
            proposals[(e["nsg_id"].lower(), e["rule_name"], e["port"])] = e["proposed_prefixes"]
    return FlowSection(blocks, proposals)
