"""Analyze before you restrict: who really connects to an exposed rule, and what to allow instead.

For each finding, the flows of its NSG (by resource id for NSG flow logs, by resourceGuid for
VNet flow logs' ``aclID``) and rule (flow logs may cut names at 65 characters) on the finding's
port are summarised per source. Sources are classed as the mail gateway (``parameters/``),
private/virtual network, or internet. The proposed source list is the gateway prefixes plus the
internet sources that completed real sessions (bytes both ways) above a threshold, aggregated
into the fewest CIDRs never wider than ``max_prefix``. The kit proposes; it never applies.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from auditkit.flows.recommend import Facts, Recommendation, recommend
from auditkit.flows.remediation import is_jit
from auditkit.settings import Settings

CLASS_GATEWAY, CLASS_PRIVATE, CLASS_INTERNET = "gateway", "private", "internet"
# The service cuts "UserRule_<name>" at 65 characters: a name that long (less the longest prefix,
# "DefaultRule_") may be cut, so it matches the rules it is a prefix of.
TRUNCATED_RULE = 65 - len("DefaultRule_")
_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                               "169.254.0.0/16", "127.0.0.0/8", "fc00::/7", "fe80::/10", "::1/128")]


def classify(sources: pd.Series, gateways: Sequence[str]) -> np.ndarray:
    """Class per source address; each distinct address is looked at once."""
    nets = [ipaddress.ip_network(g, strict=False) for g in gateways]
    codes, uniques = pd.factorize(sources.to_numpy(dtype=object))
    out = []
    for u in uniques:
        try:
            a = ipaddress.ip_address(str(u))
        except ValueError:
            out.append(CLASS_INTERNET)
            continue
        if any(a.version == n.version and a in n for n in nets):
            out.append(CLASS_GATEWAY)
        elif any(a.version == n.version and a in n for n in _PRIVATE):
            out.append(CLASS_PRIVATE)
        else:
            out.append(CLASS_INTERNET)
    return np.asarray(out + [CLASS_INTERNET], dtype=object)[codes]


def aggregate(addresses: Sequence[str], max_prefix: int = 24, keep: Sequence[str] = ()) -> list[str]:
    """The fewest CIDRs covering ``addresses``, none wider than /``max_prefix`` (IPv6: /``max_prefix + 96``
    is not assumed; IPv6 senders stay as /64s at the widest), plus ``keep`` prefixes as given."""
    groups: dict = {}
    for text in addresses:
        try:
            a = ipaddress.ip_address(str(text))
        except ValueError:
            continue  # the parser already counted it as malformed
        limit = max_prefix if a.version == 4 else 64
        key = ipaddress.ip_network(f"{a}/{limit}", strict=False)
        lo, hi = groups.get(key, (a, a))
        groups[key] = (min(lo, a), max(hi, a))
    nets = []
    for key, (lo, hi) in groups.items():
        # The smallest block holding both ends: their common prefix, never wider than the group.
        bits = key.max_prefixlen
        diff = int(lo) ^ int(hi)
        plen = bits - diff.bit_length()
        nets.append(ipaddress.ip_network(f"{lo}/{max(plen, key.prefixlen)}", strict=False))
    nets += [ipaddress.ip_network(k, strict=False) for k in keep]
    out = []
    for version in (4, 6):
        out += [str(n) for n in ipaddress.collapse_addresses(n for n in nets if n.version == version)]
    return out


def nsg_guids(nsgs: pd.DataFrame) -> dict[str, str]:
    """NSG key -> resourceGuid, which VNet flow logs name as ``aclID``."""
    if "resource_guid" not in nsgs:
        return {}
    return dict(zip(nsgs["nsg_key"], nsgs["resource_guid"], strict=True))


def match_flows(findings: pd.DataFrame, flows: pd.DataFrame, guids: dict[str, str],
                by_port: bool = True) -> pd.DataFrame:
    """Inbound TCP flows that each finding's NSG and rule logged, on the finding's port (or on any
    port with ``by_port=False``, to see what a wide rule is really used for); column ``finding`` =
    row of findings."""
    if not len(findings) or not len(flows):
        return flows.iloc[0:0].assign(finding=pd.Series(dtype=np.int64))
    f = pd.DataFrame({"finding": np.arange(len(findings)), "nsg": findings["nsg_id"].str.lower().to_numpy(),
                      "port": findings["port"].to_numpy(dtype=np.int64),
                      "rule_l": findings["rule_name"].str.lower().to_numpy()})
    f["guid"] = [guids.get(n, "") for n in f["nsg"]]
    # Inbound TCP only: a UDP flow under a "*" rule is not mail delivery.
    inbound = flows[(flows["direction"].to_numpy(dtype=object) == "I") & (flows["protocol"].to_numpy(dtype=object) == "T")]
    id_keys, guid_keys = (["nsg_id", "destination_port"], ["acl_id", "destination_port"]) if by_port else \
        (["nsg_id"], ["acl_id"])
    f_id, f_guid = (["nsg", "port"], ["guid", "port"]) if by_port else (["nsg"], ["guid"])
    by_id = inbound[inbound["nsg_id"] != ""].merge(f.drop(columns="guid"), left_on=id_keys, right_on=f_id)
    by_guid = inbound[inbound["acl_id"] != ""].merge(f[f["guid"] != ""].drop(columns="nsg"),
                                                     left_on=guid_keys, right_on=f_guid)
    m = pd.concat([by_id, by_guid], ignore_index=True)
    rule = m["rule"].str.lower()
    exact = rule.to_numpy(dtype=object) == m["rule_l"].to_numpy(dtype=object)
    cut = np.zeros(len(m), dtype=bool)
    long_rows = np.flatnonzero(rule.str.len().to_numpy() >= TRUNCATED_RULE)  # rare: names cut by the service
    cut[long_rows] = [m["rule_l"].iat[i].startswith(rule.iat[i]) for i in long_rows]
    return m[exact | cut].drop(columns=["nsg", "port", "rule_l", "guid"], errors="ignore").reset_index(drop=True)


def ports_in_use(findings: pd.DataFrame, flows: pd.DataFrame, guids: dict[str, str]) -> dict[tuple[str, str], list[int]]:
    """Per (NSG id lower-cased, rule name): the destination ports on which the rule carried
    completed sessions (bytes both ways), from flows on any port: what a wide rule is used for."""
    rules = findings.drop_duplicates(["nsg_id", "rule_name"]).reset_index(drop=True)
    m = match_flows(rules, flows, guids, by_port=False)
    if not len(m):
        return {}
    done = m[(m["decision"] == "A") & (m["bytes_src_to_dst"] > 0) & (m["bytes_dst_to_src"] > 0)]
    out: dict[tuple[str, str], list[int]] = {}
    for i, g in done.groupby("finding")["destination_port"]:
        r = rules.iloc[int(i)]
        out[(str(r["nsg_id"]).lower(), str(r["rule_name"]))] = sorted({int(p) for p in g})
    return out


def summarise_sources(matched: pd.DataFrame, gateways: Sequence[str]) -> pd.DataFrame:
    """Per (finding, source): flows, first and last seen, bytes each way, allowed and denied flows,
    completed sessions (C/E rows with bytes both ways), and the source's class."""
    if not len(matched):
        return pd.DataFrame(columns=["finding", "source", "class", "flows", "first_seen", "last_seen", "bytes",
                                     "bytes_in", "bytes_out", "allowed", "denied", "completed"])
    m = matched.assign(
        allowed=(matched["decision"] == "A").astype(int),
        denied=(matched["decision"] == "D").astype(int),
        completed=(matched["state"].isin(["C", "E"]) & (matched["bytes_src_to_dst"] > 0)
                   & (matched["bytes_dst_to_src"] > 0)).astype(int))
    g = m.groupby(["finding", "source"], sort=False).agg(
        flows=("time", "size"), first_seen=("time", "min"), last_seen=("time", "max"), allowed=("allowed", "sum"),
        denied=("denied", "sum"), completed=("completed", "sum")).reset_index()
    keys = [m["finding"], m["source"]]
    for out, col in (("bytes", "bytes"), ("bytes_in", "bytes_src_to_dst"), ("bytes_out", "bytes_dst_to_src")):
        g[out] = saturating_sum(m[col], keys).to_numpy()
    g["class"] = classify(g["source"], gateways)
    return g.sort_values(["finding", "bytes", "flows"], ascending=[True, False, False]).reset_index(drop=True)


