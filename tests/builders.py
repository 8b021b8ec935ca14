"""Small builders for NSG records in Resource Graph objectArray shape, for tests."""

from __future__ import annotations

from typing import Any

SUB = "00000000-0000-4000-8000-000000000001"


def nsg_id(name: str = "nsg-test", rg: str = "rg-test", sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}"


def rule(name: str = "r", priority: Any = 100, *, access: str = "Allow", direction: str = "Inbound",
         protocol: Any = "Tcp", src: Any = "*", srcs: list | None = None, sport: Any = "*", sports: list | None = None,
         port: Any = "25", ports: list | None = None, dst: Any = "*", dsts: list | None = None,
         src_asgs: list | None = None, description: str | None = None, **extra: Any) -> dict:
    props: dict = {
        "provisioningState": "Succeeded",
        "protocol": protocol,
        "sourcePortRange": sport if sports is None else "",
        "sourcePortRanges": sports or [],
        "destinationPortRange": port if ports is None else "",
        "destinationPortRanges": ports or [],
        "sourceAddressPrefix": src if srcs is None and src_asgs is None else "",
        "sourceAddressPrefixes": srcs or [],
        "destinationAddressPrefix": dst if dsts is None else "",
        "destinationAddressPrefixes": dsts or [],
        "access": access,
        "priority": priority,
        "direction": direction,
    }
    if src_asgs is not None:
        props["sourceApplicationSecurityGroups"] = [{"id": a} for a in src_asgs]
    if description is not None:
        props["description"] = description
    props.update(extra)
    return {"name": name, "properties": props}


DEFAULT_RULES = [
    rule("AllowVnetInBound", 65000, protocol="*", src="VirtualNetwork", port="*", dst="VirtualNetwork"),
    rule("AllowAzureLoadBalancerInBound", 65001, protocol="*", src="AzureLoadBalancer", port="*"),
    rule("DenyAllInBound", 65500, access="Deny", protocol="*", port="*"),
    rule("AllowVnetOutBound", 65000, direction="Outbound", protocol="*", src="VirtualNetwork", port="*",
         dst="VirtualNetwork"),
    rule("AllowInternetOutBound", 65001, direction="Outbound", protocol="*", port="*", dst="Internet"),
    rule("DenyAllOutBound", 65500, direction="Outbound", access="Deny", protocol="*", port="*"),
]


def nsg(*rules: dict, name: str = "nsg-test", rg: str = "rg-test", sub: str = SUB, attached: bool = True,
        tags: dict | None = None, defaults: bool = True) -> dict:
    nid = nsg_id(name, rg, sub)
    props: dict = {
        "provisioningState": "Succeeded",
        "securityRules": [dict(r, id=f"{nid}/securityRules/{r['name']}") for r in rules],
        "defaultSecurityRules": [dict(r, id=f"{nid}/defaultSecurityRules/{r['name']}") for r in DEFAULT_RULES]
        if defaults else [],
    }
    if attached:
        props["subnets"] = [{"id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/"
                                   f"virtualNetworks/vnet/subnets/default"}]
    return {"id": nid, "name": name, "type": "microsoft.network/networksecuritygroups", "location": "westeurope",
            "resourceGroup": rg, "subscriptionId": sub, "tags": tags or {}, "properties": props}
