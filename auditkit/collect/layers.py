"""Read from ARM the layers Resource Graph does not hold, through the official azure-mgmt-network client.

Per VNet of the topology, its effective Virtual Network Manager security admin rules
(``listNetworkManagerEffectiveSecurityAdminRules``, 20 per page, looped on ``skipToken``: the SDK
does not page it), one record per VNet (an empty ``value`` when none apply); per firewall policy,
its rule collection groups (auto-paged by ``nextLink``), one record each. Records are made from the
raw pages (``evidence.arm_pages``), kept as evidence, never from re-serialised models.

Isolation, per layer and subscription: any lasting error (403 and the rest) marks that layer failed
for that subscription, its records dropped, and the run goes on. A 429 with ``Retry-After`` is
retried by azure-core's RetryPolicy (any method, honouring the header, ``retry_status`` times); a
POST 429 without it, which azure-core does not retry, is retried here under ``Pacing`` bounds.

What meta.json records (``meta["topology"]``): ``failed_layers`` maps each layer
(``admin-rule``, ``firewall-dnat``, ``app-gateway``) to the subscriptions (lower-case) whose layer
is not known: failed here, failed in the layer's Resource Graph queries, or not collected
(``--no-layers``: every collected subscription under ``admin-rule`` and ``firewall-dnat``).
``layers`` maps each layer to ``{"collected", "requests" (Resource Graph and ARM), "arm_requests",
"pages" (ARM pages kept), "records", "throttled_429", "failures": [{"subscription_id", "status",
"code", "message"}]}``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError

from auditkit.collect.resourcegraph import Pacing, _error_parts
from auditkit.engine.layer_records import (
    ADMIN_RULES_TYPE,
    APP_GATEWAY_TYPE,
    FIREWALL_POLICY_TYPE,
    FIREWALL_TYPE,
    IP_GROUP_TYPE,
    RULE_COLLECTION_GROUP_TYPE,
)
from auditkit.evidence.arm_pages import (
    ADMIN_RULES,
    RULE_GROUPS,
    page_label,
    records_of_pages,
    subscription_of,
)

APP_GATEWAY = "app-gateway"
ARM_LAYERS = (ADMIN_RULES, RULE_GROUPS)
ADMIN_PAGE_SIZE = 20  # the service's largest $top
VNET_TYPE = "microsoft.network/virtualnetworks"


class LayerFailed(Exception):
    """A lasting ARM error for one layer of one subscription: status, code, message."""

    def __init__(self, status: int | None, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass
class _Recorder:
    """The ``raw_response_hook`` of a layer: counts every response and keeps each 200's body."""

    responses: int = 0
    throttled: int = 0
    bodies: list = field(default_factory=list)

    def __call__(self, pipeline_response: Any) -> None:
        http = pipeline_response.http_response
        self.responses += 1
        if http.status_code == 429:
            self.throttled += 1
        elif http.status_code == 200:
            self.bodies.append(bytes(http.body() or b""))


@dataclass
class LayerRun:
    """What the ARM layers gave: records, raw pages (label, body), failures and counts per layer."""

    records: list = field(default_factory=list)
    received: list = field(default_factory=list)
    failed: dict = field(default_factory=lambda: {layer: {} for layer in ARM_LAYERS})
    recorders: dict = field(default_factory=lambda: {layer: _Recorder() for layer in ARM_LAYERS})
    retries: dict = field(default_factory=lambda: {layer: 0 for layer in ARM_LAYERS})
    pages: dict = field(default_factory=lambda: {layer: 0 for layer in ARM_LAYERS})


def _name_parts(resource_id: str, kind: str) -> tuple[str, str]:
    """(resource group, name) of an ARM id whose resource type segment is ``kind``."""
    parts = resource_id.split("/")
    low = [p.lower() for p in parts]
    try:
        return parts[low.index("resourcegroups") + 1], parts[low.index(kind.lower()) + 1]
    except (ValueError, IndexError):
        raise LayerFailed(None, "InvalidResourceId", f"{resource_id!r} is not a {kind} id") from None


