"""The oracle's reachability walk: one concrete packet per public path, resource by resource.

For every NIC ip configuration of each address family, each public path (a same-family public
IP, a load balancer rule or inbound NAT rule, an Azure Firewall DNAT rule, an Application
Gateway TCP/TLS listener) sends one TCP packet; it goes through the AVNM security admin rules of
the ip configuration's VNet (ascending priority, ties AlwaysAllow > Allow > Deny), then the
subnet NSG, then the NIC NSG. Written apart from the engine (Python ``ipaddress``, raw records,
one packet at a time) so that the property tests compare two independent readings of the
semantics in issue 22.

An internet packet comes from 203.0.113.77 (IPv4) or 2001:db8:ffff::77 (IPv6); a DNAT packet
from the firewall's private address; an Application Gateway packet from an unknown address in
the gateway's subnet (``Source.address`` None).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
INTERNET = {4: ipaddress.ip_address("203.0.113.77"), 6: ipaddress.ip_address("2001:db8:ffff::77")}
INTERNET_SOURCE = INTERNET[4]
# Admin rules of equal priority: the order that never says "blocked" without knowing.
ACCESS_ORDER = {"alwaysallow": 0, "allow": 1, "deny": 2}
NSG_ENFORCED = ("enabled", "networksecuritygroupenabled")


@dataclass(frozen=True)
class Source:
    """Where a packet comes from at the backend: ``internet`` (a public address), ``private``
    (a known private address: a firewall's) or ``gateway`` (an unknown address in ``subnet``)."""

    kind: str
    family: int
    address: IPAddr | None = None
    subnet: IPNet | None = None


def internet(family: int) -> Source:
    return Source("internet", family, INTERNET[family])


def _ref(obj: Any) -> str:
    return str((obj or {}).get("id", "")).lower() if isinstance(obj, Mapping) else ""


def _nets(value: str) -> list[IPNet]:
    """The blocks a prefix, an address or a range ``a-b`` names; [] for a tag or junk."""
    try:
        if "-" in value and "/" not in value:
            lo, hi = (ipaddress.ip_address(x.strip()) for x in value.split("-", 1))
            return list(ipaddress.summarize_address_range(lo, hi))
        return [ipaddress.ip_network(value, strict=False)]
    except (ValueError, TypeError):
        return []


def _address(value: Any) -> IPAddr | None:
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None


def _ports(values: Iterable[Any]) -> list[tuple[int, int]]:
    out = []
    for v in values:
        v = str(v).strip()
        if v == "*" or v.lower() == "any":
            out.append((0, 65535))
        elif "-" in v:
            lo, hi = v.split("-", 1)
            out.append((int(lo), int(hi)))
        elif v:
            out.append((int(v), int(v)))
    return out


def _in_ports(port: int, values: Iterable[Any]) -> bool:
    return any(lo <= port <= hi for lo, hi in _ports(values))


def _merge(props: Mapping, single: str, plural: str) -> list[str]:
    out = [str(v) for v in (props.get(plural) or []) if v not in (None, "")]
    if props.get(single) not in (None, ""):
        out.insert(0, str(props[single]))
    return out


def source_matches(values: Iterable[str], src: Source, allow: bool) -> bool:
    """Whether a rule's source values match the packet's source.

    ``*``/``Any`` match every source; ``Internet`` an internet source only; ``VirtualNetwork`` a
    private one only; a prefix a source address it contains. For the unknown gateway address the
    prefixes of its family match when they cover the whole family or the gateway's subnet, or the
    rule allows (assumed to match an Allow, never a Deny).
    """
    nets = []
    for v in values:
        v = str(v).strip()
        low = v.lower()
        if low in ("*", "any"):
            return True
        if low in ("internet", "virtualnetwork"):
            # Whether Internet holds IPv6 is undocumented: it admits IPv6, never denies it.
            if (low == "internet") == (src.kind == "internet") and (allow or low != "internet" or src.family == 4):
                return True
            continue
        nets.extend(n for n in _nets(v) if n.version == src.family)
    if src.address is not None:
        return any(src.address in n for n in nets)
    if not nets:
        return False
    whole = ipaddress.ip_network("0.0.0.0/0" if src.family == 4 else "::/0")
    blocks = list(ipaddress.collapse_addresses(nets))
    if src.subnet is not None and allow:  # an address of a known subnet: an Allow that overlaps it
        return any(b.overlaps(src.subnet) for b in blocks)
    return allow or any((src.subnet or whole).subnet_of(b) for b in blocks)


# --- Filter 1: Virtual Network Manager security admin rules ------------------------------------------

def _admin_destination(values: list, address: IPAddr, allow: bool) -> bool:
    for d in values:
        if str(d.get("addressPrefixType", "")).lower() == "networkgroup":
            if allow:  # membership unknown: matched for AlwaysAllow/Allow, never for a Deny
                return True
            continue
        v = str(d.get("addressPrefix", "")).strip().lower()
        if v in ("*", "any", "virtualnetwork") or any(address in n for n in _nets(v)):
            return True
    return False


def _admin_source(values: list, src: Source, allow: bool) -> bool:
    groups = [s for s in values if str(s.get("addressPrefixType", "")).lower() == "networkgroup"]
    if groups and allow and src.kind != "internet":
        return True  # membership unknown: a private source is assumed a member for AlwaysAllow/Allow
    return source_matches([str(s.get("addressPrefix", "")) for s in values if s not in groups], src, allow)


def admin_verdict(items: Iterable[Mapping], address: IPAddr, src: Source, port: int) -> str | None:
    """The access (``alwaysallow``/``allow``/``deny``) of the first admin rule that matches a TCP
    packet from ``src`` to ``address``:``port``, or None when none does."""
    ranked = []
    for item in items:
        p = item.get("properties") or {}
        access = str(p.get("access", "")).lower()
        if str(p.get("direction", "")).lower() != "inbound" or access not in ACCESS_ORDER:
            continue
        ranked.append((int(p["priority"]), ACCESS_ORDER[access], access, p))
    for _, _, access, p in sorted(ranked, key=lambda x: x[:2]):
        allow = access != "deny"
        if (str(p.get("protocol", "")).lower() in ("tcp", "any")
                and _in_ports(port, p.get("destinationPortRanges") or [])
                and _admin_destination(p.get("destinations") or [], address, allow)
                and _admin_source(p.get("sources") or [], src, allow)):
            return access
    return None


# --- Filter 2: the subnet NSG, then the NIC NSG ---------------------------------------------------------

def _applies_to(rule: Mapping, address: Any, asgs: set[str], vnet_space: list) -> bool:
    """Whether a rule's destination (prefixes, the VirtualNetwork tag, ASGs) includes the endpoint."""
    p = rule.get("properties", rule)
    for v in _merge(p, "destinationAddressPrefix", "destinationAddressPrefixes"):
        v = v.strip().lower()
        if v in ("*", "any"):
            return True
        if v == "virtualnetwork":
            if any(address in net for net in vnet_space):
                return True
            continue
        if any(address in net for net in _nets(v)):
            return True
    return any(str(a.get("id", "")).lower() in asgs for a in p.get("destinationApplicationSecurityGroups") or [])


def nsg_admits(record: Mapping | None, port: int, address: Any, asgs: set[str], vnet_space: list,
               source: Any = INTERNET_SOURCE) -> bool:
    """Whether one NSG lets a TCP packet from ``source`` (a Source, or an internet address) reach
    ``address``:``port`` (no NSG: yes)."""
    if record is None:
        return True
    src = source if isinstance(source, Source) else Source("internet", source.version, source)
    props = record.get("properties") or {}
    raw = list(props.get("securityRules") or []) + list(props.get("defaultSecurityRules") or [])
    for rule in sorted(raw, key=lambda x: int((x.get("properties") or {})["priority"])):
        p = rule.get("properties", rule)
        if str(p.get("direction", "")).lower() != "inbound" or not _applies_to(rule, address, asgs, vnet_space):
            continue
        allow = str(p.get("access", "")).lower() == "allow"
        if (str(p.get("protocol", "")).lower() in ("*", "any", "tcp")
                and source_matches(_merge(p, "sourceAddressPrefix", "sourceAddressPrefixes"), src, allow)
                and _in_ports(40000, _merge(p, "sourcePortRange", "sourcePortRanges"))
                and _in_ports(port, _merge(p, "destinationPortRange", "destinationPortRanges"))):
            return allow
    return False  # DenyAllInBound, even when a record omits its default rules


# --- The world the packets walk through ---------------------------------------------------------------

def _family(version: Any, address: Any) -> int:
    """6 for ``IPv6``, 4 for ``IPv4``; without a version, the address's own family, else 4."""
    v = str(version or "").strip().lower()
    if v in ("ipv4", "ipv6"):
        return int(v[-1])
    addr = _address(address)
    return addr.version if addr is not None else 4


@dataclass
class World:
    """The records a packet meets, indexed by lower-cased id."""

    nsgs: dict = field(default_factory=dict)
    subnets: dict = field(default_factory=dict)  # subnet id -> properties
    space: dict = field(default_factory=dict)  # subnet id -> its VNet's address space
    pips: dict = field(default_factory=dict)  # public IP id -> family
    frontends: dict = field(default_factory=dict)  # LB frontend id -> family of its public IP
    lb_rules: list = field(default_factory=list)
    nat_rules: dict = field(default_factory=dict)
    admin: dict = field(default_factory=dict)  # VNet id -> effective admin rule items
    dnat: list = field(default_factory=list)  # (Source at the backend, DNAT rule)
    gateways: list = field(default_factory=list)  # (Source, backend address, backend port, frontend port)
    ip_groups: dict = field(default_factory=dict)


def _index_network(w: World, by_type: dict) -> None:
    for v in by_type.get("microsoft.network/virtualnetworks", []):
        nets = [n for p in v["properties"]["addressSpace"]["addressPrefixes"] for n in _nets(p)]
        for s in v["properties"]["subnets"]:
            w.subnets[str(s["id"]).lower()] = s.get("properties") or {}
            w.space[str(s["id"]).lower()] = nets
    for p in by_type.get("microsoft.network/publicipaddresses", []):
        pp = p.get("properties") or {}
        w.pips[str(p["id"]).lower()] = _family(pp.get("publicIPAddressVersion"), pp.get("ipAddress"))
    for lb in by_type.get("microsoft.network/loadbalancers", []):
        lp = lb["properties"]
        for fe in lp.get("frontendIPConfigurations", []):
            pip = _ref(fe["properties"].get("publicIPAddress"))
            if pip:
                w.frontends[str(fe["id"]).lower()] = w.pips.get(pip, 4)
        w.lb_rules.extend(r["properties"] for r in lp.get("loadBalancingRules", []))
        for r in lp.get("inboundNatRules", []):
            w.nat_rules[str(r["id"]).lower()] = r["properties"]
    for rec in by_type.get("microsoft.network/virtualnetworks/effectivesecurityadminrules", []):
        vnet = str((rec.get("properties") or {}).get("virtualNetworkId") or str(rec["id"]).rsplit("/", 1)[0])
        w.admin.setdefault(vnet.lower(), []).extend((rec.get("properties") or {}).get("value") or [])
    for g in by_type.get("microsoft.network/ipgroups", []):
        w.ip_groups[str(g["id"]).lower()] = list((g.get("properties") or {}).get("ipAddresses") or [])


def _policy_dnat_rules(policy: str, policies: dict, groups: list) -> list[dict]:
    """The NatRules of a firewall policy and of every base policy above it."""
    out, seen = [], set()
    while policy and policy not in seen:
        seen.add(policy)
        for g in groups:
            if not str(g["id"]).lower().startswith(policy + "/rulecollectiongroups/"):
                continue
            for rc in (g.get("properties") or {}).get("ruleCollections") or []:
                if (str(rc.get("ruleCollectionType", "")).lower() == "firewallpolicynatrulecollection"
                        and str((rc.get("action") or {}).get("type", "")).lower() == "dnat"):
                    out.extend(r for r in rc.get("rules") or []
                               if str(r.get("ruleType", "NatRule")).lower() == "natrule")
        policy = _ref((policies.get(policy, {}).get("properties") or {}).get("basePolicy"))
    return out


def _index_firewalls(w: World, by_type: dict) -> None:
    policies = {str(p["id"]).lower(): p for p in by_type.get("microsoft.network/firewallpolicies", [])}
    groups = by_type.get("microsoft.network/firewallpolicies/rulecollectiongroups", [])
    for fw in by_type.get("microsoft.network/azurefirewalls", []):
        fp = fw.get("properties") or {}
        private = _address((fp.get("hubIPAddresses") or {}).get("privateIPAddress"))
        subnet = None
        for cfg in fp.get("ipConfigurations") or []:
            private = private or _address((cfg.get("properties") or {}).get("privateIPAddress"))
            prefix = (w.subnets.get(_ref((cfg.get("properties") or {}).get("subnet"))) or {}).get("addressPrefix")
            subnet = subnet or (ipaddress.ip_network(prefix, strict=False) if prefix else None)
        rules = []
        for coll in fp.get("natRuleCollections") or []:
            cp = coll.get("properties") or {}
            if str((cp.get("action") or {}).get("type", "")).lower() == "dnat":
                rules.extend(cp.get("rules") or [])
        rules.extend(_policy_dnat_rules(_ref(fp.get("firewallPolicy")), policies, groups))
        for r in rules:
            # DNAT also SNATs to an instance address of the AzureFirewallSubnet (Architecture
            # Center): an unknown address of that subnet when it is known, else the listed one.
            if subnet is not None:
                src = Source("gateway", subnet.version, None, subnet)
            else:
                src = Source("private", private.version, private) if private else None
            w.dnat.append((src, r))


def _index_gateways(w: World, by_type: dict) -> None:
    for gw in by_type.get("microsoft.network/applicationgateways", []):
        gp = gw.get("properties") or {}
        subnet = None
        for cfg in gp.get("gatewayIPConfigurations") or []:
            props = w.subnets.get(_ref((cfg.get("properties") or {}).get("subnet"))) or {}
            subnet = subnet or next(iter(_nets(str(props.get("addressPrefix", "")))), None)
        public = {str(fe["id"]).lower() for fe in gp.get("frontendIPConfigurations") or []
                  if _ref((fe.get("properties") or {}).get("publicIPAddress"))}
        ports = {str(p["id"]).lower(): (p.get("properties") or {}).get("port") for p in gp.get("frontendPorts") or []}
        pools = {str(p["id"]).lower(): [a.get("ipAddress") for a in (p.get("properties") or {}).get("backendAddresses")
                                        or []] for p in gp.get("backendAddressPools") or []}
        settings = {str(s["id"]).lower(): (s.get("properties") or {}).get("port")
                    for s in gp.get("backendSettingsCollection") or []}
        listeners = {str(x["id"]).lower(): x.get("properties") or {} for x in gp.get("listeners") or []}
        for rr in gp.get("routingRules") or []:
            rp = rr.get("properties") or {}
            lp = listeners.get(_ref(rp.get("listener")))
            if (not lp or str(lp.get("protocol", "")).lower() not in ("tcp", "tls")
                    or _ref(lp.get("frontendIPConfiguration")) not in public):
                continue
            fport = ports.get(_ref(lp.get("frontendPort")))
            for a in pools.get(_ref(rp.get("backendAddressPool")), []):
                addr = _address(a)
                if addr is not None and fport is not None:
                    src = Source("gateway", addr.version, None, subnet if subnet and subnet.version == addr.version
                                 else None)
                    w.gateways.append((src, addr, settings.get(_ref(rp.get("backendSettings"))), str(fport)))


def build_world(nsg_records: Iterable[Mapping], topology: Iterable[Mapping]) -> World:
    """Index the NSG and topology records the walk reads."""
    w = World(nsgs={str(r["id"]).lower(): r for r in nsg_records})
    by_type: dict[str, list] = {}
    for rec in topology:
        by_type.setdefault(str(rec.get("type", "")).lower(), []).append(rec)
    _index_network(w, by_type)
    _index_firewalls(w, by_type)
    _index_gateways(w, by_type)
    return w


# --- Public paths and the walk -------------------------------------------------------------------------

def _dnat_paths(w: World, address: IPAddr, port: int) -> list[tuple[str, str, Source]]:
    out = []
    for src, r in w.dnat:
        if _address(r.get("translatedAddress")) != address or not _in_ports(port, [r.get("translatedPort") or ""]):
            continue
        protocols = [str(x).lower() for x in (r.get("ipProtocols") or r.get("protocols") or [])]
        if not {"tcp", "any"} & set(protocols):
            continue
        sources = list(r.get("sourceAddresses") or [])
        for g in r.get("sourceIpGroups") or []:
            sources.extend(w.ip_groups.get(str(g).lower(), []))
        if not source_matches(sources, internet(address.version), True):
            continue
        # The firewall's private address unknown: an address of its subnet, as for a gateway.
        at_backend = src or Source("gateway", address.version)
        out.extend(("firewall-dnat", str(d).strip(), at_backend) for d in r.get("destinationPorts") or [])
    return out


def public_paths(w: World, c: Mapping, address: IPAddr, family: int, port: int) -> list[tuple[str, str, Source]]:
    """(path kind, frontend port, source at the backend) for every public path of one ip configuration."""
    paths = []
    pip = _ref(c.get("publicIPAddress"))
    if pip in w.pips and w.pips[pip] == family:
        paths.append(("public-ip", str(port), internet(family)))
    pools = {_ref(p) for p in c.get("loadBalancerBackendAddressPools") or []}
    for r in w.lb_rules:
        if (r["backendPort"] == port and str(r["protocol"]).lower() in ("tcp", "all")
                and _ref(r.get("backendAddressPool")) in pools
                and w.frontends.get(_ref(r["frontendIPConfiguration"])) == family):
            paths.append(("load-balancer", str(r["frontendPort"]), internet(family)))
    for rid in (_ref(x) for x in c.get("loadBalancerInboundNatRules") or []):
        r = w.nat_rules.get(rid)
        if r and r["backendPort"] == port and w.frontends.get(_ref(r["frontendIPConfiguration"])) == family:
            paths.append(("inbound-nat", str(r["frontendPort"]), internet(family)))
    paths.extend(_dnat_paths(w, address, port))
    for src, backend, bport, fport in w.gateways:
        if backend == address and bport is not None and int(bport) == port:
            paths.append(("app-gateway", fport, src))
    return paths


def delivered(w: World, nic: Mapping, c: Mapping, address: IPAddr, src: Source, port: int) -> bool:
    """Whether one packet from ``src`` reaches ``address``:``port``: admin rules, then the NSGs."""
    np_ = nic["properties"]
    subnet = _ref(c.get("subnet"))
    endpoint = bool(np_.get("privateEndpoint"))  # private endpoints are not subject to admin rules
    if not endpoint:
        verdict = admin_verdict(w.admin.get(subnet.split("/subnets/")[0], []), address, src, port)
        if verdict in ("deny", "alwaysallow"):
            return verdict == "alwaysallow"
    subnet_nsg = w.nsgs.get(_ref(w.subnets.get(subnet, {}).get("networkSecurityGroup")))
    nic_nsg = w.nsgs.get(_ref(np_.get("networkSecurityGroup")))
    if src.kind == "internet" and subnet_nsg is None and nic_nsg is None:
        return False  # Standard SKU: closed until an NSG allows (the oracle's topologies are Standard)
    policies = str(w.subnets.get(subnet, {}).get("privateEndpointNetworkPolicies") or "Disabled").lower()
    if endpoint and policies not in NSG_ENFORCED:
        return True  # the subnet does not enforce NSGs on private endpoints
    asgs = {_ref(a) for a in c.get("applicationSecurityGroups") or []}
    return all(nsg_admits(n, port, address, asgs, w.space.get(subnet, []), src) for n in (subnet_nsg, nic_nsg))


def reference_reach(nsg_records: Iterable[Mapping], topology: Iterable[Mapping], port: int) -> set[tuple[str, str, str]]:
    """(ip configuration id, path kind, frontend port) for every NIC ip configuration, of either
    address family, that an internet packet reaches on ``port``, walked packet by packet."""
    w = build_world(nsg_records, topology)
    out = set()
    for nic in (r for r in topology if str(r.get("type", "")).lower() == "microsoft.network/networkinterfaces"):
        for cfg in nic["properties"]["ipConfigurations"]:
            c = cfg["properties"]
            address = _address(c.get("privateIPAddress"))
            if address is None:
                continue
            family = _family(c.get("privateIPAddressVersion"), address)
            if family != address.version:
                continue  # an address that contradicts its stated version: no packet of either family
            for kind, fport, src in public_paths(w, c, address, family, port):
                if delivered(w, nic, c, address, src, port):
                    out.add((str(cfg["id"]).lower(), kind, fport))
    return out
