"""The per-subscription audit report, one function per section, in the order they appear.

The notebook calls them; every heading carries the anchor the table of contents links to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from auditkit.history.timeline import STATUS_ACCEPTED, STATUS_OPEN, History
from auditkit.present import charts, provenance
from auditkit.present.checklist import checklist
from auditkit.present.context import ReportContext
from auditkit.present.findings import TABLE_COLUMNS, TABLE_HEADERS, annotated, port_label
from auditkit.present.html import (
    HTML,
    banner,
    code_block,
    concat,
    contents,
    esc,
    heading,
    kpi_cards,
    link,
    paragraph,
    table,
)
from auditkit.present.scope import block
from auditkit.present.summary import summary_text, tiles
from auditkit.present.text import flow_log_skips

SECTIONS = [("scope", "Scope"), ("summary", "Executive summary"), ("findings", "Findings"),
            ("reach", "What the internet reaches"), ("accepted", "Accepted risks"), ("trends", "Trends"),
            ("flows", "Analyze before you restrict: flow-log evidence"), ("remediation", "Remediation, one step per rule"),
            ("appendix", "Appendix: hidden, broad, unreadable and undocumented"),
            ("method", "Method and data provenance")]


def scoped(ctx: ReportContext, subscription_id: str) -> History:
    return ctx.scoped(subscription_id)


def findings_frame(ctx: ReportContext, subscription_id: str) -> pd.DataFrame:
    """Open and unknown findings of the subscription, annotated and sorted worst first."""
    return annotated(scoped(ctx, subscription_id), ctx.controls)


def not_read_banner(ctx: ReportContext, subscription_id: str) -> HTML:
    """The banner a report opens with when the latest snapshot did not read its subscription."""
    status = ctx.read_status(subscription_id)
    if status is None:
        return HTML("")
    since = status["last_read"]
    head = (f"Not read since {since:%Y-%m-%d}: the findings below are the last known state."
            if since is not None else "Never read in the snapshots of this period: nothing below is known.")
    return banner(head, f"This subscription cannot be assessed for the period. Reason: {status['reason']}")


def header(ctx: ReportContext, subscription_id: str) -> HTML:
    """The one H1 of the page, the way back to the overview, the not-read banner and the contents."""
    name = ctx.subscription_name(subscription_id)
    back = ctx.report_href("index")
    nav = (concat(HTML('<p class="ak-nav">'), link("\u2190 Tenant overview", back), HTML("</p>")) if back
           else paragraph("The tenant overview of this period has not been rendered yet (auditkit render).", "ak-nav"))
    return concat(HTML(f"<h1>NSG exposure audit {esc(ctx.period)}: {esc(name)}</h1>"), nav,
                  not_read_banner(ctx, subscription_id), contents(SECTIONS))


def scope(ctx: ReportContext, subscription_id: str) -> HTML:
    return block(ctx, subscription_id)


def executive_summary(ctx: ReportContext, subscription_id: str) -> HTML:
    h = scoped(ctx, subscription_id)
    status = ctx.read_status(subscription_id)
    frame = findings_frame(ctx, subscription_id)
    if status is not None:
        # Never "clean" without knowing: no open count for a subscription the latest snapshot did
        # not read, only the findings last known.
        since = f"{status['last_read']:%Y-%m-%d}" if status["last_read"] is not None else "never"
        unknown = int((frame["status"] != STATUS_OPEN).sum()) if len(frame) else 0
        text = (f"This subscription was not read in the latest snapshot ({ctx.latest.id}): it cannot be assessed for "
                f"the period. {unknown} finding(s) were open when it was last read ({since}).")
        cards = [(f"open: {port_label(p)}", "unknown") for p in h.ports]
        cards += [("last read", since), ("findings last known", unknown)]
        return concat(heading("Executive summary", 2, "summary"), paragraph(text, "ak-summary"), kpi_cards(cards))
    text = summary_text(h, frame, "in this subscription", unread=0)
    return concat(heading("Executive summary", 2, "summary"), paragraph(text, "ak-summary"), kpi_cards(tiles(h)))


def findings_table(ctx: ReportContext, subscription_id: str) -> HTML:
    f = findings_frame(ctx, subscription_id)
    return concat(heading("Findings", 2, "findings"),
                  paragraph("Custom inbound Allow rules that admit TCP from the whole internet on an audited port. "
                            "'open': present in the latest snapshot; 'unknown': last seen in a subscription or NSG "
                            "that could not be read since. Owner and justification come from the rule's description, "
                            "else from the NSG's tags.", "ak-note"),
                  table(f, TABLE_COLUMNS, TABLE_HEADERS, cls="ak-wide ak-findings",
                        cell_class={"severity": lambda v: f"ak-sev-{v}", "status": lambda v: f"ak-status-{v}",
                                    "exposure": lambda v: f"ak-exp-{v}",
                                    "expiry_text": lambda v: "ak-expired" if "expired" in str(v) else ""},
                        empty="No open finding."))


def reachability(ctx: ReportContext, subscription_id: str) -> HTML:
    """What the internet reaches now on the audited ports: VM, public IP and frontend port, the whole
    route and the NSG rules that let the traffic in; then which layers were evaluated, and the
    constructs that are not modelled."""
    latest = ctx.scoped(subscription_id).latest
    head = heading("What the internet reaches", 2, "reach")
    if not latest.has_topology:
        return concat(head, paragraph("The latest snapshot has no topology (NICs, subnets, public IPs, load "
                                      "balancers): collected before effective exposure existed, or without it. "
                                      "Findings keep their attached/latent severity and say unknown-topology.",
                                      "ak-note"))
    r = latest.reach
    r = r.assign(port=[port_label(p) for p in r["port"]],
                 internet=[address(a, b) for a, b in zip(r["public_ip"], r["frontend_port"], strict=True)],
                 subnet=[f"{a}: {b}" if a else "none" for a, b in zip(r["subnet_nsg"], r["subnet_rule"], strict=True)],
                 nic=[f"{a}: {b}" if a else "none" for a, b in zip(r["nic_nsg"], r["nic_rule"], strict=True)])
    um = latest.unmodelled
    blocks = [head,
              paragraph("Machines a packet from any internet address reaches on an audited port: a public path "
                        "(public IP, load-balancing or inbound NAT rule, Azure Firewall DNAT rule, or Application "
                        "Gateway TCP/TLS listener) and every filter on the way admitting it: the VNet's Virtual "
                        "Network Manager admin rules, then the subnet's NSG, then the NIC's, for IPv4 and IPv6 "
                        "apart. The internet sees the frontend port; the filters see the audited port and, behind "
                        "a firewall or gateway, its private address as the source.", "ak-note"),
              table(r, ["port", "vm_name", "internet", "family", "path", "route", "subnet", "nic", "power_state"],
                    ["Port", "Machine", "Internet address", "Family", "Path", "Route", "Subnet NSG: rule",
                     "NIC NSG: rule", "Power state"], cls="ak-wide",
                    empty=nothing_reached(latest)),
              *layer_coverage(latest)]
    blocks.append(heading("Not modelled", 3, "not-modelled"))
    if len(um):
        blocks.append(banner(f"{len(um)} construct(s) that can publish machines outside the modelled layers exist "
                             "here and are not modelled:", "Bastion and virtual appliances behind user-defined "
                             "routes can make machines reachable (or not) in ways the verdicts above do not show; "
                             "review them by hand."))
        blocks.append(table(um, ["what", "name", "resource_id"], ["Construct", "Name", "Resource id"], cls="ak-wide"))
    else:
        blocks.append(paragraph("No Bastion or route to a virtual appliance in this subscription's snapshot: "
                                "nothing here publishes machines outside the modelled layers.", "ak-note"))
    return concat(*blocks)


def address(host: object, port: object) -> str:
    """An internet address and port as Azure writes them: ``20.1.1.1:25``, ``[2603:1000::4]:22``."""
    return f"[{host}]:{port}" if isinstance(host, str) and ":" in host else f"{host}:{port}"


def nothing_reached(latest) -> str:
    """What an empty reach table says: nothing reached, or nothing known to be when a layer was not read."""
    cov = latest.layers
    unread = sorted({LAYER_NAMES.get(x, x) for x in cov.loc[cov["status"] == "not read", "layer"]}) if len(cov) else []
    if unread:
        return (f"Nothing in this subscription is known to be reachable from the internet on the audited ports, "
                f"but {', '.join(unread)} could not be read here: the answer is incomplete.")
    return "Nothing in this subscription is reachable from the internet on the audited ports."


LAYER_NAMES = {"admin-rule": "Virtual Network Manager admin rules", "firewall-dnat": "Azure Firewall DNAT rules",
               "app-gateway": "Application Gateway TCP/TLS listeners"}


def layer_coverage(latest) -> list[HTML]:
    """Which layers beyond NSGs the verdicts of the subscription rest on: evaluated, not read, or not in
    the input; a banner when one could not be read (no verdict short of reachable holds there)."""
    cov = latest.layers
    if not len(cov):
        return [heading("Layers evaluated", 3, "layers"), paragraph("The snapshot does not say which layers beyond NSGs were read: verdicts rest on the "
                          "NSGs and the topology only.", "ak-note")]
    cov = cov.assign(name=[LAYER_NAMES.get(x, x) for x in cov["layer"]])
    unread = cov[cov["status"] == "not read"]
    blocks = [heading("Layers evaluated", 3, "layers")]
    if len(unread):
        blocks.append(banner(f"Not read in this subscription: {', '.join(unread['name'])}:",
                             "verdicts short of reachable are unknown there (what was not read could drop the "
                             "traffic or deliver it)."))
    blocks.append(table(cov, ["name", "status", "detail"], ["Layer", "Status", "Detail"],
                        cell_class={"status": lambda v: "ak-status-unknown" if v != "evaluated" else ""}))
    return blocks


def accepted(ctx: ReportContext, subscription_id: str) -> HTML:
    """Findings accepted on record (parameters/exceptions.yaml) with their entry; acceptances that
    expire within 30 days flagged; expired ones that put a finding back to open."""
    h = scoped(ctx, subscription_id)
    frame = annotated(h, ctx.controls, statuses=(STATUS_ACCEPTED, STATUS_OPEN))
    head = heading("Accepted risks", 2, "accepted")
    note = paragraph("Exposures accepted on record in parameters/exceptions.yaml: out of the open count until the "
                     "entry's expiry date, back to open the day after. Evaluated as of each snapshot.", "ak-note")
    if not len(frame) or "acceptance_state" not in frame:
        return concat(head, note, paragraph("No accepted risk.", "ak-note"))
    day = ctx.latest.as_of.date()
    rows = frame[frame["acceptance_state"].isin(["accepted", "expired"])].copy()
    if not len(rows):
        return concat(head, note, paragraph("No accepted risk.", "ak-note"))
    a = rows["acceptance"]
    rows["approved_by"] = [x["approved_by"] for x in a]
    rows["ticket"] = [x["ticket"] for x in a]
    rows["why"] = [x["justification"] for x in a]
    rows["expires_text"] = [
        f"{x['expires']} (expired: open again)" if st == "expired"
        else f"{x['expires']} (expires within 30 days)" if (pd.Timestamp(x["expires"]).date() - day).days <= 30
        else x["expires"] for x, st in zip(a, rows["acceptance_state"], strict=True)]
    soon = sum("within 30 days" in t for t in rows["expires_text"])
    blocks = [head, note]
    if soon:
        blocks.append(banner(f"{soon} acceptance(s) expire within 30 days of {day:%Y-%m-%d}:",
                             "renew them with a new approval, or remediate before they lapse."))
    blocks.append(table(rows, ["status", "port_label", "nsg_name", "rule_name", "sources", "exposure", "why",
                               "approved_by", "ticket", "expires_text"],
                        ["Status", "Port", "NSG", "Rule", "Sources", "Exposure", "Justification", "Approved by",
                         "Ticket", "Expires"], cls="ak-wide",
                        cell_class={"expires_text": lambda v: "ak-expired" if "expire" in str(v) else ""}))
    return concat(*blocks)


def trends(ctx: ReportContext, subscription_id: str) -> list:
    h = scoped(ctx, subscription_id)
    return [heading("Trends", 2, "trends"), charts.open_per_port(h), charts.new_vs_resolved(h),
            charts.mttr_over_time(h), charts.tag_coverage_over_time(h)]


def trend_charts(ctx: ReportContext, subscription_id: str) -> list:
    """The trend figures alone (for analysts)."""
    return trends(ctx, subscription_id)[1:]


@dataclass
class FlowSection:
    """The 'Analyze before you restrict' section: blocks to display, and what the checklist needs."""

    blocks: list
    proposals: dict = field(default_factory=dict)  # (nsg id lower-cased, rule, port) -> proposed prefixes
    recommendations: dict = field(default_factory=dict)  # (nsg id lower-cased, rule, port) -> recommendation
    ports_in_use: dict = field(default_factory=dict)  # (nsg id lower-cased, rule) -> ports with real sessions
    given: bool = False


def flow_evidence(ctx: ReportContext, subscription_id: str, flowlogs: str | None) -> FlowSection:
    """Per open finding: who connects (flow logs), a chart by source class, and the proposal."""
    from auditkit.flows.logs import read_paths
    from auditkit.flows.sources import classify, evidence_for, match_flows, nsg_guids, ports_in_use

    settings = ctx.history.settings
    blocks: list = [heading("Analyze before you restrict: flow-log evidence", 2, "flows")]
    if not flowlogs:
        blocks.append(paragraph("No flow logs were given for this report: the source lists proposed in the "
                                "remediation are placeholders. Pass NSG or VNet flow logs (render --flowlogs) to see "
                                "who connects."))
        return FlowSection(blocks)
    f = findings_frame(ctx, subscription_id)
    f = f[f["status"] == STATUS_OPEN].reset_index(drop=True)
    if not len(f):
        blocks.append(paragraph("No open finding."))
        return FlowSection(blocks, given=True)
    logs = read_paths([flowlogs], max_file_mb=settings.max_file_mb)
    guids = nsg_guids(ctx.latest.table("nsgs"))
    matched = match_flows(f, logs.flows, guids)
    found = evidence_for(f, logs.flows, settings, guids, matched=matched)
    skipped = {k: v for k, v in logs.skipped.items() if any(v.values())}
    first, last = (logs.flows["time"].min(), logs.flows["time"].max()) if len(logs.flows) else (None, None)
    span = f"{first:%Y-%m-%d} to {last:%Y-%m-%d}" if first is not None else "no flows"
    blocks.append(paragraph(f"{len(logs.flows)} flows read from {len(logs.skipped)} blobs ({span}); skipped: "
                            f"{flow_log_skips(skipped)}.", "ak-note"))
    section = FlowSection(blocks, given=True, ports_in_use=ports_in_use(f, logs.flows, guids))
    if len(matched):
        matched = matched.assign(cls=classify(matched["source"], settings.mail_gateways))
    for i, e in enumerate(found):
        key = (e["nsg_id"].lower(), e["rule_name"], e["port"])
        section.recommendations[key] = e["recommendation"]
        blocks.append(HTML(f'<h3 id="flows-{i}">{esc(e["nsg_name"])} / {esc(e["rule_name"])} '
                           f"({esc(port_label(e['port']))}): {esc(e['recommendation'])}</h3>"))
        blocks.append(paragraph(e["note"]))
        o = e["observed"]
        gaps = ", ".join(a if a == b else f"{a} to {b}" for a, b in o["gaps"]) or "none"
        blocks.append(paragraph(f"Flow logs of this NSG: {o['days']} day(s)"
                                + (f" from {o['first']} to {o['last']}; gaps: {gaps}." if o["days"] else ".")
                                + f" At least {settings.min_window_days} days are required before restricting or "
                                  "removing a rule.", "ak-note"))
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
            blocks.append(paragraph("No flow of this rule on this port in the window."))
        if e["recommendation"] == "restrict":
            section.proposals[key] = e["proposed_prefixes"]
    return section


def remediation(ctx: ReportContext, subscription_id: str, evidence: FlowSection | None = None) -> HTML:
    """The guidance's checklist, one step per rule (whatever ports it exposes), with one command each."""
    f = findings_frame(ctx, subscription_id)
    f = f[f["status"] == STATUS_OPEN]
    return concat(heading("Remediation, one step per rule", 2, "remediation"),
                  checklist(f, evidence or FlowSection([]), ctx.history.settings))


