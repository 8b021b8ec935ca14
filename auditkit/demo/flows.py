"""Flow logs for the demo tenant's port-25 findings, in the service's blob layout and formats.

For each open SMTP finding of the demo's last month: the mail gateway and a partner relay that
really deliver mail (sessions with bytes both ways), internet scanners that never complete a
session, and one finding with no legitimate traffic at all. NSG flow logs v2 for most, a VNet
flow log for one, and a blob still being appended (cut mid-record) as the service leaves them.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from auditkit.demo.tenant import MONTHS, PARTNER_RELAY, month_as_of, tenant_month
from auditkit.engine.scan import scan
from auditkit.flows.logs import NSG_CONTAINER, VNET_CONTAINER

GATEWAY_HOSTS = ["203.0.113.10", "203.0.113.11", "198.51.100.20"]
DAYS = 35  # more than flows.min_window_days: enough to restrict or remove a rule
OUTAGE = (12, 13)  # days the first finding's NSG logged nothing: shown as a gap


def _findings() -> tuple[pd.DataFrame, dict]:
    records, _ = tenant_month(MONTHS - 1)  # the snapshot that closes the month the demo report covers
    result = scan(records, ports=(25,))
    guids = {r["id"].lower(): r["properties"]["resourceGuid"] for r in records}
    return result.findings, guids


def _blob_path(container: str, nsg_id: str, when: datetime, mac: str, vnet: bool) -> str:
    stamp = f"y={when:%Y}/m={when:%m}/d={when:%d}/h={when:%H}/m=00/macAddress={mac}/PT1H.json"
    if vnet:
        return f"{container}/flowLogResourceID=/{nsg_id.split('/')[2].upper()}_NETWORKWATCHERRG/NETWORKWATCHER_" \
               f"WESTEUROPE/FLOWLOGS/DEMO/{stamp}"
    return f"{container}/resourceId={nsg_id.upper()}/{stamp}"


def write_flow_logs(root: str | Path) -> Path:
    """Write the demo flow logs under ``root`` (an export of the storage containers)."""
    root = Path(root)
    rng = random.Random(25)
    findings, guids = _findings()
    end = datetime.fromisoformat(month_as_of(MONTHS - 1).replace("Z", "+00:00"))
    start = (end - timedelta(days=DAYS + 1)).replace(hour=0)
    for i, f in enumerate(findings.to_dict(orient="records")):
        nsg_id, rule = f["nsg_id"], f["rule_name"]
        mac = f"000D3A{rng.randrange(16**6):06X}"
        dst = f"10.{i}.0.4"
        quiet = i == 1  # this finding sees no legitimate traffic at all: decommission
        vnet = i == 2
        for day in range(DAYS):
            if i == 0 and day in OUTAGE:
                continue
            for hour in (9, 15):
                t0 = start + timedelta(days=day, hours=hour)
                ts = int(t0.timestamp())
                tuples = []
                senders = [] if quiet else [(GATEWAY_HOSTS[day % 3], 6), (PARTNER_RELAY, 2)]
                for src, n in senders:
                    for k in range(n):
                        sp = 40000 + rng.randrange(20000)
                        t = ts + 60 * k
                        if vnet:
                            tuples.append(f"{t * 1000},{src},{dst},{sp},25,6,I,B,NX,0,0,0,0")
                            tuples.append(f"{(t + 5) * 1000},{src},{dst},{sp},25,6,I,E,NX,12,{4000 + k},10,900")
                        else:
                            tuples.append(f"{t},{src},{dst},{sp},25,T,I,A,B,,,,")
                            tuples.append(f"{t + 5},{src},{dst},{sp},25,T,I,A,E,12,{4000 + k},10,900")
                for _ in range(rng.randrange(3, 9)):  # scanners: a SYN, sometimes a reset, no session
                    src = f"{rng.choice([45, 80, 91, 185, 194])}.{rng.randrange(256)}.{rng.randrange(256)}." \
                          f"{rng.randrange(1, 255)}"
                    sp = rng.randrange(1024, 65535)
                    t = ts + rng.randrange(3600)
                    if vnet:
                        tuples.append(f"{t},{src},{dst},{sp},25,6,I,B,NX,0,0,0,0")
                    else:
                        tuples.append(f"{t},{src},{dst},{sp},25,T,I,A,B,,,,")
                        tuples.append(f"{t + 1},{src},{dst},{sp},25,T,I,A,E,1,60,0,0")
                if vnet:
                    record = {"time": t0.isoformat(), "flowLogVersion": 4, "flowLogGUID": "demo", "macAddress": mac,
                              "category": "FlowLogFlowEvent", "flowLogResourceID": "demo",
                              "targetResourceID": nsg_id.rsplit("/", 2)[0],
                              "flowRecords": {"flows": [{"aclID": guids[nsg_id.lower()],
                                                         "flowGroups": [{"rule": f"UserRule_{rule}",
                                                                         "flowTuples": tuples}]}]}}
                else:
                    record = {"time": t0.isoformat(), "systemId": "demo", "category": "NetworkSecurityGroupFlowEvent",
                              "resourceId": nsg_id.upper(), "operationName": "NetworkSecurityGroupFlowEvents",
                              "properties": {"Version": 2, "flows": [{"rule": f"UserRule_{rule}", "flows": [
                                  {"mac": mac, "flowTuples": tuples}]}]}}
                container = VNET_CONTAINER if vnet else NSG_CONTAINER
                path = root / _blob_path(container, nsg_id, t0, mac, vnet)
                path.parent.mkdir(parents=True, exist_ok=True)
                text = json.dumps({"records": [record]})
                if day == DAYS - 1 and hour == 15:
                    text = text[: len(text) // 2]  # the current hour, still being appended
                path.write_text(text)
    return root


def ensure_flow_logs(root: str | Path) -> Path:
    """The demo flow logs under ``root``, written once (a marker beside the folder says they are
    complete; inside it, it would be a file that is not a flow log)."""
    root = Path(root)
    marker = root.with_name(f"{root.name}.complete")
    if not marker.is_file():
        write_flow_logs(root)
        marker.write_text("demo flow logs complete\n")
    return root


def default_flow_logs() -> str:
    """The demo flow logs in the per-user demo cache, written on first use."""
    from auditkit.demo.tenant import default_snapshots, demo_lock

    base = Path(default_snapshots()).parent
    with demo_lock(base):
        return str(ensure_flow_logs(base / "flowlogs"))

