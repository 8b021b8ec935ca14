"""A plain first-match evaluator over concrete packets: the oracle the engine is checked against.

Slow on purpose and written differently from the engine (Python ``ipaddress``, one packet at a
time), so that the property tests and ``benchmarks/bench_scan.py`` compare two independent
readings of Azure's semantics: inbound rules are evaluated in ascending priority number and the
first rule that matches a packet decides.

A packet is (source address, source port, destination address, protocol, destination port).
Service tags other than ``*``/``Any``/``Internet`` and application security groups match no
concrete internet packet here, as in the engine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
ALL = ("*", "any", "internet")
FULL = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}


@dataclass(frozen=True)
class Rule:
    name: str
    priority: int
    inbound: bool
    allow: bool
    default: bool
    protocol: str
    sources: tuple  # IPNet or "all"
    source_ports: tuple  # (lo, hi)
    destinations: tuple
    destination_ports: tuple


@dataclass(frozen=True)
class Packet:
    source: ipaddress.IPv4Address | ipaddress.IPv6Address
    source_port: int
    destination: ipaddress.IPv4Address | ipaddress.IPv6Address
    protocol: str
    port: int


def _merge(props: Mapping, single: str, plural: str) -> list[str]:
    out = [str(v) for v in (props.get(plural) or []) if v not in (None, "")]
    if props.get(single) not in (None, ""):
        out.insert(0, str(props[single]))
    return out


def _addresses(values: Iterable[str], source: bool = True) -> tuple:
    out: list = []
    for v in values:
        v = v.strip()
        # "Internet" is everyone as a source; as a destination it excludes the virtual network
        # that inbound packets are addressed to, so it matches no packet here.
        if v.lower() in ALL and (source or v.lower() != "internet"):
            out.append("all")
            continue
        try:
            out.append(ipaddress.ip_network(v, strict=False))
        except ValueError:
            continue  # a service tag: matches no concrete packet
    return tuple(out)


def _ports(values: Iterable[str]) -> tuple:
    out = []
    for v in values:
        v = v.strip()
        if v in ("*",) or v.lower() == "any":
            out.append((0, 65535))
        elif "-" in v:
            lo, hi = v.split("-", 1)
            out.append((int(lo), int(hi)))
        else:
            out.append((int(v), int(v)))
    return tuple(out)


def parse_rule(rule: Mapping, default: bool = False) -> Rule:
    """Read one ARM security rule (well-formed) into a Rule."""
    p = rule.get("properties", rule)
    return Rule(
        name=rule.get("name", ""),
        priority=int(p["priority"]),
        inbound=str(p["direction"]).lower() == "inbound",
        allow=str(p["access"]).lower() == "allow",
        default=default,
        protocol=str(p["protocol"]).lower(),
        sources=_addresses(_merge(p, "sourceAddressPrefix", "sourceAddressPrefixes")),
        source_ports=_ports(_merge(p, "sourcePortRange", "sourcePortRanges")),
        destinations=_addresses(_merge(p, "destinationAddressPrefix", "destinationAddressPrefixes"), source=False),
        destination_ports=_ports(_merge(p, "destinationPortRange", "destinationPortRanges")),
    )


def nsg_rules(record: Mapping) -> list[Rule]:
    """All rules of an NSG record, custom then default."""
    props = record.get("properties") or {}
    return [parse_rule(r) for r in props.get("securityRules") or []] + \
        [parse_rule(r, default=True) for r in props.get("defaultSecurityRules") or []]


def _in(addr: Any, nets: tuple) -> bool:
    return any(n == "all" or (n.version == addr.version and addr in n) for n in nets)


def _in_ports(port: int, ranges: tuple) -> bool:
    return any(lo <= port <= hi for lo, hi in ranges)


def matches(rule: Rule, packet: Packet) -> bool:
    """Whether an inbound rule matches a packet."""
    return (rule.inbound
            and (rule.protocol in ("*", "any") or rule.protocol == packet.protocol)
            and _in(packet.source, rule.sources)
            and _in_ports(packet.source_port, rule.source_ports)
            and _in(packet.destination, rule.destinations)
            and _in_ports(packet.port, rule.destination_ports))


def first_match(rules: Iterable[Rule], packet: Packet) -> Rule | None:
    """The rule that decides a packet: the matching inbound rule with the lowest priority number."""
    for rule in sorted((r for r in rules if r.inbound), key=lambda r: r.priority):
        if matches(rule, packet):
            return rule
    return None


def internet_wide(rule: Rule) -> bool:
    """Sources that admit every address of IPv4 or of IPv6."""
    if "all" in rule.sources:
        return True
    for version in (4, 6):
        nets = [n for n in rule.sources if n != "all" and n.version == version]
        if nets and list(ipaddress.collapse_addresses(nets)) == [FULL[version]]:
            return True
    return False


def _points(nets: Iterable, version: int) -> set:
    """Start of every elementary interval the blocks cut the address line into."""
    pts = set()
    top = 2**32 - 1 if version == 4 else 2**128 - 1
    for n in nets:
        if n == "all":
            pts.add(0)
        elif n.version == version:
            lo, hi = int(n.network_address), int(n.broadcast_address)
            pts.add(lo)
            if hi < top:
                pts.add(hi + 1)
    return pts


def witness(rule: Rule, earlier_denies: list[Rule], port: int) -> Packet | None:
    """A TCP packet to ``port`` that ``rule`` admits and no earlier Deny matches, or None.

    The candidate packets are the starts of the elementary intervals that every rule's bounds
    cut each dimension into: membership is constant inside each, so the search is exhaustive.
    """
    everyone = [rule, *earlier_denies]
    sport_pts = {0}
    for r in everyone:
        for lo, hi in r.source_ports:
            sport_pts.update({lo, hi + 1} - {65536})
    for version in (4, 6):
        if not any(n == "all" or n.version == version for n in rule.sources):
            continue
        if not any(n == "all" or n.version == version for n in rule.destinations):
            continue
        make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        src_pts = set().union(*(_points(r.sources, version) for r in everyone))
        dst_pts = set().union(*(_points(r.destinations, version) for r in everyone))
        srcs = [make(s) for s in sorted(src_pts) if _in(make(s), rule.sources)]
        dsts = [make(d) for d in sorted(dst_pts) if _in(make(d), rule.destinations)]
        sports = [s for s in sorted(sport_pts) if _in_ports(s, rule.source_ports)]
        for s in srcs:
            for sp in sports:
                for d in dsts:
                    pkt = Packet(s, sp, d, "tcp", port)
                    if matches(rule, pkt) and not any(matches(x, pkt) for x in earlier_denies):
                        return pkt
    return None


def reference_findings(records: Iterable[Mapping], ports: Iterable[int]) -> set[tuple[str, str, int, bool]]:
    """(nsg id lower-cased, rule name, port, shadowed) for every finding, packet by packet."""
    out = set()
    for record in records:
        rules = nsg_rules(record)
        for r in rules:
            if r.default or not r.inbound or not r.allow or r.protocol not in ("tcp", "*", "any"):
                continue
            if not internet_wide(r):
                continue
            denies = [x for x in rules if x.inbound and not x.allow and x.priority < r.priority]
            for port in ports:
                if not _in_ports(port, r.destination_ports):
                    continue
                # A rule that admits no concrete packet on its own (IPv4 sources, IPv6
                # destinations) cannot be proven hidden by Deny rules: it stays a finding.
                shadowed = witness(r, denies, port) is None and witness(r, [], port) is not None
                out.add((record["id"].lower(), r.name, port, shadowed))
    return out


# The reachability walk (one packet per public path, through admin rules, then NSGs) lives in
# reference_reach; its names are read from here as before.
from auditkit.engine.reference_reach import (  # noqa: E402,F401
    INTERNET_SOURCE,
    Source,
    _applies_to,
    admin_verdict,
    nsg_admits,
    reference_reach,
)
