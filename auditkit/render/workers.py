"""Long-lived render workers: each process keeps one kernel and runs notebooks through papermill's API.

Starting a kernel and importing pandas and plotly costs more than running a report, so each
worker starts its kernel once and, before every notebook, clears the kernel's namespace
(``%reset -f``): no variable of one report can reach the next, while imported modules stay
loaded. A kernel that saw a failure is restarted, and every kernel is replaced after
``RECYCLE_AFTER`` notebooks. Kernels talk over IPC sockets in a private folder, so parallel
workers never race for TCP ports (papermill issues 239 and 511).
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECYCLE_AFTER = 40
KERNEL = "python3"  # always passed explicitly: the name saved in a notebook may not exist here
CELL_TIMEOUT = 900

_state: dict[str, Any] = {}


@dataclass
class Job:
    """One report: run ``notebook`` with ``parameters``, write ``<name>.ipynb`` and ``<name>.html`` into ``out``."""

    notebook: str
    name: str
    title: str
    parameters: dict
    out: str
    subscription_id: str | None = None


@dataclass
class Outcome:
    name: str
    subscription_id: str | None
    ok: bool
    seconds: float
    error: dict = field(default_factory=dict)


def _new_kernel() -> Any:
    from jupyter_client.manager import KernelManager

    folder = _state.setdefault("ipc", tempfile.mkdtemp(prefix="auditkit-kernels-"))
    km = KernelManager(kernel_name=KERNEL, transport="ipc", ip=os.path.join(folder, f"k{time.monotonic_ns()}"))
    km.start_kernel(cwd=_state.get("cwd") or os.getcwd())
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        # Warm the imports every report makes, once per kernel.
        kc.execute_interactive("import auditkit.present.notebook", timeout=120, store_history=False)
    finally:
        kc.stop_channels()
    _state["uses"] = 0
    return km


def _reset(km: Any) -> None:
    kc = km.client()
    kc.start_channels()
    try:
        reply = kc.execute_interactive("get_ipython().run_line_magic('reset', '-f')", timeout=60,
                                       store_history=False)
        if reply["content"].get("status") != "ok":
            raise RuntimeError("namespace reset failed")
    finally:
        kc.stop_channels()


def _kernel() -> Any:
    km = _state.get("km")
    if km is not None and (not km.is_alive() or _state.get("uses", 0) >= RECYCLE_AFTER or _state.get("dirty")):
        _shutdown()
        km = None
    if km is None:
        km = _state["km"] = _new_kernel()
        _state["dirty"] = False
    else:
        _reset(km)
    _state["uses"] = _state.get("uses", 0) + 1
    return km


def _shutdown() -> None:
    km = _state.pop("km", None)
    if km is not None:
        try:
            km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - a dead kernel is already gone
            pass


def init_worker(cwd: str) -> None:
    """Process-pool initialiser: remember the working folder; quiet papermill's logging."""
    import atexit
    import logging

    logging.getLogger("papermill").setLevel(logging.WARNING)
    _state["cwd"] = cwd
    atexit.register(_shutdown)


def run(job: Job) -> Outcome:
    """Execute and export one report; never raises (a failure is an Outcome)."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from auditkit.render.export import exporter, to_html

    started = time.monotonic()
    out = Path(job.out)
    ipynb, html = out / f"{job.name}.ipynb", out / f"{job.name}.html"
    error: dict = {}
    try:
        km = _kernel()
        pm.execute_notebook(job.notebook, str(ipynb), parameters=job.parameters, kernel_name=KERNEL, km=km,
                            progress_bar=False, log_output=False, execution_timeout=CELL_TIMEOUT,
                            request_save_on_cell_execute=False)
    except PapermillExecutionError as exc:
        _state["dirty"] = True
        error = {"cell": exc.cell_index, "exec_count": exc.exec_count, "ename": exc.ename,
                 "evalue": str(exc.evalue)[:2000]}
    except Exception as exc:  # noqa: BLE001 - one report's failure must not stop the others
        _state["dirty"] = True
        error = {"cell": None, "ename": type(exc).__name__, "evalue": str(exc)[:2000],
                 "traceback": traceback.format_exc()[-4000:]}
    if not error:
        try:
            if "exporter" not in _state:
                _state["exporter"] = exporter()
            nb = nbformat.read(ipynb, as_version=4)
            tmp = html.with_name(f".{html.name}.tmp")
            tmp.write_text(to_html(nb, job.title, _state["exporter"]), encoding="utf-8")
            tmp.replace(html)
        except Exception as exc:  # noqa: BLE001
            error = {"cell": None, "ename": type(exc).__name__, "evalue": f"HTML export failed: {exc}"[:2000]}
    return Outcome(job.name, job.subscription_id, not error, round(time.monotonic() - started, 3), error)
