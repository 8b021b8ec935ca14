"""Collect: read NSGs from Azure Resource Graph (``live``) or from a saved export (``offline``) and
leave them as an immutable snapshot (``store``). The first stage of the data flow."""

from auditkit.collect.live import DEFAULT_BATCH, MAX_BATCH, collect
from auditkit.collect.offline import collect_from_file, snapshot_from_records
from auditkit.collect.queries import QUERIES
from auditkit.collect.resourcegraph import CredentialError, GraphError, Pacing

__all__ = ["collect", "collect_from_file", "snapshot_from_records", "CredentialError", "GraphError", "Pacing",
           "QUERIES", "DEFAULT_BATCH", "MAX_BATCH"]
