"""The tenant overview, one function per section: scope, summary and KPIs, subscriptions ranked,
the subscription x port heat map, the controls failed, tenant-wide trends."""

from __future__ import annotations

import re

import pandas as pd

from auditkit.history.timeline import STATUS_OPEN, STATUS_UNKNOWN
from auditkit.present import charts, provenance
from auditkit.present.context import ReportContext
from auditkit.present.findings import annotated, port_label
from auditkit.present.html import HTML, banner, concat, contents, esc, heading, kpi_cards, paragraph, table
from auditkit.present.scope import block
from auditkit.present.summary import summary_text, tiles

SUBSCRIPTION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SECTIONS = [("scope", "Scope"), ("summary", "Executive summary"), ("ranking", "Subscriptions ranked"),
            ("heatmap", "Heat map: subscription x port"), ("controls", "Controls failed"),
            ("trends", "Tenant-wide trends"), ("method", "Method and data provenance")]


def report_file(subscription_id: str) -> str:
    """A report's file name: the subscription id (a display name is user-controlled text)."""
    sid = subscription_id.lower()
    if not SUBSCRIPTION_ID.match(sid):
        raise ValueError(f"{subscription_id!r} is not a subscription id")
    return f"{sid}.html"


def subscriptions_ranked(ctx: ReportContext) -> pd.DataFrame:
    """Every known subscription with its reachable, open and unknown findings per port, ranked by
    reachable findings, then open findings.

    A subscription the latest snapshot did not read has no open count (0 here, marked ``read``
    False): its findings are unknown, shown apart.
    """
    f = ctx.history.findings
    out = pd.DataFrame({"subscription_id": sorted({*ctx.subscriptions["subscription_id"], *f["subscription_id"]})})
    for status, prefix in ((STATUS_OPEN, ""), (STATUS_UNKNOWN, "unknown_")):
        sel = f[f["status"] == status]
        counts = sel.pivot_table(index="subscription_id", columns="port", values="rule_name", aggfunc="count",
                                 fill_value=0)
        for p in ctx.history.ports:
            col = counts[p] if p in counts.columns else pd.Series(dtype=float)
            out[f"{prefix}{p}"] = col.reindex(out["subscription_id"]).fillna(0).astype(int).to_numpy()
    ports = [str(p) for p in ctx.history.ports]
    out["open"] = out[ports].sum(axis=1)
    out["unknown"] = out[[f"unknown_{p}" for p in ports]].sum(axis=1)
    live = f[f["status"] == STATUS_OPEN]
    is_reach = (live["exposure"] == "reachable") if "exposure" in live else pd.Series(False, index=live.index)
    out["reachable"] = live[is_reach.to_numpy(dtype=bool)].groupby("subscription_id").size() \
        .reindex(out["subscription_id"]).fillna(0).astype(int).to_numpy()
    out["name"] = [ctx.subscription_name(s) for s in out["subscription_id"]]
    out["guardrail"] = guardrail_text(ctx, out["subscription_id"])
    read = {s.lower() for s in ctx.latest.collected}
    out["read"] = out["subscription_id"].isin(read)
    first = ports[0]
    return out.sort_values(["reachable", "open", first, "unknown", "subscription_id"],
                           ascending=[False, False, False, False, True]).reset_index(drop=True)


def guardrail_text(ctx: ReportContext, subscription_ids: pd.Series) -> list[str]:
    """Per subscription: the kit's guardrail assignments and their compliance (policyresources), or none."""
    snap = ctx.latest
    if not isinstance(snap.meta.get("guardrails"), dict):
        return ["not collected"] * len(subscription_ids)
    g = snap.table("guardrails")
    out = []
    for sid in subscription_ids:
        mine = g[g["subscription_id"] == str(sid).lower()]
        out.append("; ".join(f"{port_label(int(r.port)) if str(r.port).isdigit() else r.port} {r.effect}: "
                             f"{r.compliance}" for r in mine.itertuples()) or "none")
    return out


def header(ctx: ReportContext) -> HTML:
    return concat(HTML(f"<h1>NSG exposure audit {esc(ctx.period)}: tenant overview</h1>"), contents(SECTIONS))


def scope(ctx: ReportContext) -> HTML:
    return block(ctx)


def summary(ctx: ReportContext) -> HTML:
    h = ctx.history
    frame = annotated(h, ctx.controls)
    text = summary_text(h, frame, "in this tenant", unread=len(h.unread))
    cards = tiles(h) + [("subscriptions not read", len(h.unread))]
    return concat(heading("Executive summary", 2, "summary"), paragraph(text, "ak-summary"), kpi_cards(cards),
                  not_read(ctx))


