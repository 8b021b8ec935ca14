"""Read NSG and VNet flow logs into one DataFrame of flows, in bulk.

- NSG flow logs (``insights-logs-networksecuritygroupflowevent``): ``records[].properties.Version``
  1 (``ts,src,dst,sport,dport,T|U,I|O,A|D``) or 2 (adds ``state B|C|E`` and packets/bytes both ways;
  counters are empty on ``B`` rows and deltas on ``C``/``E`` rows, so they are summed).
- VNet flow logs (``insights-logs-flowlogflowevent``):
  ``records[].flowRecords.flows[] = {aclID, flowGroups[] = {rule, flowTuples[]}}`` with
  ``ts,src,dst,sport,dport,protocol-number,I|O,state B|C|E|D,encryption,packets/bytes...``;
  timestamps in seconds or milliseconds (decided by magnitude); state ``D`` is denied.

The service appends records before the closing ``]}``, so a blob being written is not valid
JSON: every complete record is read and the rest is counted as skipped. A malformed tuple is
counted per file, never silently dropped. Tuples are split in bulk with Arrow, not one by one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.errors import InputError

FLOW_COLUMNS = ["time", "nsg_id", "acl_id", "rule", "source", "destination", "source_port", "destination_port",
                "protocol", "direction", "decision", "state", "packets", "bytes_src_to_dst", "bytes_dst_to_src",
                "bytes", "mac", "log", "file"]
NSG_CONTAINER = "insights-logs-networksecuritygroupflowevent"
VNET_CONTAINER = "insights-logs-flowlogflowevent"
_RULE_PREFIX = re.compile(r"^(userrule_|defaultrule_)", re.I)
_IP = r"^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$"


@dataclass
class FlowLogs:
    """Flows read from a set of blobs, and what was skipped in each file."""

    flows: pd.DataFrame
    skipped: dict = field(default_factory=dict)  # file -> {"incomplete_records": n, "malformed_tuples": m}


def _ci(d: dict, key: str):
    """A key read case-insensitively (``resourceId`` arrives as ``resourceId`` or ``resourceID``)."""
    if key in d:
        return d[key]
    low = key.lower()
    for k, v in d.items():
        if k.lower() == low:
            return v
    return None


def complete_records(data: bytes, name: str) -> tuple[list[dict], int]:
    """The complete records of a flow-log blob, and how many trailing records were incomplete."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], 1
    try:
        obj = json.loads(text)
        records = obj.get("records") if isinstance(obj, dict) else None
        if isinstance(records, list):
            return [r for r in records if isinstance(r, dict)], 0
        return [], 1
    except json.JSONDecodeError:
        pass
    # A blob still being appended: walk the records array and keep what decodes.
    m = re.search(r'"records"\s*:\s*\[', text)
    if not m:
        return [], 1
    decoder = json.JSONDecoder()
    pos, out = m.end(), []
    n = len(text)
    while pos < n:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or text[pos] == "]":
            break
        try:
            rec, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return out, 1
        if isinstance(rec, dict):
            out.append(rec)
    return out, 0 if pos < n and text[pos] == "]" else 1


def _nsg_from_resource_id(rid: str) -> str:
    return str(rid or "").lower()


@dataclass
class _Batch:
    tuples: list = field(default_factory=list)
    counts: list = field(default_factory=list)
    nsg: list = field(default_factory=list)
    acl: list = field(default_factory=list)
    rule: list = field(default_factory=list)
    mac: list = field(default_factory=list)
    kind: list = field(default_factory=list)
    file: list = field(default_factory=list)

    def add(self, tuples: list, nsg: str, acl: str, rule: str, mac: str, kind: str, file: str) -> None:
        if not isinstance(tuples, list) or not tuples:
            return
        self.tuples.extend(tuples)
        self.counts.append(len(tuples))
        self.nsg.append(nsg)
        self.acl.append(acl)
        self.rule.append(rule)
        self.mac.append(mac)
        self.kind.append(kind)
        self.file.append(file)


