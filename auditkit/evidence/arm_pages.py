"""The ARM pages of the layers beyond Resource Graph, labelled so that their records can be made
again from the raw evidence alone.

A page's label is ``layers.<layer>/<parent id>/page-<n>`` (n from 1): for ``admin-rule`` one page
of ``listNetworkManagerEffectiveSecurityAdminRules`` for the VNet ``<parent id>``
(``{"value": [...], "skipToken"}``), all its pages making one record; for ``firewall-dnat`` one page
of the rule collection groups of the firewall policy ``<parent id>`` (``{"value": [...], "nextLink"}``),
each item a record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PREFIX = "layers."
ADMIN_RULES = "admin-rule"
RULE_GROUPS = "firewall-dnat"
# The record types (as auditkit.engine.layer_records names them; evidence imports no later stage).
ADMIN_RULES_TYPE = "microsoft.network/virtualnetworks/effectivesecurityadminrules"
RULE_COLLECTION_GROUP_TYPE = "microsoft.network/firewallpolicies/rulecollectiongroups"


def page_label(layer: str, parent: str, n: int) -> str:
    """The label of page ``n`` (from 1) of ``layer`` for the resource ``parent`` (an ARM id)."""
    return f"{PREFIX}{layer}/{parent.lstrip('/')}/page-{n}"


def parse_label(label: str) -> tuple[str, str, int] | None:
    """(layer, parent id, page number) of a layer page's label; None for any other label."""
    if not label.startswith(PREFIX):
        return None
    layer, _, rest = label[len(PREFIX):].partition("/")
    parent, sep, n = rest.rpartition("/page-")
    if not sep or not n.isdigit():
        return None
    return layer, "/" + parent, int(n)


def subscription_of(resource_id: str) -> str:
    """The subscription segment of an ARM id ("" when it has none)."""
    parts = resource_id.split("/")
    low = [p.lower() for p in parts]
    i = low.index("subscriptions") + 1 if "subscriptions" in low else len(parts)
    return parts[i] if i < len(parts) else ""


def _items(doc: Any) -> list:
    items = doc.get("value") if isinstance(doc, dict) else None
    return items if isinstance(items, list) else []


def records_of_pages(documents: Iterable[tuple[str, Any]]) -> list[dict]:
    """The records the labelled layer pages among ``documents`` (label, parsed JSON) make, in order;
    documents with other labels are skipped."""
    out: list[dict] = []
    admin: dict | None = None
    for label, doc in documents:
        parsed = parse_label(label)
        if parsed is None:
            continue
        layer, parent, n = parsed
        if layer == ADMIN_RULES:
            if n == 1 or admin is None or admin["properties"]["virtualNetworkId"] != parent:
                admin = {"type": ADMIN_RULES_TYPE, "id": f"{parent}/effectiveSecurityAdminRules",
                         "subscriptionId": subscription_of(parent),
                         "properties": {"virtualNetworkId": parent, "value": []}}
                out.append(admin)
            admin["properties"]["value"].extend(_items(doc))
        elif layer == RULE_GROUPS:
            sub = subscription_of(parent)
            out.extend({"type": RULE_COLLECTION_GROUP_TYPE, "id": item.get("id"), "name": item.get("name"),
                        "subscriptionId": sub, "properties": item.get("properties")}
                       if isinstance(item, dict) else item for item in _items(doc))
    return out
