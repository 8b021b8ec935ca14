"""Executive summaries: every audited port and every unknown in one or two sentences, worst first,
and the KPI tiles beside them, with open and unknown shown side by side (never summed)."""

from __future__ import annotations

import pandas as pd

from auditkit.engine.reachability import is_unknown
from auditkit.history.kpis import kpis_of
from auditkit.history.timeline import History
from auditkit.present.findings import long_open, port_label


def _rules(n: int) -> str:
    return f"{n} rule{'s' if n != 1 else ''} {'expose' if n != 1 else 'exposes'}"


def exposure_sentence(k: dict, ports: tuple[int, ...], scope: str) -> str:
    """"3 rules expose RDP (3389) and 1 exposes SMTP (25) to the internet ..." worst (most) first."""
    counts = [(int(p), k["open_findings"][str(p)]) for p in ports]
    exposed = sorted([c for c in counts if c[1]], key=lambda c: (-c[1], ports.index(c[0])))
    if not exposed:
        names = [port_label(p) for p in ports]
        listed = ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]
        return f"No rule exposes {listed} to the internet {scope}"
    parts = [f"{_rules(n)} {port_label(p)}" if i == 0 else f"{n} {'exposes' if n == 1 else 'expose'} {port_label(p)}"
             for i, (p, n) in enumerate(exposed)]
    return _join(parts) + f" to the internet {scope}"


def _join(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def summary_text(history: History, frame: pd.DataFrame, scope: str, unread: int) -> str:
    """The executive summary of ``history`` in one or two sentences."""
    k = kpis_of(history)
    first = exposure_sentence(k, history.ports, scope)
    tail = []
    by_exposure = k["open_findings_by_exposure"]
    reach = sum(k["reachable_findings"].values())
    total = sum(k["open_findings"].values())
    unknown_exposure = sum(n for x, n in by_exposure.items() if is_unknown(x))
    if reach:
        machines = k["reachable_machines"]
        tail.append(f"{reach} {'is' if reach == 1 else 'are'} reachable from the internet through a public IP, "
                    f"load balancer, firewall DNAT rule or gateway ({machines} machine{'s' if machines != 1 else ''})")
    elif total and by_exposure["unknown-topology"] == total:
        tail.append("whether any machine is reachable is unknown (the snapshot has no topology)")
    elif total and unknown_exposure == total:
        tail.append("whether any machine is reachable is unknown (a layer that decides could not be read)")
    elif total:  # with some unknown, "none is reachable" would claim what is not known
        none = "none is known to be reachable" if unknown_exposure else "none is reachable"
        tail.append(f"{none} from the internet today (no public path, or an NSG or admin rule blocks it)")
    layered = unknown_exposure - by_exposure["unknown-topology"]
    if layered and layered != total:
        tail.append(f"{layered} {'is' if layered == 1 else 'are'} unknown because the admin rules, firewalls or "
                    "gateways that decide could not be read")
    if k["accepted_findings"]:
        n_acc = k["accepted_findings"]
        tail.append(f"{n_acc} more {'is' if n_acc == 1 else 'are'} accepted on record")
    old = long_open(frame)
    if old:
        tail.append(f"{old} {'has' if old == 1 else 'have'} been open more than 90 days")
    unknown = k["unknown_findings"]
    if unread:
        tail.append(f"{unread} subscription{'s' if unread != 1 else ''} could not be read"
                    + (f", so {unknown} finding{'s are' if unknown != 1 else ' is'} unknown" if unknown else ""))
    elif unknown:
        tail.append(f"{unknown} finding{'s are' if unknown != 1 else ' is'} unknown (their NSG could not be read)")
    return first + ("; " + "; ".join(tail) if tail else "") + "."


def tiles(history: History) -> list[tuple[str, object]]:
    """KPI tiles: open and unknown per port side by side, then the rest."""
    k = kpis_of(history)
    t = k["tag_coverage"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.0f}%"

    cards: list[tuple[str, object]] = []
    for p in history.ports:
        cards.append((f"open: {port_label(p)}", k["open_findings"][str(p)]))
        cards.append((f"unknown: {port_label(p)}", k["unknown_findings_by_port"][str(p)]))
    cards += [("reachable (critical)", sum(k["reachable_findings"].values())),
              ("machines reachable", k["reachable_machines"]),
              ("accepted risks", k["accepted_findings"]),
              ("NSGs with open findings", sum(k["nsgs_with_open_findings"].values())),
              ("attached (live) / latent", f"{k['attached_open_findings']} / {k['latent_open_findings']}"),
              ("open > 90 days", k["open_over_90_days"]),
              ("MTTR (days)", "n/a" if k["mttr_days"] is None else k["mttr_days"]),
              ("new per week", "n/a" if k["new_findings_per_week"] is None else k["new_findings_per_week"]),
              ("resolved", k["resolved_findings"]), ("reopened", k["reopened_findings"]),
              ("NSGs owned", pct(t["owner"])), ("with expiry", pct(t["expiry"])),
              ("with justification", pct(t["justification"])),
              ("prod rules documented", pct(t["production_rules_documented"]))]
    return cards
