"""The layers Azure evaluates beside NSGs, read from their records into flat tables.

Virtual Network Manager security admin rules (the effective rules of one VNet, as
``listNetworkManagerEffectiveSecurityAdminRules`` returns them), Azure Firewall DNAT rules
(classic ``natRuleCollections`` and firewall policy rule collection groups, with IP groups) and
Application Gateway TCP/TLS listeners. A malformed record or rule is reported (id, field,
message) and the rest is read; what a layer could not read makes its verdicts unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditkit.evidence.records import properties

ADMIN_RULES_TYPE = "microsoft.network/virtualnetworks/effectivesecurityadminrules"
FIREWALL_TYPE = "microsoft.network/azurefirewalls"
FIREWALL_POLICY_TYPE = "microsoft.network/firewallpolicies"
RULE_COLLECTION_GROUP_TYPE = "microsoft.network/firewallpolicies/rulecollectiongroups"
IP_GROUP_TYPE = "microsoft.network/ipgroups"
APP_GATEWAY_TYPE = "microsoft.network/applicationgateways"
LAYER_TYPES = (ADMIN_RULES_TYPE, FIREWALL_TYPE, FIREWALL_POLICY_TYPE, RULE_COLLECTION_GROUP_TYPE, IP_GROUP_TYPE,
               APP_GATEWAY_TYPE)
# The layers a verdict can rest on, as findings name them (``layer``) and meta.json records
# what could not be read (``topology.failed_layers``: layer -> subscriptions).
LAYERS = ("nsg", "admin-rule", "firewall-dnat", "app-gateway")

LAYER_COLUMNS = {
    "admin_vnets": ["subscription_id", "vnet_id", "record_id", "rules"],
    "admin_rules": ["subscription_id", "vnet_id", "rule_id", "rule_name", "configuration", "collection", "access",
                    "priority", "direction", "protocol", "sources", "source_groups", "destinations",
                    "destination_groups", "source_ports", "destination_ports"],
    "firewalls": ["subscription_id", "firewall_id", "firewall_name", "policy_id", "private_ip", "subnet_id",
                  "public_ip_ids", "public_addresses"],
    "firewall_policies": ["policy_id", "base_policy_id"],
    "dnat_rules": ["subscription_id", "holder_id", "owner_id", "collection", "rule_name", "sources", "ip_groups",
                   "protocols", "destinations", "destination_ports", "translated_address", "translated_port"],
    "ip_groups": ["ip_group_id", "addresses"],
    "app_listeners": ["subscription_id", "gateway_id", "gateway_name", "listener_name", "protocol", "public_ip_id",
                      "frontend_port", "backend_addresses", "backend_port", "subnet_id"],
}


def _id(value: Any) -> str:
    """The lower-cased ``id`` of a reference object (``{"id": ...}``) or id string; "" when absent."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value.lower().rstrip("/") if isinstance(value, str) else ""


def _err(rid: str, where: str, message: str) -> dict:
    """A record error: the resource, the field, what is wrong (the rules table's error shape)."""
    return {"nsg_id": rid, "rule_name": "", "field": where, "message": message}


def _texts(value: Any) -> tuple[str, ...]:
    """A list of text (or numbers) as a tuple of text; a single value as one."""
    if value is None:
        return ()
    if isinstance(value, str | int) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str | int) and not isinstance(v, bool) and str(v) != "")
    return ()


def _objects(obj: Mapping, key: str, rid: str, where: str, errors: list) -> list[Mapping]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(_err(rid, where, f"is {type(value).__name__}, expected a list"))
        return []
    out = []
    for i, v in enumerate(value):
        if isinstance(v, Mapping):
            out.append(v)
        else:
            errors.append(_err(rid, f"{where}[{i}]", f"is {type(v).__name__}, expected an object"))
    return out


