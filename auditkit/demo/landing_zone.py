"""The demo's hub-and-spoke landing zone: the layers Azure evaluates beyond NSGs, each once.

In "contoso-shared-services": a hub VNet whose Azure Firewall publishes the spoke's mail server
by a DNAT rule (no NSG rule names the internet: the spoke NSG's default AllowVnetInBound admits
the translated traffic); a Virtual Network Manager configuration that denies RDP from the
internet for the production spokes (one NSG still allows 3389: blocked by the admin rule); an
``AlwaysAllow`` SSH admin rule for the jump VNet whose NSG denies SSH; and a dual-stack VM that
the internet reaches on 22 over IPv6 only.
"""

from __future__ import annotations

from auditkit.demo.network import Network
from auditkit.demo.synthetic import security_rule

LANDING_ZONE_SUBSCRIPTION = "contoso-shared-services"
LANDING_ZONE_RG = "rg-landing-zone"


def _rule(name: str, prio: int, access: str, sources: list[str], port: str, description: str = "") -> dict:
    return security_rule("x", name, prio, access, "Tcp", sources, [port], ["*"], description=description)


def landing_zone(subscription: str) -> tuple[list[dict], list[dict]]:
    """(NSG records, topology and layer records) of the landing zone in ``subscription``."""
    n = Network(subscription, LANDING_ZONE_RG)
    hub = n.vnet("vnet-hub", "10.100.0.0/16")
    fw_subnet = n.subnet(hub, "AzureFirewallSubnet", "10.100.1.0/26")
    mail_vnet = n.vnet("vnet-spoke-mail", "10.101.0.0/16")
    prod_vnet = n.vnet("vnet-spoke-prod", "10.102.0.0/16")
    jump_vnet = n.vnet("vnet-jump", "10.103.0.0/16")
    ds_vnet = n.vnet("vnet-dualstack", "10.104.0.0/16")
    n.vnets[ds_vnet]["properties"]["addressSpace"]["addressPrefixes"].append("fd00:104::/48")

    # The mail server: no public IP, no NSG rule from the internet; published by the hub firewall.
    mail_nsg = n.nsg("nsg-spoke-mail", [], tags={"owner": "mail-team", "justification": "inbound MX via hub"})
    mail_subnet = n.subnet(mail_vnet, "snet-mail", "10.101.1.0/24", mail_nsg)
    n.nic("nic-mail-lz-01", mail_subnet, "10.101.1.4", vm=n.vm("vm-mail-lz-01"))
    policy = n.firewall_policy("fwp-hub")
    n.dnat_collection(policy, "rcg-inbound", "dnat-mail", [
        n.dnat_rule("smtp-in", "20.100.0.4", "25", "10.101.1.4", "25")])
    n.firewall("fw-hub-lz", fw_subnet, "10.100.1.4", [n.public_ip("pip-fw-hub", "20.100.0.4")], policy=policy)

    # A production app whose NSG still allows RDP from anywhere: the admin rule denies it first.
    prod_nsg = n.nsg("nsg-spoke-prod-app", [_rule("Allow-RDP-Vendor", 100, "Allow", ["*"], "3389",
                                                  description="vendor support, to be removed")],
                     tags={"owner": "erp-team"})
    prod_subnet = n.subnet(prod_vnet, "snet-app", "10.102.1.0/24", prod_nsg)
    n.nic("nic-prod-app-01", prod_subnet, "10.102.1.4", vm=n.vm("vm-prod-app-01"),
          public_ip=n.public_ip("pip-prod-app-01", "20.100.0.20"))

    # The jump VNet: its NSG denies SSH, an AlwaysAllow admin rule delivers it anyway.
    jump_nsg = n.nsg("nsg-jump", [_rule("Deny-SSH-Internet", 100, "Deny", ["*"], "22")], tags={"owner": "platform"})
    jump_subnet = n.subnet(jump_vnet, "snet-jump", "10.103.1.0/24", jump_nsg)
    n.nic("nic-jump-01", jump_subnet, "10.103.1.4", vm=n.vm("vm-jump-01"),
          public_ip=n.public_ip("pip-jump-01", "20.100.0.30"))

    # Dual stack: IPv4 SSH denied, IPv6 SSH allowed.
    ds_nsg = n.nsg("nsg-dualstack", [_rule("Deny-SSH-IPv4", 100, "Deny", ["0.0.0.0/0"], "22"),
                                     _rule("Allow-SSH-IPv6", 110, "Allow", ["::/0"], "22",
                                           description="IPv6 admin access, added in testing")],
                   tags={"owner": "platform"})
    ds_subnet = n.subnet(ds_vnet, "snet-dualstack", "10.104.1.0/24", ds_nsg)
    n.nic("nic-dualstack-01", ds_subnet, "10.104.1.4", vm=n.vm("vm-dualstack-01"),
          public_ip=n.public_ip("pip-dualstack-01", "20.100.0.40"), ipv6="fd00:104::4",
          public_ipv6=n.public_ip("pip-dualstack-01-v6", "2603:1020:104::4", version="IPv6"))

    # Virtual Network Manager: the effective admin rules of every VNet (empty: read, none apply).
    deny_rdp = n.admin_rule("Deny-RDP-Internet", "Deny", 100, ["3389"], configuration="cfg-prod-baseline",
                            collection="rc-prod-inbound")
    n.admin_rules(prod_vnet, [deny_rdp])
    n.admin_rules(mail_vnet, [deny_rdp])
    n.admin_rules(jump_vnet, [n.admin_rule("AlwaysAllow-SSH-Jump", "AlwaysAllow", 200, ["22"],
                                           configuration="cfg-jump-access", collection="rc-jump")])
    n.admin_rules(hub, [])
    n.admin_rules(ds_vnet, [])
    return n.records()
