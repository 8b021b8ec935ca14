"""Long-lived render workers: each process keeps one kernel and runs notebooks through papermill's API.

Starting a kernel and importing pandas and plotly costs more than running a report, so each
worker starts its kernel once and, before every notebook, clears the kernel's namespace
(``%reset -f``): no variable of one report can reach the next, while imported modules stay
loaded. A kernel that saw a failure is restarted, and every kernel is replaced after
``RECYCLE_AFTER`` notebooks. Kernels talk over IPC sockets in a private folder, so parallel
workers never race for TCP ports (papermill issues 239 and 511).

Stopping: the parent sends SIGTERM (after Ctrl-C or its own SIGTERM); a worker then kills its
kernel's process group and exits at once, so no new report starts. A worker whose parent dies
(even by ``kill -9``) does the same: Linux delivers SIGTERM through ``PR_SET_PDEATHSIG``, and a
watchdog thread checks the parent elsewhere. Kernels also watch their worker (ipykernel's
parent poller, ``JPY_PARENT_PID``).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECYCLE_AFTER = 40
KERNEL = "python3"  # always passed explicitly: the name saved in a notebook may not exist here
CELL_TIMEOUT = 900
STOP_GRACE_SECONDS = 5.0

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
    pdf: str | None = None  # the Chromium to print a PDF beside the HTML with, when asked
    keep_notebook: bool = True  # False (--no-notebooks): the executed .ipynb is removed once its HTML is written
    shared_assets: bool = False  # --assets shared: the lab stylesheet goes to <out>/assets/ once, linked
    snapshots_version: str | None = None  # snapshots at a storage URL: the listing the run was planned on
    return_files: bool = False  # on a cluster writing to a storage URL: the files come back in the Outcome


@dataclass
class Outcome:
    name: str
    subscription_id: str | None
    ok: bool
    seconds: float
    error: dict = field(default_factory=dict)
    files: dict | None = None  # relative path -> bytes, for jobs with ``return_files``


def local_parameters(job: Job) -> dict:
    """The job's parameters with snapshots at a storage URL replaced by this machine's copy of
    them (staged once per process and listing); a listing that changed since the run was
    planned fails the report instead of reporting on other evidence than the manifest lists."""
    from auditkit.evidence.storage import is_url, stage

    url = job.parameters.get("snapshots_dir")
    if not is_url(url):
        return job.parameters
    staged = _state.setdefault("staged", {})
    if url not in staged or staged[url][0] != job.snapshots_version:
        copy = stage(url, expect_version=job.snapshots_version)  # changed since planned: fails, copy untouched
        staged[url] = (copy.version, str(copy.path))
    return {**job.parameters, "snapshots_dir": staged[url][1]}


def _new_kernel() -> Any:
    from jupyter_client.manager import KernelManager

    folder = _state.setdefault("ipc", tempfile.mkdtemp(prefix="auditkit-kernels-"))
    km = KernelManager(kernel_name=KERNEL, transport="ipc", ip=os.path.join(folder, f"k{time.monotonic_ns()}"))
    # The kernel's own output (log lines) would interleave with the command's; errors arrive as messages.
    km.start_kernel(cwd=_state.get("cwd") or os.getcwd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _state["kernel_pid"] = getattr(getattr(km, "provisioner", None), "pid", None)
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
    _state.pop("kernel_pid", None)
    if km is not None:
        try:
            km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - a dead kernel is already gone
            pass


def _die(code: int) -> None:
    """Kill the kernel's process group and leave at once (from a signal handler or the watchdog)."""
    pid = _state.get("kernel_pid")
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)  # kernels run in a session of their own: pgid == pid
        except OSError:
            pass
    shutil.rmtree(_state.get("ipc", "/nonexistent"), ignore_errors=True)
    os._exit(code)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            _die(1)


