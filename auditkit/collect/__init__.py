"""Collect: read NSGs from Azure Resource Graph (``live``) or from a saved export (``offline``) and
leave them as an immutable snapshot (``store``). The first stage of the data flow.

Names are imported on first use: the command line reads ``collect.clouds`` for its options, and
must not pay for the Azure SDK on every start.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"Collection": "collection", "Rows": "collection", "collect": "live", "CollectRequest": "live", "DEFAULT_BATCH": "live", "MAX_BATCH": "live", "collect_from_file": "offline",
          "snapshot_from_records": "offline", "QUERIES": "queries", "CredentialError": "resourcegraph",
          "GraphError": "resourcegraph", "Pacing": "resourcegraph"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'auditkit.collect' has no attribute {name!r}")
    return getattr(importlib.import_module(f"auditkit.collect.{_WHERE[name]}"), name)