def appendix(ctx: ReportContext, subscription_id: str) -> HTML:
    """Rules hidden by earlier Denies, broad-source rules, unreadable input, undocumented NSGs."""
    latest = ctx.scoped(subscription_id).latest
    shadowed = latest.shadowed
    if len(shadowed):
        shadowed = shadowed.assign(port=[port_label(p) for p in shadowed["port"]])
    gov = latest.governance
    undocumented = gov[gov["owner"].isna() | gov["expiry"].isna() | gov["justification"].isna()].copy()
    undocumented["missing"] = [", ".join(k for k, v in (("owner", o), ("expiry", e), ("justification", j))
                                         if v is None or (isinstance(v, float) and pd.isna(v)))
                               for o, e, j in zip(undocumented["owner"], undocumented["expiry"],
                                                  undocumented["justification"], strict=True)]
    undocumented["nsg_name"] = [str(i).rsplit("/", 1)[-1] for i in undocumented["nsg_id"]]
    return concat(
        heading("Appendix: hidden, broad, unreadable and undocumented", 2, "appendix"),
        heading("Rules hidden by earlier Deny rules", 3, "shadowed"),
        paragraph("These rules would admit the internet on an audited port, but Deny rules with a lower priority "
                  "number match first. They are not findings today; removing the Deny would expose them.", "ak-note"),
        table(shadowed, ["nsg_name", "rule_name", "priority", "port", "sources", "hidden_by"],
              ["NSG", "Rule", "Priority", "Port", "Sources", "Hidden by (Deny rules)"]),
        heading("Rules open to broad service tags", 3, "broad"),
        paragraph("Sources such as AzureCloud reach far beyond the organisation without being the internet: "
                  "listed for review, not counted as findings.", "ak-note"),
        table(latest.broad, ["nsg_name", "rule_name", "priority", "port", "sources"],
              ["NSG", "Rule", "Priority", "Port", "Sources"]),
        heading("Unreadable input", 3, "errors"),
        paragraph("Malformed rules and records of the latest snapshot. A malformed rule is evaluated on what could "
                  "be read and never hides another rule.", "ak-note"),
        table(latest.errors, ["nsg_id", "rule_name", "field", "message"], ["NSG", "Rule", "Field", "Problem"],
              cls="ak-wide"),
        heading("NSGs without owner, expiry or justification", 3, "undocumented"),
        table(undocumented, ["nsg_name", "missing", "owner", "expiry", "justification"],
              ["NSG", "Missing", "Owner", "Expiry", "Justification"], empty="Every NSG is documented."),
    )


def method(ctx: ReportContext, subscription_id: str | None = None) -> HTML:
    return provenance.method(ctx, ctx.scoped(subscription_id) if subscription_id else None)


def code(text: str) -> HTML:
    return code_block(text)
