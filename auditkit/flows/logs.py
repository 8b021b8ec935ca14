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
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _is_record(obj: Any) -> bool:
    return isinstance(obj, dict) and (_ci(obj, "properties") is not None or _ci(obj, "flowRecords") is not None)


def complete_records(data: bytes, name: str) -> tuple[list[dict], int, str]:
    """The complete records of a flow-log blob, how many trailing records were incomplete, and why the
    file is not a flow log at all ("" when it is).

    Read: ``{"records": [...]}`` as the service writes it (also while still being appended),
    newline-delimited JSON (one record per line), a bare list of records, and a single record.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], 0, "not UTF-8 text"
    try:
        obj = json.loads(text)
    except RecursionError:
        return [], 0, "JSON nested too deeply"
    except json.JSONDecodeError:
        obj = None
    else:
        if isinstance(obj, dict) and isinstance(_ci(obj, "records"), list):
            return [r for r in _ci(obj, "records") if isinstance(r, dict)], 0, ""
        if isinstance(obj, list):
            return [r for r in obj if isinstance(r, dict)], 0, ""
        if _is_record(obj):
            return [obj], 0, ""
        return [], 0, "not a flow log (no records)"
    # Newline-delimited JSON: one record per line (the last one may still be being written).
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].lstrip().startswith("{") and '"records"' not in text[:200]:
        out, bad = [], 0
        for line in lines:
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                bad += 1
                continue
            if isinstance(rec, dict):
                out.append(rec)
        if out:
            return out, bad, ""
    # A blob still being appended: walk the records array and keep what decodes.
    m = re.search(r'"records"\s*:\s*\[', text)
    if not m:
        return [], 0, "not a flow log (not JSON)"
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
        except (json.JSONDecodeError, RecursionError):
            return out, 1, ""
        if isinstance(rec, dict):
            out.append(rec)
    return out, 0 if pos < n and text[pos] == "]" else 1, ""


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


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _collect(records: list[dict], name: str, batch: _Batch, skipped: dict) -> None:
    """Gather tuple strings per (NSG, rule, MAC) group; one Python step per group, not per tuple.

    A record or group of an unexpected shape is counted in ``unreadable_records``, never dropped silently.
    """
    unreadable = 0
    for rec in records:
        props = _ci(rec, "properties")
        flow_records = _ci(rec, "flowRecords")
        if isinstance(props, dict) and isinstance(_ci(props, "flows"), list):
            version = _ci(props, "Version")
            kind = "nsg-v2" if str(version) == "2" else "nsg-v1"
            nsg = _nsg_from_resource_id(_ci(rec, "resourceId"))
            for group in _ci(props, "flows"):
                if not isinstance(group, dict) or not isinstance(group.get("flows"), list):
                    unreadable += 1
                    continue
                rule = str(group.get("rule", ""))
                for f in group["flows"]:
                    if isinstance(f, dict) and isinstance(f.get("flowTuples"), list):
                        batch.add(f["flowTuples"], nsg, "", rule, str(f.get("mac", "")), kind, name)
                    else:
                        unreadable += 1
        elif isinstance(flow_records, dict) and isinstance(_ci(flow_records, "flows"), list):
            mac = str(_ci(rec, "macAddress") or "")
            for f in _ci(flow_records, "flows"):
                if not isinstance(f, dict) or not isinstance(f.get("flowGroups"), list):
                    unreadable += 1
                    continue
                acl = str(f.get("aclID", "")).lower()
                for g in f["flowGroups"]:
                    if isinstance(g, dict) and isinstance(g.get("flowTuples"), list):
                        batch.add(g["flowTuples"], "", acl, str(g.get("rule", "")), mac, "vnet", name)
                    else:
                        unreadable += 1
        else:
            unreadable += 1
    if unreadable:
        skipped.setdefault(name, _empty_skip())["unreadable_records"] += unreadable


def _empty_skip() -> dict:
    return {"incomplete_records": 0, "unreadable_records": 0, "malformed_tuples": 0, "file_skipped": ""}


def _only_strings(batch: _Batch, skipped: dict) -> _Batch:
    """The batch without tuples that are not text (numbers, objects), each counted as malformed."""
    out = _Batch()
    pos = 0
    for i, n in enumerate(batch.counts):
        chunk = batch.tuples[pos:pos + n]
        pos += n
        good = [t for t in chunk if t is None or isinstance(t, str)]
        if len(good) < n:
            skipped.setdefault(batch.file[i], _empty_skip())["malformed_tuples"] += n - len(good)
        out.add(good, batch.nsg[i], batch.acl[i], batch.rule[i], batch.mac[i], batch.kind[i], batch.file[i])
    return out


def _strings(arr: pa.Array) -> pd.Series:
    """An Arrow string array as a pandas string column, without copying into Python objects."""
    return pd.Series(pd.arrays.ArrowStringArray(arr.cast(pa.large_string())))


def _code(col: pa.Array, values: list[str]) -> np.ndarray:
    """Index of each value in ``values`` (computed in Arrow), -1 where it is none of them."""
    idx = pc.index_in(col, value_set=pa.array(values))
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_V4 = rf"^{_OCTET}(?:\.{_OCTET}){{3}}$"
_V6_CANDIDATE = r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$"


def _addresses_ok(col: pa.Array) -> np.ndarray:
    """IPv4 checked by pattern; IPv6 candidates (rare) checked with ``ipaddress``, once per distinct value."""
    ok = pc.match_substring_regex(col, _V4).to_numpy(zero_copy_only=False)
    v6 = pc.match_substring_regex(col, _V6_CANDIDATE).to_numpy(zero_copy_only=False) & ~ok
    if v6.any():
        import ipaddress

        values = col.filter(pa.array(v6)).to_numpy(zero_copy_only=False)
        codes, uniques = pd.factorize(values)
        valid = np.zeros(len(uniques), dtype=bool)
        for i, u in enumerate(uniques):
            try:
                ipaddress.IPv6Address(u)
                valid[i] = True
            except ValueError:
                pass
        ok[np.flatnonzero(v6)] = valid[codes]
    return ok
NAMES = ["ts", "src", "dst", "sport", "dport", "proto", "dir", "f7", "f8", "c1", "c2", "c3", "c4"]


def _number(col: pa.Array, empty_ok: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(value, valid) for a column of decimal text; empty text is 0, valid only when ``empty_ok``."""
    n = pc.utf8_length(col)
    # ASCII digits only: utf8_is_digit also accepts superscripts and other scripts' digits.
    digits = pc.and_(pc.and_(pc.utf8_is_digit(col), pc.string_is_ascii(col)),
                     pc.less_equal(n, 18)).to_numpy(zero_copy_only=False)
    empty = pc.equal(n, 0).to_numpy(zero_copy_only=False)
    values = pc.cast(pc.if_else(pa.array(digits), col, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    return values, digits | (empty & empty_ok)


def _parse(batch: _Batch, skipped: dict) -> pd.DataFrame:
    """Parse every tuple at once in Arrow (one regular expression), then validate columns."""
    if not batch.tuples:
        return pd.DataFrame(columns=FLOW_COLUMNS)
    counts = np.asarray(batch.counts, dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    kind = np.asarray(batch.kind, dtype=object)[group]
    files = np.asarray(batch.file, dtype=object)
    try:
        text = pa.array(batch.tuples, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        batch = _only_strings(batch, skipped)
        counts = np.asarray(batch.counts, dtype=np.int64)
        group = np.repeat(np.arange(len(counts)), counts)
        kind = np.asarray(batch.kind, dtype=object)[group]
        files = np.asarray(batch.file, dtype=object)
        text = pa.array(batch.tuples, type=pa.string())
    parts = pc.split_pattern(text, ",")
    width = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    nsg_v1, vnet = kind == "nsg-v1", kind == "vnet"
    # v1 has 8 fields; v2 and VNet 13, or 9 from rules that log no counters.
    shape = np.where(nsg_v1, width == 8, (width == 13) | (width == 9))
    # Rows grouped by field count, each field taken as a column (list_element, in Arrow); fields
    # a shorter tuple does not have read as "".
    rows = np.concatenate([np.flatnonzero(shape & (width == w)) for w in (8, 9, 13)])
    field: dict = {name: [] for name in NAMES}
    for w in (8, 9, 13):
        sel = np.flatnonzero(shape & (width == w))
        if not len(sel):
            continue
        group_parts = parts.take(pa.array(sel))
        for i, name in enumerate(NAMES):
            field[name].append(pc.list_element(group_parts, i) if i < w else pa.array([""] * len(sel), pa.string()))
    field = {name: pa.concat_arrays(cols) if cols else pa.array([], pa.string()) for name, cols in field.items()}
    vnet, nsg_v1 = vnet[rows], nsg_v1[rows]
    ts, ts_ok = _number(field["ts"])
    sport, sport_ok = _number(field["sport"])
    dport, dport_ok = _number(field["dport"])
    addr_ok = _addresses_ok(field["src"]) & _addresses_ok(field["dst"])
    numbers_ok = ts_ok & sport_ok & dport_ok & addr_ok
    protocol = _code(field["proto"], ["T", "6", "U", "17"]) // 2  # T or 6 -> TCP (0), U or 17 -> UDP (1)
    direction = _code(field["dir"], ["I", "O"])
    f7 = _code(field["f7"], ["A", "D", "B", "C", "E"])
    f8 = _code(field["f8"], ["B", "C", "E"])
    # NSG logs: decision A|D at 7 and (v2) state B|C|E at 8. VNet: state B|C|E|D at 7 (D = denied).
    decision = np.where(vnet, np.select([f7 == 1, f7 >= 2], [1, 0], -1), np.where(f7 <= 1, f7, -1))
    state = np.where(vnet, np.select([f7 == 1, f7 >= 2], [3, f7 - 2], -1), np.where(nsg_v1, -2, f8))
    counters, counters_ok = [], np.ones(len(rows), dtype=bool)
    for c, limit in (("c1", MAX_TUPLE_PACKETS), ("c2", MAX_TUPLE_BYTES), ("c3", MAX_TUPLE_PACKETS),
                     ("c4", MAX_TUPLE_BYTES)):
        v, ok = _number(field[c], empty_ok=True)
        counters.append(v)
        # More than a flow could carry in its interval: the tuple is malformed, never summed.
        counters_ok &= ok & (v <= limit)
    # Timestamps are epoch seconds or milliseconds; anything larger is not a flow-log time.
    good = (numbers_ok & counters_ok & (ts < 100_000_000_000_000) & (sport <= 65535) & (dport <= 65535) & (protocol >= 0) & (direction >= 0)
            & (decision >= 0) & (nsg_v1 | (state >= 0)))
    bad_groups = np.concatenate([group[~shape], group[rows[~good]]])
    for fname, n in zip(*np.unique(files[bad_groups], return_counts=True), strict=True):
        skipped.setdefault(fname, _empty_skip())["malformed_tuples"] += int(n)
    keep = pa.array(np.flatnonzero(good))
    t = ts[good]
    # VNet timestamps: epoch milliseconds (13 digits) in some logs, seconds in others.
    nanos = np.where(t > 100_000_000_000, t * 1_000_000, t * 1_000_000_000)
    g = group[rows[good]]
    by_sd, by_ds = counters[1][good], counters[3][good]
    df = pd.DataFrame({
        "time": pd.to_datetime(nanos, unit="ns", utc=True),
        "source": _strings(field["src"].take(keep)),
        "destination": _strings(field["dst"].take(keep)),
        "source_port": sport[good], "destination_port": dport[good],
        "protocol": pd.Categorical.from_codes(protocol[good], ["T", "U"]),
        "direction": pd.Categorical.from_codes(direction[good], ["I", "O"]),
        "decision": pd.Categorical.from_codes(decision[good], ["A", "D"]),
        "state": pd.Categorical.from_codes(np.maximum(state[good], -1), ["B", "C", "E", "D"]),
        "packets": counters[0][good] + counters[2][good],
        "bytes_src_to_dst": by_sd, "bytes_dst_to_src": by_ds, "bytes": by_sd + by_ds,
        "log": pd.Categorical(kind[rows[good]], categories=["nsg-v1", "nsg-v2", "vnet"]),
    })
    rules = pd.Series(np.asarray(batch.rule, dtype=object)).str.replace(_RULE_PREFIX, "", regex=True)
    macs = pd.Series(np.asarray(batch.mac, dtype=object)).str.replace(r"[^0-9A-Fa-f]", "", regex=True).str.upper()
    # Per-group text as categoricals: a few distinct values repeated over millions of flows.
    for col, values in (("nsg_id", batch.nsg), ("acl_id", batch.acl), ("rule", rules.to_numpy(dtype=object)),
                        ("mac", macs.to_numpy(dtype=object)), ("file", files)):
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        df[col] = pd.Categorical.from_codes(codes[g], pd.Index(uniques, dtype=object))
    return df[FLOW_COLUMNS]


@dataclass(frozen=True)
class NotRead:
    """A file that was not read, and why (counted in ``skipped``, never ignored silently)."""

    reason: str


MAX_FILE_MB = 512


def _regular(path: Path, root: Path | None, max_bytes: int) -> bytes | NotRead:
    """A file's bytes, or why it is not read: only regular files, no link out of ``root``, a size limit."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            target = path.resolve()
            if root is not None and not target.is_relative_to(root):
                return NotRead("a symbolic link leaving the folder")
            st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return NotRead("not a regular file")
        if st.st_size > max_bytes:
            return NotRead(f"larger than the limit of {max_bytes // (1 << 20)} MB (flows.max_file_mb)")
        with open(path, "rb") as fh:
            return fh.read(max_bytes + 1)
    except OSError as exc:
        return NotRead(f"unreadable: {exc.strerror or exc}")


def iter_files(paths: Iterable[str | Path], max_file_mb: int = MAX_FILE_MB) -> Iterator[tuple[str, bytes | NotRead]]:
    """(name, bytes) of every file under the given files or folders (an exported container), or
    (name, NotRead) for a file that is not read: not a regular file (FIFO, device), a symbolic link
    leaving the folder, or over the size limit."""
    max_bytes = int(max_file_mb) << 20
    for p in paths:
        path = Path(p)
        if path.is_dir():
            root = path.resolve()
            for folder, dirs, files in os.walk(path, followlinks=False):
                dirs.sort()
                for name in sorted(files + [d for d in dirs if (Path(folder) / d).is_symlink()]):
                    f = Path(folder) / name
                    yield str(f), _regular(f, root, max_bytes)
        elif path.exists() or path.is_symlink():
            yield str(path), _regular(path, None, max_bytes)
        else:
            raise InputError(f"{path}: no such flow-log file or folder")


def iter_blobs(url: str, credential: Any = None, containers: Iterable[str] = (NSG_CONTAINER, VNET_CONTAINER),
               prefix: str | None = None, max_file_mb: int = MAX_FILE_MB) -> Iterator[tuple[str, bytes | NotRead]]:
    """(name, bytes) of every blob under a storage URL, read through ``evidence.storage``: an account
    (``https://ACCOUNT.blob.core.windows.net``: its flow-log ``containers``, those it has), or a
    container or folder in one (also ``abfs://``). Names are ``CONTAINER/PATH``; a blob that
    cannot be read comes as NotRead with its one-line reason, and the others still come."""
    from auditkit.evidence import blob_url, storage

    if url.startswith(("http://", "https://")) and blob_url.parse(url) is None:
        raise InputError(f"{url}: not an Azure Blob Storage URL (https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH)")
    max_bytes = int(max_file_mb) << 20
    account = storage.filesystem(url, credential)[1] == ""
    for where in [storage.join(url, c) for c in containers] if account else [url]:
        try:
            files = storage.listing(where, credential)
        except storage.NoContainer:
            if account:  # an account with NSG flow logs only, or VNet flow logs only
                continue
            raise
        root = storage.filesystem(where, credential)[1]
        wanted = []
        for rel, info in sorted(files.items()):
            if prefix and not f"{root}/{rel}".split("/", 1)[-1].startswith(prefix):
                continue
            if (info.get("size") or 0) > max_bytes:
                yield f"{root}/{rel}", NotRead(f"larger than the limit of {max_bytes >> 20} MB (flows.max_file_mb)")
            else:
                wanted.append(rel)
        for rel, data in storage.read_each(where, wanted, credential):
            yield f"{root}/{rel}", data if isinstance(data, bytes) else NotRead(f"unreadable: {data}")


# A tuple's counters cover at most the blob's hour; the fastest Azure NICs carry 200 Gbit/s, i.e.
# 90 TB an hour. Larger counters are not traffic; a packet is at least 20 bytes.
MAX_TUPLE_BYTES = 200_000_000_000 // 8 * 3600
MAX_TUPLE_PACKETS = MAX_TUPLE_BYTES // 20

CHUNK = 1_000_000  # tuples parsed at a time: bounds the Python strings alive at once


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate chunks, merging categoricals' categories instead of falling back to objects."""
    if not frames:
        return pd.DataFrame(columns=FLOW_COLUMNS)
    if len(frames) == 1:
        return frames[0]
    from pandas.api.types import union_categoricals

    data = {}
    for col in FLOW_COLUMNS:
        parts = [f[col] for f in frames]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            data[col] = pd.Series(union_categoricals([p.array for p in parts], ignore_order=True))
        else:
            data[col] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(data, columns=FLOW_COLUMNS)


def read_flow_logs(blobs: Iterable[tuple[str, bytes | NotRead]]) -> FlowLogs:
    """Parse blobs (from ``iter_files`` or ``iter_blobs``) into a FlowLogs, a chunk of tuples at a time."""
    batch = _Batch()
    skipped: dict = {}
    frames = []
    for name, data in blobs:
        entry = skipped.setdefault(name, _empty_skip())
        if isinstance(data, NotRead):
            entry["file_skipped"] = data.reason
            continue
        records, incomplete, not_flow_log = complete_records(data, name)
        entry["incomplete_records"] += incomplete
        entry["file_skipped"] = not_flow_log
        _collect(records, name, batch, skipped)
        del records, data
        if len(batch.tuples) >= CHUNK:
            frames.append(_parse(batch, skipped))
            batch = _Batch()
    if batch.tuples or not frames:
        frames.append(_parse(batch, skipped))
    flows = _concat(frames)
    return FlowLogs(flows.sort_values("time", kind="stable").reset_index(drop=True), skipped)


def read_paths(paths: Iterable[str | Path], credential: Any = None, max_file_mb: int = MAX_FILE_MB) -> FlowLogs:
    """Flow logs from local files or folders, or from storage URLs (``https://...`` blob URLs, read
    with ``credential``, by default what ``evidence.blob_url`` says; ``abfs://``; see ``iter_blobs``)."""
    from auditkit.evidence.storage import is_url

    local, remote = [], []
    for p in paths:
        (remote if is_url(str(p)) else local).append(p)
    sources: list = [iter_files(local, max_file_mb)]
    sources += [iter_blobs(str(url), credential, max_file_mb=max_file_mb) for url in remote]
    return read_flow_logs(item for src in sources for item in src)
