"""Sections of the tenant overview: ranking, heat map, tenant-wide trends and KPIs."""

from __future__ import annotations

import re

import pandas as pd

from auditkit.history.kpis import kpis_of
from auditkit.history.timeline import STATUS_OPEN, STATUS_UNKNOWN
from auditkit.present import charts
from auditkit.present.context import ReportContext
from auditkit.present.html import HTML, concat, definition_list, esc, heading, kpi_cards, paragraph, table
from auditkit.present.subscription import hashes_checked

SUBSCRIPTION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def report_file(subscription_id: str) -> str:
    """A report's file name: the subscription id (a display name is user-controlled text)."""
    sid = subscription_id.lower()
    if not SUBSCRIPTION_ID.match(sid):
        raise ValueError(f"{subscription_id!r} is not a subscription id")
    return f"{sid}.html"


def subscriptions_ranked(ctx: ReportContext) -> pd.DataFrame:
    """Every subscription seen in the history, ranked by open findings (port 25 first)."""
    f = ctx.history.findings
    open_f = f[f["status"] == STATUS_OPEN]
    counts = open_f.pivot_table(index="subscription_id", columns="port", values="rule_name", aggfunc="count",
                                fill_value=0)
    subs = {s.lower() for s in ctx.history.latest.snapshot.collected} | set(f["subscription_id"])
    subs |= set(ctx.subscriptions["subscription_id"])
    out = pd.DataFrame({"subscription_id": sorted(s.lower() for s in subs)})
    for p in ctx.history.ports:
        col = counts[p] if p in counts.columns else pd.Series(dtype=float)
        out[str(p)] = col.reindex(out["subscription_id"]).fillna(0).astype(int).to_numpy()
    out["open"] = out[[str(p) for p in ctx.history.ports]].sum(axis=1)
    unknown = f[f["status"] == STATUS_UNKNOWN].groupby("subscription_id").size()
    out["unknown"] = unknown.reindex(out["subscription_id"]).fillna(0).astype(int).to_numpy()
    out["name"] = [ctx.subscription_name(s) for s in out["subscription_id"]]
    read = {s.lower() for s in ctx.latest.collected}
    out["read"] = out["subscription_id"].isin(read)
    # An unread subscription has no open count: its findings are the last known state (unknown).
    for p in ctx.history.ports:
        out[str(p)] = out[str(p)].where(out["read"], 0)
    first = str(ctx.history.ports[0])
    return out.sort_values(["open", first, "subscription_id"], ascending=[False, False, True]).reset_index(drop=True)


def header(ctx: ReportContext) -> HTML:
    snap = ctx.latest
    return concat(HTML("<h1>NSG exposure audit: tenant overview</h1>"),
                  definition_list([("Period", ctx.period), ("Latest snapshot", f"{snap.id}"),
                                   ("Snapshot SHA-256", snap.hash),
                                   ("Snapshots in history", len(ctx.history.snapshots)),
                                   ("Snapshot files", hashes_checked(ctx)),
                                   ("Tool", f"auditkit {ctx.version}")]))


def kpis(ctx: ReportContext) -> HTML:
    k = kpis_of(ctx.history)

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.0f}%"

    t = k["tag_coverage"]
    cards = [(f"open on port {p}", n) for p, n in k["open_findings"].items()]
    cards += [(f"NSGs open on {p}", n) for p, n in k["nsgs_with_open_findings"].items()]
    cards += [("MTTR (days)", "n/a" if k["mttr_days"] is None else k["mttr_days"]),
              ("new per week", "n/a" if k["new_findings_per_week"] is None else k["new_findings_per_week"]),
              ("resolved", k["resolved_findings"]), ("reopened", k["reopened_findings"]),
              ("unknown", k["unknown_findings"]), ("subscriptions not read", len(k["unread_subscriptions"])),
              ("NSGs owned", pct(t["owner"])), ("prod rules documented", pct(t["production_rules_documented"]))]
    return concat(heading("Tenant KPIs"), kpi_cards(cards), not_read(ctx))


def not_read(ctx: ReportContext) -> HTML:
    """Subscriptions the latest snapshot did not read: listed and counted, never shown as clean."""
    unread = ctx.history.unread
    if not len(unread):
        return paragraph(f"Every known subscription ({len(ctx.subscriptions)}) was read in the latest snapshot.",
                         "ak-note")
    rows = unread.assign(last_read=[("never" if pd.isna(x) else f"{x:%Y-%m-%d}") for x in unread["last_read"]])
    return concat(
        HTML(f'<div class="ak-banner" role="alert"><strong>{len(unread)} subscription(s) not read in the latest '
             "snapshot:</strong> they cannot be assessed for the period; their findings are the last known state "
             "(unknown), never counted as fixed.</div>"),
        table(rows, ["name", "subscription_id", "last_read", "reason"], ["Subscription", "Id", "Last read", "Reason"]))


def ranking(ctx: ReportContext, link: bool = True) -> HTML:
    r = subscriptions_ranked(ctx)
    ports = [str(p) for p in ctx.history.ports]
    head = "".join(f"<th>{esc(h)}</th>" for h in ["Subscription", "Id", *[f"port {p}" for p in ports], "Open",
                                                   "Unknown", "Read in latest snapshot", "Report"])
    rows = []
    for rec in r.to_dict(orient="records"):
        sid = rec["subscription_id"]
        try:
            href = report_file(sid)
        except ValueError:
            href = None
        cell = f'<a href="{esc(href)}">report</a>' if link and href else ""
        rows.append("<tr>" + f"<td>{esc(rec['name'])}</td><td class=\"ak-mono\">{esc(sid)}</td>"
                    + "".join(f"<td>{int(rec[p])}</td>" for p in ports)
                    + f"<td>{int(rec['open'])}</td><td>{int(rec['unknown'])}</td>"
                    + f"<td>{'read' if rec['read'] else 'not read'}</td><td>{cell}</td></tr>")
    return concat(heading("Subscriptions ranked by open findings"),
                  HTML(f'<table class="ak-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'))


def heatmap(ctx: ReportContext):
    return charts.subscription_heatmap(subscriptions_ranked(ctx), ctx.history.ports)


def trends(ctx: ReportContext) -> list:
    h = ctx.history
    return [charts.open_per_port(h), charts.new_vs_resolved(h), charts.mttr_over_time(h),
            charts.tag_coverage_over_time(h)]


def note() -> HTML:
    return paragraph("Each subscription's report is the file named by its id beside this page.", "ak-note")
