"""Executed notebook -> self-contained HTML evidence: code hidden, papermill's error banner
removed, nothing fetched from a network (the ``offline`` template), charts drawn by inline plotly.js."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from traitlets.config import Config

TEMPLATES = Path(__file__).resolve().parent / "templates"
ERROR_TAG = "papermill-error-cell-tag"
NOTEBOOK_ONLY = "notebook-only"  # narrative for analysts in JupyterLab, not part of the report
_LAB_CSS = re.compile(r"<!--auditkit-lab-css-->(.*?)<!--/auditkit-lab-css-->", re.S)
_STYLE = re.compile(r'\s*<style type="text/css">(.*?)</style>\s*', re.S)


def exporter() -> HTMLExporter:
    """An HTMLExporter for reports; build once per process (templates load once)."""
    c = Config()
    c.TagRemovePreprocessor.remove_cell_tags = {ERROR_TAG, NOTEBOOK_ONLY}
    c.TagRemovePreprocessor.enabled = True
    c.HTMLExporter.exclude_input = True
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES)]
    c.HTMLExporter.template_name = "offline"
    # Charts need their <script>; untrusted tenant text is escaped by auditkit.present.html instead.
    c.HTMLExporter.sanitize_html = False
    exp = HTMLExporter(config=c)
    exp.register_preprocessor(TagRemovePreprocessor(config=c), enabled=True)
    return exp


def to_html(nb: nbformat.NotebookNode, title: str, exp: HTMLExporter | None = None) -> str:
    exp = exp or exporter()
    body, _ = exp.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def inline_stylesheet(html: str) -> str:
    """The report as one self-contained file: the lab stylesheet stays inline, its markers go."""
    return _LAB_CSS.sub(lambda m: m.group(1), html, count=1)


def share_stylesheet(html: str, folder: Path) -> str:
    """The lab stylesheet (the same in every report, about 240 KB) written once into
    ``folder/assets/`` under a name that carries its SHA-256, and linked by relative path."""
    m = _LAB_CSS.search(html)
    if m is None:
        return html
    blocks = _STYLE.findall(m.group(1))
    if not blocks or _STYLE.sub("", m.group(1)).strip():
        return inline_stylesheet(html)  # not only style blocks: keep it as it is
    data = "\n".join(blocks).encode("utf-8")
    rel = f"assets/lab-{hashlib.sha256(data).hexdigest()[:16]}.css"
    target = folder / rel
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)  # the same bytes from every worker: whichever rename lands last is identical
    return html[:m.start()] + f'<link rel="stylesheet" type="text/css" href="{rel}">' + html[m.end():]
