"""Plotly charts that draw everywhere a report or a notebook is read, offline.

Since plotly 6.1 a figure shown in a kernel emits only ``application/vnd.plotly.v1+json``, which
nbconvert drops: charts vanish from HTML without an error. This renderer emits both:

- ``application/vnd.plotly.v1+json``, which JupyterLab, Jupyter Notebook 7 (the jupyterlab-plotly
  extension that ships with plotly) and VS Code draw themselves;
- ``text/html``, a div plus a call to the global ``Plotly``, which nbconvert keeps (it knows no
  plotly mimetype) and which draws with the plotly.js bundle the page set-up output carries once,
  inline: no CDN, no MathJax. With shared assets (``render --assets shared``) the set-up loads
  the bundle from a file beside the reports instead (``assets/plotly-<sha256>.min.js``, by
  relative path): still offline, written once per period and pinned by the manifest.
"""

from __future__ import annotations

import hashlib
import html
import json
from pathlib import Path

import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

from auditkit.present.style import stylesheet

RENDERER = "auditkit_offline"
CONFIG = {"displaylogo": False, "responsive": False}


class OfflineRenderer(MimetypeRenderer):
    """Figures as plotly's own mimetype for live front ends and as text/html for exported pages."""

    def to_mimebundle(self, fig_dict: dict) -> dict:
        html = pio.to_html(fig_dict, full_html=False, include_plotlyjs=False, include_mathjax=False,
                           validate=False, config=CONFIG)
        plain = json.loads(pio.to_json(fig_dict, validate=False))  # numpy arrays and dates as JSON
        return {"application/vnd.plotly.v1+json": {**plain, "config": CONFIG}, "text/html": html}


class PageSetup:
    """The first output of a report: the stylesheet and the plotly.js bundle, inline once, or
    loaded from ``src`` (a path relative to the report) when the period shares it."""

    def __init__(self, src: str | None = None):
        self.src = src

    def _repr_html_(self) -> str:
        if self.src:
            return f'{stylesheet()}<script type="text/javascript" src="{html.escape(self.src)}"></script>'
        from plotly.offline import get_plotlyjs

        return f'{stylesheet()}<script type="text/javascript">{get_plotlyjs()}</script>'


def install(src: str | None = None) -> PageSetup:
    """Make the offline renderer the default and return the page set-up to display once."""
    if RENDERER not in pio.renderers:
        pio.renderers[RENDERER] = OfflineRenderer()
    if pio.renderers.default != RENDERER:
        pio.renderers.default = RENDERER
    return PageSetup(src)


def write_bundle(folder: Path) -> str:
    """Write plotly.js into ``folder/assets/`` under a name that carries its SHA-256; return the
    path the reports in ``folder`` load it by."""
    from plotly.offline import get_plotlyjs

    data = get_plotlyjs().encode("utf-8")
    rel = f"assets/plotly-{hashlib.sha256(data).hexdigest()[:16]}.min.js"
    target = folder / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return rel
