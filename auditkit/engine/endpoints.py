"""Endpoints: what the internet could reach, one row per NIC ip configuration or scale set profile.

Each endpoint carries the two NSGs that govern its inbound traffic (its subnet's, then its NIC's),
its private address as an IPv4 range (one address for a NIC; the subnet's prefix for a scale set
profile, which stands for every instance), its public IP, load balancer links and application
security groups.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd

from auditkit.engine.intervals import V4_MAX, V6_MAX
from auditkit.engine.topology import Topology

ENDPOINT_COLUMNS = ["subscription_id", "kind", "nic_id", "nic_name", "ipconfig_id", "vm_id", "vm_name", "power_state",
                    "private_ip", "lo", "hi", "subnet_id", "subnet_name", "vnet_name", "subnet_nsg", "nic_nsg",
                    "public_ip_id", "public_ip", "public_ip_sku", "public_ip_per_instance", "pools", "nat_rules",
                    "nat_pools", "asgs", "family", "lo6", "hi6", "vnet_id", "private_endpoint", "nsg_enforced",
                    "admin_scope"]
# Where Virtual Network Manager does not apply security admin rules ("Security admin rules",
# nonapplication): gateway, Bastion, firewall and Route Server subnets ("skipped"); VNets with a
# subnet delegated to SQL Managed Instance or Databricks unless the configuration says otherwise,
# and Application Gateway subnets unless network isolation ("uncertain": a Deny is not known to hold).
_ADMIN_SKIPPED_SUBNETS = ("gatewaysubnet", "azurebastionsubnet", "azurefirewallsubnet", "azurefirewallmanagementsubnet",
                          "routeserversubnet")
_INTENT_SERVICES = ("microsoft.sql/managedinstances", "microsoft.databricks/workspaces")
# Subnet policies under which NSGs filter a private endpoint's traffic ("Manage network policies
# for private endpoints"); under Disabled, the default, they do not.
_PE_ENFORCED = ("enabled", "networksecuritygroupenabled")


def _range(text: str, version: int = 4) -> tuple[int, int]:
    """An address or prefix of ``version`` as (lo, hi); the whole space of that family when it
    cannot be read, so that a destination prefix is never assumed to miss an endpoint whose
    address is unknown."""
    whole = (0, V4_MAX if version == 4 else V6_MAX)
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return whole
    if net.version != version:
        return whole
    return int(net.network_address), int(net.broadcast_address)


def _admin_scope(topo: Topology, sub: pd.DataFrame) -> np.ndarray:
    """Per endpoint: "skipped" where admin rules never apply, "uncertain" where they may not, else ""."""
    subnets = topo["subnets"]
    delegated = subnets["delegations"].astype(str).str.lower()
    intent = set(subnets.loc[delegated.apply(lambda d: any(s in d for s in _INTENT_SERVICES)), "vnet_id"])
    gateway_subnets = set(topo["app_listeners"]["subnet_id"].astype(str)) - {""}
    name = sub["subnet_name"].fillna("").astype(str).str.lower().to_numpy(dtype=object)
    vnet = sub["vnet_id"].fillna("").to_numpy(dtype=object)
    out = np.full(len(sub), "", dtype=object)
    out[pd.Series(vnet, dtype=object).isin(intent).to_numpy()] = "uncertain"
    out[pd.Series(sub.index.to_numpy(dtype=object), dtype=object).isin(gateway_subnets).to_numpy()] = "uncertain"
    out[np.isin(name, _ADMIN_SKIPPED_SUBNETS)] = "skipped"
    return out


def _per_prefix(topo: Topology) -> pd.DataFrame:
    """The ip configurations with ``prefix``: one row per prefix of the subnet (a subnet may have
    several ``addressPrefixes``) for those without a private address, "" for the others."""
    ip = topo["ipconfigs"].reset_index(drop=True)
    prefixes = topo["subnets"].drop_duplicates("subnet_id").set_index("subnet_id")["prefixes"] \
        .reindex(ip["subnet_id"].to_numpy(dtype=object))
    lists = pd.Series(prefixes.to_numpy(dtype=object), dtype=object)
    lists[ip["private_ip"].to_numpy(dtype=object) != ""] = None
    exploded = lists.explode().fillna("")
    return ip.iloc[exploded.index.to_numpy(dtype=np.int64)].assign(prefix=exploded.to_numpy(dtype=object)) \
        .reset_index(drop=True)


def endpoints(topo: Topology) -> pd.DataFrame:
    """The endpoint table of a topology (see module docstring), indexed 0..n-1; every step of a
    scan reads it from ``Topology.endpoint_table``, computed once."""
    ip = _per_prefix(topo)
    subnets = topo["subnets"].drop_duplicates("subnet_id").set_index("subnet_id")
    vms = topo["vms"].drop_duplicates("vm_id").set_index("vm_id")
    pips = topo["public_ips"].drop_duplicates("public_ip_id").set_index("public_ip_id")
    sid = ip["subnet_id"].to_numpy(dtype=object)
    sub = subnets.reindex(sid)
    vm = vms.reindex(ip["vm_id"].to_numpy(dtype=object))
    pip = pips.reindex(ip["public_ip_id"].to_numpy(dtype=object))
    # A NIC's own address; else (scale set profile) one of the subnet's prefixes, one row each.
    where = np.where(ip["private_ip"].to_numpy(dtype=object) != "", ip["private_ip"].to_numpy(dtype=object),
                     ip["prefix"].to_numpy(dtype=object))
    codes, uniques = pd.factorize(pd.Series(where, dtype=object))
    ranges = np.array([_range(u) for u in uniques] + [(0, V4_MAX)], dtype=np.int64).reshape(-1, 2)
    lo_hi = ranges[codes]
    family = ip["family"].to_numpy(dtype=np.int64)
    lo6 = np.zeros(len(ip), dtype=object)
    hi6 = np.zeros(len(ip), dtype=object)
    six = np.flatnonzero(family == 6)
    for i in six:  # IPv6 ip configurations are few
        lo6[i], hi6[i] = _range(str(where[i]), 6)
    pe = ip["private_endpoint"].to_numpy(dtype=bool)
    policies = sub["pe_policies"].fillna("").astype(str).str.lower().to_numpy(dtype=object)
    out = pd.DataFrame({
        "subscription_id": ip["subscription_id"].to_numpy(), "kind": ip["kind"].to_numpy(),
        "nic_id": ip["nic_id"].to_numpy(), "nic_name": ip["nic_name"].to_numpy(),
        "ipconfig_id": ip["ipconfig_id"].to_numpy(), "vm_id": ip["vm_id"].to_numpy(),
        "vm_name": vm["vm_name"].fillna("").to_numpy(dtype=object),
        "power_state": vm["power_state"].fillna("").to_numpy(dtype=object),
        "private_ip": ip["private_ip"].to_numpy(), "lo": lo_hi[:, 0], "hi": lo_hi[:, 1],
        "subnet_id": sid, "subnet_name": sub["subnet_name"].fillna("").to_numpy(dtype=object),
        "vnet_name": sub["vnet_name"].fillna("").to_numpy(dtype=object),
        "subnet_nsg": sub["nsg_id"].fillna("").to_numpy(dtype=object),
        "nic_nsg": ip["nic_nsg_id"].to_numpy(dtype=object),
        "public_ip_id": ip["public_ip_id"].to_numpy(dtype=object),
        "public_ip": pip["ip_address"].fillna("").to_numpy(dtype=object),
        "public_ip_sku": pip["sku"].fillna("").to_numpy(dtype=object),
        "public_ip_per_instance": ip["public_ip_per_instance"].to_numpy(dtype=bool),
        "pools": ip["pools"].to_numpy(), "nat_rules": ip["nat_rules"].to_numpy(),
        "nat_pools": ip["nat_pools"].to_numpy(), "asgs": ip["asgs"].to_numpy(),
        "family": family, "lo6": lo6, "hi6": hi6, "vnet_id": sub["vnet_id"].fillna("").to_numpy(dtype=object),
        "private_endpoint": pe, "nsg_enforced": ~pe | np.isin(policies, _PE_ENFORCED),
        "admin_scope": _admin_scope(topo, sub),
    }, columns=ENDPOINT_COLUMNS)
    # Text columns as Python objects: the engine reads them as object arrays many times per scan,
    # and each read of an Arrow-backed string column would build every string again.
    text = [c for c in ENDPOINT_COLUMNS if pd.api.types.is_string_dtype(out[c].dtype) and out[c].dtype != object]
    return out.astype(dict.fromkeys(text, object)).reset_index(drop=True)
