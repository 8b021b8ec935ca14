"""Build a small Azure network as Resource Graph records: NSGs, VNets, NICs, VMs, public IPs,
load balancers, scale sets, application security groups; for the demo tenant, tests and benchmarks.

Links are written on both sides as Azure does (a NIC names its subnet and NSG; the NSG lists the
NICs and subnets it is attached to; a backend pool lists its ip configurations; a public IP names
the ip configuration that holds it), so that records look like a real export.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from auditkit.demo.synthetic import DEMO_TENANT, nsg_record

NET = "Microsoft.Network"


@dataclass
class LoadBalancer:
    """A load balancer being built; its records are written by ``Network.records``."""

    id: str
    name: str
    sku: str
    frontends: list = field(default_factory=list)
    pools: list = field(default_factory=list)
    rules: list = field(default_factory=list)
    nat_rules: list = field(default_factory=list)
    nat_pools: list = field(default_factory=list)

    def frontend(self, public_ip: str | None = None, name: str | None = None) -> str:
        """A frontend ip configuration, public when ``public_ip`` (an id) is given."""
        fid = f"{self.id}/frontendIPConfigurations/{name or f'fe{len(self.frontends)}'}"
        props: dict = {"publicIPAddress": {"id": public_ip}} if public_ip else {"privateIPAddress": "10.0.250.4"}
        self.frontends.append({"id": fid, "name": fid.rsplit("/", 1)[-1], "properties": props})
        return fid

    def pool(self, name: str = "backend") -> str:
        pid = f"{self.id}/backendAddressPools/{name}"
        self.pools.append({"id": pid, "name": name, "properties": {}})
        return pid

    def rule(self, name: str, frontend: str, pool: str, frontend_port: int, backend_port: int,
             protocol: str = "Tcp") -> str:
        rid = f"{self.id}/loadBalancingRules/{name}"
        self.rules.append({"id": rid, "name": name, "properties": {
            "frontendIPConfiguration": {"id": frontend}, "backendAddressPool": {"id": pool},
            "backendAddressPools": [{"id": pool}], "protocol": protocol, "frontendPort": frontend_port,
            "backendPort": backend_port, "enableFloatingIP": False}})
        return rid

    def nat_rule(self, name: str, frontend: str, frontend_port: int, backend_port: int, protocol: str = "Tcp",
                 pool: str | None = None, frontend_port_end: int | None = None) -> str:
        """An inbound NAT rule: classic (one ip configuration names it) or, with ``pool``, a port range onto a pool."""
        rid = f"{self.id}/inboundNatRules/{name}"
        props: dict = {"frontendIPConfiguration": {"id": frontend}, "protocol": protocol, "backendPort": backend_port}
        if pool:
            props.update({"backendAddressPool": {"id": pool}, "frontendPortRangeStart": frontend_port,
                          "frontendPortRangeEnd": frontend_port_end or frontend_port + 99})
        else:
            props["frontendPort"] = frontend_port
        self.nat_rules.append({"id": rid, "name": name, "properties": props})
        return rid

    def nat_pool(self, name: str, frontend: str, start: int, end: int, backend_port: int) -> str:
        rid = f"{self.id}/inboundNatPools/{name}"
        self.nat_pools.append({"id": rid, "name": name, "properties": {
            "frontendIPConfiguration": {"id": frontend}, "protocol": "Tcp", "frontendPortRangeStart": start,
            "frontendPortRangeEnd": end, "backendPort": backend_port}})
        return rid


class Network:
    """A subscription's network under construction (one resource group unless told otherwise)."""

    def __init__(self, subscription: str, resource_group: str = "rg-net", location: str = "westeurope"):
        self.sub = subscription
        self.rg = resource_group
        self.location = location
        self.nsgs: dict[str, dict] = {}
        self.vnets: dict[str, dict] = {}
        self.others: list[dict] = []
        self._vms: dict[str, dict] = {}
        self.nics: list[dict] = []
        self.lbs: list[LoadBalancer] = []
        self.pips: dict[str, dict] = {}
        self._nsg_links: dict[str, dict[str, list]] = defaultdict(lambda: {"subnets": [], "networkInterfaces": []})
        self._pool_members: dict[str, list] = defaultdict(list)

    def _id(self, provider: str, kind: str, name: str, rg: str | None = None) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{rg or self.rg}/providers/{provider}/{kind}/{name}"

    def _record(self, rid: str, typ: str, name: str, props: dict, sku: str | None = None) -> dict:
        rec = {"id": rid, "name": name, "type": typ, "tenantId": DEMO_TENANT, "location": self.location,
               "resourceGroup": self.rg.lower(), "subscriptionId": self.sub, "tags": {}, "properties": props}
        if sku:
            rec["sku"] = {"name": sku}
        return rec

    def nsg(self, name: str, rules: list[dict] | None = None, *, tags: dict | None = None,
            resource_group: str | None = None) -> str:
        rec = nsg_record(self.sub, resource_group or self.rg, name, rules or [], attached=False, tags=tags,
                         location=self.location)
        self.nsgs[rec["id"]] = rec
        return rec["id"]

    def vnet(self, name: str, address_space: str = "10.0.0.0/16") -> str:
        rid = self._id(NET, "virtualNetworks", name)
        self.vnets[rid] = self._record(rid, "microsoft.network/virtualnetworks", name,
                                       {"addressSpace": {"addressPrefixes": [address_space]}, "subnets": []})
        return rid

    def subnet(self, vnet: str, name: str, prefix: str, nsg: str | None = None, *,
               private_endpoint_policies: str | None = None) -> str:
        sid = f"{vnet}/subnets/{name}"
        props: dict = {"addressPrefix": prefix}
        if private_endpoint_policies:
            props["privateEndpointNetworkPolicies"] = private_endpoint_policies
        if nsg:
            props["networkSecurityGroup"] = {"id": nsg}
            self._nsg_links[nsg]["subnets"].append({"id": sid})
        self.vnets[vnet]["properties"]["subnets"].append({"id": sid, "name": name, "properties": props})
        return sid

    def asg(self, name: str) -> str:
        rid = self._id(NET, "applicationSecurityGroups", name)
        self.others.append(self._record(rid, "microsoft.network/applicationsecuritygroups", name, {}))
        return rid

    def public_ip(self, name: str, address: str | None, sku: str = "Standard", version: str = "IPv4") -> str:
        rid = self._id(NET, "publicIPAddresses", name)
        props: dict = {"publicIPAllocationMethod": "Static" if sku == "Standard" else "Dynamic",
                       "publicIPAddressVersion": version}
        if address:
            props["ipAddress"] = address
        self.pips[rid] = self._record(rid, "microsoft.network/publicipaddresses", name, props, sku)
        return rid

    def vm(self, name: str, power_state: str = "running") -> str:
        rid = self._id("Microsoft.Compute", "virtualMachines", name)
        self._vms[rid] = self._record(rid, "microsoft.compute/virtualmachines", name, {
            "networkProfile": {"networkInterfaces": []},
            "extended": {"instanceView": {"powerState": {"code": f"PowerState/{power_state}"}}}})
        self.others.append(self._vms[rid])
        return rid

    def nic(self, name: str, subnet: str, private_ip: str, *, nsg: str | None = None, public_ip: str | None = None,
            vm: str | None = None, pools: tuple = (), nat_rules: tuple = (), asgs: tuple = (),
            ipv6: str | None = None, public_ipv6: str | None = None, private_endpoint: bool = False) -> str:
        """A NIC with one ip configuration (and, with ``ipv6``, a second one of that family);
        returns the IPv4 ip configuration's id."""
        rid = self._id(NET, "networkInterfaces", name)
        cid = f"{rid}/ipConfigurations/ipconfig1"
        cfg: dict = {"privateIPAddress": private_ip, "subnet": {"id": subnet}, "primary": True}
        if public_ip:
            cfg["publicIPAddress"] = {"id": public_ip}
            self.pips[public_ip]["properties"]["ipConfiguration"] = {"id": cid}
        if pools:
            cfg["loadBalancerBackendAddressPools"] = [{"id": p} for p in pools]
            for p in pools:
                self._pool_members[p.lower()].append({"id": cid})
        if nat_rules:
            cfg["loadBalancerInboundNatRules"] = [{"id": r} for r in nat_rules]
        if asgs:
            cfg["applicationSecurityGroups"] = [{"id": a} for a in asgs]
        cfg["privateIPAddressVersion"] = "IPv4"
        props: dict = {"ipConfigurations": [{"id": cid, "name": "ipconfig1", "properties": cfg}]}
        if ipv6:
            cid6 = f"{rid}/ipConfigurations/ipconfig-v6"
            cfg6: dict = {"privateIPAddress": ipv6, "privateIPAddressVersion": "IPv6", "subnet": {"id": subnet},
                          "primary": False}
            if public_ipv6:
                cfg6["publicIPAddress"] = {"id": public_ipv6}
                self.pips[public_ipv6]["properties"]["ipConfiguration"] = {"id": cid6}
            if asgs:
                cfg6["applicationSecurityGroups"] = [{"id": a} for a in asgs]
            props["ipConfigurations"].append({"id": cid6, "name": "ipconfig-v6", "properties": cfg6})
        if private_endpoint:
            props["privateEndpoint"] = {"id": self._id(NET, "privateEndpoints", f"pe-{name}")}
        if nsg:
            props["networkSecurityGroup"] = {"id": nsg}
            self._nsg_links[nsg]["networkInterfaces"].append({"id": rid})
        if vm:
            props["virtualMachine"] = {"id": vm}
            if vm in self._vms:
                self._vms[vm]["properties"]["networkProfile"]["networkInterfaces"].append({"id": rid})
        self.nics.append(self._record(rid, "microsoft.network/networkinterfaces", name, props))
        return cid

    def load_balancer(self, name: str, sku: str = "Standard") -> LoadBalancer:
        lb = LoadBalancer(self._id(NET, "loadBalancers", name), name, sku)
        self.lbs.append(lb)
        return lb

    def vmss(self, name: str, subnet: str, *, nsg: str | None = None, public_ip_per_instance: bool = False,
             pools: tuple = (), nat_pools: tuple = (), asgs: tuple = ()) -> str:
        rid = self._id("Microsoft.Compute", "virtualMachineScaleSets", name)
        cfg: dict = {"subnet": {"id": subnet}, "primary": True}
        if public_ip_per_instance:
            cfg["publicIPAddressConfiguration"] = {"name": "pub", "properties": {"idleTimeoutInMinutes": 4}}
        if pools:
            cfg["loadBalancerBackendAddressPools"] = [{"id": p} for p in pools]
        if nat_pools:
            cfg["loadBalancerInboundNatPools"] = [{"id": p} for p in nat_pools]
        if asgs:
            cfg["applicationSecurityGroups"] = [{"id": a} for a in asgs]
        nic: dict = {"name": f"{name}-nic", "properties": {"primary": True, "ipConfigurations": [
            {"name": "ipconfig1", "properties": cfg}]}}
        if nsg:
            nic["properties"]["networkSecurityGroup"] = {"id": nsg}
            # Azure lists each instance's NIC on the NSG; one instance stands for them here.
            self._nsg_links[nsg]["networkInterfaces"].append(
                {"id": f"{rid}/virtualMachines/0/networkInterfaces/{name}-nic"})
        self.others.append(self._record(rid, "microsoft.compute/virtualmachinescalesets", name, {
            "orchestrationMode": "Uniform",
            "virtualMachineProfile": {"networkProfile": {"networkInterfaceConfigurations": [nic]}}}, "Standard_D2s_v5"))
        return rid

    def other(self, type_: str, name: str, props: dict | None = None, provider_kind: str = "azureFirewalls") -> str:
        """A resource the kit names but does not model (Azure Firewall, Application Gateway, route table...)."""
        rid = self._id(NET, provider_kind, name)
        self.others.append(self._record(rid, type_, name, props or {}))
        return rid

    # --- Layers beyond NSGs: Virtual Network Manager admin rules, Azure Firewall DNAT, App Gateway ---

    def admin_rules(self, vnet: str, rules: list[dict]) -> dict:
        """The effective security admin rules of ``vnet`` (items as ``admin_rule`` writes them), as
        the export record the kit reads; an empty list says "read, none apply"."""
        rec = {"type": "microsoft.network/virtualnetworks/effectivesecurityadminrules",
               "id": f"{vnet}/effectiveSecurityAdminRules", "subscriptionId": self.sub,
               "properties": {"virtualNetworkId": vnet, "value": list(rules)}}
        self.others.append(rec)
        return rec

    def admin_rule(self, name: str, access: str, priority: int, ports: list[str], *, sources: list[str] | None = None,
                   protocol: str = "Tcp", destinations: list[str] | None = None, configuration: str = "cfg-security",
                   collection: str = "rc-internet", manager: str = "avnm-corp", direction: str = "Inbound") -> dict:
        """One item of listNetworkManagerEffectiveSecurityAdminRules, as the API returns it."""
        nm = self._id(NET, "networkManagers", manager)
        rid = f"{nm}/securityAdminConfigurations/{configuration}/ruleCollections/{collection}/rules/{name}"

        def addresses(values: list[str]) -> list[dict]:
            return [{"addressPrefix": v, "addressPrefixType": "ServiceTag" if v[:1].isalpha() else "IPPrefix"}
                    for v in values]

        return {"id": rid, "kind": "Custom", "configurationDescription": configuration,
                "ruleCollectionDescription": collection,
                "ruleCollectionAppliesToGroups": [{"networkGroupId": f"{nm}/networkGroups/ng-all"}],
                "ruleGroups": [], "properties": {
                    "access": access, "priority": priority, "direction": direction, "protocol": protocol,
                    "sources": addresses(sources or ["Internet"]), "destinations": addresses(destinations or ["*"]),
                    "sourcePortRanges": ["0-65535"], "destinationPortRanges": list(ports),
                    "provisioningState": "Succeeded"}}

    @staticmethod
    def dnat_rule(name: str, destination: str, port: str, translated_address: str, translated_port: str, *,
                  sources: list[str] | None = None, ip_groups: list[str] | None = None,
                  protocols: list[str] | None = None, classic: bool = False) -> dict:
        """A DNAT rule: a firewall policy ``NatRule``, or (``classic``) an item of a classic
        firewall's ``natRuleCollections[].properties.rules``."""
        rule = {"name": name, "sourceAddresses": list(sources if sources is not None else ["*"]),
                "sourceIpGroups": list(ip_groups or []), "destinationAddresses": [destination],
                "destinationPorts": [port], "translatedAddress": translated_address, "translatedPort": translated_port}
        if classic:
            return {**rule, "protocols": list(protocols or ["TCP"])}
        return {**rule, "ruleType": "NatRule", "ipProtocols": list(protocols or ["TCP"])}

    def firewall_policy(self, name: str) -> str:
        rid = self._id(NET, "firewallPolicies", name)
        self.others.append(self._record(rid, "microsoft.network/firewallpolicies", name, {
            "ruleCollectionGroups": [], "firewalls": [], "threatIntelMode": "Alert"}))
        return rid

    def dnat_collection(self, policy: str, group: str, collection: str, rules: list[dict], *,
                        priority: int = 100, group_priority: int = 200) -> str:
        """A rule collection group of ``policy`` holding one DNAT rule collection."""
        rid = f"{policy}/ruleCollectionGroups/{group}"
        self.others.append({"id": rid, "name": group, "type": "microsoft.network/firewallpolicies/rulecollectiongroups",
                            "subscriptionId": self.sub, "properties": {"priority": group_priority, "ruleCollections": [
                                {"ruleCollectionType": "FirewallPolicyNatRuleCollection", "name": collection,
                                 "priority": priority, "action": {"type": "DNAT"}, "rules": list(rules)}]}})
        for rec in self.others:
            if rec["id"] == policy:
                rec["properties"]["ruleCollectionGroups"].append({"id": rid})
        return rid

    def ip_group(self, name: str, addresses: list[str]) -> str:
        rid = self._id(NET, "ipGroups", name)
        self.others.append(self._record(rid, "microsoft.network/ipgroups", name, {"ipAddresses": list(addresses)}))
        return rid

    def firewall(self, name: str, subnet: str, private_ip: str, public_ips: list[str], *, policy: str | None = None,
                 classic_dnat: list[dict] | None = None, sku: str = "AZFW_VNet") -> str:
        """An Azure Firewall in ``subnet`` (its AzureFirewallSubnet) with public IPs (ids), its
        policy, and classic DNAT rules (one collection) when given."""
        rid = self._id(NET, "azureFirewalls", name)
        configs = [{"id": f"{rid}/azureFirewallIpConfigurations/ipconfig{i}", "name": f"ipconfig{i}",
                    "properties": {**({"subnet": {"id": subnet}, "privateIPAddress": private_ip} if i == 0 else {}),
                                   "publicIPAddress": {"id": pip}}} for i, pip in enumerate(public_ips)]
        for cfg in configs:
            pip = cfg["properties"]["publicIPAddress"]["id"]
            if pip in self.pips:
                self.pips[pip]["properties"]["ipConfiguration"] = {"id": cfg["id"]}
        props: dict = {"sku": {"name": sku, "tier": "Standard"}, "ipConfigurations": configs,
                       "natRuleCollections": [], "networkRuleCollections": [], "applicationRuleCollections": []}
        if policy:
            props["firewallPolicy"] = {"id": policy}
        if classic_dnat:
            props["natRuleCollections"].append({"id": f"{rid}/natRuleCollections/dnat-classic", "name": "dnat-classic",
                                                "properties": {"priority": 100, "action": {"type": "Dnat"},
                                                               "rules": list(classic_dnat)}})
        self.others.append(self._record(rid, "microsoft.network/azurefirewalls", name, props))
        return rid

    def app_gateway(self, name: str, public_ip: str, listeners: list[tuple[str, str, int]],
                    backend: list[str], backend_port: int, sku: str = "Standard_v2") -> str:
        """An Application Gateway with TCP/TLS proxy ``listeners`` (name, ``Tcp``/``Tls``, frontend
        port) on ``public_ip``, each routed to the ``backend`` addresses on ``backend_port``."""
        rid = self._id(NET, "applicationGateways", name)
        fe = f"{rid}/frontendIPConfigurations/appGwPublicFrontendIp"
        pool = f"{rid}/backendAddressPools/pool1"
        settings = f"{rid}/backendSettingsCollection/tcp-settings"
        ports, lst, rules = [], [], []
        for i, (lname, protocol, port) in enumerate(listeners):
            pid = f"{rid}/frontendPorts/port-{port}"
            ports.append({"id": pid, "name": f"port-{port}", "properties": {"port": port}})
            lid = f"{rid}/listeners/{lname}"
            lst.append({"id": lid, "name": lname, "properties": {
                "protocol": protocol, "frontendIPConfiguration": {"id": fe}, "frontendPort": {"id": pid}}})
            rules.append({"id": f"{rid}/routingRules/rule-{lname}", "name": f"rule-{lname}", "properties": {
                "ruleType": "Basic", "priority": 100 + i, "listener": {"id": lid},
                "backendAddressPool": {"id": pool}, "backendSettings": {"id": settings}}})
        if public_ip in self.pips:
            self.pips[public_ip]["properties"]["ipConfiguration"] = {"id": fe}
        self.others.append(self._record(rid, "microsoft.network/applicationgateways", name, {
            "sku": {"name": sku, "tier": sku}, "gatewayIPConfigurations": [],
            "frontendIPConfigurations": [{"id": fe, "name": "appGwPublicFrontendIp",
                                          "properties": {"publicIPAddress": {"id": public_ip}}}],
            "frontendPorts": ports, "listeners": lst, "routingRules": rules, "httpListeners": [],
            "requestRoutingRules": [],
            "backendAddressPools": [{"id": pool, "name": "pool1", "properties": {
                "backendAddresses": [{"ipAddress": a} for a in backend]}}],
            "backendSettingsCollection": [{"id": settings, "name": "tcp-settings", "properties": {
                "port": backend_port, "protocol": "Tcp"}}]}))
        return rid

    def records(self) -> tuple[list[dict], list[dict]]:
        """(NSG records, topology records), with every back-link filled in."""
        nsgs = []
        for nid, rec in self.nsgs.items():
            rec = {**rec, "properties": {**rec["properties"]}}
            links = self._nsg_links.get(nid, {"subnets": [], "networkInterfaces": []})
            for key in ("subnets", "networkInterfaces"):
                if links[key]:
                    rec["properties"][key] = list(links[key])
            nsgs.append(rec)
        topo = list(self.vnets.values()) + list(self.nics) + list(self.pips.values()) + list(self.others)
        for lb in self.lbs:
            pools = [{**p, "properties": {"backendIPConfigurations": list(self._pool_members.get(p["id"].lower(), []))}}
                     for p in lb.pools]
            for fe in lb.frontends:
                pip = (fe["properties"].get("publicIPAddress") or {}).get("id")
                if pip in self.pips:
                    self.pips[pip]["properties"]["ipConfiguration"] = {"id": fe["id"]}
            rid = lb.id
            topo.append(self._record(rid, "microsoft.network/loadbalancers", lb.name, {
                "frontendIPConfigurations": lb.frontends, "backendAddressPools": pools,
                "loadBalancingRules": lb.rules, "inboundNatRules": lb.nat_rules, "inboundNatPools": lb.nat_pools},
                lb.sku))
        return nsgs, topo