def _call(run: LayerRun, layer: str, pacing: Pacing, send: Callable[[], Any], post: bool) -> Any:
    """``send()``; a POST 429 without Retry-After retried under bounds; other errors as LayerFailed."""
    attempt = 0
    while True:
        try:
            return send()
        except HttpResponseError as exc:
            code, message = _error_parts(exc)
            headers = exc.response.headers if exc.response is not None else {}
            if exc.status_code == 429 and post and not headers.get("Retry-After") and \
                    attempt < pacing.max_429_retries:
                attempt += 1
                run.retries[layer] += 1
                pacing.sleep(min(pacing.backoff_cap, pacing.backoff_initial * 2 ** (attempt - 1)))
                continue
            raise LayerFailed(exc.status_code, code, message) from None
        except ServiceRequestError as exc:
            raise LayerFailed(None, "ServiceRequestError", str(exc).splitlines()[0]) from None


def admin_rule_pages(client: Any, run: LayerRun, vnet_id: str, pacing: Pacing) -> list[tuple[str, bytes, Any]]:
    """Every page of the VNet's effective security admin rules: (label, body, parsed)."""
    from azure.mgmt.network.models import QueryRequestOptions

    rg, name = _name_parts(vnet_id, "virtualNetworks")
    recorder = run.recorders[ADMIN_RULES]
    pages: list[tuple[str, bytes, Any]] = []
    token: str | None = None
    seen: set[str] = set()
    while True:
        send = partial(client.list_network_manager_effective_security_admin_rules, rg, name,
                       QueryRequestOptions(skip_token=token), top=ADMIN_PAGE_SIZE, raw_response_hook=recorder,
                       cls=lambda pipeline_response, _deserialized, _headers: pipeline_response.http_response.json())
        parsed = _call(run, ADMIN_RULES, pacing, send, post=True)
        pages.append((page_label(ADMIN_RULES, vnet_id, len(pages) + 1), recorder.bodies[-1], parsed))
        token = parsed.get("skipToken") if isinstance(parsed, dict) else None
        if not token:
            return pages
        if token in seen:
            raise LayerFailed(200, "RepeatedSkipToken", f"{vnet_id}: the service returned the same skipToken twice")
        seen.add(token)


def rule_group_pages(client: Any, run: LayerRun, policy_id: str, pacing: Pacing) -> list[tuple[str, bytes, Any]]:
    """Every page of the firewall policy's rule collection groups: (label, body, parsed)."""
    rg, name = _name_parts(policy_id, "firewallPolicies")
    recorder = run.recorders[RULE_GROUPS]
    pages: list[tuple[str, bytes, Any]] = []
    links: set[str] = set()

    def walk() -> None:
        for _ in client.firewall_policy_rule_collection_groups.list(rg, name, raw_response_hook=recorder).by_page():
            body = recorder.bodies[-1]
            parsed = json.loads(body)
            pages.append((page_label(RULE_GROUPS, policy_id, len(pages) + 1), body, parsed))
            link = parsed.get("nextLink") if isinstance(parsed, dict) else None
            if link and link in links:
                raise LayerFailed(200, "RepeatedNextLink", f"{policy_id}: the service returned the same nextLink twice")
            links.add(link or "")

    _call(run, RULE_GROUPS, pacing, walk, post=False)
    return pages


def _parents(rows: Iterable[Any], typ: str) -> dict[str, list[str]]:
    """The ids of the rows of ``typ`` by subscription (lower-case), each once, in order."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if isinstance(r, dict) and str(r.get("type", "")).lower() == typ and isinstance(r.get("id"), str):
            sub = str(r.get("subscriptionId") or subscription_of(r["id"])).lower()
            if r["id"] not in out[sub]:
                out[sub].append(r["id"])
    return out


def _layer(run: LayerRun, layer: str, sub: str, parents: list[str],
           fetch: Callable[[str], list[tuple[str, bytes, Any]]]) -> None:
    """One layer of one subscription: every parent's pages, or none of them and a failure."""
    pages: list[tuple[str, bytes, Any]] = []
    try:
        for parent in parents:
            pages.extend(fetch(parent))
    except LayerFailed as exc:
        run.failed[layer][sub] = {"status": exc.status, "code": exc.code, "message": " ".join(exc.message.split())}
        return
    run.received.extend((label, body) for label, body, _ in pages)
    run.records.extend(records_of_pages((label, parsed) for label, _, parsed in pages))
    run.pages[layer] += len(pages)


