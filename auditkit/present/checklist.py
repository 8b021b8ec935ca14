"""Remediation, one step per rule: the guidance (Audit, Analyze traffic first, Restrict, Transition to
587, Decommission) for each rule with every port it exposes, one combined ``az`` command, and a
proposal to narrow a destination port range that covers far more than what the rule is used for."""

from __future__ import annotations

import pandas as pd

from auditkit.flows.remediation import is_jit, port_span, restrict_command
from auditkit.present.findings import port_label
from auditkit.present.html import HTML, code_block, concat, esc, link, paragraph
from auditkit.settings import Settings

# A rule whose ranges cover more ports than this, beyond the audited ones, is "far wider" than needed.
WIDE_RANGE = 16


def _facts(row: dict, ports: list[int]) -> str:
    where = (f"attached to {row['attached_to']}: the exposure is live" if row["attached"]
             else "not attached to anything: the exposure starts when it is")
    return (f"Rule {row['rule_name']} (priority {row['priority']}) on NSG {row['nsg_name']} allows TCP "
            f"{', '.join(map(str, row['destination_ports']))} from {', '.join(map(str, row['sources']))}, which "
            f"exposes {', '.join(port_label(p) for p in ports)} to the internet; {where}.")


# Where a finding of a layer beyond NSGs is changed (flows.remediation.layer_fix writes the fix).
_CHANGED_IN = {"firewall-dnat": ("DNAT rule", "firewall", "the firewall's policy (or its classic NAT rule collection)"),
               "admin-rule": ("admin rule", "VNet", "the Virtual Network Manager security admin configuration"),
               "app-gateway": ("TCP/TLS listener", "Application Gateway", "the gateway's listeners")}


def _layer_step(row: dict, ports: list[int]) -> HTML:
    """The steps for a rule of a layer beyond NSGs: what it publishes, and where to restrict or remove it."""
    what, holder, where = _CHANGED_IN.get(str(row.get("layer")), ("rule", "resource", "the resource"))
    items = [("Audit", f"{what} {row['rule_name']} on {holder} {row['nsg_name']} admits TCP "
                       f"{', '.join(map(str, row['destination_ports']))} from "
                       f"{', '.join(map(str, row['sources']))}, which exposes "
                       f"{', '.join(port_label(p) for p in ports)} to the internet ({row.get('reach_path', '')})."),
             ("Restrict sources", f"Replace the internet-wide sources in {where} with the trusted prefixes, or "
                                  "remove the rule when nothing legitimate needs it. It is not an NSG rule: the "
                                  "fix below changes the rule where it lives.")]
    lis = "".join(f"<li><b>{esc(step)}</b>: {esc(text)}</li>" for step, text in items)
    return concat(HTML(f'<ol class="ak-step">{lis}</ol>'),
                  code_block(restrict_command(row, ("<TRUSTED-GATEWAY-PREFIX>",))))


def checklist(findings: pd.DataFrame, evidence, settings: Settings) -> HTML:
    """The steps for the open ``findings`` (annotated), grouped by rule; ``evidence`` is the report's FlowSection."""
    if not len(findings):
        return paragraph("Nothing to remediate: no open finding.")
    blocks = []
    groups = findings.groupby([findings["nsg_id"].str.lower(), findings["rule_name"]], sort=False)
    for n, ((nsg, rule), g) in enumerate(groups, 1):
        row = g.iloc[0].to_dict()
        ports = sorted({int(p) for p in g["port"]})
        blocks.append(HTML(f'<h3 id="rule-{n}">Step {n}: {esc(row["nsg_name"])} / {esc(rule)} '
                           f"({esc(', '.join(port_label(p) for p in ports))})</h3>"))
        if str(row.get("layer") or "nsg") != "nsg":
            blocks.append(_layer_step(row, ports))
            continue
        if is_jit(str(rule)):
            blocks.append(paragraph("Just-in-Time rule managed by Defender for Cloud: do not edit it by hand; review "
                                    "the JIT policy instead."))
            continue
        keys = [(nsg, rule, p) for p in ports]
        recs = {p: evidence.recommendations.get((nsg, rule, p)) for p in ports}
        proposed = sorted({x for k in keys for x in evidence.proposals.get(k, [])})
        in_use = evidence.ports_in_use.get((nsg, rule), [])
        items: list = [("Audit", _facts(row, ports))]
        if evidence.given:
            told = "; ".join(f"{port_label(p)}: {recs[p] or 'no evidence'}" for p in ports)
            items.append(("Analyze traffic first", concat(
                HTML(f"{esc('Flow-log evidence per port (' + told + '), in ')}"),
                link("Analyze before you restrict", "#flows"), HTML(" above."))))
        else:
            items.append(("Analyze traffic first", f"Read NSG or VNet flow logs for this rule over at least "
                                                   f"{settings.min_window_days} days before changing it: find who "
                                                   "really connects and who only scans (no flow logs were given)."))
        span = port_span([str(p) for p in row["destination_ports"]])
        narrow: list | None = None
        if span - len(ports) > WIDE_RANGE:
            if in_use:
                narrow = in_use
                items.append(("Narrow the ports", f"The rule opens {span} ports; its flows show real sessions only on "
                                                  f"{', '.join(map(str, in_use))}: narrow it to those."))
            else:
                items.append(("Narrow the ports", f"The rule opens {span} ports for {', '.join(map(str, ports))}: "
                                                  "narrow it to the ports the service needs (no flow evidence shows "
                                                  "which)."))
        if proposed:
            items.append(("Restrict sources", "Replace the internet-wide sources with the prefixes the evidence "
                                              f"supports for the whole rule: {', '.join(proposed)}."))
        else:
            items.append(("Restrict sources", "Replace the internet-wide sources with the trusted prefixes "
                                              "(placeholders below until flow-log evidence supports a list)."))
        if 25 in ports:
            items.append(("Transition to port 587", "Clients and applications that submit mail should use "
                                                    "authenticated submission on 587 (STARTTLS), not 25."))
        if {22, 3389} & set(ports):
            items.append(("Use just-in-time or Bastion", "SSH and RDP are administrative: prefer Azure Bastion or "
                                                         "Defender for Cloud just-in-time access over a standing "
                                                         "rule."))
        if recs and all(r == "decommission" for r in recs.values()):
            items.append(("Decommission", "The flow logs show no legitimate inbound traffic on any of its ports: "
                                          "remove the rule (and retire a self-run mail server in favour of a managed "
                                          "service)."))
        elif any(r == "decommission" for r in recs.values()):
            quiet = [port_label(p) for p, r in recs.items() if r == "decommission"]
            items.append(("Decommission", f"No legitimate traffic on {', '.join(quiet)}: drop those ports from the "
                                          "rule (the narrowed range above); keep the rule for the ports in use."))
        else:
            items.append(("Decommission", "Remove the rule when nothing legitimate needs it."))
        lis = "".join(f"<li><b>{esc(step)}</b>: {text.markup if isinstance(text, HTML) else esc(text)}</li>"
                      for step, text in items)
        blocks.append(HTML(f'<ol class="ak-step">{lis}</ol>'))
        blocks.append(code_block(restrict_command(row, proposed or ("<TRUSTED-GATEWAY-PREFIX>",), ports=narrow)))
    return concat(*blocks)
