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
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
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


def heading(text: str, level: int = 2) -> HTML:
    return HTML(f"<h{level}>{esc(text)}</h{level}>")


def paragraph(text: str, cls: str = "") -> HTML:
    c = f' class="{esc(cls)}"' if cls else ""
    return HTML(f"<p{c}>{esc(text)}</p>")


def table(frame: pd.DataFrame, columns: Sequence[str] | None = None, headers: Sequence[str] | None = None,
          cell_class: dict | None = None, empty: str = "None.") -> HTML:
    """A table of ``frame``'s ``columns`` with every cell escaped."""
    if frame is None or not len(frame):
        return paragraph(empty, "ak-note")
    columns = list(columns or frame.columns)
    headers = list(headers or columns)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    rows = []
    for rec in frame[columns].itertuples(index=False):
        cells = []
        for col, value in zip(columns, rec, strict=True):
            cls = (cell_class or {}).get(col)
            klass = f' class="{esc(cls(value) if callable(cls) else cls)}"' if cls else ""
            cells.append(f"<td{klass}>{esc(value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return HTML(f'<table class="ak-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def kpi_cards(items: Iterable[tuple[str, Any]]) -> HTML:
    cards = "".join(f'<div class="ak-kpi"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>'
                    for k, v in items)
    return HTML(f'<div class="ak-kpis">{cards}</div>')


def definition_list(items: Iterable[tuple[str, Any]]) -> HTML:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items)
    return HTML(f'<table class="ak-table">{rows}</table>')


def code_block(text: str) -> HTML:
    return HTML(f'<div class="ak-cmd">{esc(text)}</div>')


def concat(*blocks: HTML) -> HTML:
    return HTML("".join(str(b) for b in blocks))
