"""Offline import: a saved export (``az graph query``, REST, ARM) or records in memory, as a snapshot.

For auditors who do not grant the kit credentials: the export becomes a snapshot exactly like a
live collection's.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditkit.collect.collection import Collection, Rows
from auditkit.collect.store import RECORD_TYPES, write
from auditkit.engine.changes import CHANGE_TYPE
from auditkit.engine.policy_assignments import POLICY_TYPES
from auditkit.evidence.codec import pack_received
from auditkit.evidence.partial import partial_accepted
from auditkit.evidence.records import (
    paused_gc,
    read_bytes,
    read_json,
    records_from,
    require_nsgs,
    subscription_records_from,
    typed_records_from,
)
from auditkit.evidence.snapshot import parse_as_of


def snapshot_from_records(rows: Rows, *, snapshots_dir: str | Path = "snapshots", as_of: Any = None,
                          subscriptions: Sequence[str] = (), source: dict | None = None,
                          partial: dict | None = None) -> Path:
    """Write records already in memory (an export, the demo tenant) as a snapshot.

    The subscriptions collected are those in ``subscriptions``, those of ``rows.subscriptions``
    and those that own an NSG in ``rows.nsgs``. ``rows.topology`` (NICs, VNets, load balancers...)
    is the topology read with them; ``None`` means none was read (exposure is then unknown).
    ``partial`` (reason, records, total_records) marks a snapshot of an incomplete input.
    """
    ids = {s.lower() for s in subscriptions}
    ids |= {str(r.get("subscriptionId", "")).lower() for r in rows.subscriptions if r.get("subscriptionId")}
    for r in rows.nsgs:
        if isinstance(r, dict):
            sid = r.get("subscriptionId")
            if not isinstance(sid, str) or not sid:
                sid = _segment_after(str(r.get("id", "")), "subscriptions")
            if sid:
                ids.add(sid.lower())
    now = datetime.now(UTC).replace(microsecond=0)
    return write(Collection(
        rows=rows, as_of=parse_as_of(as_of, now), collected_at=now, requested=sorted(ids), collected=sorted(ids),
        failed=[], source={"source": source or {"kind": "records"}, "cloud": None, "endpoint": None},
        identity={"kind": "offline", "note": "records imported without credentials: the identity that exported "
                                             "them is not known to the kit"}, partial=partial), snapshots_dir)


def collect_from_file(path: str | Path, *, snapshots_dir: str | Path = "snapshots", as_of: Any = None,
                      subscriptions: Sequence[str] | None = None, allow_empty: bool = False,
                      allow_partial: bool = False) -> Path:
    """Turn a saved export (``az graph query``, REST, ARM) into a snapshot exactly like a live one.

    The subscriptions collected are those named in ``subscriptions``, those whose rows the export
    carries (``resourcecontainers``), and those that own an NSG in it. An export with no NSG at
    all is refused unless ``allow_empty``: it is not a clean tenant. Topology records in the same
    ``data`` list (told apart by ``type``) make the snapshot's topology; an export with none has
    no topology (exposure unknown), never an empty one. An export that says it is incomplete (one
    page of many, truncated) is refused unless ``allow_partial``; the snapshot then says it is partial.
    """
    with paused_gc():
        return _collect_from_file(Path(path), snapshots_dir, as_of, subscriptions, allow_empty, allow_partial)


def _collect_from_file(path: Path, snapshots_dir: str | Path, as_of: Any, subscriptions: Sequence[str] | None,
                       allow_empty: bool, allow_partial: bool) -> Path:
    raw = read_bytes(path)
    received = pack_received([("export", raw)])  # compressed now: the file's bytes need not outlive the parse
    sha256 = received[1][0]["sha256"]
    with partial_accepted() if allow_partial else nullcontext([]) as accepted:
        obj = read_json(path, raw)
    del raw
    records = records_from(obj, where=str(path))
    if not allow_empty:
        require_nsgs(records, obj, str(path))
    topology = typed_records_from(obj, RECORD_TYPES)
    changes = typed_records_from(obj, [CHANGE_TYPE])
    policy = typed_records_from(obj, POLICY_TYPES)
    rows = Rows(nsgs=records, subscriptions=subscription_records_from(obj), topology=topology or None,
                changes=changes or None, policy=policy or None, received=received)
    return snapshot_from_records(rows, snapshots_dir=snapshots_dir, as_of=as_of, subscriptions=subscriptions or (),
                                 source={"kind": "file", "name": path.name, "sha256": sha256},
                                 partial=accepted[0].as_dict() if accepted else None)


def _segment_after(resource_id: str, name: str) -> str:
    parts = resource_id.split("/")
    low = [p.lower() for p in parts]
    return parts[low.index(name) + 1] if name in low and low.index(name) + 1 < len(parts) else ""


