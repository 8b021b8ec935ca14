"""The demo tenant's machines: VNets, subnets, NICs, VMs, public IPs, load balancers and a scale set
behind its NSGs, so that effective exposure has something true to find.

Every attached demo NSG governs one subnet with one VM; whether that VM has a public IP follows
the NSG's role (mail relays and promoted dev rules mostly do, admin hosts half the time). The
"contoso-prod-mail" subscription also holds an edge network that shows every verdict: a mail VM
behind a public load balancer (load-balancing rule and inbound NAT rule), a relay whose NIC allows
SMTP but whose subnet denies it, an internal VM allowed but without a public path, a rule limited
to one destination address, application security groups, a scale set published by a NAT pool,
and an Azure Firewall with no DNAT rule (publishes nothing).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from auditkit.demo.network import Network
from auditkit.demo.synthetic import security_rule

EDGE_SUBSCRIPTION = "contoso-prod-mail"
EDGE_RG = "rg-mail-edge"


def _segment(resource_id: str, name: str) -> str:
    parts = resource_id.split("/")
    low = [p.lower() for p in parts]
    return parts[low.index(name) + 1] if name in low else ""


def behind_nsgs(nsg_records: Sequence[dict], seed: int = 2026) -> list[dict]:
    """Topology records for the demo NSG records: one subnet and one VM per attached NSG."""
    rng = random.Random(seed)
    out: list[dict] = []
    networks: dict[tuple[str, str], tuple[Network, str, int]] = {}
    for rec in sorted(nsg_records, key=lambda r: r["id"].lower()):
        subnets = (rec.get("properties") or {}).get("subnets") or []
        if not subnets:
            continue
        sub = rec["subscriptionId"]
        rg = rec["resourceGroup"]
        if (sub, rg) not in networks:
            net = Network(sub, rg)
            k = len(networks) % 200 + 20
            vnet = net.vnet(f"vnet-{rg}", f"10.{k}.0.0/16")
            networks[(sub, rg)] = (net, vnet, k)
        net, vnet, k = networks[(sub, rg)]
        j = len(net.vnets[vnet]["properties"]["subnets"]) + 1
        subnet_name = _segment(subnets[0]["id"], "subnets")
        sid = net.subnet(vnet, subnet_name, f"10.{k}.{j}.0/24", rec["id"])
        role = rec["name"].split("-")[1] if rec["name"].count("-") >= 2 else ""
        chance = {"mail": 0.8, "promoted": 0.7, "admin": 0.5, "web": 0.6, "gateway": 0.9}.get(role, 0.3)
        pip = net.public_ip(f"pip-{rec['name']}", f"20.{k}.{j}.{rng.randrange(4, 250)}") \
            if rng.random() < chance else None
        vm = net.vm(f"vm-{rec['name'][4:]}", "running" if rng.random() < 0.9 else "deallocated")
        net.nic(f"nic-{rec['name'][4:]}", sid, f"10.{k}.{j}.4", public_ip=pip, vm=vm)
    for net, vnet, _ in networks.values():
        net.admin_rules(vnet, [])  # as a live collection writes it: read, no admin rule applies
        out.extend(net.records()[1])
    return out


def edge_network(subscription: str) -> tuple[list[dict], list[dict]]:
    """(NSG records, topology records) of the mail edge network in ``subscription``."""
    n = Network(subscription, EDGE_RG)
    asg_mail = n.asg("asg-mail-servers")

    def rule(name: str, prio: int, access: str, sources: list[str], port: str, dst: str = "*",
             dst_asg: str | None = None, description: str = "") -> dict:
        r = security_rule("x", name, prio, access, "Tcp", sources, [port], ["*"], description=description)
        if dst_asg:
            del r["properties"]["destinationAddressPrefix"]
            r["properties"]["destinationApplicationSecurityGroups"] = [{"id": dst_asg}]
        else:
            r["properties"]["destinationAddressPrefix"] = dst
        return r

    edge = n.nsg("nsg-mail-edge-subnet", [
        rule("Allow-SMTP-To-Mail-Servers", 100, "Allow", ["*"], "25", dst_asg=asg_mail,
             description="inbound MX for contoso.example"),
        rule("Allow-SSH-Internet", 120, "Allow", ["Internet"], "22")],
        tags={"owner": "mail-team", "justification": "inbound MX", "expires": "2027-06-30"})
    mail_nic = n.nsg("nsg-mail-01-nic", [rule("Allow-SMTP-Any", 100, "Allow", ["*"], "25"),
                                         rule("Allow-SSH-Any", 110, "Allow", ["*"], "22")],
                     tags={"owner": "mail-team"})
    dmz = n.nsg("nsg-dmz-subnet", [rule("Deny-SMTP-Internet", 100, "Deny", ["Internet"], "25"),
                                   rule("Allow-HTTPS", 200, "Allow", ["*"], "443")])
    relay_nic = n.nsg("nsg-relay-02-nic", [rule("Allow-SMTP-Internet", 100, "Allow", ["Internet"], "25",
                                                description="old relay, should be removed")])
    internal = n.nsg("nsg-internal-subnet", [
        rule("Allow-SMTP-Anywhere", 100, "Allow", ["0.0.0.0/0"], "25"),
        rule("Allow-SMTP-To-Old-Relay", 110, "Allow", ["*"], "25", dst="10.60.3.200",
             description="relay that was decommissioned")])
    vmss_nsg = n.nsg("nsg-vmss-web", [rule("Allow-RDP-Any", 100, "Allow", ["*"], "3389",
                                           description="vendor support")])
    vnet = n.vnet("vnet-mail-edge", "10.60.0.0/16")
    s_edge = n.subnet(vnet, "snet-mail", "10.60.1.0/24", edge)
    s_dmz = n.subnet(vnet, "snet-dmz", "10.60.2.0/24", dmz)
    s_internal = n.subnet(vnet, "snet-internal", "10.60.3.0/24", internal)
    s_web = n.subnet(vnet, "snet-web", "10.60.4.0/24")
    lb = n.load_balancer("lb-mail-public")
    fe = lb.frontend(n.public_ip("pip-lb-mail", "20.60.0.10"), "fe-mail")
    pool = lb.pool("be-mail")
    lb.rule("lbr-smtp", fe, pool, 25, 25)
    ssh_nat = lb.nat_rule("nat-ssh-mail-01", fe, 50022, 22)
    rdp_pool = lb.nat_pool("natpool-rdp-web", fe, 50100, 50199, 3389)
    n.nic("nic-mail-01", s_edge, "10.60.1.4", nsg=mail_nic, vm=n.vm("vm-mail-01"), pools=(pool,),
          nat_rules=(ssh_nat,), asgs=(asg_mail,))
    n.nic("nic-relay-02", s_dmz, "10.60.2.4", nsg=relay_nic, vm=n.vm("vm-relay-02"),
          public_ip=n.public_ip("pip-relay-02", "20.60.0.20"))
    n.nic("nic-internal-03", s_internal, "10.60.3.4", vm=n.vm("vm-internal-03"))
    n.vmss("vmss-web", s_web, nsg=vmss_nsg, nat_pools=(rdp_pool,))
    n.other("microsoft.network/azurefirewalls", "fw-hub")
    n.admin_rules(vnet, [])
    return n.records()
