"""Live collection from Azure Resource Graph, through the official SDK.

One query per resource type, joined client-side in pandas; never ``mv-expand`` rules server-side
(Resource Graph caps it at 128 rows per record by default, and an NSG holds up to 1,000 rules).
Subscriptions go in batches (at most 1,000 per request, 300 by default); a 403 on a batch is
split until the unreadable subscriptions are isolated, and the rest is collected.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditkit.collect.clouds import cloud as cloud_of
from auditkit.collect.collection import Collection, Rows
from auditkit.collect.layers import collect_layers, layer_summary
from auditkit.collect.queries import (
    CHANGES_QUERY,
    GUARDRAILS_QUERY,
    LAYER_QUERIES,
    NSG_QUERY,
    SUBSCRIPTIONS_QUERY,
    TOPOLOGY_QUERIES,
)
from auditkit.collect.resourcegraph import Forbidden, GraphError, Pacing, Querier, Stats
from auditkit.collect.store import write
from auditkit.errors import AuditkitError
from auditkit.evidence.records import EmptyInput
from auditkit.evidence.snapshot import parse_as_of
from auditkit.evidence.storage import is_url, listing

MAX_BATCH = 1000
DEFAULT_BATCH = 300

Progress = Callable[..., None]


def _batches(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _describe(credential: Any, cloud: str) -> str:
    tenant = getattr(credential, "_tenant_id", None) or os.environ.get("AZURE_TENANT_ID") or "the credential's default"
    return f"for cloud {cloud!r}, tenant {tenant}"


@dataclass(frozen=True)
class CollectRequest:
    """What a live collection reads, from where, at what pace, and where its snapshot goes.

    ``subscriptions=None`` means every subscription the identity can read (discovered from
    ``resourcecontainers``, within ``management_groups`` when given). ``cloud`` sets both the ARM
    endpoint and the token scope; ``endpoint`` overrides only the URL. With ``topology`` (the
    default) the resources that decide reachability are collected too, one query per type, and
    with ``layers`` (the default) the layers ARM holds (see ``collect.layers``).
    """

    subscriptions: Sequence[str] | None = None
    management_groups: Sequence[str] | None = None
    cloud: str = "public"
    endpoint: str | None = None
    snapshots_dir: str | Path = "snapshots"
    as_of: Any = None
    batch_size: int = DEFAULT_BATCH
    pacing: Pacing | None = None
    progress: Progress | None = None
    allow_empty: bool = False  # an empty scope is a clean tenant only when the caller says so
    allow_partial: bool = False  # a scope the service cut short is collected only when the caller says so
    topology: bool = True
    layers: bool = True  # with topology: the admin rules and firewall policy rule groups from ARM
    changes: bool = True
    guardrails: bool = True


def collect(credential: Any, request: CollectRequest | None = None, **client_kwargs: Any) -> Path:
    """Collect every readable NSG in scope into a new snapshot and return its directory.

    ``client_kwargs`` go to ``ResourceGraphClient`` and ``NetworkManagementClient`` unchanged (e.g.
    ``connection_verify``).
    Subscriptions that fail are recorded in the snapshot's ``meta.json``; the rest is collected; a
    subscription whose topology cannot be read keeps its NSGs and gets "unknown-topology".
    """
    r = request or CollectRequest()
    subscriptions, management_groups, cloud, endpoint = r.subscriptions, r.management_groups, r.cloud, r.endpoint
    snapshots_dir, as_of, batch_size, pacing, progress = r.snapshots_dir, r.as_of, r.batch_size, r.pacing, r.progress
    allow_empty, topology, changes, guardrails = r.allow_empty, r.topology, r.changes, r.guardrails
    from azure.mgmt.resourcegraph import ResourceGraphClient

    if not 1 <= batch_size <= MAX_BATCH:
        raise AuditkitError(f"batch size {batch_size} is outside 1-{MAX_BATCH} (the service rejects more than "
                            f"{MAX_BATCH} subscriptions per request)")
    if is_url(snapshots_dir):
        listing(str(snapshots_dir))  # storage that cannot be reached stops the run before the collection
    info = cloud_of(cloud)
    collected_at = datetime.now(UTC).replace(microsecond=0)
    as_of_dt = parse_as_of(as_of, collected_at)
    stats = Stats()
    notify = progress or (lambda *a, **k: None)
    client = ResourceGraphClient(credential, base_url=endpoint or info.resource_manager, cloud_setting=info.setting,
                                 credential_scopes=[info.scope], **client_kwargs)
    querier = Querier(client, stats, pacing, on_page=lambda n: notify("page", rows=n),
                      describe_credential=_describe(credential, info.name))
    identity = _identity(credential, info.scope)
    with client:
        # Subscriptions: discovered, or the metadata of those requested.
        sub_rows: list[dict] = []
        failed: dict[str, dict] = {}
        if subscriptions is None:
            sub_rows = querier.rows(SUBSCRIPTIONS_QUERY, management_groups=list(management_groups or []) or None,
                                    label="subscriptions")
            stats.minimum_requests += max(1, math.ceil(len(sub_rows) / 1000))
            wanted = sorted({str(r.get("subscriptionId", "")).lower() for r in sub_rows if r.get("subscriptionId")})
            requested: Any = {"all": True, "management_groups": list(management_groups or [])}
        else:
            wanted = sorted({s.strip().lower() for s in subscriptions if s.strip()})
            requested = wanted
            rows, meta_failed, minimum = _by_batches(querier, SUBSCRIPTIONS_QUERY, wanted, batch_size, notify,
                                                   "subscriptions")
            sub_rows, failed = rows, meta_failed
            stats.minimum_requests += minimum
        partial = _subscription_limit(stats, len(wanted), r.allow_partial, management_groups) \
            if subscriptions is None else None
        notify("subscriptions", total=len(wanted))
        if not wanted and not allow_empty:
            scope = f"management group(s) {', '.join(management_groups)}" if management_groups else "the tenant"
            raise EmptyInput(f"Resource Graph shows the identity no subscription in {scope} ({_describe(credential, info.name)}): "
                             "nothing to audit is not a clean tenant; check its Reader role, or say so with --allow-empty")

        readable = [s for s in wanted if s not in failed]
        nsg_rows, nsg_failed, minimum = _by_batches(querier, NSG_QUERY, readable, batch_size, notify, "nsgs")
        stats.minimum_requests += minimum
        failed.update(nsg_failed)
        topo_rows: list | None = None
        topo_failed: set[str] = set()
        topo_queries: dict = {}
        failed_layers: dict = {}
        layer_counts: dict | None = None
        if topology:
            readable = [s for s in readable if s not in failed]
            topo_rows, topo_failed, topo_queries = _topology(querier, stats, readable, batch_size, notify)
            failed_layers, layer_counts = _layers(credential, r, info, querier, topo_rows, topo_queries, readable,
                                                  client_kwargs)
        change_rows: list | None = None
        changes_failed: dict = {}
        if changes:
            change_rows, changes_failed, minimum = _by_batches(querier, CHANGES_QUERY,
                                                               [s for s in readable if s not in failed],
                                                               batch_size, notify, "changes")
            stats.minimum_requests += minimum
        policy_rows: list | None = None
        if guardrails:
            policy_rows, _, minimum = _by_batches(querier, GUARDRAILS_QUERY, [s for s in readable if s not in failed],
                                                  batch_size, notify, "guardrails")
            stats.minimum_requests += minimum

    rows = Rows(nsgs=nsg_rows, subscriptions=sub_rows, topology=topo_rows, changes=change_rows, policy=policy_rows,
                received=querier.received)
    return write(Collection(
        rows=rows, as_of=as_of_dt, collected_at=collected_at, requested=requested,
        collected=[s for s in wanted if s not in failed],
        failed=[{"subscription_id": s, **failed[s]} for s in sorted(failed)],
        source={"source": {"kind": "resource-graph", "api_version": "2021-03-01"}, "cloud": info.name,
                "endpoint": endpoint or info.resource_manager, "token_scope": info.scope},
        stats=stats, identity=identity, topology_failed=sorted(topo_failed), topology_queries=topo_queries,
        changes_failed=sorted(changes_failed), partial=partial, failed_layers=failed_layers,
        layers=layer_counts), snapshots_dir)


def _topology(querier: Querier, stats: Stats, readable: list[str], batch_size: int,
              notify: Progress) -> tuple[list, set[str], dict]:
    """The rows of every topology query, the subscriptions one failed for, and each query's counts."""
    rows_all: list = []
    failed: set[str] = set()
    queries: dict = {}
    for name, query in TOPOLOGY_QUERIES.items():
        before = stats.requests
        rows, bad, minimum = _by_batches(querier, query, readable, batch_size, notify, "topology")
        stats.minimum_requests += minimum
        rows_all.extend(rows)
        failed.update(bad)
        queries[name] = {"rows": len(rows), "requests": stats.requests - before, "failed_subscriptions": sorted(bad)}
    return rows_all, failed, queries


