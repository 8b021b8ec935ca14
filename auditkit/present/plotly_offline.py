"""Plotly charts that survive nbconvert and open offline.

Since plotly 6.1, a figure shown in a kernel emits only ``application/vnd.plotly.v1+json``,
which nbconvert drops: charts vanish from HTML without an error. This renderer emits
``text/html`` instead (a div plus a call to the global ``Plotly``), and ``plotly_js()`` returns the
plotly.js bundle once per report, inline: no CDN, no MathJax.
"""

from __future__ import annotations

import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

RENDERER = "auditkit_offline"


class OfflineHTMLRenderer(MimetypeRenderer):
    """Figures as ``text/html`` divs that expect plotly.js to be loaded once, earlier in the page."""

    def to_mimebundle(self, fig_dict: dict) -> dict:
        html = pio.to_html(fig_dict, full_html=False, include_plotlyjs=False, include_mathjax=False,
                           default_height="420px", default_width="100%",
                           validate=False, config={"displaylogo": False, "responsive": True})
        return {"text/html": html}


class PlotlyJS:
    """The plotly.js bundle as an inline script, displayed once at the top of a report."""

    def _repr_html_(self) -> str:
        from plotly.offline import get_plotlyjs

        return f'<script type="text/javascript">{get_plotlyjs()}</script>'


def install() -> PlotlyJS:
    """Make the offline renderer the default and return the script to display once."""
    if RENDERER not in pio.renderers:
        pio.renderers[RENDERER] = OfflineHTMLRenderer()
    if pio.renderers.default != RENDERER:
        pio.renderers.default = RENDERER
    return PlotlyJS()
