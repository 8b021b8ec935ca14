"""HTML building blocks that never let tenant text become markup.

Rule names, descriptions, tags and subscription names are written by whoever manages the
tenant: every value goes through ``html.escape`` (quotes included), and links are only built
from values the kit made itself (subscription ids it validated, relative file names).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from auditkit.formats import hidden, shown


def esc(value: Any) -> str:
    """Text as HTML text: ``<script>`` shows as ``<script>``, never runs; invisible characters
    (bidirectional overrides, zero-width characters, controls) show as their escape, e.g. ``\\u202e``."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""  # missing (a DNAT rule has no NSG priority): blank, never "<NA>"
    if isinstance(value, list | tuple):
        return ", ".join(esc(v) for v in value)
    if isinstance(value, pd.Timestamp):
        return html.escape(value.strftime("%Y-%m-%d"))
    text = str(value)
    if text.isprintable():
        return html.escape(text, quote=True)
    return "".join(f'<span class="ak-hidden" title="hidden character">{html.escape(shown(ch))}</span>'
                   if hidden(ch) and ch not in "\n\t" else html.escape(ch, quote=True) for ch in text)


class HTML:
    """A displayable block of HTML built by this module (so already escaped)."""

    def __init__(self, markup: str):
        self.markup = markup

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup


def heading(text: str, level: int = 2, anchor: str | None = None) -> HTML:
    """A section heading; ``anchor`` (a name the kit chose) makes it a target of the table of contents."""
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return HTML(f"<h{level}{ident}>{esc(text)}</h{level}>")


def paragraph(text: str, cls: str = "") -> HTML:
    c = f' class="{esc(cls)}"' if cls else ""
    return HTML(f"<p{c}>{esc(text)}</p>")


def link(text: str, href: str, cls: str = "") -> HTML:
    """A link whose target the kit built (a relative file name or an anchor), never tenant text."""
    c = f' class="{esc(cls)}"' if cls else ""
    return HTML(f'<a href="{esc(href)}"{c}>{esc(text)}</a>')


def contents(sections: Sequence[tuple[str, str]]) -> HTML:
    """The table of contents: (anchor, title) of the report's sections, in the order they appear."""
    items = "".join(f'<li><a href="#{esc(a)}">{esc(t)}</a></li>' for a, t in sections)
    return HTML(f'<nav class="ak-toc" aria-label="Contents"><strong>Contents</strong><ol>{items}</ol></nav>')


def banner(headline: str, detail: str = "") -> HTML:
    rest = f" {esc(detail)}" if detail else ""
    return HTML(f'<div class="ak-banner" role="alert"><strong>{esc(headline)}</strong>{rest}</div>')


def table(frame: pd.DataFrame, columns: Sequence[str] | None = None, headers: Sequence[str] | None = None,
          cell_class: dict | None = None, empty: str = "None.", cls: str = "") -> HTML:
    """A table of ``frame``'s ``columns`` with every cell escaped; the header repeats on printed pages."""
    if frame is None or not len(frame):
        return paragraph(empty, "ak-note")
    columns = list(columns or frame.columns)
    headers = list(headers or columns)
    head = "".join(f'<th class="ak-col-{esc(c)}">{esc(h)}</th>' for c, h in zip(columns, headers, strict=True))
    rows = []
    for rec in frame[columns].itertuples(index=False):
        cells = []
        for col, value in zip(columns, rec, strict=True):
            klass = f"ak-col-{col}"
            extra = (cell_class or {}).get(col)
            if extra:
                klass += " " + str(extra(value) if callable(extra) else extra)
            cells.append(f'<td class="{esc(klass)}">{esc(value)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    extra_cls = f" {esc(cls)}" if cls else ""
    return HTML(f'<table class="ak-table{extra_cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
                "</table>")


def kpi_cards(items: Iterable[tuple[str, Any]]) -> HTML:
    cards = "".join(f'<div class="ak-kpi"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>'
                    for k, v in items)
    return HTML(f'<div class="ak-kpis">{cards}</div>')


def definition_list(items: Iterable[tuple[str, Any]]) -> HTML:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v.markup if isinstance(v, HTML) else esc(v)}</td></tr>"
                   for k, v in items)
    return HTML(f'<table class="ak-table ak-dl">{rows}</table>')


def code_block(text: str) -> HTML:
    return HTML(f'<div class="ak-cmd">{esc(text)}</div>')


def bullets(items: Iterable[Any]) -> HTML:
    return HTML("<ul>" + "".join(f"<li>{i.markup if isinstance(i, HTML) else esc(i)}</li>" for i in items) + "</ul>")


def concat(*blocks: HTML) -> HTML:
    return HTML("".join(str(b) for b in blocks))