def _layers(credential: Any, r: CollectRequest, info: Any, querier: Querier, topo_rows: list, topo_queries: dict,
            readable: list[str], client_kwargs: dict) -> tuple[dict, dict]:
    """Add the ARM layers' records and raw pages to the topology's (when ``r.layers``);
    returns (failed_layers, per-layer counts)."""
    layer_run = None
    if r.layers:
        layer_run = collect_layers(credential, topo_rows, base_url=r.endpoint or info.resource_manager,
                                   cloud_setting=info.setting, scope=info.scope, pacing=r.pacing,
                                   notify=r.progress, **client_kwargs)
        topo_rows.extend(layer_run.records)
        querier.received.extend(layer_run.received)
    rg_failed = {k: {s for q in v for s in topo_queries[q]["failed_subscriptions"]} for k, v in LAYER_QUERIES.items()}
    rg_requests = {k: sum(topo_queries[q]["requests"] for q in v) for k, v in LAYER_QUERIES.items()}
    return layer_summary(layer_run, rg_failed, rg_requests, readable, topo_rows)


class SubscriptionLimitHit(AuditkitError):
    """The service used only the first 10,000 subscriptions of a tenant or management group."""


def _subscription_limit(stats: Stats, found: int, allow_partial: bool, management_groups: Sequence[str] | None
                        ) -> dict | None:
    """The partial mark of a discovery cut at 10,000 subscriptions; an error unless ``allow_partial``."""
    # Above 10,000 subscriptions at tenant or management-group scope Resource Graph reads only the
    # first 10,000 and says so with the header x-ms-tenant-subscription-limit-hit: true.
    if not stats.subscription_limit_hit:
        return None
    scope = f"management group(s) {', '.join(management_groups)}" if management_groups else "the tenant"
    reason = (f"Resource Graph used only the first 10,000 subscriptions of {scope} "
              "(x-ms-tenant-subscription-limit-hit: true)")
    if not allow_partial:
        raise SubscriptionLimitHit(f"{scope}: {found} subscriptions found, more exist ({reason}); collect by "
                                   "--management-group or --subscription in parts under 10,000, or pass "
                                   "--allow-partial (monthly: --allow-partial-input)")
    return {"reason": reason, "records": found, "total_records": None}