def init_worker(cwd: str, parent: int) -> None:
    """Set a worker up: its folder, quiet logging, and the ways it stops with its parent."""
    import logging

    logging.getLogger("papermill").setLevel(logging.WARNING)
    _state["cwd"] = cwd
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by the parent while spawning
    signal.signal(signal.SIGTERM, lambda *_: _die(143))
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        _die(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _path_arg(path: Path) -> str:
    """A path for papermill, which formats output paths with ``str.format``: braces doubled."""
    return str(path).replace("{", "{{").replace("}", "}}")


def run(job: Job) -> Outcome:
    """Execute and export one report; never raises (a failure is an Outcome)."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from auditkit.render.html_export import exporter, inline_stylesheet, share_stylesheet, to_html

    started = time.monotonic()
    out = Path(job.out)
    html = out / f"{job.name}.html"
    ipynb = out / (f"{job.name}.ipynb" if job.keep_notebook else f".{job.name}.executed.ipynb")
    error: dict = {}
    try:
        parameters = local_parameters(job)
        km = _kernel()
        source = nbformat.read(job.notebook, as_version=4)  # a node, never a path papermill would format
        pm.execute_notebook(source, _path_arg(ipynb), parameters=parameters, kernel_name=KERNEL, km=km,
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
            text = to_html(nb, job.title, _state["exporter"])
            text = share_stylesheet(text, out) if job.shared_assets else inline_stylesheet(text)
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(html)
        except Exception as exc:  # noqa: BLE001
            error = {"cell": None, "ename": type(exc).__name__, "evalue": f"HTML export failed: {exc}"[:2000]}
    if not error and job.pdf:
        from auditkit.render.pdf import print_pdf

        try:
            print_pdf(html, out / f"{job.name}.pdf", job.pdf)
        except Exception as exc:  # noqa: BLE001
            error = {"cell": None, "ename": type(exc).__name__, "evalue": f"PDF print failed: {exc}"[:2000]}
    if not error and not job.keep_notebook:
        ipynb.unlink(missing_ok=True)
    return Outcome(job.name, job.subscription_id, not error, round(time.monotonic() - started, 3), error)


def _worker_main(tasks: Any, results: Any, cwd: str, parent: int, slot: int) -> None:
    init_worker(cwd, parent)
    try:
        while True:
            job = tasks.get()
            if job is None:
                break
            results.put(("start", slot, job.name, os.getpid()))
            results.put(("done", slot, job.name, run(job)))
    finally:
        _shutdown()
        shutil.rmtree(_state.get("ipc", "/nonexistent"), ignore_errors=True)


@dataclass
class _Pool:
    """The worker processes of one ``run_local``: their queues, and the report each one is running."""

    ctx: Any
    tasks: Any
    results: Any
    cwd: str
    procs: dict[int, Any] = field(default_factory=dict)
    current: dict[int, str | None] = field(default_factory=dict)
    restarts: int = 0


def _open_pool(jobs: Sequence[Job], n: int, cwd: str) -> _Pool:
    """Queue every job, then one stop sign per worker: a worker leaves when it takes one."""
    ctx = multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for job in jobs:
        tasks.put(job)
    for _ in range(n):
        tasks.put(None)
    return _Pool(ctx, tasks, results, cwd)


def _start(pool: _Pool, slot: int) -> None:
    """Start the worker of ``slot`` (a first one, or the replacement of one that died)."""
    p = pool.ctx.Process(target=_worker_main, args=(pool.tasks, pool.results, pool.cwd, os.getpid(), slot),
                         daemon=True)
    # A Ctrl-C reaches the whole process group, a worker still starting up too (before it can
    # ignore it, it would die printing a traceback). SIGINT is blocked while the worker is
    # spawned: the worker inherits the block and lifts it once it ignores SIGINT; here it is
    # lifted at once, so a Ctrl-C that came meanwhile is delivered, never lost.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        p.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    pool.procs[slot], pool.current[slot] = p, None


def _reap(pool: _Pool, jobs: Sequence[Job], outcomes: dict[str, Outcome],
          progress: Callable[[Outcome, int, int], None] | None) -> None:
    """Fail the report of each worker that died and replace the worker (up to one restart per job);
    with no worker left, fail every report not done."""
    by_name = {j.name: j for j in jobs}
    for slot, p in list(pool.procs.items()):
        if p.is_alive() or p.exitcode in (0, None):
            continue
        lost = pool.current.get(slot)
        if lost is not None and lost not in outcomes:
            outcomes[lost] = Outcome(lost, by_name[lost].subscription_id, False, 0.0, {
                "cell": None, "ename": "WorkerDied", "evalue": f"the render worker stopped (exit code {p.exitcode})"})
            if progress:
                progress(outcomes[lost], len(outcomes), len(jobs))
        if pool.restarts < len(jobs):
            pool.restarts += 1
            _start(pool, slot)  # a replacement takes the remaining jobs
        else:
            pool.procs.pop(slot)
    if not any(p.is_alive() for p in pool.procs.values()) and len(outcomes) < len(jobs):
        for job in jobs:
            if job.name not in outcomes:
                outcomes[job.name] = Outcome(job.name, job.subscription_id, False, 0.0, {
                    "cell": None, "ename": "WorkerDied", "evalue": "no render worker left"})


def _close_pool(pool: _Pool, grace: float) -> None:
    """Stop the workers (see ``stop``) and release the queues without waiting on their feeders."""
    stop(pool.procs.values(), grace=grace)
    for q in (pool.tasks, pool.results):
        q.cancel_join_thread()
        q.close()


def run_local(jobs: Sequence[Job], workers: int, cwd: str,
              progress: Callable[[Outcome, int, int], None] | None = None) -> list[Outcome]:
    """Run ``jobs`` on ``workers`` long-lived processes; return one Outcome per job.

    A worker that dies (out of memory, killed) fails its current report and is replaced. On
    KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it by the CLI) every worker is terminated,
    its kernel with it, and the interrupt goes on up.
    """
    n = max(1, min(workers, len(jobs)))
    pool = _open_pool(jobs, n, cwd)
    outcomes: dict[str, Outcome] = {}
    try:
        for slot in range(n):
            _start(pool, slot)
        while len(outcomes) < len(jobs):
            try:
                kind, slot, name, payload = pool.results.get(timeout=0.5)
            except queue.Empty:
                _reap(pool, jobs, outcomes, progress)
                continue
            if kind == "start":
                pool.current[slot] = name
            else:
                pool.current[slot] = None
                outcomes[name] = payload
                if progress:
                    progress(payload, len(outcomes), len(jobs))
    finally:
        # After the last report the workers leave on their own (shutting their kernels down);
        # interrupted, they are stopped at once.
        _close_pool(pool, grace=STOP_GRACE_SECONDS if len(outcomes) == len(jobs) else 0.0)
    return [outcomes[j.name] for j in jobs]


def stop(procs: Any, grace: float = 0.0) -> None:
    """Let workers leave within ``grace`` seconds, then terminate them (each kills its kernel first)
    and kill any that did not go."""
    procs = list(procs)
    deadline = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)
