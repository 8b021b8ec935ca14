"""The look of reports and notebooks, in one place: the stylesheet (screen and print) that the first
output of every notebook carries, so KPI tiles and tables look the same in JupyterLab, in VS Code
and in the rendered HTML, and a printed report or PDF keeps every chart and column on the page.

Charts have a fixed width that fits a landscape A4 page (plotly does not re-lay a chart out for
print); tables wrap their cells and repeat their header on every printed page; each main section
starts on a new page; interactive chrome (the plotly mode bar) is not printed.
"""

from __future__ import annotations

# Landscape A4 (297 mm) less 2 x 12 mm margins is 273 mm, about 1030 CSS pixels: charts stay narrower.
CHART_WIDTH = 900

CSS = """
.ak-table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1em 0; }
.ak-table th, .ak-table td { border: 1px solid #ccc; padding: 3px 6px; text-align: left !important;
  vertical-align: top; overflow-wrap: break-word; word-break: normal; }
.ak-col-severity, .ak-col-port, .ak-col-priority, .ak-col-status, .ak-col-first_seen, .ak-col-last_seen,
.ak-col-snapshot, .ak-col-as_of { white-space: nowrap; }
.ak-col-controls, .ak-col-hash, .ak-col-nsg_id { font-size: 11px; }
.ak-col-hash, .ak-col-nsg_id, .ak-col-subscription_id { font-family: monospace; overflow-wrap: anywhere; }
.ak-table th { background: #f3f3f3; }
.ak-table.ak-wide { width: 100%; table-layout: auto; }
/* The findings table always fits its page: fixed column shares, long tokens break. */
.ak-table.ak-findings { table-layout: fixed; width: 100%; }
.ak-findings td, .ak-findings th { overflow-wrap: anywhere; white-space: normal; font-size: 11px; }
.ak-findings .ak-col-severity { width: 3.5%; } .ak-findings .ak-col-exposure { width: 5.5%; font-size: 11px; }
.ak-findings .ak-col-port { width: 3%; } .ak-findings .ak-col-layer_label { width: 4%; }
.ak-findings .ak-col-nsg_name { width: 5%; } .ak-findings .ak-col-resource_group { width: 4.5%; }
.ak-findings .ak-col-rule_name { width: 5.5%; } .ak-findings .ak-col-priority { width: 3%; }
.ak-findings .ak-col-sources { width: 5%; } .ak-findings .ak-col-ports { width: 4%; }
.ak-findings .ak-col-attached_to { width: 5%; } .ak-findings .ak-col-reach_path { width: 10.5%; font-size: 11px; }
.ak-findings .ak-col-changed { width: 5%; font-size: 11px; } .ak-findings .ak-col-first_seen_text { width: 5%; }
.ak-findings .ak-col-owner { width: 5%; }
.ak-findings .ak-col-justification { width: 5%; } .ak-findings .ak-col-expiry_text { width: 4.5%; }
.ak-findings .ak-col-first_seen { width: 4.5%; } .ak-findings .ak-col-last_seen { width: 4.5%; }
.ak-findings .ak-col-age { width: 4%; } .ak-findings .ak-col-status { width: 3.5%; }
.ak-findings .ak-col-controls { width: 5%; }
.ak-exp-reachable { color: #b00020; font-weight: bold; } .ak-exp-no-public-path { color: #a35200; }
.ak-dl th { width: 14em; }
.ak-sev-critical { color: #7b0000; font-weight: bold; }
.ak-sev-high { color: #a40000; font-weight: bold; }
.ak-sev-medium { color: #8a4b00; font-weight: bold; }
.ak-sev-low, .ak-sev-latent { color: #8a6d00; }
.ak-status-unknown { color: #555; font-style: italic; }
.ak-expired { color: #a40000; font-weight: bold; }
.ak-kpis { display: flex; flex-wrap: wrap; gap: 10px; margin: 0.5em 0 1em 0; }
.ak-kpi { border: 1px solid #ddd; border-radius: 4px; padding: 6px 10px; min-width: 110px; }
.ak-kpi .v { font-size: 20px; font-weight: bold; }
.ak-kpi .k { font-size: 11px; color: #555; }
.ak-mono { font-family: monospace; font-size: 11px; overflow-wrap: anywhere; }
.ak-cmd { background: #f6f6f6; padding: 6px; font-family: monospace; font-size: 11px; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.ak-note { color: #555; font-size: 12px; }
.ak-hidden { background: #fff3cd; color: #8a4b00; font-family: monospace; border-radius: 2px; }
.ak-banner { border: 2px solid #a40000; background: #fdecea; color: #5f0000; padding: 8px 12px;
  margin: 0.5em 0 1em 0; border-radius: 4px; }
.ak-toc { border: 1px solid #ddd; background: #fafafa; padding: 6px 12px; margin: 0.5em 0 1em 0; font-size: 13px; }
.ak-toc ol { margin: 0.3em 0 0 1.2em; padding: 0; }
.ak-nav { font-size: 13px; margin: 0 0 0.5em 0; }
.ak-summary { font-size: 15px; }
.ak-step { margin: 0.3em 0 1.2em 0; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body, .jp-Notebook { font-size: 10pt; margin: 0 !important; padding: 0 !important; }
  .jp-OutputArea-child, .jp-Cell-outputWrapper, .jp-OutputArea-output { break-inside: auto !important;
    overflow: visible !important; }
  h2 { break-before: page; }
  h1 + * h2, .ak-first h2 { break-before: auto; }
  h2, h3 { break-after: avoid; }
  .ak-table { width: 100%; font-size: 8pt; }
  .ak-findings td, .ak-findings th { font-size: 7pt; padding: 2px 3px; }
  .ak-table thead { display: table-header-group; }
  .ak-table tr, .ak-kpi, .ak-cmd, .js-plotly-plot { break-inside: avoid; }
  .modebar, .modebar-container, .ak-toc a::after { display: none !important; }
  .js-plotly-plot, .plotly-graph-div { max-width: 100%; }
  a { color: inherit; text-decoration: none; }
}
"""


def stylesheet() -> str:
    return f'<style type="text/css">{CSS}</style>'
