"""Render a period's reports: build a ``RenderRequest`` with keywords and pass it to ``render``.

The orchestration is in ``period``, the request and result in ``request``, the plan they resolve
to in ``plan``, the manifest in ``manifest``.
"""

from auditkit.render.period import render
from auditkit.render.plan import default_period, notebooks_dir
from auditkit.render.request import ASSET_MODES, RenderRequest, RenderResult

__all__ = ["ASSET_MODES", "RenderRequest", "RenderResult", "default_period", "notebooks_dir", "render"]
