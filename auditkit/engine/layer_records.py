"""The layers Azure evaluates beside NSGs, read from their records into flat tables.

Virtual Network Manager security admin rules (the effective rules of one VNet, as
``listNetworkManagerEffectiveSecurityAdminRules`` returns them), Azure Firewall DNAT rules
(classic ``natRuleCollections`` and firewall policy rule collection groups, with IP groups) and
Application Gateway TCP/TLS listeners. A malformed record or rule is reported (id, field,
message) and the rest is read; what a layer could not read makes its verdicts unknown.
"""

from __future__ import annotations

ADMIN_RULES_TYPE = "microsoft.network/virtualnetworks/effectivesecurityadminrules"
FIREWALL_TYPE = "microsoft.network/azurefirewalls"
FIREWALL_POLICY_TYPE = "microsoft.network/firewallpolicies"
RULE_COLLECTION_GROUP_TYPE = "microsoft.network/firewallpolicies/rulecollectiongroups"
IP_GROUP_TYPE = "microsoft.network/ipgroups"
APP_GATEWAY_TYPE = "microsoft.network/applicationgateways"
LAYER_TYPES = (ADMIN_RULES_TYPE, FIREWALL_TYPE, FIREWALL_POLICY_TYPE, RULE_COLLECTION_GROUP_TYPE, IP_GROUP_TYPE,
               APP_GATEWAY_TYPE)
# The layers a verdict can rest on, as findings name them (``layer``) and meta.json records
# what could not be read (``topology.failed_layers``: layer -> subscriptions).
LAYERS = ("nsg", "admin-rule", "firewall-dnat", "app-gateway")
