"""Findings as an auditor reads them: one row per (NSG, rule, port) with what is needed to act on it.

The same annotated frame feeds the reports' findings table, the explore notebook and its exports:
severity, where the NSG is attached (by name), owner and justification (the rule's own description
first, then the NSG's tags), expiry (expired ones flagged), first and last seen, age ("at least N
days" when the finding is as old as the first snapshot), status and the controls it fails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditkit.engine.reachability import is_unknown
from auditkit.engine.severity import severity_rank
from auditkit.history.tag_coverage import description_value
from auditkit.history.timeline import STATUS_OPEN, STATUS_UNKNOWN, History
from auditkit.settings.controls import Control

# Every unknown-<layer> exposure ranks with unknown-topology: not known to be closed.
EXPOSURE_ORDER = {"reachable": 0, "no-public-path": 1, "unknown-topology": 2, "unknown-admin-rule": 2,
                  "unknown-firewall-dnat": 2, "unknown-app-gateway": 2, "blocked": 3, "latent": 4}
# The layer that opens the port: an NSG rule, a Virtual Network Manager admin rule, a firewall's DNAT
# rule, an Application Gateway's TCP/TLS listener.
LAYER_LABELS = {"nsg": "NSG", "admin-rule": "admin rule", "firewall-dnat": "firewall DNAT",
                "app-gateway": "App Gateway"}
UNKNOWN_WHY = {"unknown-topology": "no topology", "unknown-admin-rule": "the VNet's admin rules could not be read",
               "unknown-firewall-dnat": "the subscription's firewalls could not be read",
               "unknown-app-gateway": "the subscription's Application Gateways could not be read"}
HOLDERS = {"admin-rule": "VNet", "firewall-dnat": "firewall", "app-gateway": "gateway"}
# Paths the NSG layer has always had: written entry first, as the reports have always shown them.
NSG_PATHS = {"load-balancer": "load balancer", "inbound-nat": "inbound NAT", "public-ip": "public IP"}
MAX_PATHS = 3
PORT_NAMES = {25: "SMTP", 22: "SSH", 3389: "RDP"}
LONG_OPEN_DAYS = 90


def port_label(port: int) -> str:
    """``SMTP (25)``, ``RDP (3389)``, or ``port 8080`` for ports without a well-known name."""
    name = PORT_NAMES.get(int(port))
    return f"{name} ({int(port)})" if name else f"port {int(port)}"


def attached_names(ids: object) -> str:
    """Subnet and NIC names from the resource ids an NSG is attached to."""
    if not isinstance(ids, list | tuple | np.ndarray) or not len(ids):
        return ""
    out = []
    for rid in ids:
        parts = str(rid).split("/")
        low = [p.lower() for p in parts]
        if "subnets" in low and "virtualnetworks" in low:
            out.append(f"subnet {parts[low.index('virtualnetworks') + 1]}/{parts[low.index('subnets') + 1]}")
        elif "networkinterfaces" in low:
            out.append(f"NIC {parts[low.index('networkinterfaces') + 1]}")
        else:
            out.append(parts[-1])
    return ", ".join(out)


def exposure_rank(exposure: pd.Series) -> np.ndarray:
    """Each exposure's place in the findings table, worst first (an unknown one before blocked)."""
    return exposure.map(lambda x: EXPOSURE_ORDER.get(x, 2 if is_unknown(x) else 9)).to_numpy()


