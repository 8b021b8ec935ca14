"""The topology that decides reachability, read from Resource Graph records into flat tables.

One row per link the evaluation joins on, every id lower-cased (Azure resource ids are
case-insensitive): NIC and VM scale set ip configurations, subnets with their NSG, public IPs,
load balancer frontends, rules (load-balancing, inbound NAT, NAT pools) and backend pool
members, VMs, application security groups, and the constructs the kit does not model. A
malformed record is reported (id, field, message) and the rest is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

# One reference reader and one error shape for every record the topology reads.
from auditkit.engine.layer_records import LAYER_COLUMNS, LAYER_READERS, LAYER_TYPES, _err, _id
from auditkit.evidence.records import properties

NIC_TYPE = "microsoft.network/networkinterfaces"
VNET_TYPE = "microsoft.network/virtualnetworks"
PUBLIC_IP_TYPE = "microsoft.network/publicipaddresses"
LB_TYPE = "microsoft.network/loadbalancers"
VMSS_TYPE = "microsoft.compute/virtualmachinescalesets"
VM_TYPE = "microsoft.compute/virtualmachines"
ASG_TYPE = "microsoft.network/applicationsecuritygroups"
# Constructs that publish VMs outside NSG logic; named "not modelled" wherever a snapshot has one.
UNMODELLED_TYPES = {
    "microsoft.network/bastionhosts": "Azure Bastion",
    "microsoft.network/routetables": "route table sending traffic to a virtual appliance (NVA)",
}
TOPOLOGY_TYPES = (NIC_TYPE, VNET_TYPE, PUBLIC_IP_TYPE, LB_TYPE, VMSS_TYPE, VM_TYPE, ASG_TYPE, *UNMODELLED_TYPES,
                  *LAYER_TYPES)

COLUMNS = {
    "ipconfigs": ["subscription_id", "kind", "nic_id", "nic_name", "ipconfig_id", "vm_id", "private_ip", "subnet_id",
                  "public_ip_id", "public_ip_per_instance", "nic_nsg_id", "pools", "nat_rules", "nat_pools", "asgs", "family",
                  "private_endpoint"],
    "subnets": ["subscription_id", "subnet_id", "vnet_id", "vnet_name", "subnet_name", "prefixes", "nsg_id",
                "pe_policies", "delegations"],
    "public_ips": ["subscription_id", "public_ip_id", "ip_address", "sku", "attached_to", "version"],
    "lb_frontends": ["lb_id", "lb_name", "frontend_id", "public_ip_id", "sku"],
    "lb_rules": ["lb_id", "lb_name", "rule_id", "rule_name", "kind", "protocol", "frontend_ids", "pool_ids",
                 "frontend_port", "frontend_port_end", "backend_port"],
    "lb_pool_members": ["pool_id", "ipconfig_id", "ip_address"],
    "vms": ["vm_id", "vm_name", "power_state"],
    "asgs": ["asg_id", "asg_name"],
    "unmodelled": ["subscription_id", "resource_id", "type", "name", "what"],
    **LAYER_COLUMNS,
}
# Columns a snapshot written before they existed lacks, and the value they then take.
_DEFAULTS = {"family": 4, "private_endpoint": False, "pe_policies": "", "version": "", "delegations": ""}
TOPOLOGY_TABLES = tuple(COLUMNS)


@dataclass
class Topology:
    """The topology tables of one snapshot (or export), and the records that could not be read."""

    tables: dict[str, pd.DataFrame]
    errors: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tables = _complete(self.tables)
        seen = {(e.get("nsg_id"), e.get("field"), e.get("message")) for e in self.errors}
        self.errors = list(self.errors) + [e for e in unresolved_load_balancers(self.tables)
                                           if (e["nsg_id"], e["field"], e["message"]) not in seen]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    @cached_property  # tables and errors are settled once __post_init__ has run
    def incomplete(self) -> set[str]:
        """Resources (ids) whose record could not be read whole, and the NICs and scale sets linked to
        a load balancer among them: verdicts that depend on them are unknown."""
        bad = {str(e.get("nsg_id", "")).lower() for e in self.errors
               if str(e.get("nsg_id", "")).lower().startswith("/subscriptions/")}
        refs = lb_references(self.tables)
        by_address = self.tables["lb_pool_members"]
        by_address = by_address[(by_address["ip_address"] != "")
                                & by_address["pool_id"].str.extract(_LB_OF, expand=False).isin(bad)]
        ip = self.tables["ipconfigs"]
        return bad | set(refs.loc[refs["lb"].isin(bad), "owner"]) \
            | set(ip.loc[ip["private_ip"].isin(set(by_address["ip_address"])), "nic_id"])

    @cached_property  # tables are settled once __post_init__ has run
    def endpoint_table(self) -> pd.DataFrame:
        """The endpoints (``engine.endpoints``): computed once, read by exposure, layer findings
        and reach alike. Shared: callers derive new frames from it, never change it."""
        from auditkit.engine.endpoints import endpoints  # endpoints reads Topology: imported at first use

        return endpoints(self)

    def counts(self) -> dict[str, int]:
        return {k: int(len(v)) for k, v in self.tables.items()}


def _complete(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every table of ``COLUMNS`` with every column: older snapshots lack the newer ones."""
    out = dict(tables)
    for name, cols in COLUMNS.items():
        frame = out.get(name)
        if frame is None:
            out[name] = pd.DataFrame(columns=cols)
            continue
        missing = [c for c in cols if c not in frame]
        if missing:
            out[name] = frame.assign(**{c: _DEFAULTS.get(c, "") for c in missing})
    out["ipconfigs"] = out["ipconfigs"].astype({"family": "int64", "private_endpoint": bool})
    return out


