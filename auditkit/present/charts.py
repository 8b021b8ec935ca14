"""Plotly charts of a History. Tenant text on axes and hovers is escaped (plotly reads tags in labels).

"Open" is one thing everywhere: present in the latest snapshot of a subscription that was read.
"Unknown" is a finding last seen in a subscription that has not been read since; charts show the
two side by side, never summed. Charts have a fixed width that fits a printed page.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from auditkit.formats import shown
from auditkit.history.timeline import STATUS_RESOLVED, History
from auditkit.present.style import CHART_WIDTH

PORT_COLOURS = {25: "#c0392b", 22: "#2471a3", 3389: "#7d3c98"}


def _t(value: object) -> str:
    # Plotly reads tags in labels: escape them, and show hidden characters as their escape.
    return html.escape(shown(value), quote=True)


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(title=_t(title), height=height, width=CHART_WIDTH, autosize=False,
                      margin={"l": 50, "r": 20, "t": 50, "b": 40}, template="plotly_white",
                      legend={"orientation": "h", "y": -0.2})
    return fig


def open_per_port(history: History) -> go.Figure:
    """Open findings per port, snapshot by snapshot, and beside them (dotted) the unknown ones:
    findings of subscriptions that could not be read, which losing access does not fix."""
    t = history.timeline
    fig = go.Figure()
    for port in history.ports:
        s = t[t["port"] == port]
        fig.add_trace(go.Scatter(x=s["as_of"], y=s["open"], mode="lines+markers", name=f"open, port {port}",
                                 line={"color": PORT_COLOURS.get(port)}, meta={"port": int(port), "kind": "open"}))
        if s["unreadable"].any():
            fig.add_trace(go.Scatter(x=s["as_of"], y=s["unreadable"], mode="lines+markers",
                                     name=f"unknown, port {port}", line={"color": PORT_COLOURS.get(port), "dash": "dot"},
                                     meta={"port": int(port), "kind": "unknown"}))
    return _layout(fig, "Open and unknown findings per port")


def new_vs_resolved(history: History) -> go.Figure:
    t = history.timeline.groupby("as_of", as_index=False)[["new", "reopened", "resolved"]].sum()
    fig = go.Figure([go.Bar(x=t["as_of"], y=t["new"], name="new", marker_color="#c0392b"),
                     go.Bar(x=t["as_of"], y=t["reopened"], name="reopened", marker_color="#e67e22"),
                     go.Bar(x=t["as_of"], y=t["resolved"], name="resolved", marker_color="#27ae60")])
    fig.update_layout(barmode="group")
    return _layout(fig, "New, reopened and resolved findings per snapshot")


def mttr_over_time(history: History) -> go.Figure:
    """MTTR in days as known at each snapshot: findings resolved up to then."""
    f = history.findings
    res = f[f["status"] == STATUS_RESOLVED]
    xs, ys = [], []
    for as_of in history.snapshots["as_of"]:
        done = res[res["resolved_at"] <= as_of]
        xs.append(as_of)
        ys.append(float(done["time_to_remediate_days"].mean()) if len(done) else None)
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines+markers", name="MTTR (days)", connectgaps=False,
                               line={"color": "#117a65"}))
    return _layout(fig, "Mean time to remediate (days)")


def tag_coverage_over_time(history: History) -> go.Figure:
    c = history.coverage
    fig = go.Figure()
    for key, label in (("owner", "owner"), ("expiry", "expiry date"), ("justification", "justification"),
                       ("production_rules_documented", "production rules documented")):
        fig.add_trace(go.Scatter(x=c["as_of"], y=(c[key].astype(float) * 100), mode="lines+markers", name=label))
    fig.update_yaxes(range=[0, 100], ticksuffix="%")
    return _layout(fig, "Tag coverage over time")


def subscription_heatmap(ranked: pd.DataFrame, ports: tuple[int, ...]) -> go.Figure:
    """Subscriptions x ports: open findings; a subscription not read in the latest snapshot has no
    open count, its cells say how many findings are unknown. ``ranked`` has subscription_id, name,
    read, and per port ``<port>`` (open) and ``unknown_<port>``."""
    labels = [f"{_t(n)} ({s[:8]})" + ("" if r else " [not read]")
              for s, n, r in zip(ranked["subscription_id"], ranked["name"], ranked["read"], strict=True)]
    z = np.full((len(ranked), len(ports)), np.nan)
    text = np.full((len(ranked), len(ports)), "", dtype=object)
    read = ranked["read"].to_numpy(dtype=bool) if len(ranked) else np.zeros(0, dtype=bool)
    for j, p in enumerate(ports):
        opened = ranked[str(p)].to_numpy(dtype=float)
        unknown = ranked[f"unknown_{p}"].to_numpy(dtype=int)
        z[read, j] = opened[read]
        text[:, j] = np.where(read, opened.astype(int).astype(str), [f"{u} unknown" for u in unknown])
    fig = go.Figure(go.Heatmap(z=z, x=[f"port {p}" for p in ports], y=labels, colorscale="Reds", text=text,
                               texttemplate="%{text}", hoverongaps=False, meta={"ports": list(map(int, ports))}))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Open findings: subscription x port (unknown where a subscription was not read)",
                   height=max(300, 60 + 28 * len(labels)))


def age_histogram(findings: pd.DataFrame) -> go.Figure:
    open_f = findings[findings["status"] == "open"]
    fig = go.Figure()
    for port, g in open_f.groupby("port"):
        fig.add_trace(go.Histogram(x=g["age_days"], name=f"port {port}", marker_color=PORT_COLOURS.get(int(port)),
                                   opacity=0.75, nbinsx=20))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="age (days)")
    return _layout(fig, "Age of open findings")


CLASS_COLOURS = {"gateway": "#27ae60", "private": "#2471a3", "internet": "#c0392b"}


def flows_by_class(matched: pd.DataFrame) -> go.Figure:
    """Flows of one rule per day, stacked by source class (gateway, private, internet)."""
    fig = go.Figure()
    if len(matched):
        day = matched["time"].dt.floor("D")
        counts = matched.assign(day=day).groupby(["day", "cls"]).size().unstack(fill_value=0)
        for cls in ("gateway", "private", "internet"):
            if cls in counts.columns:
                fig.add_trace(go.Bar(x=counts.index, y=counts[cls], name=cls, marker_color=CLASS_COLOURS[cls]))
    fig.update_layout(barmode="stack")
    return _layout(fig, "Flows per day by source class", height=300)