def read_admin_rules(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    """One VNet's effective security admin rules (the items of listNetworkManagerEffectiveSecurityAdminRules)."""
    props = properties(rec)
    vnet = _id(props.get("virtualNetworkId")) or rid.rsplit("/effectivesecurityadminrules", 1)[0]
    items = props.get("value")
    if not isinstance(items, list):
        # Unreadable: the VNet's admin rules are unknown (its verdicts too), never "none".
        errors.append(_err(rid, "effectiveSecurityAdminRules.value",
                           f"is {type(items).__name__}, expected the list of effective admin rules"))
        return
    rows["admin_vnets"].append({"subscription_id": sid, "vnet_id": vnet, "record_id": rid, "rules": len(items)})
    for i, item in enumerate(items):
        where = f"effectiveSecurityAdminRules.value[{i}]"
        if not isinstance(item, Mapping):
            errors.append(_err(rid, where, f"is {type(item).__name__}, expected an object"))
            continue
        p = properties(item)
        rule_id = _id(item.get("id"))
        raw_id = str(item.get("id") or "").rstrip("/")
        sources, source_groups = _admin_addresses(p.get("sources"), rid, f"{where}.properties.sources", errors)
        dests, dest_groups = _admin_addresses(p.get("destinations"), rid, f"{where}.properties.destinations", errors)
        rows["admin_rules"].append({
            "subscription_id": sid, "vnet_id": vnet, "rule_id": rule_id or f"{vnet}/adminrule/{i}",
            "rule_name": raw_id.rsplit("/", 1)[-1] if raw_id else f"admin rule {i}",
            "configuration": str(item.get("configurationDisplayName") or item.get("configurationDescription")
                                 or _segment(rule_id, "securityadminconfigurations")),
            "collection": str(item.get("ruleCollectionDisplayName") or item.get("ruleCollectionDescription")
                              or _segment(rule_id, "rulecollections")),
            "access": str(p.get("access") or ""), "priority": str(p.get("priority", "")),
            "direction": str(p.get("direction") or ""), "protocol": str(p.get("protocol") or ""),
            "sources": sources, "source_groups": source_groups, "destinations": dests,
            "destination_groups": dest_groups,
            "source_ports": _texts(p.get("sourcePortRanges")) or ("*",),
            "destination_ports": _texts(p.get("destinationPortRanges")),
        })


def _segment(rule_id: str, name: str) -> str:
    parts = rule_id.split("/")
    return parts[parts.index(name) + 1] if name in parts and parts.index(name) + 1 < len(parts) else ""


def _admin_addresses(value: Any, rid: str, where: str, errors: list) -> tuple[tuple, tuple]:
    """(prefixes and service tags, network group ids) of an admin rule's sources or destinations.

    An empty list means every address, as the portal's "*" (AVNM's address items are optional).
    """
    if value is None or value == []:
        return ("*",), ()
    if not isinstance(value, list):
        errors.append(_err(rid, where, f"is {type(value).__name__}, expected a list"))
        return (), ()
    prefixes, groups = [], []
    for item in value:
        prefix = item.get("addressPrefix") if isinstance(item, Mapping) else None
        kind = str(item.get("addressPrefixType") or "") if isinstance(item, Mapping) else ""
        if not isinstance(prefix, str) or not prefix:
            errors.append(_err(rid, where, f"holds {item!r}, not an address item with an addressPrefix"))
            continue
        (groups if kind.lower() == "networkgroup" else prefixes).append(prefix)
    return tuple(prefixes), tuple(g.lower() for g in groups)


def read_firewall(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    """An Azure Firewall: its private and public addresses, policy, and classic DNAT rules."""
    props = properties(rec)
    private, subnet, public_ids, public_addresses = "", "", [], []
    for cfg in _objects(props, "ipConfigurations", rid, "properties.ipConfigurations", errors):
        c = properties(cfg)
        if not private and isinstance(c.get("privateIPAddress"), str):
            private = c["privateIPAddress"]
        subnet = subnet or _id(c.get("subnet"))
        if _id(c.get("publicIPAddress")):
            public_ids.append(_id(c.get("publicIPAddress")))
    hub = props.get("hubIPAddresses")
    if isinstance(hub, Mapping):  # a secured virtual hub's firewall
        private = private or str(hub.get("privateIPAddress") or "")
        pubs = hub.get("publicIPs")
        for a in (pubs.get("addresses") or []) if isinstance(pubs, Mapping) else []:
            if isinstance(a, Mapping) and isinstance(a.get("address"), str):
                public_addresses.append(a["address"])
    rows["firewalls"].append({"subscription_id": sid, "firewall_id": rid, "firewall_name": str(rec.get("name") or ""),
                              "policy_id": _id(props.get("firewallPolicy")), "private_ip": private, "subnet_id": subnet,
                              "public_ip_ids": tuple(public_ids), "public_addresses": tuple(public_addresses)})
    for i, coll in enumerate(_objects(props, "natRuleCollections", rid, "properties.natRuleCollections", errors)):
        cp = properties(coll)
        if not _is_dnat(cp, rid, f"properties.natRuleCollections[{i}]", errors):
            continue
        _dnat_rules(cp, rid, rid, sid, str(coll.get("name") or i), f"properties.natRuleCollections[{i}]", rows,
                    errors, protocols_key="protocols")


def _is_dnat(coll: Mapping, rid: str, where: str, errors: list) -> bool:
    """Whether a NAT rule collection's action is DNAT (classic "Dnat", policy "DNAT"); else reported."""
    action = coll.get("action")
    kind = str(action.get("type") or "") if isinstance(action, Mapping) else ""
    if kind.lower() != "dnat":
        errors.append(_err(rid, f"{where}.action", f"{action!r} is not DNAT: the collection's rules are not evaluated"))
    return kind.lower() == "dnat"


def _dnat_fields(rp: Mapping, rid: str, where: str, protocols_key: str, errors: list) -> None:
    """Report a DNAT rule whose sources or protocols cannot be read: who it publishes to is unknown."""
    src, groups = rp.get("sourceAddresses"), rp.get("sourceIpGroups")
    if not isinstance(src, list | type(None)) or not isinstance(groups, list | type(None)) or not (_texts(src)
                                                                                                  or _texts(groups)):
        errors.append(_err(rid, f"{where}.sourceAddresses", f"{src!r} (IP groups {groups!r}) names no readable "
                                                           f"source: DNAT rule {rp.get('name')!r} not evaluated"))
    protocols = rp.get(protocols_key, rp.get("protocols"))
    if not isinstance(protocols, list) or not _texts(protocols):
        errors.append(_err(rid, f"{where}.{protocols_key}", f"{protocols!r} is not a list of protocols: DNAT rule "
                                                            f"{rp.get('name')!r} not evaluated"))


def _dnat_rules(coll: Mapping, holder: str, owner: str, sid: str, name: str, where: str, rows: dict, errors: list,
                protocols_key: str) -> None:
    for j, r in enumerate(_objects(coll, "rules", holder, f"{where}.rules", errors)):
        rp = properties(r) or r  # classic rules and policy NatRules are flat objects
        _dnat_fields(rp, owner if owner == holder else holder, f"{where}.rules[{j}]", protocols_key, errors)
        port = rp.get("translatedPort")
        if not str(port or "").strip().isdigit():
            # Which port the rule publishes is unknown: the firewall's paths are then unknown.
            errors.append(_err(owner if owner == holder else holder, f"{where}.rules[{j}].translatedPort",
                               f"{port!r} is not a port: DNAT rule {rp.get('name')!r} not evaluated"))
        rows["dnat_rules"].append({
            "subscription_id": sid, "holder_id": holder, "owner_id": owner, "collection": name,
            "rule_name": str(rp.get("name") or r.get("name") or j),
            "sources": _texts(rp.get("sourceAddresses")), "ip_groups": tuple(i.lower() for i in
                                                                            _texts(rp.get("sourceIpGroups"))),
            "protocols": tuple(p.lower() for p in _texts(rp.get(protocols_key) or rp.get("protocols"))),
            "destinations": _texts(rp.get("destinationAddresses")),
            "destination_ports": _texts(rp.get("destinationPorts")),
            "translated_address": str(rp.get("translatedAddress") or rp.get("translatedFqdn") or ""),
            "translated_port": str(rp.get("translatedPort") or ""),
        })


def read_firewall_policy(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    rows["firewall_policies"].append({"policy_id": rid, "base_policy_id": _id(properties(rec).get("basePolicy"))})


def read_rule_collection_group(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    """A firewall policy's rule collection group: its DNAT collections (other kinds filter, not publish)."""
    policy = rid.split("/rulecollectiongroups/", 1)[0]
    for i, coll in enumerate(_objects(properties(rec), "ruleCollections", rid, "properties.ruleCollections", errors)):
        kind = str(coll.get("ruleCollectionType") or "")
        if kind.lower() != "firewallpolicynatrulecollection":
            continue
        if not _is_dnat(coll, rid, f"properties.ruleCollections[{i}]", errors):
            continue
        _dnat_rules(coll, rid, policy, sid, str(coll.get("name") or i), f"properties.ruleCollections[{i}]", rows,
                    errors, protocols_key="ipProtocols")


def read_ip_group(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    addresses = properties(rec).get("ipAddresses")
    if not isinstance(addresses, list):
        errors.append(_err(rid, "properties.ipAddresses", f"is {type(addresses).__name__}, expected a list"))
        return
    rows["ip_groups"].append({"ip_group_id": rid, "addresses": _texts(addresses)})


def read_app_gateway(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    """An Application Gateway's TCP/TLS proxy listeners with their routes (HTTP listeners carry
    only HTTP(S) and publish none of the audited services)."""
    props = properties(rec)

    def by_id(key: str) -> dict[str, Mapping]:
        return {_id(o): properties(o) for o in _objects(props, key, rid, f"properties.{key}", errors)}

    frontends, ports = by_id("frontendIPConfigurations"), by_id("frontendPorts")
    pools, settings = by_id("backendAddressPools"), by_id("backendSettingsCollection")
    subnet = ""
    for cfg in _objects(props, "gatewayIPConfigurations", rid, "properties.gatewayIPConfigurations", errors):
        subnet = subnet or _id(properties(cfg).get("subnet"))
    routes = {_id(properties(r).get("listener")): properties(r)
              for r in _objects(props, "routingRules", rid, "properties.routingRules", errors)}
    for i, lst in enumerate(_objects(props, "listeners", rid, "properties.listeners", errors)):
        lp = properties(lst)
        protocol = str(lp.get("protocol") or "")
        if protocol.lower() not in ("tcp", "tls"):
            continue
        fe = frontends.get(_id(lp.get("frontendIPConfiguration")), {})
        port = ports.get(_id(lp.get("frontendPort")), {}).get("port")
        route = routes.get(_id(lst), {})
        pool = pools.get(_id(route.get("backendAddressPool")), {})
        backend = settings.get(_id(route.get("backendSettings")), {}).get("port")
        addresses = tuple(a["ipAddress"] for a in pool.get("backendAddresses") or []
                          if isinstance(a, Mapping) and isinstance(a.get("ipAddress"), str))
        rows["app_listeners"].append({
            "subscription_id": sid, "gateway_id": rid, "gateway_name": str(rec.get("name") or ""),
            "listener_name": str(lst.get("name") or i), "protocol": protocol.lower(),
            "public_ip_id": _id(fe.get("publicIPAddress")), "frontend_port": str(port if port is not None else ""),
            "backend_addresses": addresses, "backend_port": str(backend if backend is not None else ""),
            "subnet_id": subnet})
        if not route or backend is None:
            errors.append(_err(rid, f"properties.listeners[{i}]",
                               f"listener {lst.get('name')!r} has no readable routing rule and backend settings"))


LAYER_READERS = {ADMIN_RULES_TYPE: read_admin_rules, FIREWALL_TYPE: read_firewall,
                 FIREWALL_POLICY_TYPE: read_firewall_policy, RULE_COLLECTION_GROUP_TYPE: read_rule_collection_group,
                 IP_GROUP_TYPE: read_ip_group, APP_GATEWAY_TYPE: read_app_gateway}
