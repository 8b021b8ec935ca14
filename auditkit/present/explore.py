"""For analysts in JupyterLab: a workbench over the findings.

An interactive table (sort, search, filter, paginate; itables, offline: no CDN), filter controls
that need no edit of the parameters cell (ipywidgets), the timeline of one finding across the
snapshots, a drill-down from subscription to NSG to rule with the rule's raw JSON as collected,
and CSV export of the current selection that opens safely in Excel (formulas neutralised, UTF-8
with a byte-order mark so accents survive).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from auditkit.formats import shown, to_csv
from auditkit.history.timeline import History
from auditkit.present.context import ReportContext
from auditkit.present.findings import annotated
from auditkit.present.html import HTML, code_block, concat, paragraph

EXPORT_COLUMNS = ["status", "severity", "exposure", "layer", "port", "subscription", "subscription_id", "resource_group", "nsg_name",
                  "rule_name", "priority", "sources", "destination_ports", "attached_to", "reach_path", "owner",
                  "justification",
                  "expiry_text", "first_seen", "first_seen_source", "last_seen", "changed_by", "client_type",
                  "changed_at", "resolved_at", "age", "reopened", "controls", "environment",
                  "description", "nsg_id"]
TABLE_COLUMNS = ["status", "severity", "exposure", "port", "subscription", "nsg_name", "rule_name", "sources", "owner",
                 "justification", "expiry_text", "age", "controls"]


def findings(ctx: ReportContext) -> pd.DataFrame:
    """Every finding of the history (open, unknown and resolved), annotated, with subscription names."""
    f = annotated(ctx.history, ctx.controls, statuses=())
    if len(f):
        gov = ctx.history.governance.set_index("nsg_key")
        gov = gov[~gov.index.duplicated()]
        f["environment"] = gov["environment"].reindex(f["nsg_key"].to_numpy()).to_numpy(dtype=object)
        f["production"] = gov["production"].reindex(f["nsg_key"].to_numpy()).to_numpy(dtype=object)
        f["subscription"] = [ctx.subscription_name(s) for s in f["subscription_id"]]
    return f


def findings_with_tags(history: History) -> pd.DataFrame:
    """The history's findings joined with their NSG's governance (owner, environment, expiry)."""
    gov = history.governance.set_index("nsg_key")
    gov = gov[~gov.index.duplicated()]
    f = history.findings.copy()
    for col in ("owner", "environment", "expiry", "production"):
        f[col] = gov[col].reindex(f["nsg_key"].to_numpy()).to_numpy(dtype=object)
    return f


def filter_findings(frame: pd.DataFrame, subscription: str | None = None, port: int | None = None,
                    status: str | None = None, owner: str | None = None, environment: str | None = None,
                    min_age_days: float | None = None) -> pd.DataFrame:
    """Findings matching every filter given (case-insensitive text, substring for owner)."""
    m = pd.Series(True, index=frame.index)
    if subscription:
        m &= frame["subscription_id"].str.lower() == subscription.lower()
    if port is not None:
        m &= frame["port"] == int(port)
    if status:
        m &= frame["status"] == status
    if owner:
        m &= frame["owner"].fillna("").astype(str).str.lower().str.contains(owner.lower(), regex=False)
    if environment:
        m &= frame["environment"].fillna("").astype(str).str.lower() == environment.lower()
    if min_age_days is not None:
        m &= frame["age_days"].fillna(-1) >= min_age_days
    return frame[m].reset_index(drop=True)


def export_csv(frame: pd.DataFrame, path: str | Path, excel: bool = True) -> Path:
    """Write findings as CSV, safe for a spreadsheet: formula-like cells neutralised, hidden
    characters shown escaped, and (``excel``) a byte-order mark so Excel reads it as UTF-8."""
    path = Path(path)
    cols = [c for c in EXPORT_COLUMNS if c in frame.columns]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(to_csv(frame[cols]), encoding="utf-8-sig" if excel else "utf-8")
    tmp.replace(path)
    return path


def _display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in TABLE_COLUMNS if c in frame.columns]
    out = frame[cols].copy()
    for c in cols:
        if out[c].dtype == object:
            out[c] = [", ".join(map(shown, v)) if isinstance(v, list | tuple | np.ndarray) else
                      ("" if v is None or (isinstance(v, float) and np.isnan(v)) else shown(v)) for v in out[c]]
    return out


def table(frame: pd.DataFrame, limit: int = 5000) -> HTML:
    """The findings as an interactive table (sort, search, paginate), offline; text stays text."""
    from itables import to_html_datatable

    shown_frame = _display_frame(frame.head(limit))
    if not len(shown_frame):
        return paragraph("No finding matches.", "ak-note")
    more = paragraph(f"The first {limit} of {len(frame)} findings: export the CSV for all.", "ak-note") \
        if len(frame) > limit else paragraph(f"{len(frame)} findings.", "ak-note")
    html = to_html_datatable(shown_frame, connected=False, display_logo_when_loading=False, maxBytes=0,
                             classes="display compact ak-itable")
    return concat(HTML(html), more)


def finding_history(history: History, nsg_key: str, rule_name: str, port: int) -> pd.DataFrame:
    """One finding across the snapshots: present, absent (the subscription was read), or not read."""
    rows = []
    key = nsg_key.lower()
    sub = key.split("/")[2] if key.startswith("/subscriptions/") else ""
    for d in history.derived:
        f = d.findings
        here = bool(((f["nsg_key"] == key) & (f["rule_name"] == rule_name) & (f["port"] == int(port))).any())
        read = sub in {s.lower() for s in d.snapshot.collected}
        rows.append({"snapshot": d.snapshot.id, "as_of": d.snapshot.as_of,
                     "state": "present" if here else ("absent" if read else "not read")})
    return pd.DataFrame(rows)


def timeline(ctx: ReportContext, finding: pd.Series | dict | None):
    """A chart of one finding over time: when it appeared, was resolved, reopened, or was not read."""
    import plotly.graph_objects as go

    from auditkit.present.style import CHART_WIDTH

    fig = go.Figure()
    if finding is None:
        fig.update_layout(title="No finding selected", width=CHART_WIDTH, height=200)
        return fig
    h = finding_history(ctx.history, finding["nsg_key"], finding["rule_name"], int(finding["port"]))
    level = {"present": 1, "absent": 0, "not read": 0.5}
    colours = {"present": "#c0392b", "absent": "#27ae60", "not read": "#999999"}
    fig.add_trace(go.Scatter(x=h["as_of"], y=[level[s] for s in h["state"]], mode="lines+markers", line_shape="hv",
                             marker={"color": [colours[s] for s in h["state"]], "size": 10},
                             text=h["state"], hovertemplate="%{x|%Y-%m-%d}: %{text}<extra></extra>", showlegend=False))
    # Who changed the rule, when Resource Graph's change history says so: markers on the same line.
    from auditkit.history.timeline import changes_of

    ch = changes_of(ctx.history.derived)
    ch = ch[(ch["nsg_key"] == str(finding["nsg_key"]).lower()) & (ch["rule_name"] == str(finding["rule_name"]))]
    if len(ch):
        import html as _html

        fig.add_trace(go.Scatter(
            x=ch["changed_at"], y=[1.1] * len(ch), mode="markers", marker={"symbol": "diamond", "size": 11,
                                                                            "color": "#2c3e50"},
            text=[_html.escape(f"{shown(b)} ({shown(c)}): {shown(o)}") for b, c, o in
                  zip(ch["changed_by"], ch["client_type"], ch["operation"], strict=True)],
            hovertemplate="%{x|%Y-%m-%d %H:%M} changed by %{text}<extra></extra>", showlegend=False))
    fig.update_yaxes(tickvals=[0, 0.5, 1, 1.1], ticktext=["resolved / absent", "not read", "present", "changed"],
                     range=[-0.2, 1.3])
    title = f"{shown(finding['nsg_name'])} / {shown(finding['rule_name'])} (port {int(finding['port'])})"
    import html

    fig.update_layout(title=html.escape(title), width=CHART_WIDTH, height=260, template="plotly_white",
                      margin={"l": 120, "r": 20, "t": 50, "b": 40})
    return fig


def raw_rule(ctx: ReportContext, nsg_id: str, rule_name: str) -> dict | None:
    """The rule's record as collected (raw evidence of the latest snapshot that has the NSG), checked
    against its snapshot's meta.json."""
    key = nsg_id.lower()
    for d in reversed(ctx.history.derived):
        try:
            records = d.snapshot.raw("nsgs")
        except Exception:  # noqa: BLE001 - an unreadable raw file gives no drill-down, not a crash
            continue
        for rec in records if isinstance(records, list) else []:
            if isinstance(rec, dict) and str(rec.get("id", "")).lower() == key:
                props = rec.get("properties") if isinstance(rec.get("properties"), dict) else rec
                for field in ("securityRules", "defaultSecurityRules", "security_rules", "default_security_rules"):
                    for r in props.get(field) or []:
                        if isinstance(r, dict) and r.get("name") == rule_name:
                            return r
                return None
    return None