def _collect(records: list[dict], name: str, batch: _Batch) -> None:
    """Gather tuple strings per (NSG, rule, MAC) group; one Python step per group, not per tuple."""
    for rec in records:
        props = _ci(rec, "properties")
        flow_records = _ci(rec, "flowRecords")
        if isinstance(props, dict) and _ci(props, "flows") is not None:
            version = _ci(props, "Version")
            kind = "nsg-v2" if str(version) == "2" else "nsg-v1"
            nsg = _nsg_from_resource_id(_ci(rec, "resourceId"))
            for group in _ci(props, "flows") or []:
                rule = str(group.get("rule", "")) if isinstance(group, dict) else ""
                for f in (group.get("flows") or []) if isinstance(group, dict) else []:
                    if isinstance(f, dict):
                        batch.add(f.get("flowTuples"), nsg, "", rule, str(f.get("mac", "")), kind, name)
        elif isinstance(flow_records, dict):
            mac = str(_ci(rec, "macAddress") or "")
            for f in _ci(flow_records, "flows") or []:
                if not isinstance(f, dict):
                    continue
                acl = str(f.get("aclID", "")).lower()
                for g in f.get("flowGroups") or []:
                    if isinstance(g, dict):
                        batch.add(g.get("flowTuples"), "", acl, str(g.get("rule", "")), mac, "vnet", name)


def _column(flat: np.ndarray, width: int, i: int) -> np.ndarray:
    return flat[i::width]


def _parse(batch: _Batch, skipped: dict) -> pd.DataFrame:
    if not batch.tuples:
        return pd.DataFrame(columns=FLOW_COLUMNS)
    counts = np.asarray(batch.counts, dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    kind = np.asarray(batch.kind, dtype=object)[group]
    arr = pa.array(batch.tuples, type=pa.string())
    parts = pc.split_pattern(arr, ",")
    width = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    expected = np.where(kind == "nsg-v1", 8, 13)
    # v2 and VNet tuples from rules that log no counters stop after the state (9 fields).
    ok_shape = (width == expected) | ((kind != "nsg-v1") & (width == 9))
    frames = []
    for w in (8, 9, 13):
        rows = np.flatnonzero(ok_shape & (width == w))
        if not len(rows):
            continue
        flat = pc.list_flatten(parts.take(pa.array(rows))).to_numpy(zero_copy_only=False).astype(object)
        cols = {k: _column(flat, w, i) for i, k in enumerate(["ts", "src", "dst", "sport", "dport", "proto", "dir"])}
        k = kind[rows]
        vnet = k == "vnet"
        field7 = _column(flat, w, 7)
        if w == 8:
            decision, state = field7, np.full(len(rows), None, dtype=object)
        else:
            state = field7
            nsg_state = _column(flat, w, 8)
            # NSG v2: A|D at 7, state at 8. VNet: state at 7 (D = denied), encryption at 8.
            decision = np.where(vnet, np.where(field7 == "D", "D", "A"), field7)
            state = np.where(vnet, field7, nsg_state)
        counters = {}
        for i, name in enumerate(["pk_sd", "by_sd", "pk_ds", "by_ds"]):
            counters[name] = (pd.to_numeric(pd.Series(_column(flat, w, 9 + i)), errors="coerce").to_numpy()
                              if w == 13 else np.full(len(rows), np.nan))
        frames.append(pd.DataFrame({"row": rows, "group": group[rows], "kind": k, "decision": decision,
                                    "state": state, **cols, **counters}))
    bad_shape = np.flatnonzero(~ok_shape)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["row", "group", "kind"])
    ts = pd.to_numeric(df["ts"], errors="coerce").to_numpy(dtype=float) if len(df) else np.array([])
    sport = pd.to_numeric(df["sport"], errors="coerce").to_numpy(dtype=float) if len(df) else np.array([])
    dport = pd.to_numeric(df["dport"], errors="coerce").to_numpy(dtype=float) if len(df) else np.array([])
    proto_raw = df["proto"].to_numpy(dtype=object) if len(df) else np.array([], dtype=object)
    protocol = np.select([np.isin(proto_raw, ["T", "6"]), np.isin(proto_raw, ["U", "17"])], ["T", "U"], "?")
    src_ok = pd.Series(df["src"] if len(df) else [], dtype=object).astype(str).str.match(_IP).to_numpy(dtype=bool)
    dst_ok = pd.Series(df["dst"] if len(df) else [], dtype=object).astype(str).str.match(_IP).to_numpy(dtype=bool)
    good = (~np.isnan(ts) & (sport >= 0) & (sport <= 65535) & (dport >= 0) & (dport <= 65535) & src_ok & dst_ok
            & (protocol != "?") & np.isin(df["dir"].to_numpy(dtype=object) if len(df) else [], ["I", "O"])
            & np.isin(df["decision"].to_numpy(dtype=object) if len(df) else [], ["A", "D"]))
    files = np.asarray(batch.file, dtype=object)
    bad_groups = np.concatenate([group[bad_shape], df["group"].to_numpy(dtype=np.int64)[~good]]) \
        if len(df) else group[bad_shape]
    for fname, n in zip(*np.unique(files[bad_groups], return_counts=True), strict=True):
        skipped.setdefault(fname, {"incomplete_records": 0, "malformed_tuples": 0})["malformed_tuples"] += int(n)
    df = df[good]
    ts = ts[good]
    # VNet timestamps: epoch milliseconds (13 digits) in some logs, seconds in others.
    whole = ts.astype(np.int64)
    nanos = np.where(ts > 1e11, whole * 1_000_000, whole * 1_000_000_000)
    g = df["group"].to_numpy(dtype=np.int64)
    rules = pd.Series(np.asarray(batch.rule, dtype=object)).str.replace(_RULE_PREFIX, "", regex=True).to_numpy()
    macs = pd.Series(np.asarray(batch.mac, dtype=object)).str.replace(r"[^0-9A-Fa-f]", "", regex=True).str.upper()
    pk = np.nan_to_num(df["pk_sd"].to_numpy(dtype=float)) + np.nan_to_num(df["pk_ds"].to_numpy(dtype=float))
    by_sd = np.nan_to_num(df["by_sd"].to_numpy(dtype=float))
    by_ds = np.nan_to_num(df["by_ds"].to_numpy(dtype=float))
    return pd.DataFrame({
        "time": pd.to_datetime(nanos, unit="ns", utc=True),
        "nsg_id": np.asarray(batch.nsg, dtype=object)[g],
        "acl_id": np.asarray(batch.acl, dtype=object)[g],
        "rule": rules[g],
        "source": df["src"].to_numpy(dtype=object),
        "destination": df["dst"].to_numpy(dtype=object),
        "source_port": sport[good].astype(np.int64),
        "destination_port": dport[good].astype(np.int64),
        "protocol": protocol[good],
        "direction": df["dir"].to_numpy(dtype=object),
        "decision": df["decision"].to_numpy(dtype=object),
        "state": df["state"].to_numpy(dtype=object),
        "packets": pk.astype(np.int64),
        "bytes_src_to_dst": by_sd.astype(np.int64),
        "bytes_dst_to_src": by_ds.astype(np.int64),
        "bytes": (by_sd + by_ds).astype(np.int64),
        "mac": macs.to_numpy(dtype=object)[g],
        "log": df["kind"].to_numpy(dtype=object),
        "file": files[g],
    }, columns=FLOW_COLUMNS)


