"""What a collection produced, live or offline: the rows it read and how the run went.

``store.write`` turns a ``Collection`` into a snapshot; ``live.collect`` and
``offline.snapshot_from_records`` build one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditkit.collect.resourcegraph import Stats

# The documents exactly as they arrived: labelled response pages or an export file, or already
# packed by ``evidence.codec.pack_received``.
Received = list[tuple[str, bytes]] | tuple[bytes, list[dict]]


@dataclass(frozen=True)
class Rows:
    """The records read, by kind. ``None`` means that kind was not collected (reports then say
    "unknown-topology" or "not collected"), never that there were none."""

    nsgs: Sequence[Any]
    subscriptions: Sequence[dict] = ()
    topology: list | None = None  # NICs, VNets, load balancers...
    changes: list | None = None  # Resource Graph resourcechanges
    policy: list | None = None  # Azure Policy assignments and compliance states
    # When given, the raw evidence: the rows are then not written a second time.
    received: Received | None = None


@dataclass(frozen=True)
class Collection:
    """Everything one snapshot records: the rows, when, what was asked, what could not be read."""

    rows: Rows
    as_of: datetime
    collected_at: datetime
    requested: Any  # the subscriptions asked for, or {"all": True, "management_groups": [...]}
    collected: list[str]
    failed: list[dict]  # subscription_id, status, code, message
    source: dict  # merged into meta.json: source, cloud, endpoint...
    stats: Stats | None = None
    identity: dict | None = None
    topology_failed: Sequence[str] = ()  # subscriptions whose topology queries failed
    topology_queries: dict | None = None
    changes_failed: Sequence[str] = ()
    # The layers beyond NSGs (auditkit.collect.layers): layer -> subscriptions (lower-case) whose
    # layer is not known, and per-layer counts (requests, pages, records, failures); None offline.
    failed_layers: dict[str, list[str]] = field(default_factory=dict)
    layers: dict | None = None
    # Set when the input said it is incomplete and the user accepted it (--allow-partial):
    # reason, records, total_records. Every report of the snapshot then says so.
    partial: dict | None = None
