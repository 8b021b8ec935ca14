"""Executed notebook -> self-contained HTML evidence: code hidden, papermill's error banner
removed, nothing fetched from a network (the ``offline`` template), charts drawn by inline plotly.js."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from traitlets.config import Config

TEMPLATES = Path(__file__).resolve().parent / "templates"
ERROR_TAG = "papermill-error-cell-tag"
NOTEBOOK_ONLY = "notebook-only"  # narrative for analysts in JupyterLab, not part of the report


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
