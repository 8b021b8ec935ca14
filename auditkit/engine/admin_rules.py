"""Virtual Network Manager security admin rules: the first filter an inbound packet meets.

Azure evaluates a VNet's security admin rules before any NSG ("Security admin rules in Azure
Virtual Network Manager"): by ascending priority, a matching ``Deny`` drops the packet, an
``AlwaysAllow`` delivers it without evaluating the NSGs, an ``Allow`` hands it on to the NSGs.
Private endpoints are not subject to admin rules (AVNM FAQ). The rules are read as rule lists
keyed by VNet and parsed as NSG rules are, so that one parser reports one kind of bad entry.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from auditkit.engine.fields import ParsedRules, parse_rules
from auditkit.engine.packets import Source, first_match
from auditkit.engine.rules import rules_table
from auditkit.engine.topology import Topology

# Equal priorities across rule collections: the order is not documented, so ties resolve in the
# order that never claims "blocked" without knowing (AlwaysAllow, then Allow, then Deny).
_TIE = {"alwaysallow": 0, "allow": 1, "deny": 2}


@dataclass(frozen=True)
class AdminRules:
    """A topology's effective admin rules, parsed; which VNets were read and which are unknown."""

    parsed: ParsedRules
    always: np.ndarray  # per parsed rule: its access is AlwaysAllow
    rank: np.ndarray  # per parsed rule: its order among rules of equal priority
    label: np.ndarray  # per parsed rule: "name (configuration c, collection rc)"
    path: np.ndarray  # per parsed rule: "configuration/collection/name", as findings name it
    vnets: frozenset[str] = field(default_factory=frozenset)
    unknown_vnets: frozenset[str] = field(default_factory=frozenset)
    unknown_subscriptions: frozenset[str] = field(default_factory=frozenset)
    errors: pd.DataFrame = field(default_factory=pd.DataFrame)


def _pseudo_records(rules: pd.DataFrame) -> list[dict]:
    """The admin rules as one NSG-shaped record per VNet, each rule named by its id's tail."""
    out: dict[str, dict] = {}
    for r in rules.itertuples(index=False):
        rec = out.setdefault(r.vnet_id, {"id": r.vnet_id, "name": r.vnet_id.rsplit("/", 1)[-1],
                                         "subscriptionId": r.subscription_id, "properties": {"securityRules": []}})
        access = str(r.access)
        prio = int(r.priority) if str(r.priority).strip().isdigit() else (r.priority or None)
        rec["properties"]["securityRules"].append({"id": r.rule_id, "name": r.rule_id, "properties": {
            "priority": prio, "access": "Allow" if access.lower() == "alwaysallow" else access,
            "direction": r.direction, "protocol": r.protocol,
            "sourceAddressPrefixes": list(r.sources), "destinationAddressPrefixes": list(r.destinations),
            "sourceApplicationSecurityGroups": [{"id": g} for g in r.source_groups],
            "destinationApplicationSecurityGroups": [{"id": g} for g in r.destination_groups],
            "sourcePortRanges": list(r.source_ports), "destinationPortRanges": list(r.destination_ports)}})
    return list(out.values())