INT64_MAX = np.iinfo(np.int64).max


def saturating_sum(values: pd.Series, keys: list) -> pd.Series:
    """Per group sums that never wrap: totals beyond int64 saturate at its maximum (a negative byte
    count would read as "no traffic" and propose a deletion)."""
    exact = values.astype(np.int64).groupby(keys, sort=False).sum()
    approx = values.astype(np.float64).groupby(keys, sort=False).sum()
    return exact.where(approx.to_numpy() < float(2**63 - 2**12), INT64_MAX)


def observation(flows: pd.DataFrame, guids: dict[str, str]) -> dict[str, dict]:
    """Per NSG (lower-cased id): the days its flow logs cover and the gaps between them.

    Days come from every flow the NSG logged (any rule, any port, by resource id for NSG flow logs
    and by ``aclID`` = resourceGuid for VNet flow logs), so a quiet rule in a logged NSG counts.
    """
    if not len(flows):
        return {}
    day = flows["time"].dt.floor("D")
    by_guid = {g: n for n, g in guids.items() if g}
    pairs = pd.concat([
        pd.DataFrame({"nsg": flows["nsg_id"].astype(str).to_numpy(), "day": day}),
        pd.DataFrame({"nsg": flows["acl_id"].astype(str).map(by_guid).to_numpy(), "day": day}),
    ], ignore_index=True).dropna()
    pairs = pairs[pairs["nsg"] != ""].drop_duplicates()
    out = {}
    for nsg, days in pairs.groupby("nsg")["day"]:
        d = np.sort(days.to_numpy())
        steps = np.diff(d) / np.timedelta64(1, "D")
        gaps = [[str(pd.Timestamp(a + np.timedelta64(1, "D")).date()), str(pd.Timestamp(b - np.timedelta64(1, "D")).date())]
                for a, b, s in zip(d[:-1], d[1:], steps, strict=True) if s > 1]
        out[str(nsg)] = {"first": str(pd.Timestamp(d[0]).date()), "last": str(pd.Timestamp(d[-1]).date()),
                         "days": int(len(d)), "span_days": int((d[-1] - d[0]) / np.timedelta64(1, "D")) + 1,
                         "gaps": gaps}
    return out


