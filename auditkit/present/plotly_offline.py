"""Plotly charts that draw everywhere a report or a notebook is read, offline.

Since plotly 6.1 a figure shown in a kernel emits only ``application/vnd.plotly.v1+json``, which
nbconvert drops: charts vanish from HTML without an error. This renderer emits both:

- ``application/vnd.plotly.v1+json``, which JupyterLab, Jupyter Notebook 7 (the jupyterlab-plotly
  extension that ships with plotly) and VS Code draw themselves;
- ``text/html``, a div plus a call to the global ``Plotly``, which nbconvert keeps (it knows no
  plotly mimetype) and which draws with the plotly.js bundle the page set-up output carries once,
  inline: no CDN, no MathJax.
"""

from __future__ import annotations

import json

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
    """The first output of a report: the stylesheet and the plotly.js bundle, inline, once."""

    def _repr_html_(self) -> str:
        from plotly.offline import get_plotlyjs

        return f'{stylesheet()}<script type="text/javascript">{get_plotlyjs()}</script>'


def install() -> PageSetup:
    """Make the offline renderer the default and return the page set-up to display once."""
    if RENDERER not in pio.renderers:
        pio.renderers[RENDERER] = OfflineRenderer()
    if pio.renderers.default != RENDERER:
        pio.renderers.default = RENDERER
    return PageSetup()