def drilldown(ctx: ReportContext, nsg_id: str, rule_name: str) -> HTML:
    """The rule's raw JSON as collected, shown as text."""
    rule = raw_rule(ctx, nsg_id, rule_name)
    if rule is None:
        return paragraph(f"Rule {rule_name} of {nsg_id} is not in the raw records.", "ak-note")
    return concat(paragraph(f"{nsg_id} / {rule_name}, as collected:", "ak-note"),
                  code_block(json.dumps(rule, indent=2, ensure_ascii=False)))


def workbench(ctx: ReportContext, frame: pd.DataFrame | None = None, export_dir: str | Path = "."):
    """Filter controls over the findings (no parameters to edit), the interactive table of the current
    selection, a timeline and the raw rule of a chosen finding, and CSV export of the selection."""
    import ipywidgets as w
    from IPython.display import display

    frame = findings(ctx) if frame is None else frame
    subs = sorted({(n, s) for n, s in zip(frame.get("subscription", []), frame.get("subscription_id", []), strict=True)})
    sub = w.Dropdown(options=[("all subscriptions", "")] + [(f"{n} ({s[:8]})", s) for n, s in subs], description="Subscription")
    port = w.Dropdown(options=[("all ports", None)] + [(str(p), int(p)) for p in ctx.history.ports], description="Port")
    status = w.Dropdown(options=[("open", "open"), ("unknown", "unknown"), ("resolved", "resolved"), ("any", "")],
                        description="Status")
    owner = w.Text(description="Owner has", placeholder="text in the owner")
    min_age = w.IntText(value=0, description="Min age (d)")
    pick = w.Dropdown(options=[], description="Finding")
    export = w.Button(description="Export selection (CSV)")
    out_table, out_detail, out_msg = w.Output(), w.Output(), w.Output()
    state: dict = {"selected": frame}

    def refresh(*_):
        sel = filter_findings(frame, subscription=sub.value or None, port=port.value, status=status.value or None,
                              owner=owner.value or None, min_age_days=min_age.value or None)
        state["selected"] = sel
        out_table.clear_output()
        with out_table:
            display(table(sel))
        pick.options = [(f"{shown(r.nsg_name)} / {shown(r.rule_name)} / {r.port}", i)
                        for i, r in enumerate(sel.head(500).itertuples())]

    def detail(*_):
        out_detail.clear_output()
        sel = state["selected"]
        if pick.value is None or pick.value >= len(sel):
            return
        row = sel.iloc[int(pick.value)]
        with out_detail:
            display(timeline(ctx, row))
            display(drilldown(ctx, row["nsg_id"], row["rule_name"]))

    def do_export(*_):
        path = Path(export_dir) / f"findings-{ctx.period or 'all'}.csv"
        export_csv(state["selected"], path)
        out_msg.clear_output()
        with out_msg:
            display(paragraph(f"Written {path} ({len(state['selected'])} findings).", "ak-note"))

    for control in (sub, port, status, owner, min_age):
        control.observe(refresh, names="value")
    pick.observe(detail, names="value")
    export.on_click(do_export)
    refresh()
    return w.VBox([w.HBox([sub, port, status]), w.HBox([owner, min_age, export]), out_msg, out_table,
                   w.HTML("<b>One finding: timeline and raw rule</b>"), pick, out_detail])


def interactive_mode() -> None:
    """Offline itables (its JavaScript embedded in the notebook, no CDN).

    The bundle is displayed first: itables' own set-up awaits it in a module script, which a live
    JupyterLab may run before the next output (a page error otherwise); the set-up then skips it.
    """
    from IPython.display import HTML as Raw
    from IPython.display import display
    from itables import init_notebook_mode
    from itables import options as itables_options
    from itables.javascript import generate_init_offline_itables_html

    display(Raw(generate_init_offline_itables_html(itables_options.dt_bundle)))
    init_notebook_mode(all_interactive=False, connected=False)
