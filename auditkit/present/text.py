"""What the command line prints, as plain text: the scan and reach tables, KPIs, flow-log evidence.

Each function returns a string (no I/O), so that the same words can be tested, reused by the
reports, and written to a terminal or a file by the CLI.
"""

from __future__ import annotations

from auditkit import __version__
from auditkit.formats import to_table, visible

SCAN_COLUMNS = ["severity", "exposure", "port", "subscription_id", "resource_group", "nsg_name", "rule_name",
                "priority", "sources", "reached"]
REACH_COLUMNS = ["vm_name", "public_ip", "frontend_port", "port", "path", "via", "private_ip", "subnet_nsg",
                 "subnet_rule", "nic_nsg", "nic_rule", "power_state", "subscription_id"]
ERROR_COLUMNS = ["nsg_id", "rule_name", "field", "message"]


def scan_table(summary: dict, findings, errors, topology_note: str) -> str:
    """``auditkit scan``'s table output: the summary line, the exposure line, the findings (worst first,
    with what each reaches) and the input errors."""
    parts = [scan_summary(summary), exposure_line(summary, topology_note, findings),
             to_table(findings.assign(reached=reached(findings)), SCAN_COLUMNS,
                      empty="No internet-exposed rules on the audited ports.")]
    if len(errors):
        parts.append(f"\n{len(errors)} input errors (rules evaluated on what could be read):\n")
        parts.append(to_table(errors, ERROR_COLUMNS))
    return "".join(parts)


def scan_summary(summary: dict) -> str:
    """The scan's first line: NSGs, rules, findings per port, attached, latent and shadowed."""
    return (f"auditkit {__version__}: {summary['nsgs']} NSGs, {summary['rules']} rules, "
            f"{summary['findings']} findings ("
            + ", ".join(f"port {p}: {n}" for p, n in summary["per_port"].items())
            + f"; {summary['attached']} attached, {summary['latent']} latent, {summary['shadowed']} shadowed)\n")


def reached(findings) -> list[str]:
    """Per finding: the machines the internet reaches through it ("vm-mail-01 via 20.60.0.10:25 (load-balancer)")."""
    out = []
    for eps in findings.get("endpoints", [()] * len(findings)):
        hits = [f"{e.get('vm_name') or e.get('nic_id', '').rsplit('/', 1)[-1]} via {e['public_ip']}:{e['frontend_port']}"
                f" ({e['path']})" for e in eps or () if e.get("path") and not e.get("blocked_by")]
        out.append(", ".join(hits[:3]) + (f" (+{len(hits) - 3} more)" if len(hits) > 3 else ""))
    return out


def unknown_count(summary: dict, findings=None) -> int:
    """Findings whose exposure is unknown, whatever layer could not be read (every ``unknown-*``):
    counted from ``findings`` (shadowed rows aside) when it carries exposures, else from ``summary``."""
    if findings is not None and "exposure" in findings:
        live = findings[~findings["shadowed"].astype(bool)] if "shadowed" in findings else findings
        return int(live["exposure"].astype(str).str.startswith("unknown-").sum())
    return sum(int(n) for x, n in summary.get("exposure", {}).items() if str(x).startswith("unknown-"))


def exposure_line(summary: dict, note: str, findings=None) -> str:
    """The findings counted by effective exposure, or why exposure is unknown."""
    e = summary.get("exposure", {})
    if note:
        return f"effective exposure unknown: {note}\n"
    return (f"effective exposure: {e.get('reachable', 0)} reachable, {e.get('no-public-path', 0)} no public path, "
            f"{e.get('blocked', 0)} blocked, {e.get('latent', 0)} latent, {unknown_count(summary, findings)} unknown\n")


def first_error(errors) -> str:
    """The first input error in a line: where (NSG, rule), which field, what is wrong."""
    e = errors.iloc[0]
    where = e["nsg_id"] + (f" rule {e['rule_name']}" if e["rule_name"] else "")
    return f"{where}: {e['field']}: {e['message']}"