def _at(host: object, port: object) -> str:
    """``host:port``, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if isinstance(host, str) and ":" in host else f"{host}:{port}"


def endpoint_text(e: dict, port: int) -> str:
    """One path from the internet to one machine: entry, filters, machine; the whole route for a path
    through a firewall, a gateway or an admin rule; "over IPv6" when it is one."""
    if (e.get("path") in NSG_PATHS and not e.get("admin_rule")) or not e.get("route"):
        via = NSG_PATHS.get(str(e.get("path")), str(e.get("path")))
        via += f" {e['via']}" if e.get("via") else ""
        text = (f"{_at(e.get('public_ip'), e.get('frontend_port'))} ({via}) -> subnet NSG "
                f"{e.get('subnet_nsg') or 'none'} -> NIC NSG {e.get('nic_nsg') or 'none'} -> "
                f"{e.get('vm_name') or str(e.get('nic_id') or '').rsplit('/', 1)[-1]} "
                f"{_at(e.get('private_ip') or '', port)}")
    else:
        text = str(e["route"])
    return text + (" over IPv6" if e.get("family") == "IPv6" else "")


def path_text(exposure: str, endpoints: object, port: int, note: str = "") -> str:
    """How the internet gets in (or what stops it), endpoint by endpoint, for the findings table.

    ``public IP 20.60.0.10:25 (load balancer lb/rule) -> subnet NSG a -> NIC NSG b -> vm-mail-01 10.60.1.4:25``
    """
    eps = [e for e in (endpoints if isinstance(endpoints, list | tuple | np.ndarray) else ()) if isinstance(e, dict)]
    if is_unknown(exposure):
        return f"unknown: {note}" if note else f"unknown: {UNKNOWN_WHY.get(exposure, exposure)}"
    if exposure == "latent" or not eps:
        return "governs no machine today"
    if exposure == "reachable":
        hits = [e for e in eps if e.get("path") and not e.get("blocked_by")]
        lines = [endpoint_text(e, port) for e in hits[:MAX_PATHS]]
        more = len(hits) - MAX_PATHS
        return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")
    if exposure == "no-public-path":
        ok = [e for e in eps if not e.get("blocked_by")]
        names = ", ".join(str(e.get("vm_name") or e.get("nic_id", "").rsplit("/", 1)[-1]) for e in ok[:MAX_PATHS])
        return f"allowed to {names}{' and more' if len(ok) > MAX_PATHS else ''}; no public IP or load balancer path"
    blocked = sorted({str(e.get("blocked_by")) for e in eps if e.get("blocked_by")})
    return "blocked by " + "; ".join(blocked[:MAX_PATHS]) + ("; ..." if len(blocked) > MAX_PATHS else "")


def governance_of(history: History, keys: np.ndarray) -> pd.DataFrame:
    """Governance rows (owner, expiry, justification, ...) of the NSGs ``keys``, from the latest
    snapshot that had each (a subscription no longer read keeps what was last known)."""
    wanted = set(keys)
    found: list[pd.DataFrame] = []
    for d in reversed(history.derived):
        if not wanted:
            break
        g = d.governance
        hit = g[g["nsg_key"].isin(wanted)]
        if len(hit):
            found.append(hit)
            wanted -= set(hit["nsg_key"])
    if not found:
        return history.governance.iloc[0:0].set_index("nsg_key")
    gov = pd.concat(found, ignore_index=True).drop_duplicates("nsg_key").set_index("nsg_key")
    return gov


def annotated(history: History, controls: list[Control], statuses: tuple = (STATUS_OPEN, STATUS_UNKNOWN)) -> pd.DataFrame:
    """The history's findings with the given statuses, annotated for reading and sorted worst first."""
    f = history.findings
    f = f[f["status"].isin(statuses)].copy() if statuses else f.copy()
    if not len(f):
        return f.assign(**{c: pd.Series(dtype=object) for c in (
            "attached_to", "owner", "justification", "expiry", "expired", "expiry_text", "age", "controls",
            "port_label", "ports", "exposure", "reach_path", "first_seen_text", "changed", "layer",
            "layer_label")})
    settings = history.settings
    keys = f["nsg_key"].to_numpy(dtype=object)
    gov = governance_of(history, keys)

    def from_gov(col: str) -> np.ndarray:
        return gov[col].reindex(keys).to_numpy(dtype=object) if col in gov else np.full(len(f), None, dtype=object)

    desc = f["description"].astype(object).where(f["description"].notna(), "")
    rule_owner = description_value(desc, settings.description_keys("owner"))
    rule_just = description_value(desc, settings.description_keys("justification"))
    f["owner"] = np.where(pd.notna(rule_owner), rule_owner, from_gov("owner"))
    f["justification"] = np.where(pd.notna(rule_just), rule_just, from_gov("justification"))
    f["expiry"] = from_gov("expiry")
    f["expired"] = pd.Series(from_gov("expired"), index=f.index).fillna(False).astype(bool).to_numpy()
    f["expiry_text"] = [("" if not isinstance(e, str) else f"{e} (expired)" if x else e)
                        for e, x in zip(f["expiry"], f["expired"], strict=True)]
    if "attached_ids" in f:
        f["attached_to"] = [attached_names(i) or ("nothing (latent)" if not a else "subnet/NIC")
                            for i, a in zip(f["attached_ids"], f["attached"], strict=True)]
    else:
        f["attached_to"] = f["attached"].map({True: "subnet/NIC", False: "nothing (latent)"})
    f["layer"] = f["layer"].astype(object).fillna("nsg") if "layer" in f else "nsg"
    f["layer_label"] = [LAYER_LABELS.get(x, str(x)) for x in f["layer"]]
    holder = f["layer"].map(HOLDERS).to_numpy(dtype=object)  # a finding of another layer is its resource's
    f["attached_to"] = [f"{h} {n}" if isinstance(h, str) else a
                        for h, n, a in zip(holder, f["nsg_name"], f["attached_to"], strict=True)]
    first = history.snapshots["as_of"].iloc[0]
    since_start = (f["first_seen"] <= first).to_numpy()
    days = f["age_days"].to_numpy(dtype=float)
    f["age"] = [("" if np.isnan(d) else f"at least {d:.0f} days" if s else f"{d:.0f} days")
                for d, s in zip(days, since_start, strict=True)]
    f["controls"] = [", ".join(c.label for c in controls if c.applies(int(p))) for p in f["port"]]
    # First seen: the change that made the rule appear (Resource Graph's change history) or the snapshot.
    src = f["first_seen_source"] if "first_seen_source" in f else pd.Series("snapshot", index=f.index)
    f["first_seen_text"] = [("" if pd.isna(t) else f"{pd.Timestamp(t):%Y-%m-%d %H:%M} ({s_})")
                            for t, s_ in zip(f["first_seen"], src, strict=True)]
    if "changed_by" in f:
        f["changed"] = [("" if not isinstance(b, str) or not b else
                         f"{b} ({c or 'unknown client'}, {pd.Timestamp(t):%Y-%m-%d %H:%M})")
                        for b, c, t in zip(f["changed_by"], f["client_type"], f["changed_at"], strict=True)]
    else:
        f["changed"] = ""
    f["port_label"] = [port_label(p) for p in f["port"]]
    f["ports"] = f["destination_ports"]
    f["exposure"] = f["exposure"].fillna("unknown-topology") if "exposure" in f else "unknown-topology"
    notes = f["exposure_note"].fillna("") if "exposure_note" in f else pd.Series("", index=f.index)
    eps = f["endpoints"] if "endpoints" in f else pd.Series([()] * len(f), index=f.index)
    f["reach_path"] = [path_text(x, e, int(p), n) for x, e, p, n in
                       zip(f["exposure"], eps, f["port"], notes, strict=True)]
    order = np.lexsort((f["rule_name"].astype(str).to_numpy(), f["nsg_name"].astype(str).to_numpy(),
                        f["port"].to_numpy(), exposure_rank(f["exposure"]),
                        (f["status"] != STATUS_OPEN).to_numpy(),
                        severity_rank(f["severity"]).to_numpy()))
    return f.iloc[order].reset_index(drop=True)


TABLE_COLUMNS = ["severity", "exposure", "port", "layer_label", "nsg_name", "resource_group", "rule_name",
                 "priority", "sources", "ports", "attached_to", "reach_path", "owner", "justification",
                 "expiry_text", "first_seen_text", "last_seen", "changed", "age", "status", "controls"]
TABLE_HEADERS = ["Severity", "Exposure", "Port", "Layer", "NSG or resource", "Resource group", "Rule",
                 "Priority", "Sources", "Ports", "Attached to", "Path from the internet", "Owner", "Justification",
                 "Expiry", "First seen", "Last seen", "Last changed by", "Age", "Status", "Controls failed"]


def long_open(frame: pd.DataFrame, days: int = LONG_OPEN_DAYS) -> int:
    """Open findings older than ``days``."""
    if not len(frame):
        return 0
    return int(((frame["status"] == STATUS_OPEN) & (frame["age_days"].fillna(-1) > days)).sum())
