"""The same per-subscription report jobs on a Dask distributed cluster (``render --cluster ADDRESS``).

Each Dask worker keeps one long-lived kernel, started by a worker plugin when the worker joins
and shut down when it leaves, and runs one report at a time (``workers.run``, the function the
local workers run). A report whose worker died (out of memory, node lost) is submitted again up
to ``RETRIES`` times; every report's attempts are returned with its outcome, and one that never
ran is a failure of that subscription, never a missing line. Snapshots and the output folder
must be on storage that every worker sees: a shared filesystem at the same path, or a storage
URL (``abfs://``), which each worker copies once (``evidence.storage``). Reports bound for a
storage URL come back to the client in the Outcome (``return_files``), which publishes the period.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError
from auditkit.render.workers import Job, Outcome, run

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the cluster extra is not installed: ``connect`` says so, before any use
    WorkerPlugin = object

CLUSTER_EXTRA = "--cluster (render, monthly) needs the cluster extra: pip install 'auditkit[cluster]'"

RETRIES = 2
PLUGIN = "auditkit-kernel"
CONNECT_TIMEOUT = "30s"

_one_at_a_time = threading.Lock()  # a worker with several threads still has one kernel


def _usable(cwd: str) -> str:
    """The kernels' working folder: the client's, where this worker sees it too, else a temporary one."""
    return cwd if os.path.isdir(cwd) else tempfile.gettempdir()


def run_one(job: Job, cwd: str) -> Outcome:
    """One report on a Dask worker: through the worker's kernel, one report at a time."""
    from auditkit.render import workers

    with _one_at_a_time:
        workers._state.setdefault("cwd", _usable(cwd))
        if not job.return_files:
            return run(job)
        folder = Path(tempfile.mkdtemp(prefix="auditkit-report-"))
        try:
            outcome = run(replace(job, out=str(folder)))
            files = {p.relative_to(folder).as_posix(): p.read_bytes()
                     for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}
            return replace(outcome, files=files)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class KernelPlugin(WorkerPlugin):
    """Start the worker's kernel when it joins (so the first report does not pay for it) and shut
    it down when it leaves."""

    name = PLUGIN

    def __init__(self, cwd: str):
        self.cwd = cwd

    def setup(self, worker: Any) -> None:
        import logging

        from auditkit.render import workers

        logging.getLogger("papermill").setLevel(logging.WARNING)
        workers._state["cwd"] = _usable(self.cwd)
        with _one_at_a_time:
            workers._state["km"] = workers._new_kernel()
            workers._state["dirty"] = False
            workers._state["uses"] = 0

    def teardown(self, worker: Any) -> None:
        from auditkit.render import workers

        workers._shutdown()


def connect(address: str) -> Any:
    """A client of the Dask scheduler at ``address`` (``tcp://host:8786``), or a one-line error."""
    try:
        from distributed import Client
    except ImportError:
        raise AuditkitError(CLUSTER_EXTRA) from None

    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except ValueError as exc:
        raise AuditkitError(f"cluster {address}: not a Dask scheduler address (tcp://HOST:PORT): "
                            f"{str(exc).splitlines()[0]}") from None
    except (OSError, TimeoutError) as exc:
        raise AuditkitError(f"cluster {address}: cannot connect: {str(exc).splitlines()[0]}") from None


def run_cluster(jobs: Sequence[Job], client: Any, cwd: str,
                progress: Callable[[Outcome, int, int], None] | None = None) -> tuple[list[Outcome], dict]:
    """Run ``jobs`` through ``client`` (see ``connect``); one Outcome per job, and the attempts each took.

    Interrupted (Ctrl-C), every report not yet finished is cancelled and the interrupt goes on up.
    """
    from distributed import as_completed

    outcomes: dict[str, Outcome] = {}
    attempts: dict[str, int] = {j.name: 0 for j in jobs}
    by_key: dict[str, Job] = {}
    client.register_plugin(KernelPlugin(cwd), name=PLUGIN)

    def submit(job: Job) -> Any:
        attempts[job.name] += 1
        future = client.submit(run_one, job, cwd, key=f"auditkit-report-{job.name}-{attempts[job.name]}-"
                               f"{id(jobs):x}", pure=False, retries=0)
        by_key[future.key] = job
        return future

    pending = as_completed([submit(j) for j in jobs], loop=client.loop)
    try:
        for future in pending:
            job = by_key[future.key]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker (KilledWorker) or a task that could not run
                if attempts[job.name] <= RETRIES:
                    pending.add(submit(job))
                    continue
                outcome = Outcome(job.name, job.subscription_id, False, 0.0, {
                    "cell": None, "ename": type(exc).__name__,
                    "evalue": f"the report did not run on the cluster after {attempts[job.name]} attempts: "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"[:2000]})
            outcomes[job.name] = outcome
            if progress:
                progress(outcome, len(outcomes), len(jobs))
    except BaseException:
        client.cancel(list(pending.futures))
        raise
    return [outcomes[j.name] for j in jobs], attempts
