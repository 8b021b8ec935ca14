"""auditkit: find Azure NSG rules that expose critical ports to the internet, and keep the evidence.

The package's folders are the stages of the data flow: ``collect`` -> ``evidence`` -> ``engine``
-> ``history`` and ``flows`` -> ``present`` -> ``render``. The public API:

- ``auditkit.scan(path_or_records, ports=...)``: findings and input errors of an export or snapshot;
- ``auditkit.kpis(snapshots_dir, ...)``: the KPIs over a folder of snapshots;
- ``auditkit.collect.collect(credential, ...)`` and ``auditkit.collect.collect_from_file(path, ...)``;
- ``auditkit.flows.read_paths(paths)`` and ``auditkit.flows.evidence_for(findings, flows, settings)``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

__all__ = ["__version__", "DEFAULT_PORTS", "ScanResult", "scan", "kpis"]

_LAZY = {"scan": "auditkit.engine.scan", "ScanResult": "auditkit.engine.scan", "DEFAULT_PORTS": "auditkit.engine.scan",
         "kpis": "auditkit.history.kpis"}


def __getattr__(name: str) -> Any:
    # Imported on first use: `auditkit --version` and `auditkit init` need no pandas.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'auditkit' has no attribute {name!r}")