def collect_layers(credential: Any, topology_rows: list, *, base_url: str, cloud_setting: Any, scope: str,
                   pacing: Pacing | None = None, notify: Callable[..., None] | None = None,
                   **client_kwargs: Any) -> LayerRun:
    """The ARM layers of every VNet and firewall policy in ``topology_rows``, one client per subscription.

    ``client_kwargs`` go to ``NetworkManagementClient`` unchanged (e.g. ``connection_verify``).
    """
    from azure.mgmt.network import NetworkManagementClient

    pacing = pacing or Pacing()
    run = LayerRun()
    vnets, policies = _parents(topology_rows, VNET_TYPE), _parents(topology_rows, FIREWALL_POLICY_TYPE)
    for sub in sorted(set(vnets) | set(policies)):
        before = len(run.records)
        client = NetworkManagementClient(credential, sub, base_url=base_url, cloud_setting=cloud_setting,
                                         credential_scopes=[scope], **client_kwargs)
        with client:
            _layer(run, ADMIN_RULES, sub, vnets.get(sub, []), partial(admin_rule_pages, client, run, pacing=pacing))
            _layer(run, RULE_GROUPS, sub, policies.get(sub, []), partial(rule_group_pages, client, run, pacing=pacing))
        if notify:
            notify("page", rows=len(run.records) - before)
    return run


def layer_summary(run: LayerRun | None, rg_failed: dict[str, set], rg_requests: dict[str, int],
                  subscriptions: list[str], records: list) -> tuple[dict[str, list[str]], dict[str, dict]]:
    """(failed_layers, per-layer counts) for meta.json; ``run`` None when the ARM layers were not collected.

    ``rg_failed`` and ``rg_requests``: per layer, the subscriptions its Resource Graph queries failed
    for and the requests they took; ``subscriptions``: those collected.
    """
    failed: dict[str, list[str]] = {}
    counts: dict[str, dict] = {}
    for layer in (*ARM_LAYERS, APP_GATEWAY):
        bad = {s.lower() for s in rg_failed.get(layer, set())}
        arm = run is not None and layer in ARM_LAYERS
        details: dict = run.failed[layer] if arm else {}
        bad |= set(details)
        if run is None and layer in ARM_LAYERS:
            bad |= {s.lower() for s in subscriptions}  # not collected: unknown everywhere
        failed[layer] = sorted(bad)
        arm_requests = run.recorders[layer].responses if arm else 0
        counts[layer] = {"collected": run is not None or layer not in ARM_LAYERS,
                         "requests": arm_requests + rg_requests.get(layer, 0),
                         "arm_requests": arm_requests, "pages": run.pages[layer] if arm else 0,
                         "records": sum(1 for r in records if _layer_of(r) == layer),
                         "throttled_429": run.recorders[layer].throttled if arm else 0,
                         "failures": [{"subscription_id": s, **details[s]} for s in sorted(details)]}
    return failed, counts


def _layer_of(record: Any) -> str | None:
    """The layer a topology record belongs to, or None."""
    typ = str(record.get("type", "")).lower() if isinstance(record, dict) else ""
    if typ == ADMIN_RULES_TYPE:
        return ADMIN_RULES
    if typ in (FIREWALL_TYPE, FIREWALL_POLICY_TYPE, RULE_COLLECTION_GROUP_TYPE, IP_GROUP_TYPE):
        return RULE_GROUPS
    return APP_GATEWAY if typ == APP_GATEWAY_TYPE else None