def iter_files(paths: Iterable[str | Path]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every ``.json`` blob under the given files or folders (an exported container)."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*.json")):
                yield str(f), f.read_bytes()
        elif path.is_file():
            yield str(path), path.read_bytes()
        else:
            raise InputError(f"{path}: no such flow-log file or folder")


def iter_blobs(account_url: str, credential, containers: Iterable[str] = (NSG_CONTAINER, VNET_CONTAINER),
               prefix: str | None = None, **client_kwargs) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every ``.json`` blob in the flow-log containers of a storage account."""
    try:
        from azure.storage.blob import BlobServiceClient
    except ImportError:  # pragma: no cover - declared dependency
        raise InputError("reading from Blob Storage needs azure-storage-blob") from None
    from azure.core.exceptions import ResourceNotFoundError

    service = BlobServiceClient(account_url, credential=credential, **client_kwargs)
    for container in containers:
        client = service.get_container_client(container)
        try:
            for blob in client.list_blobs(name_starts_with=prefix):
                if blob.name.endswith(".json"):
                    yield f"{container}/{blob.name}", client.download_blob(blob.name).readall()
        except ResourceNotFoundError:
            continue


def read_flow_logs(blobs: Iterable[tuple[str, bytes]]) -> FlowLogs:
    """Parse blobs (from ``iter_files`` or ``iter_blobs``) into a FlowLogs."""
    batch = _Batch()
    skipped: dict = {}
    for name, data in blobs:
        records, incomplete = complete_records(data, name)
        entry = skipped.setdefault(name, {"incomplete_records": 0, "malformed_tuples": 0})
        entry["incomplete_records"] += incomplete
        _collect(records, name, batch)
    flows = _parse(batch, skipped)
    return FlowLogs(flows.sort_values("time", kind="stable").reset_index(drop=True), skipped)


def read_paths(paths: Iterable[str | Path], credential=None, **client_kwargs) -> FlowLogs:
    """Flow logs from local files or folders, or from storage account URLs (``https://...``,
    read with ``credential``, by default the one ``auditkit collect`` would use)."""
    local, remote = [], []
    for p in paths:
        (remote if str(p).startswith(("https://", "http://")) else local).append(p)
    sources: list = [iter_files(local)]
    if remote:
        if credential is None:
            from auditkit.collect.credentials import credential as make_credential

            credential = make_credential("default")
        sources += [iter_blobs(url, credential, **client_kwargs) for url in remote]
    return read_flow_logs(item for src in sources for item in src)