def kpis(ctx: ReportContext) -> HTML:
    """The executive summary (the name older notebooks call)."""
    return summary(ctx)


def not_read(ctx: ReportContext) -> HTML:
    """Subscriptions the latest snapshot did not read: listed and counted, never shown as clean."""
    unread = ctx.history.unread
    if not len(unread):
        return paragraph(f"Every known subscription ({len(ctx.subscriptions)}) was read in the latest snapshot.",
                         "ak-note")
    rows = unread.assign(last_read=[("never" if pd.isna(x) else f"{x:%Y-%m-%d}") for x in unread["last_read"]])
    return concat(
        banner(f"{len(unread)} subscription(s) not read in the latest snapshot:",
               "they cannot be assessed for the period; their findings are the last known state (unknown), never "
               "counted as fixed."),
        table(rows, ["name", "subscription_id", "last_read", "reason"], ["Subscription", "Id", "Last read", "Reason"]))


def ranking(ctx: ReportContext, link: bool = True) -> HTML:
    r = subscriptions_ranked(ctx)
    ports = [str(p) for p in ctx.history.ports]
    head = "".join(f"<th>{esc(h)}</th>" for h in ["Subscription", "Id", "Reachable",
                                                   *[f"open, port {p}" for p in ports],
                                                   "Open", "Unknown", "Latest snapshot", "Guardrail", "Report"])
    rows = []
    for rec in r.to_dict(orient="records"):
        sid = rec["subscription_id"]
        try:
            report_file(sid)
            href = ctx.report_href(sid) if link else None
        except ValueError:
            href = None
        cell = f'<a href="{esc(href)}">report</a>' if href else ("not rendered" if link else "")
        opened = "".join(f"<td>{int(rec[p])}</td>" if rec["read"] else "<td>-</td>" for p in ports)
        reach = f"<td class=\"ak-exp-reachable\">{int(rec['reachable'])}</td>" if rec["read"] else "<td>-</td>"
        rows.append("<tr>" + f"<td>{esc(rec['name'])}</td><td class=\"ak-mono\">{esc(sid)}</td>" + reach + opened
                    + f"<td>{int(rec['open']) if rec['read'] else 0}</td><td>{int(rec['unknown'])}</td>"
                    + f"<td>{'read' if rec['read'] else 'not read'}</td><td>{esc(rec['guardrail'])}</td>"
                    + f"<td>{cell}</td></tr>")
    return concat(heading("Subscriptions ranked", 2, "ranking"),
                  paragraph("Ranked by findings that reach a machine from the internet, then by open findings. A "
                            "subscription not read in the latest snapshot has no open count: its findings are "
                            "unknown.", "ak-note"),
                  HTML(f'<table class="ak-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'))


def heatmap(ctx: ReportContext) -> list:
    return [heading("Heat map: subscription x port", 2, "heatmap"),
            charts.subscription_heatmap(subscriptions_ranked(ctx), ctx.history.ports)]


def controls(ctx: ReportContext) -> HTML:
    """Control -> how many findings fail it (open and unknown side by side)."""
    frame = annotated(ctx.history, ctx.controls)
    rows = []
    for c in ctx.controls:
        hit = frame[[c.applies(int(p)) for p in frame["port"]]] if len(frame) else frame
        rows.append({"control": c.label, "title": c.title, "framework": f"{c.framework_name} ({c.version})",
                     "open": int((hit["status"] == STATUS_OPEN).sum()) if len(hit) else 0,
                     "unknown": int((hit["status"] == STATUS_UNKNOWN).sum()) if len(hit) else 0})
    return concat(heading("Controls failed", 2, "controls"),
                  paragraph("Each finding fails the controls mapped to its port in parameters/controls.yaml.",
                            "ak-note"),
                  table(pd.DataFrame(rows), ["control", "title", "framework", "open", "unknown"],
                        ["Control", "Title", "Framework", "Open findings", "Unknown findings"],
                        empty="No compliance mapping."))


def trends(ctx: ReportContext) -> list:
    h = ctx.history
    return [heading("Tenant-wide trends", 2, "trends"), charts.open_per_port(h), charts.new_vs_resolved(h),
            charts.mttr_over_time(h), charts.tag_coverage_over_time(h)]


def method(ctx: ReportContext) -> HTML:
    return provenance.method(ctx)
