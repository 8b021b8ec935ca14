"""Remediation per finding, following the guidance: Audit, Analyze traffic first, Restrict sources,
Transition to port 587, Decommission. Commands are proposed, never run by the kit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditkit.formats import shell_quote

PLACEHOLDER_PREFIXES = ("<TRUSTED-GATEWAY-PREFIX>",)
JIT_PREFIX = "securitycenter-jitrule"


def is_jit(rule_name: str) -> bool:
    """Just-in-Time rules are managed by Defender for Cloud: never edit them by hand."""
    name = rule_name.lower()
    for prefix in ("userrule_", "defaultrule_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name.startswith(JIT_PREFIX)


def restrict_command(finding: Any, prefixes: Sequence[str] = PLACEHOLDER_PREFIXES,
                     ports: Sequence[int | str] | None = None) -> str:
    """``az network nsg rule update`` that replaces the rule's sources with ``prefixes`` (and its
    destination ports with ``ports`` when given): one command per rule, whatever ports it exposes.

    Every value is shell-quoted: names come from the tenant and must never run as shell code.
    A finding of another layer (firewall DNAT, admin rule, gateway listener) gets its own fix.
    """
    q = shell_quote
    layer = str(finding.get("layer") or "nsg") if hasattr(finding, "get") else "nsg"
    if layer != "nsg":
        return layer_fix(finding, prefixes)
    command = (f"az network nsg rule update --subscription {q(str(finding['subscription_id']))} "
               f"--resource-group {q(str(finding['resource_group']))} --nsg-name {q(str(finding['nsg_name']))} "
               f"--name {q(str(finding['rule_name']))} --source-address-prefixes "
               + " ".join(q(p) for p in prefixes))
    if ports:
        command += " --destination-port-ranges " + " ".join(q(str(p)) for p in ports)
    return command


def layer_fix(finding: Any, prefixes: Sequence[str] = PLACEHOLDER_PREFIXES) -> str:
    """The fix of a finding outside NSGs: the DNAT rule's sources (``az network firewall policy
    rule-collection-group collection rule update``, azure-firewall extension), or what to change
    by hand where no command edits one rule (classic DNAT, admin rules, gateway listeners)."""
    q = shell_quote
    layer, name, holder = str(finding.get("layer")), str(finding["rule_name"]), str(finding["nsg_name"])
    parts = name.split("/")
    if layer == "firewall-dnat" and len(parts) == 4:
        policy, group, collection, rule = parts
        return (f"az network firewall policy rule-collection-group collection rule update "
                f"--subscription {q(str(finding['subscription_id']))} --resource-group "
                f"{q(str(finding['resource_group']))} --policy-name {q(policy)} --rcg-name {q(group)} "
                f"--collection-name {q(collection)} --name {q(rule)} --source-addresses "
                + " ".join(q(p) for p in prefixes))
    if layer == "firewall-dnat":
        return (f"# firewall {q(holder)}, classic DNAT rule {q(name)}: set its sourceAddresses to "
                + " ".join(q(p) for p in prefixes) + " (or move the firewall to a policy)")
    if layer == "admin-rule":
        return (f"# Virtual Network Manager admin rule {q(name)} (VNet {q(holder)}): remove the AlwaysAllow rule or "
                "set its sources to " + " ".join(q(p) for p in prefixes) + ", then deploy (commit) the configuration")
    return (f"# application gateway {q(holder)}, TCP/TLS listener {q(name)}: remove the listener, or allow only "
            + " ".join(q(p) for p in prefixes) + " in the NSG of the gateway's subnet")


def port_span(ranges: Sequence[str]) -> int:
    """How many destination ports a rule's ranges cover (``*`` is all 65,536)."""
    covered = 0
    for r in ranges:
        r = str(r).strip()
        if r in ("*", "Any", "any"):
            return 65536
        lo, _, hi = r.partition("-")
        try:
            covered += int(hi or lo) - int(lo) + 1
        except ValueError:
            continue
    return covered


def delete_command(finding: Any) -> str:
    q = shell_quote
    return (f"az network nsg rule delete --subscription {q(str(finding['subscription_id']))} "
            f"--resource-group {q(str(finding['resource_group']))} --nsg-name {q(str(finding['nsg_name']))} "
            f"--name {q(str(finding['rule_name']))}")


def checklist(finding: Any, prefixes: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """(step, advice) pairs for one finding; ``prefixes`` from flow-log evidence when known."""
    port = int(finding["port"])
    evidence = prefixes is not None
    steps = [
        ("Audit", f"Rule {finding['rule_name']!s} (priority {finding['priority']}) allows TCP {port} from "
                  f"{', '.join(map(str, finding['sources']))} on NSG {finding['nsg_name']!s}"
                  + (" which is attached: the exposure is live." if finding["attached"] else
                     " which is not attached: the exposure starts when it is.")),
        ("Analyze traffic first", "Read NSG or VNet flow logs for this rule over at least 30 days before changing "
                                  "it: find who really connects (the mail gateway, partner relays) and who only "
                                  "scans." if not evidence else "Flow-log evidence below lists who connects."),
        ("Restrict sources", "Replace the internet-wide source with the trusted prefixes"
                             + ("" if evidence else " (placeholders until flow-log evidence exists)") + ":"),
    ]
    if port == 25:
        steps.append(("Transition to port 587", "Clients and applications that submit mail should use "
                                                "authenticated submission on 587 (STARTTLS), not 25."))
        steps.append(("Decommission", "If no legitimate inbound mail arrives, remove the rule and retire the "
                                      "self-run mail server in favour of a managed service."))
    else:
        steps.append(("Use just-in-time or Bastion", f"Port {port} is administrative: prefer Azure Bastion or "
                                                     "Defender for Cloud just-in-time access over a standing rule."))
        steps.append(("Decommission", "Remove the rule when no administrative access from outside is needed."))
    return steps
