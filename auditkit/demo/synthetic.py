"""Deterministic synthetic NSG records (seeded), for the demo tenant and the benchmarks.

The mix follows what audits of lift-and-shift estates find: most rules are harmless (web ports,
private sources), some open SMTP/SSH/RDP to the internet, some restrict them to a gateway, some
are hidden behind earlier Deny rules, and some NSGs are not attached to anything.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

# (name, access, protocol, sources, destination ports, source ports)
_PALETTE = [
    ("Allow-HTTPS", "Allow", "Tcp", ["*"], ["443"], ["*"]),
    ("Allow-Web", "Allow", "Tcp", ["Internet"], ["80", "443"], ["*"]),
    ("Allow-SMTP-Any", "Allow", "Tcp", ["*"], ["25"], ["*"]),
    ("Allow-SMTP-Gateway", "Allow", "Tcp", ["203.0.113.0/24", "198.51.100.16/28"], ["25"], ["*"]),
    ("Allow-SSH-Internet", "Allow", "Tcp", ["Internet"], ["22"], ["*"]),
    ("Allow-SSH-Corp", "Allow", "Tcp", ["10.0.0.0/8"], ["22"], ["*"]),
    ("Allow-RDP-Any", "Allow", "*", ["0.0.0.0/0"], ["3389"], ["*"]),
    ("Allow-Mgmt-Range", "Allow", "Tcp", ["0.0.0.0/1", "128.0.0.0/1"], ["20-30", "3380-3390"], ["*"]),
    ("Allow-DNS", "Allow", "Udp", ["*"], ["53"], ["*"]),
    ("Allow-App", "Allow", "Tcp", ["VirtualNetwork"], ["8080-8090"], ["*"]),
    ("Deny-SMTP-Internet", "Deny", "Tcp", ["Internet"], ["25"], ["*"]),
    ("Deny-Scanners", "Deny", "*", ["192.0.2.0/24"], ["*"], ["*"]),
    ("Allow-Submission", "Allow", "Tcp", ["*"], ["587"], ["*"]),
    ("Allow-AzureCloud-SSH", "Allow", "Tcp", ["AzureCloud"], ["22"], ["*"]),
]

_DEFAULTS = [
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    ("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
]


# The tenant the synthetic records belong to (Resource Graph rows carry ``tenantId``).
DEMO_TENANT = "72f988bf-0000-4000-8000-00000000c0de"


def default_rules(nsg_id: str) -> list[dict]:
    """The six default rules Azure adds to every NSG."""
    return [{"name": name, "id": f"{nsg_id}/defaultSecurityRules/{name}",
             "properties": {"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
                            "sourceAddressPrefix": src, "destinationAddressPrefix": dst, "access": access,
                            "priority": prio, "direction": direction}}
            for name, prio, direction, access, src, dst in _DEFAULTS]


def security_rule(nsg_id: str, name: str, priority: int, access: str, protocol: str, sources: list[str],
                  ports: list[str], source_ports: list[str], direction: str = "Inbound",
                  description: str = "") -> dict:
    """One custom rule in ARM shape, singular or plural fields as the portal writes them."""
    props: dict = {"protocol": protocol, "access": access, "priority": priority, "direction": direction,
                   "destinationAddressPrefix": "*"}
    if len(sources) == 1:
        props["sourceAddressPrefix"] = sources[0]
    else:
        props["sourceAddressPrefixes"] = list(sources)
    if len(ports) == 1:
        props["destinationPortRange"] = ports[0]
    else:
        props["destinationPortRanges"] = list(ports)
    props["sourcePortRange"] = source_ports[0]
    if description:
        props["description"] = description
    return {"name": name, "id": f"{nsg_id}/securityRules/{name}", "properties": props}


def nsg_record(subscription: str, resource_group: str, name: str, rules: list[dict] | None = None, *,
               attached: bool = True, tags: dict | None = None, location: str = "westeurope") -> dict:
    """An NSG record in Resource Graph objectArray shape; ``rules`` are callables or dicts."""
    nsg_id = (f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
              f"Microsoft.Network/networkSecurityGroups/{name}")
    props: dict = {"provisioningState": "Succeeded", "resourceGuid": str(uuid.uuid5(uuid.NAMESPACE_URL, nsg_id.lower())),
                   "securityRules": rules or [], "defaultSecurityRules": default_rules(nsg_id)}
    if attached:
        props["subnets"] = [{"id": f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
                                   f"Microsoft.Network/virtualNetworks/vnet-{resource_group}/subnets/{name}"}]
    return {"id": nsg_id, "name": name, "type": "microsoft.network/networksecuritygroups", "tenantId": DEMO_TENANT,
            "location": location,
            "resourceGroup": resource_group.lower(), "subscriptionId": subscription, "tags": tags or {},
            "properties": props}


def subscription_id(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def synthetic_nsgs(n_nsgs: int, custom_rules: int = 4, subscriptions: int = 100, seed: int = 7,
                   full: bool = False) -> Iterator[dict]:
    """Yield ``n_nsgs`` NSG records with ``custom_rules`` custom rules each (plus six defaults).

    ``full`` adds every field Resource Graph returns (etags, types, empty plural lists, provisioning
    states, row metadata), about 0.9 KB per rule as in a real export, for the benchmarks.
    """
    rng = random.Random(seed)
    subs = [subscription_id(rng) for _ in range(subscriptions)]
    for i in range(n_nsgs):
        sub = subs[i % subscriptions]
        rg = f"rg-app-{i // 7 % 500:03d}"
        name = f"nsg-{i:06d}"
        nsg_id = (f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                  f"Microsoft.Network/networkSecurityGroups/{name}")
        picks = rng.sample(_PALETTE, k=min(custom_rules, len(_PALETTE)))
        picks.sort(key=lambda p: p[1] != "Deny")  # Deny rules first, as people write them
        rules = [security_rule(nsg_id, f"{p[0]}-{j}", 100 + 10 * j, p[1], p[2], p[3], p[4], p[5])
                 for j, p in enumerate(picks)]
        rec = nsg_record(sub, rg, name, rules, attached=rng.random() > 0.15,
                         tags={"environment": rng.choice(["prod", "dev", "test"])})
        yield arm_fields(rec, rng) if full else rec


_RULE_LISTS = ("sourcePortRanges", "destinationPortRanges", "sourceAddressPrefixes", "destinationAddressPrefixes")


def arm_fields(rec: dict, rng: random.Random) -> dict:
    """``rec`` with the fields a real Resource Graph row carries besides the ones the audit reads."""
    def etag() -> str:
        return f'W/"{uuid.UUID(int=rng.getrandbits(128))}"'

    props = rec["properties"]
    for kind, rules in (("securityRules", props["securityRules"]), ("defaultSecurityRules", props["defaultSecurityRules"])):
        for rule in rules:
            rule["etag"] = etag()
            rule["type"] = f"Microsoft.Network/networkSecurityGroups/{kind}"
            p = rule["properties"]
            p["provisioningState"] = "Succeeded"
            p.setdefault("description", "Default rule" if kind == "defaultSecurityRules" else "")
            for key in _RULE_LISTS:
                p.setdefault(key, [])
            p.setdefault("sourcePortRange", "*")
            p.setdefault("destinationAddressPrefix", "*")
    props["flushConnection"] = False
    props.setdefault("networkInterfaces", [])
    props.setdefault("subnets", [])
    rec.update({"etag": etag(), "kind": "", "managedBy": "", "sku": None, "plan": None, "identity": None,
                "zones": None, "extendedLocation": None})
    return rec