def reach_table(reachable, port: int, complete: bool = True) -> str:
    """``auditkit reach``'s table output: how many endpoint paths, then one row each. An answer that
    may miss paths (unreadable or missing topology) never says "nothing" as if it knew."""
    if complete:
        head, empty = "", f"Nothing the internet reaches on TCP {port}."
    else:
        head = " (incomplete: some topology could not be read, see the lines on stderr)"
        empty = f"Nothing the internet is known to reach on TCP {port}, but the answer is incomplete."
    return (f"auditkit {__version__}: {len(reachable)} endpoint paths the internet reaches on TCP {port}{head}\n"
            + to_table(reachable, REACH_COLUMNS, empty=empty))


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def kpis_text(k: dict) -> str:
    """``auditkit kpis``'s table output, from the dict ``history.kpis`` returns."""
    lines = [f"KPIs as of {k['as_of']} over {k['snapshots']} snapshots (since {k['first_snapshot']})", ""]
    lines.append("open findings          " + "  ".join(f"port {p}: {n}" for p, n in k["open_findings"].items()))
    lines.append("NSGs with open findings " + "  ".join(f"port {p}: {n}" for p, n in
                                                         k["nsgs_with_open_findings"].items()))
    lines.append(f"attached / latent      {k['attached_open_findings']} / {k['latent_open_findings']}")
    lines.extend(layer_lines(k))
    lines.append(f"resolved               {k['resolved_findings']}   reopened {k['reopened_findings']}   "
                 f"unknown {k['unknown_findings']}")
    mttr = "n/a (nothing resolved)" if k["mttr_days"] is None else f"{k['mttr_days']} days"
    lines.append(f"MTTR                   {mttr}")
    age = k["open_age_days"]
    lines.append(f"open age (days)        median {age['median']}   max {age['max']}")
    rate = "n/a (one snapshot)" if k["new_findings_per_week"] is None else k["new_findings_per_week"]
    lines.append(f"new findings per week  {rate}")
    t = k["tag_coverage"]
    lines.append(f"tag coverage ({t['nsgs']} NSGs)  owner {_pct(t['owner'])}   expiry {_pct(t['expiry'])}   "
                 f"expired {_pct(t['expired'])}   justification {_pct(t['justification'])}")
    lines.append(f"production rules documented  {_pct(t['production_rules_documented'])} "
                 f"of {t['production_rules']}")
    if k["invalid_expiry"]:
        lines.append(f"unparseable expiry dates ({len(k['invalid_expiry'])}, counted as missing):")
        lines.extend(f"  {e['nsg_id']}: {e['value']!r}" for e in k["invalid_expiry"][:20])
        if len(k["invalid_expiry"]) > 20:
            lines.append(f"  ... {len(k['invalid_expiry']) - 20} more (see --format json)")
    if k["unread_subscriptions"]:
        lines.append(f"not read in the latest snapshot ({len(k['unread_subscriptions'])}; their findings are "
                     "unknown, never fixed):")
        lines.extend(f"  {u['name']} ({u['subscription_id']}): last read {u['last_read'] or 'never'}; {u['reason']}"
                     for u in k["unread_subscriptions"])
    if not k["snapshot_hashes_checked"]:
        lines.append("snapshot hashes not checked (--no-verify)")
    return "\n".join(lines)


def layer_lines(k: dict) -> list[str]:
    """The KPI lines of effective exposure and layers: open findings by exposure and by layer, then
    per layer beyond NSGs how many subscriptions had it evaluated, and which could not be read."""
    by_exposure = {x: n for x, n in k.get("open_findings_by_exposure", {}).items() if n}
    lines = ["open by exposure       " + ("  ".join(f"{x}: {n}" for x, n in by_exposure.items()) or "none"),
             "reachable              " + "  ".join(f"port {p}: {n}" for p, n in k["reachable_findings"].items())]
    if "open_findings_by_layer" in k:
        lines.append("open by layer          " + "  ".join(f"{x}: {n}" for x, n in k["open_findings_by_layer"].items()))
    def subs(n: int) -> str:
        return f"{n} subscription{'s' if n != 1 else ''}"

    for layer, st in k.get("layers", {}).items():
        lines.append(f"layer {layer:<16} evaluated in {subs(st['evaluated'])}   not read in "
                     f"{subs(len(st['not read']))}   not in input in {subs(st['not in input'])}")
        if st["not read"]:
            lines.append(f"  {layer} not read in {', '.join(st['not read'])}: verdicts short of reachable are "
                         "unknown there")
    return lines


def flows_text(found: list[dict], flows: int, skipped: dict, port: int, snapshot_id: str) -> str:
    """``auditkit flows``'s table output: per finding, who connects and what to allow instead; then
    what was skipped in the flow logs. Every line is made visible (tenant text is never interpreted)."""
    lines = [f"{flows} flows read; findings on port {port} in snapshot {snapshot_id}: {len(found)}"]
    for f in found:
        classes: dict = {}
        for s in f["sources"]:
            classes[s["class"]] = classes.get(s["class"], 0) + 1
        lines.append("")
        lines.append(f"{f['nsg_name']} / {f['rule_name']} (port {f['port']}): {f['recommendation'].upper()}")
        lines.append("  sources seen: " + (", ".join(f"{n} {c}" for c, n in sorted(classes.items())) or "none"))
        lines.append(f"  flow logs: {observed(f['observed'])}")
        if f["proposed_prefixes"]:
            lines.append("  proposed: " + " ".join(f["proposed_prefixes"]))
        lines.append(f"  {f['note']}")
        if f["command"]:
            lines.append(f"  {f['command']}")
    bad = {k: v for k, v in skipped.items() if any(v.values())}
    if bad:
        lines.append("")
        lines.append(f"skipped in {len(bad)} files: {flow_log_skips(bad)} (see --format json)")
        lines.extend(f"  {k}: {v['file_skipped']}" for k, v in list(bad.items())[:20] if v["file_skipped"])
    return "".join(visible(line) + "\n" for line in lines)


def flow_log_skips(skipped: dict) -> str:
    """What reading the flow logs skipped, summed over the files of ``skipped`` (file -> counts)."""
    return (f"{sum(1 for v in skipped.values() if v.get('file_skipped'))} files not read, "
            f"{sum(v.get('incomplete_records', 0) for v in skipped.values())} incomplete records, "
            f"{sum(v.get('unreadable_records', 0) for v in skipped.values())} unreadable records, "
            f"{sum(v.get('malformed_tuples', 0) for v in skipped.values())} malformed tuples")


def observed(o: dict) -> str:
    """The days of flow logs an NSG has, and the gaps in them, in a line."""
    if not o.get("days"):
        return "none for this NSG"
    gaps = ", ".join(a if a == b else f"{a}..{b}" for a, b in o["gaps"][:5]) + (" ..." if len(o["gaps"]) > 5 else "")
    return f"{o['days']} day(s) from {o['first']} to {o['last']}" + (f"; gaps {gaps}" if gaps else "; no gap")