def _identity(credential: Any, scope: str) -> dict:
    """The collecting identity, from the claims of its token for ``scope`` (recorded in meta.json)."""
    from auditkit.collect.store import token_identity

    try:
        token = credential.get_token(scope).token
    except Exception as exc:  # noqa: BLE001 - the collection itself reports credential failures
        return {"kind": "token", "note": f"no token: {type(exc).__name__}"}
    return token_identity(token)


def _by_batches(querier: Querier, query: str, subscriptions: list[str], size: int,
                notify: Progress, label: str) -> tuple[list[dict], dict[str, dict], int]:
    """Rows of ``query`` over every subscription; failures per subscription; the minimum requests.

    A 403 splits its batch in halves until each unreadable subscription stands alone; any other
    lasting error marks the whole batch failed with its code.
    """
    rows: list[dict] = []
    failed: dict[str, dict] = {}
    minimum = 0
    queue = deque(_batches(subscriptions, size))
    while queue:
        batch = queue.popleft()
        try:
            got = querier.rows(query, subscriptions=batch, label=label)
        except Forbidden as exc:
            if len(batch) == 1:
                failed[batch[0]] = {"status": 403, "code": exc.code, "message": exc.message}
                notify("batch", done=1, failed=1)
            else:
                half = len(batch) // 2
                queue.appendleft(batch[half:])
                queue.appendleft(batch[:half])
            continue
        except GraphError as exc:
            for s in batch:
                failed[s] = {"status": exc.status, "code": exc.code, "message": exc.message}
            notify("batch", done=len(batch), failed=len(batch))
            continue
        rows.extend(got)
        minimum += max(1, math.ceil(len(got) / 1000))
        notify("batch", done=len(batch), failed=0)
    return rows, failed, minimum