def _bicep(prefixes: Sequence[str]) -> str:
    items = " ".join(f"'{p}'" for p in prefixes)
    return f"sourceAddressPrefix: null\nsourceAddressPrefixes: [ {items} ]"


def evidence_for(findings: pd.DataFrame, flows: pd.DataFrame, settings: Settings,
                 guids: dict[str, str] | None = None, matched: pd.DataFrame | None = None) -> list[dict]:
    """One dict per finding: sources seen, proposed prefixes, command and recommendation.

    ``recommendation`` is ``restrict``, ``decommission``, ``jit-managed``, or ``needs-evidence`` when
    the logs cannot tell: no flow log of the NSG at all, or only version 1 logs (which carry no
    session state or bytes, so a delivered mail cannot be told from a scan). ``matched`` is
    ``match_flows``' result when the caller already has it.
    """
    guids = guids or {}
    if matched is None:
        matched = match_flows(findings, flows, guids)
    per_source = summarise_sources(matched, settings.mail_gateways)
    logged_ids = set(flows["nsg_id"].astype(str).unique()) if len(flows) else set()
    logged_acls = set(flows["acl_id"].astype(str).unique()) if len(flows) else set()
    windows = observation(flows, guids)
    v1_only = matched.groupby("finding")["log"].agg(lambda x: bool((x.astype(str) == "nsg-v1").all())) \
        if len(matched) else pd.Series(dtype=bool)
    out = []
    for i, row in enumerate(findings.to_dict(orient="records")):
        s = per_source[per_source["finding"] == i]
        mine = matched[matched["finding"] == i]
        window = [mine["time"].min().isoformat(), mine["time"].max().isoformat()] if len(mine) else [None, None]
        port = int(row["port"])
        # The mail gateway belongs in the source list of mail rules only.
        keep = settings.mail_gateways if port == 25 else ()
        legit = s[(s["class"] == CLASS_INTERNET) & (s["completed"] > 0) & (s["bytes"] >= settings.min_bytes)]
        proposed = aggregate(legit["source"].tolist(), settings.max_prefix, keep)
        nsg = str(row["nsg_id"]).lower()
        seen = windows.get(nsg, {"first": None, "last": None, "days": 0, "span_days": 0, "gaps": []})
        rec = recommend(Facts(
            finding=row, port=port, jit=is_jit(str(row["rule_name"])),
            logged=nsg in logged_ids or (guids.get(nsg, "") != "" and guids.get(nsg) in logged_acls),
            v1_only=bool(v1_only.get(i, False)), any_allowed=bool((s["allowed"] > 0).any()),
            days=seen["days"], first=seen["first"], last=seen["last"], min_days=settings.min_window_days,
            legit=len(legit), gateway_seen=bool(((s["class"] == CLASS_GATEWAY) & (s["allowed"] > 0)).any()) and port == 25,
            proposed=proposed, keep=keep))
        out.append(_entry(row, port, rec, s, proposed, window, seen))
    return out


def _entry(row: dict, port: int, rec: Recommendation, sources: pd.DataFrame, proposed: list[str],
           window: list, seen: dict) -> dict:
    """The evidence of one finding as ``evidence_for`` returns it."""
    restrict = rec.name == "restrict"
    return {
        "subscription_id": row.get("subscription_id"), "resource_group": row.get("resource_group"),
        "nsg_id": row["nsg_id"], "nsg_name": row.get("nsg_name"), "rule_name": row["rule_name"], "port": port,
        "recommendation": rec.name, "note": rec.note,
        "sources": [{"source": r["source"], "class": r["class"], "flows": int(r["flows"]),
                     "bytes": int(r["bytes"]), "allowed": int(r["allowed"]), "denied": int(r["denied"]),
                     "completed": int(r["completed"]), "first_seen": r["first_seen"].isoformat(),
                     "last_seen": r["last_seen"].isoformat()} for r in sources.to_dict(orient="records")],
        "proposed_prefixes": proposed if restrict else [],
        "command": rec.command,
        "arm_patch": json.dumps({"properties": {"sourceAddressPrefix": None,
                                                "sourceAddressPrefixes": proposed}}) if restrict else "",
        "bicep": _bicep(proposed) if restrict else "",
        "window": window,
        "observed": seen,
    }