_LB_OF = r"^(.*/providers/microsoft\.network/loadbalancers/[^/]+)/"


def lb_references(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """(owner, lb, field): each load balancer an ip configuration's pools, NAT rules and NAT pools
    name; the owner is the NIC, or the scale set (its profile stands for every instance)."""
    ip = tables["ipconfigs"].reset_index(drop=True)
    owner = ip["vm_id"].where(ip["kind"] == "vmss", ip["nic_id"]).to_numpy(dtype=object)
    frames = [pd.DataFrame(columns=["owner", "lb", "field"])]
    for column in ("pools", "nat_rules", "nat_pools"):
        refs = ip[column].explode().dropna()
        frames.append(pd.DataFrame({"owner": owner[refs.index.to_numpy(dtype=np.int64)],
                                    "lb": refs.astype(str).str.extract(_LB_OF, expand=False).to_numpy(),
                                    "field": column}))
    return pd.concat(frames, ignore_index=True).dropna()


def unresolved_load_balancers(tables: Mapping[str, pd.DataFrame]) -> list[dict]:
    """Errors for ip configurations in a pool, NAT rule or NAT pool of a load balancer the input
    does not hold: whether that load balancer publishes them cannot be known."""
    held = pd.concat([tables["lb_frontends"]["lb_id"], tables["lb_rules"]["lb_id"],
                      tables["lb_pool_members"]["pool_id"].str.extract(_LB_OF, expand=False)]).dropna()
    refs = lb_references(tables)
    refs = refs[~refs["lb"].isin(set(held))].drop_duplicates(["owner", "lb"])
    return [_err(o, f"ipConfigurations.{f}", f"names load balancer {lb!r}, which the input does not hold")
            for o, lb, f in refs[["owner", "lb", "field"]].itertuples(index=False)]


def _ids(value: Any, rid: str = "", where: str = "", errors: list | None = None) -> tuple[str, ...]:
    """The ids of a list of references; an entry that is not a reference is reported (when
    ``errors`` is given): a lost ASG or pool membership would change a verdict."""
    if value is None:
        return ()
    if not isinstance(value, list):
        if errors is not None:
            errors.append(_err(rid, where, f"is {type(value).__name__}, expected a list of references"))
        return ()
    ids = tuple(_id(v) for v in value)
    if errors is not None and not all(ids):
        errors.append(_err(rid, where, "holds an entry that is not a resource reference"))
    return tuple(i for i in ids if i)


def _list(obj: Mapping, key: str, rid: str, errors: list, where: str) -> list:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(_err(rid, where, f"{key} is {type(value).__name__}, expected a list"))
        return []
    return value


def _is_ip(value: Any) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(str(value).strip())
    except ValueError:
        return False
    return True


def _family(version: Any, address: Any) -> int:
    """An ip configuration's address family: its ``privateIPAddressVersion``, else its address's."""
    if isinstance(version, str) and version.lower() == "ipv6":
        return 6
    if version is None and isinstance(address, str) and ":" in address:
        return 6
    return 4


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 65535 else None
    if isinstance(value, str) and value.strip().isdigit():
        return _port(int(value.strip()))
    return None


def _sub(rec: Mapping, rid: str) -> str:
    sid = rec.get("subscriptionId")
    if isinstance(sid, str) and sid:
        return sid.lower()
    parts = rid.split("/")
    return parts[2] if len(parts) > 2 and parts[1] == "subscriptions" else ""


def _sku(rec: Mapping) -> str:
    sku = rec.get("sku")
    return str(sku.get("name") or "") if isinstance(sku, Mapping) else ""


def _nic(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    props = properties(rec)
    nsg = _id(props.get("networkSecurityGroup"))
    vm = _id(props.get("virtualMachine"))
    configs = _list(props, "ipConfigurations", rid, errors, "properties.ipConfigurations")
    if not configs and "ipConfigurations" not in props:
        errors.append(_err(rid, "properties.ipConfigurations", "missing: the NIC's endpoints cannot be read"))
    for i, cfg in enumerate(configs):
        if not isinstance(cfg, Mapping):
            errors.append(_err(rid, f"properties.ipConfigurations[{i}]", f"is {type(cfg).__name__}, expected an object"))
            continue
        c = properties(cfg)
        cid = _id(cfg) or f"{rid}/ipconfigurations/{str(cfg.get('name') or i).lower()}"
        private = c.get("privateIPAddress")
        if private is not None and not _is_ip(private):
            errors.append(_err(rid, f"properties.ipConfigurations[{i}].privateIPAddress",
                               f"{private!r} is not an IP address"))
        where = f"properties.ipConfigurations[{i}]"
        rows["ipconfigs"].append({
            "subscription_id": sid, "kind": "nic", "nic_id": rid, "nic_name": str(rec.get("name") or ""),
            "ipconfig_id": cid, "vm_id": vm, "private_ip": private if isinstance(private, str) else "",
            "subnet_id": _id(c.get("subnet")), "public_ip_id": _id(c.get("publicIPAddress")),
            "public_ip_per_instance": False, "nic_nsg_id": nsg,
            "pools": _ids(c.get("loadBalancerBackendAddressPools"), rid, f"{where}.loadBalancerBackendAddressPools",
                          errors),
            "nat_rules": _ids(c.get("loadBalancerInboundNatRules"), rid, f"{where}.loadBalancerInboundNatRules",
                              errors), "nat_pools": (),
            "asgs": _ids(c.get("applicationSecurityGroups"), rid, f"{where}.applicationSecurityGroups", errors),
            "family": _family(c.get("privateIPAddressVersion"), private),
            "private_endpoint": bool(_id(props.get("privateEndpoint"))),
        })


def _vmss(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    # Uniform-mode instance NICs are not rows of Resource Graph's resources table: the scale set's
    # network profile stands for every instance (one endpoint per profile ip configuration).
    profile = properties(rec).get("virtualMachineProfile")
    net = profile.get("networkProfile") if isinstance(profile, Mapping) else None
    nics = net.get("networkInterfaceConfigurations") if isinstance(net, Mapping) else None
    name = str(rec.get("name") or "")
    rows["vms"].append({"vm_id": rid, "vm_name": f"{name} (scale set)", "power_state": ""})
    if not isinstance(nics, list):
        if nics is not None:
            errors.append(_err(rid, "networkInterfaceConfigurations", f"is {type(nics).__name__}, expected a list"))
        return
    for nic in nics:
        if not isinstance(nic, Mapping):
            continue
        np_ = properties(nic)
        nic_name = str(nic.get("name") or "nic")
        configs = np_.get("ipConfigurations")
        if not isinstance(configs, list):
            errors.append(_err(rid, f"networkInterfaceConfigurations[{nic_name}].ipConfigurations",
                               f"is {type(configs).__name__}, expected a list: the scale set's endpoints cannot be read"))
            continue
        for j, cfg in enumerate(configs):
            if not isinstance(cfg, Mapping):
                errors.append(_err(rid, f"networkInterfaceConfigurations[{nic_name}].ipConfigurations[{j}]",
                                   f"is {type(cfg).__name__}, expected an object"))
                continue
            c = properties(cfg)
            cfg_name = str(cfg.get("name") or j)
            rows["ipconfigs"].append({
                "subscription_id": sid, "kind": "vmss", "nic_id": f"{rid}/networkinterfaceconfigurations/{nic_name.lower()}",
                "nic_name": f"{name}/{nic_name}",
                "ipconfig_id": f"{rid}/networkinterfaceconfigurations/{nic_name.lower()}/ipconfigurations/{cfg_name.lower()}",
                "vm_id": rid, "private_ip": "", "subnet_id": _id(c.get("subnet")), "public_ip_id": "",
                "public_ip_per_instance": isinstance(c.get("publicIPAddressConfiguration"), Mapping),
                "nic_nsg_id": _id(np_.get("networkSecurityGroup")),
                "pools": _ids(c.get("loadBalancerBackendAddressPools"), rid, "loadBalancerBackendAddressPools", errors),
                "nat_rules": (),
                "nat_pools": _ids(c.get("loadBalancerInboundNatPools"), rid, "loadBalancerInboundNatPools", errors),
                "asgs": _ids(c.get("applicationSecurityGroups"), rid, "applicationSecurityGroups", errors),
                "family": _family(c.get("privateIPAddressVersion"), None), "private_endpoint": False,
            })


def _vnet(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    props = properties(rec)
    for i, s in enumerate(_list(props, "subnets", rid, errors, "properties.subnets")):
        if not isinstance(s, Mapping):
            errors.append(_err(rid, f"properties.subnets[{i}]", f"is {type(s).__name__}, expected an object"))
            continue
        sp = properties(s)
        prefixes = [p for p in ([sp.get("addressPrefix")] + list(sp.get("addressPrefixes") or []))
                    if isinstance(p, str) and p]
        rows["subnets"].append({"subscription_id": sid, "subnet_id": _id(s) or f"{rid}/subnets/{s.get('name')}".lower(),
                                "vnet_id": rid, "vnet_name": str(rec.get("name") or ""),
                                "subnet_name": str(s.get("name") or ""), "prefixes": tuple(dict.fromkeys(prefixes)),
                                "nsg_id": _id(sp.get("networkSecurityGroup")),
                                "pe_policies": str(sp.get("privateEndpointNetworkPolicies") or ""),
                                "delegations": ",".join(_delegations(sp.get("delegations")))})


def _delegations(value: Any) -> list[str]:
    """The services a subnet is delegated to (``delegations[].properties.serviceName``), lower-cased."""
    items = value if isinstance(value, list) else []
    return [str(properties(d).get("serviceName")).lower() for d in items
            if isinstance(d, Mapping) and properties(d).get("serviceName")]


def _public_ip(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    props = properties(rec)
    address = props.get("ipAddress")
    rows["public_ips"].append({"subscription_id": sid, "public_ip_id": rid,
                               "ip_address": address if isinstance(address, str) else "",
                               "sku": _sku(rec), "attached_to": _id(props.get("ipConfiguration")),
                               "version": str(props.get("publicIPAddressVersion") or "")})


def _lb(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    props = properties(rec)
    name = str(rec.get("name") or "")
    for fe in _list(props, "frontendIPConfigurations", rid, errors, "properties.frontendIPConfigurations"):
        if isinstance(fe, Mapping):
            rows["lb_frontends"].append({"lb_id": rid, "lb_name": name, "frontend_id": _id(fe),
                                         "public_ip_id": _id(properties(fe).get("publicIPAddress")), "sku": _sku(rec)})
    for pool in _list(props, "backendAddressPools", rid, errors, "properties.backendAddressPools"):
        if not isinstance(pool, Mapping):
            continue
        pp = properties(pool)
        for cfg in pp.get("backendIPConfigurations") or []:
            if _id(cfg):
                rows["lb_pool_members"].append({"pool_id": _id(pool), "ipconfig_id": _id(cfg), "ip_address": ""})
        for addr in pp.get("loadBalancerBackendAddresses") or []:  # IP-based pools: members by address
            ip = properties(addr).get("ipAddress") if isinstance(addr, Mapping) else None
            if isinstance(ip, str) and ip:
                rows["lb_pool_members"].append({"pool_id": _id(pool), "ipconfig_id": "", "ip_address": ip})
    for key, kind in (("loadBalancingRules", "rule"), ("inboundNatRules", "nat"), ("inboundNatPools", "nat-pool")):
        for i, r in enumerate(_list(props, key, rid, errors, f"properties.{key}")):
            if not isinstance(r, Mapping):
                errors.append(_err(rid, f"properties.{key}[{i}]", f"is {type(r).__name__}, expected an object"))
                continue
            rp = properties(r)
            start_key = "frontendPort" if "frontendPort" in rp else "frontendPortRangeStart"
            backend = _port(rp.get("backendPort"))
            start = _port(rp.get(start_key))
            end = _port(rp.get("frontendPortRangeEnd"))
            pools = _ids(rp.get("backendAddressPools")) or tuple(p for p in [_id(rp.get("backendAddressPool"))] if p)
            unread = [k for k, v in (("backendPort", backend), (start_key, start)) if v is None]
            if "frontendPortRangeEnd" in rp and end is None:
                unread.append("frontendPortRangeEnd")
            if unread:  # the load balancer's paths are then unknown (Topology.incomplete), never absent
                errors.append(_err(rid, f"properties.{key}[{i}].{unread[0]}",
                                   f"{rp.get(unread[0])!r} is not a port: rule {r.get('name')!r} not evaluated"))
                continue
            if kind == "nat" and pools:
                kind_here = "nat-range"  # the newer inbound NAT rule: a frontend port range onto a backend pool
            else:
                kind_here = kind
            rows["lb_rules"].append({
                "lb_id": rid, "lb_name": name, "rule_id": _id(r) or f"{rid}/{key.lower()}/{r.get('name')}".lower(),
                "rule_name": str(r.get("name") or ""), "kind": kind_here,
                "protocol": str(rp.get("protocol") or "").lower(),
                "frontend_ids": _ids(rp.get("frontendIPConfigurations"))
                or tuple(f for f in [_id(rp.get("frontendIPConfiguration"))] if f),
                "pool_ids": pools, "frontend_port": -1 if start is None else start,
                "frontend_port_end": -1 if end is None else end, "backend_port": backend,
            })


def _vm(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    ext = properties(rec).get("extended")
    view = ext.get("instanceView") if isinstance(ext, Mapping) else None
    power = view.get("powerState") if isinstance(view, Mapping) else None
    code = power.get("code") if isinstance(power, Mapping) else None
    rows["vms"].append({"vm_id": rid, "vm_name": str(rec.get("name") or ""),
                        "power_state": code.split("/", 1)[-1] if isinstance(code, str) else ""})


def _asg(rec: Mapping, rid: str, sid: str, rows: dict, errors: list) -> None:
    rows["asgs"].append({"asg_id": rid, "asg_name": str(rec.get("name") or "")})


def _unmodelled(rec: Mapping, rid: str, sid: str, rows: dict, errors: list, typ: str) -> None:
    if typ == "microsoft.network/routetables":
        routes = properties(rec).get("routes")
        hops = [properties(r).get("nextHopType") for r in routes if isinstance(r, Mapping)] if isinstance(routes, list) else []
        if not any(isinstance(h, str) and h.lower() == "virtualappliance" for h in hops):
            return
    rows["unmodelled"].append({"subscription_id": sid, "resource_id": rid, "type": typ,
                               "name": str(rec.get("name") or ""), "what": UNMODELLED_TYPES[typ]})


_READERS = {NIC_TYPE: _nic, VNET_TYPE: _vnet, PUBLIC_IP_TYPE: _public_ip, LB_TYPE: _lb, VMSS_TYPE: _vmss,
            VM_TYPE: _vm, ASG_TYPE: _asg}


def topology_table(records: Iterable[Any]) -> Topology:
    """Flatten topology records (any mix of the types in ``TOPOLOGY_TYPES``) into the tables.

    Records of other types are not topology and are ignored; a record that is not an object, or
    has no id, is reported. Duplicate ids (overlapping pages) count once.
    """
    rows: dict[str, list] = {k: [] for k in COLUMNS}
    errors: list[dict] = []
    seen: set[str] = set()
    for n, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            errors.append(_err(f"record {n}", "record", f"is {type(rec).__name__}, expected an object"))
            continue
        typ = str(rec.get("type") or "").lower()
        if typ not in TOPOLOGY_TYPES:
            continue
        rid = _id(rec.get("id"))
        if not rid:
            errors.append(_err(f"{typ} record {n}", "id", "missing: the resource cannot be linked"))
            continue
        if rid in seen:
            continue
        seen.add(rid)
        sid = _sub(rec, rid)
        try:
            if typ in UNMODELLED_TYPES:
                _unmodelled(rec, rid, sid, rows, errors, typ)
            elif typ in LAYER_READERS:
                if not isinstance(rec.get("properties"), Mapping):  # a layer lost whole would read as absent
                    errors.append(_err(rid, "properties", f"is {type(rec.get('properties')).__name__}, expected an "
                                                          "object: the layer's rules cannot be read"))
                    continue
                LAYER_READERS[typ](rec, rid, sid, rows, errors)
            else:
                _READERS[typ](rec, rid, sid, rows, errors)
        except (AttributeError, TypeError, ValueError) as exc:  # a shape no reader expected: reported, not fatal
            errors.append(_err(rid, "record", f"unreadable {typ} record: {type(exc).__name__}: {exc}"))
    tables = {k: pd.DataFrame(v, columns=COLUMNS[k]) for k, v in rows.items()}
    for name, cols in (("lb_rules", ("frontend_port", "frontend_port_end", "backend_port")),):
        tables[name] = tables[name].astype({c: "int64" for c in cols})
    tables["ipconfigs"]["public_ip_per_instance"] = tables["ipconfigs"]["public_ip_per_instance"].astype(bool)
    return Topology(tables, errors)


def empty_topology() -> Topology:
    """A topology without any resource (for inputs that carry none)."""
    return topology_table([])
