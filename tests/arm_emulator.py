"""The ARM network endpoints the layers collector calls, served by the emulator's HTTPS server to the
official azure-mgmt-network client.

- ``POST .../virtualNetworks/{v}/listNetworkManagerEffectiveSecurityAdminRules?api-version=&$top=``
  (``$top`` 1-20), paged by ``skipToken`` in the request body and the response
  (``{"value": [...], "skipToken": "..."}``);
- ``GET .../firewallPolicies/{p}/ruleCollectionGroups?api-version=``, paged by ``nextLink``.

The data comes from the tenant's records of those types (the Network builder's), which Resource
Graph never returns. Faults: subscriptions the network API refuses (403 with ARM's envelope), 429s
with ``Retry-After: 1`` (or none), page sizes.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs

ADMIN_RULES_TYPE = "microsoft.network/virtualnetworks/effectivesecurityadminrules"
RULE_GROUPS_TYPE = "microsoft.network/firewallpolicies/rulecollectiongroups"
ARM_ONLY_TYPES = (ADMIN_RULES_TYPE, RULE_GROUPS_TYPE)
MAX_TOP = 20
_BASE = r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Network/"
ADMIN_PATH = re.compile(_BASE + r"virtualNetworks/([^/]+)/listNetworkManagerEffectiveSecurityAdminRules$", re.I)
GROUPS_PATH = re.compile(_BASE + r"firewallPolicies/([^/]+)/ruleCollectionGroups$", re.I)


def _token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    return int(json.loads(base64.b64decode(token))["offset"]) if token else 0


def _find(emu: Any, typ: str, rid: str) -> dict | None:
    return next((r for r in emu.tenant.resources if r.get("type", "").lower() == typ
                 and r.get("id", "").lower() == rid.lower()), None)


def handle(emu: Any, handler: Any, method: str, url: Any, raw: bytes) -> None:
    """Answer one ARM request (``url`` parsed) on ``handler``, as ARM would."""
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    body = json.loads(raw) if raw else None
    emu.arm_requests.append({"method": method, "path": url.path, "query": query, "body": body})

    def error(status: int, code: str, message: str, extra: dict | None = None) -> None:
        handler._send(status, {"error": {"code": code, "message": message}}, extra)

    admin = ADMIN_PATH.match(url.path) if method == "POST" else None
    groups = GROUPS_PATH.match(url.path) if method == "GET" else None
    if not (admin or groups):
        return error(404, "NotFound", f"no route {method} {url.path}")
    if not query.get("api-version"):
        return error(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required.")
    if emu.faults.reject_token or handler.headers.get("Authorization", "") != f"Bearer token-for:{emu.scope}":
        return error(401, "AuthenticationFailed", "Authentication failed.")
    sub = (admin or groups).group(1)
    if sub.lower() in {s.lower() for s in emu.faults.network_forbidden}:
        return error(403, "AuthorizationFailed", f"The client does not have authorization to perform action over "
                     f"scope '{url.path.rsplit('/', 1)[0]}' or the scope is invalid.")
    if emu.faults.network_throttle_next > 0:
        emu.faults.network_throttle_next -= 1
        after = emu.faults.network_retry_after
        return error(429, "TooManyRequests", "The request is being throttled.",
                     {"Retry-After": after} if after is not None else None)
    if admin:
        return _admin_rules(emu, handler, admin, query, body or {}, error)
    return _rule_groups(emu, handler, groups, query, url.path, error)


def _admin_rules(emu: Any, handler: Any, match: Any, query: dict, body: dict, error: Any) -> None:
    top = int(query.get("$top") or MAX_TOP)
    if not 1 <= top <= MAX_TOP:
        return error(400, "InvalidTop", f"$top must be between 1 and {MAX_TOP}.")
    sub, rg, name = match.groups()
    vnet_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}"
    vnet = _find(emu, "microsoft.network/virtualnetworks", vnet_id)
    if vnet is None:
        return error(404, "ResourceNotFound", f"The Resource '{vnet_id}' was not found.")
    record = next((r for r in emu.tenant.resources if r.get("type", "").lower() == ADMIN_RULES_TYPE
                   and r["properties"]["virtualNetworkId"].lower() == vnet["id"].lower()), None)
    items = record["properties"]["value"] if record else []
    offset, size = _offset(body.get("skipToken")), min(top, emu.faults.admin_page_size)
    out: dict = {"value": items[offset:offset + size]}
    if offset + size < len(items):
        out["skipToken"] = _token(offset + size)
    return handler._send(200, out)


def _rule_groups(emu: Any, handler: Any, match: Any, query: dict, path: str, error: Any) -> None:
    sub, rg, name = match.groups()
    policy_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/firewallPolicies/{name}"
    if _find(emu, "microsoft.network/firewallpolicies", policy_id) is None:
        return error(404, "ResourceNotFound", f"The Resource '{policy_id}' was not found.")
    prefix = f"{policy_id}/rulecollectiongroups/".lower()
    items = [{"id": r["id"], "name": r["name"], "type": "Microsoft.Network/FirewallPolicies/RuleCollectionGroups",
              "etag": f'W/"{i:08x}"', "properties": r["properties"]}
             for i, r in enumerate(emu.tenant.resources)
             if r.get("type", "").lower() == RULE_GROUPS_TYPE and r["id"].lower().startswith(prefix)]
    offset, size = _offset(query.get("$skipToken")), emu.faults.rule_groups_page_size
    out: dict = {"value": items[offset:offset + size]}
    if offset + size < len(items):
        out["nextLink"] = f"{emu.url.rstrip('/')}{path}?api-version={query['api-version']}&$skipToken={_token(offset + size)}"
    return handler._send(200, out)
