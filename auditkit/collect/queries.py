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
QUERIES = {"subscriptions": SUBSCRIPTIONS_QUERY, "nsgs": NSG_QUERY}

