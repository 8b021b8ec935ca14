"""The Resource Graph queries, one per resource type: every row's ``id`` projected and ordered by it,
so that pages neither overlap nor skip rows."""

SUBSCRIPTIONS_QUERY = (
    "resourcecontainers\n"
    "| where type =~ 'microsoft.resources/subscriptions'\n"
    "| project id, subscriptionId, name, type, tags, properties\n"
    "| order by id asc"
)
NSG_QUERY = (
    "resources\n"
    "| where type =~ 'microsoft.network/networksecuritygroups'\n"
    "| project id, name, type, tenantId, location, resourceGroup, subscriptionId, tags, properties\n"
    "| order by id asc"
)


def _typed(types: str) -> str:
    return ("resources\n"
            f"| where type {types}\n"
            "| project id, name, type, tenantId, location, resourceGroup, subscriptionId, sku, properties\n"
            "| order by id asc")


# The resources that decide reachability, one query per type (see auditkit.engine.topology).
TOPOLOGY_QUERIES = {
    "nics": _typed("=~ 'microsoft.network/networkinterfaces'"),
    "vnets": _typed("=~ 'microsoft.network/virtualnetworks'"),
    "public_ips": _typed("=~ 'microsoft.network/publicipaddresses'"),
    "load_balancers": _typed("=~ 'microsoft.network/loadbalancers'"),
    "vmss": _typed("=~ 'microsoft.compute/virtualmachinescalesets'"),
    "vms": _typed("=~ 'microsoft.compute/virtualmachines'"),
    "asgs": _typed("=~ 'microsoft.network/applicationsecuritygroups'"),
    # The layers beyond NSGs that Resource Graph holds (see auditkit.engine.layer_records); the
    # effective admin rules and the firewall policies' rule collection groups come from ARM
    # (auditkit.collect.layers).
    "firewalls": _typed("=~ 'microsoft.network/azurefirewalls'"),
    "firewall_policies": _typed("=~ 'microsoft.network/firewallpolicies'"),
    "ip_groups": _typed("=~ 'microsoft.network/ipgroups'"),
    "app_gateways": _typed("=~ 'microsoft.network/applicationgateways'"),
    # Constructs that publish VMs outside NSG logic: named "not modelled" in reports.
    "unmodelled": _typed("in~ ('microsoft.network/bastionhosts', 'microsoft.network/routetables')"),
}
# The Resource Graph queries each layer's records come from (a subscription one of them failed
# for has that layer unknown); "vnets" because admin rules are read per VNet.
LAYER_QUERIES = {"admin-rule": ("vnets",), "firewall-dnat": ("firewalls", "firewall_policies", "ip_groups"),
                 "app-gateway": ("app_gateways",)}
# Who changed the NSGs in the last ~14 days (what Resource Graph keeps); attributed to rules later.
CHANGES_QUERY = (
    "resourcechanges\n"
    "| where properties.targetResourceType =~ 'microsoft.network/networksecuritygroups'\n"
    "| project id, type, subscriptionId, properties\n"
    "| order by id asc"
)
# The kit's guardrails: their assignments and policy states (compliance), when present.
GUARDRAILS_QUERY = (
    "policyresources\n"
    "| where (type =~ 'microsoft.authorization/policyassignments' and properties.policyDefinitionId contains "
    "'auditkit-internet-port-') or (type =~ 'microsoft.policyinsights/policystates' and "
    "properties.policyDefinitionName startswith 'auditkit-internet-port-')\n"
    "| project id, name, type, subscriptionId, properties\n"
    "| order by id asc"
)
QUERIES = {"guardrails": GUARDRAILS_QUERY, "changes": CHANGES_QUERY, "subscriptions": SUBSCRIPTIONS_QUERY, "nsgs": NSG_QUERY, **{f"topology.{k}": v for k, v in TOPOLOGY_QUERIES.items()}}