def admin_rules(topo: Topology, failed_subscriptions: frozenset[str] = frozenset()) -> AdminRules:
    """The parsed admin rules of ``topo``; ``failed_subscriptions``: where they could not be collected."""
    table = topo["admin_rules"]
    tables = rules_table(_pseudo_records(table)) if len(table) else _no_rules()
    parsed = parse_rules(tables.rules) if len(table) else _no_parsed()
    ids = parsed.rules["rule_id"].astype(str).str.lower().to_numpy(dtype=object)
    info = table.assign(key=table["rule_id"].astype(str).str.lower()).drop_duplicates("key").set_index("key")
    info = info.reindex(ids)
    access = info["access"].fillna("").astype(str).str.lower().to_numpy(dtype=object)
    label = np.array([f"{n} (configuration {c}, collection {k})" for n, c, k in
                      zip(info["rule_name"].fillna(""), info["configuration"].fillna(""),
                          info["collection"].fillna(""), strict=True)], dtype=object)
    bad = {str(e["nsg_id"]).lower().rsplit("/effectivesecurityadminrules", 1)[0] for e in topo.errors
           if str(e.get("nsg_id", "")).lower().endswith("/effectivesecurityadminrules")}
    path = np.array([f"{c}/{k}/{n}" for n, c, k in zip(info["rule_name"].fillna(""), info["configuration"].fillna(""),
                                                        info["collection"].fillna(""), strict=True)], dtype=object)
    return AdminRules(parsed=parsed, always=access == "alwaysallow", path=path,
                      rank=np.array([_TIE.get(a, 1) for a in access], dtype=float), label=label,
                      vnets=frozenset(topo["admin_vnets"]["vnet_id"].astype(str)) - bad,
                      unknown_vnets=frozenset(bad), unknown_subscriptions=frozenset(failed_subscriptions),
                      errors=tables.errors)


@functools.cache
def _no_rules():
    """The tables of no admin rule at all (most tenants): built once."""
    return rules_table([])


@functools.cache
def _no_parsed() -> ParsedRules:
    return parse_rules(_no_rules().rules)


def _within(values: np.ndarray, pool: frozenset[str]) -> np.ndarray:
    """Per value, whether ``pool`` holds it (hashed: ``np.isin`` sorts object arrays, slow at scale)."""
    if not pool or not len(values):
        return np.zeros(len(values), dtype=bool)
    return pd.Series(values, dtype=object).isin(pool).to_numpy(dtype=bool)


def admin_verdicts(admin: AdminRules, ep: pd.DataFrame, endpoints: np.ndarray, port: int,
                   source: Source) -> pd.DataFrame:
    """Per endpoint of ``endpoints``: ``decision`` (``deny``, ``always``, ``pass`` or ``unknown``)
    and the deciding ``admin_rule`` ("" when none decided)."""
    endpoints = np.asarray(endpoints, dtype=np.int64)
    vnet = ep["vnet_id"].to_numpy(dtype=object)[endpoints]
    subject = ~ep["private_endpoint"].to_numpy(dtype=bool)[endpoints]
    roles = pd.DataFrame({"endpoint": endpoints, "role": "admin", "nsg_key": vnet})
    if not len(admin.parsed.rules):  # no admin rule anywhere: none decides, unknown where not read
        fm = roles.assign(rule=np.nan, allow=np.nan, undecided=False)
    else:
        fm = first_match(admin.parsed, ep, roles, port, source, rank=admin.rank)
    rule = fm["rule"].to_numpy(dtype=float)
    matched = ~np.isnan(rule)
    pos = np.where(matched, rule, 0).astype(np.int64)
    allow = fm["allow"].to_numpy(dtype=object)
    always = matched & admin.always[pos] if len(admin.always) else np.zeros(len(fm), dtype=bool)
    decision = np.full(len(fm), "pass", dtype=object)
    decision[matched & (allow == False)] = "deny"  # noqa: E712 - object array of True/False/NaN
    decision[always] = "always"
    sub = ep["subscription_id"].to_numpy(dtype=object)[endpoints]
    unknown = fm["undecided"].to_numpy(dtype=bool) | _within(vnet, admin.unknown_vnets) \
        | (_within(sub, admin.unknown_subscriptions) & ~_within(vnet, admin.vnets))
    decision[unknown & (decision != "always")] = "unknown"
    scope = ep["admin_scope"].to_numpy(dtype=object)[endpoints] if "admin_scope" in ep else np.full(len(fm), "")
    decision[(scope == "uncertain") & (decision == "deny")] = "unknown"  # it may not apply there: not known to drop
    decision[(scope == "skipped") | ~subject] = "pass"
    names = np.where(matched & (decision != "pass"), admin.label[pos] if len(admin.label) else "", "")
    return pd.DataFrame({"endpoint": endpoints, "decision": decision, "admin_rule": names.astype(object)})
