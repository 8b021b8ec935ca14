"""``auditkit.engine.scan``: NSG records in, findings and errors out; the API behind ``auditkit scan``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditkit.engine.admin_rules import admin_rules
from auditkit.engine.fields import lowered, parse_rules
from auditkit.engine.findings import broad, findings
from auditkit.engine.layer_coverage import layer_coverage
from auditkit.engine.layer_findings import layer_findings
from auditkit.engine.layer_records import LAYERS
from auditkit.engine.reachability import EXPOSURES, effective_exposure, reachable, unknown_exposure
from auditkit.engine.rules import ERROR_COLUMNS, Tables, rules_table
from auditkit.engine.topology import TOPOLOGY_TABLES, TOPOLOGY_TYPES, Topology, topology_table
from auditkit.errors import InputError
from auditkit.evidence.records import (
    EmptyInput,
    paused_gc,
    read_json,
    records_from,
    require_nsgs,
    typed_records_from,
)
from auditkit.evidence.snapshot import Snapshot, open_snapshot

DEFAULT_PORTS: tuple[int, ...] = (25, 22, 3389)


@dataclass(frozen=True)
class ScanResult:
    """What a scan found: ``findings`` and ``errors`` DataFrames, plus the tables behind them."""

    findings: pd.DataFrame
    errors: pd.DataFrame
    ports: tuple[int, ...]
    nsgs: pd.DataFrame
    rules: pd.DataFrame
    broad: pd.DataFrame
    shadowed: int = 0
    extra: dict = field(default_factory=dict)
    topology: Topology | None = None
    topology_note: str = ""
    parsed: Any = field(default=None, repr=False)
    layers: pd.DataFrame | None = None  # per (subscription, layer beyond NSGs): evaluated, not read, not in input

    def summary(self) -> dict:
        """Counts for a report header: NSGs, rules, findings, per port, attached vs latent."""
        f = self.findings
        live = f[~f["shadowed"].to_numpy(dtype=bool)] if len(f) else f
        per_port = {str(p): int((live["port"] == p).sum()) for p in self.ports}
        nsgs_per_port = {str(p): int(live.loc[live["port"] == p, "nsg_id"].astype(str).str.lower().nunique())
                         for p in self.ports}
        return {
            "nsgs": int(len(self.nsgs)),
            "rules": int(len(self.rules)),
            "findings": int(len(live)),
            "per_port": per_port,
            "nsgs_with_findings": nsgs_per_port,
            "attached": int(live["attached"].sum()) if len(live) else 0,
            "latent": int((~live["attached"].astype(bool)).sum()) if len(live) else 0,
            "shadowed": int(self.shadowed),
            "broad": int(len(self.broad)),
            "errors": int(len(self.errors)),
            "ports": list(self.ports),
            "exposure": {e: int((live["exposure"] == e).sum()) if len(live) and "exposure" in live else 0
                         for e in EXPOSURES},
            "by_layer": {layer: int((live["layer"] == layer).sum()) if len(live) and "layer" in live else 0
                         for layer in LAYERS},
            **self.extra,
        }


def parse_ports(text: str | Iterable[int]) -> tuple[int, ...]:
    """Ports from ``"25,22,3389"`` or an iterable; each must be a whole number 0-65535."""
    items = text.split(",") if isinstance(text, str) else list(text)
    ports: list[int] = []
    for item in items:
        s = str(item).strip()
        if not s.isdigit() or int(s) > 65535:
            raise ValueError(f"port {s!r} is not a whole number from 0 to 65535")
        if int(s) not in ports:
            ports.append(int(s))
    if not ports:
        raise ValueError("no port given")
    return tuple(ports)


def load_records(source: Any, allow_empty: bool = True) -> list:
    """NSG records from a list, a parsed export object, or a path to an export file.

    An input without any NSG record raises ``EmptyInput`` unless ``allow_empty``.
    """
    if isinstance(source, str | Path):
        obj, where = read_json(source), str(source)
    else:
        obj, where = source, "input"
    records = records_from(obj, where=where) if isinstance(obj, Mapping) or isinstance(source, str | Path) \
        else list(obj)
    if not allow_empty:
        require_nsgs(records, obj, where)
    return records


def load_tables(source: Any, allow_empty: bool = True, verify: bool = True) -> Tables:
    """The NSG and rules tables of a snapshot directory, an export file, or records in memory."""
    return load_inputs(source, allow_empty=allow_empty, verify=verify)[0]


TOPOLOGY_MISSING = ("the input carries no topology (NICs, subnets, public IPs, load balancers): collected before "
                    "effective exposure existed, or exported without those types")


def load_inputs(source: Any, allow_empty: bool = True,
                verify: bool = True) -> tuple[Tables, Topology | None, set[str], str]:
    """Tables, topology (None when the input has none), subscriptions whose topology failed, and why not.

    A snapshot's topology tables are read when its ``meta.json`` says they were collected; an
    export's topology records are those of ``TOPOLOGY_TYPES`` in the same list as its NSGs.
    """
    if isinstance(source, Snapshot) or (isinstance(source, str | Path) and Path(source).is_dir()):
        # A snapshot records what its collection read; an empty one was accepted when it was written.
        snap = source if isinstance(source, Snapshot) else open_snapshot(source, verify=verify)
        tables = Tables(nsgs=snap.table("nsgs"), rules=snap.table("rules"),
                        errors=pd.DataFrame(snap.meta.get("record_errors", []), columns=ERROR_COLUMNS))
        info = snap.meta.get("topology")
        if not isinstance(info, dict):
            return tables, None, set(), TOPOLOGY_MISSING
        held = snap.meta.get("files", {})
        # A snapshot written before a layer existed lacks its tables: Topology completes them empty.
        topo = Topology({name: snap.table(f"topo_{name}") for name in TOPOLOGY_TABLES
                         if f"topo_{name}.parquet" in held},
                        errors=list(snap.meta.get("record_errors", [])))
        failed = {str(s).lower() for s in info.get("failed_subscriptions") or []}
        return tables, topo, failed, ""
    if isinstance(source, str | Path):
        obj, where = read_json(source), str(source)
    else:
        obj, where = source, "input"
    records = records_from(obj, where=where) if isinstance(obj, Mapping) or isinstance(source, str | Path) \
        else [r for r in obj if not (isinstance(r, Mapping) and str(r.get("type", "")).lower() in TOPOLOGY_TYPES)]
    if not allow_empty:
        require_nsgs(records, obj, where)
    topo_rows = typed_records_from(obj, TOPOLOGY_TYPES)
    tables = rules_table(records)
    if not topo_rows:
        return tables, None, set(), TOPOLOGY_MISSING
    topo = topology_table(topo_rows)
    if topo.errors:
        tables = Tables(nsgs=tables.nsgs, rules=tables.rules,
                        errors=pd.concat([tables.errors, pd.DataFrame(topo.errors, columns=ERROR_COLUMNS)],
                                         ignore_index=True))
    return tables, topo, set(), ""


def _opened(source: Any, verify: bool) -> Any:
    """A snapshot directory opened once (its files checked once); any other source as given."""
    if isinstance(source, str | Path) and Path(source).is_dir():
        return open_snapshot(source, verify=verify)
    return source


def _is_snapshot(source: Any) -> bool:
    return isinstance(source, Snapshot) or (isinstance(source, str | Path) and Path(source).is_dir())


def scan(records_or_path: Any, ports: Iterable[int] | str = DEFAULT_PORTS, include_shadowed: bool = False,
         allow_empty: bool = False, verify: bool = True, exposure: bool | None = None) -> ScanResult:
    """Evaluate NSG records and return the internet exposures on ``ports`` and every input error.

    ``records_or_path``: a snapshot directory, an export file, a parsed export or a list of records.
    An export with no NSG record at all raises ``EmptyInput`` unless ``allow_empty``: an empty
    input is not a clean tenant. A snapshot's files are checked against its ``meta.json`` unless
    ``verify`` is false. ``exposure`` (default: when the input has topology) adds each finding's
    effective ``exposure``, ``endpoints`` and the severity that follows (see ``reachability``).
    """
    with paused_gc():
        return _scan(records_or_path, parse_ports(ports), include_shadowed, allow_empty, verify, exposure)


def _scan(records_or_path: Any, port_tuple: tuple[int, ...], include_shadowed: bool, allow_empty: bool,
          verify: bool, exposure: bool | None) -> ScanResult:
    records_or_path = _opened(records_or_path, verify)  # one read (and check) of a snapshot for every step
    tables, topo, topo_failed, note = load_inputs(records_or_path, allow_empty=allow_empty, verify=verify)
    admin = None
    if not allow_empty and not len(tables.nsgs) and len(tables.errors) and not _is_snapshot(records_or_path):
        first = tables.errors.iloc[0]
        raise EmptyInput(f"{records_or_path if isinstance(records_or_path, str | Path) else 'input'}: no readable "
                         f"NSG record ({len(tables.errors)} could not be read; first: {first['nsg_id']}: "
                         f"{first['field']}: {first['message']}): not a clean tenant")
    parsed = parse_rules(tables.rules)
    found = findings(parsed, port_tuple)
    n_shadowed = int(found["shadowed"].sum())
    found = with_attached_ids(found, tables.nsgs)
    if exposure is False:
        found = unknown_exposure(found, "effective exposure not evaluated (--no-exposure)")
    elif topo is None:
        found = unknown_exposure(found, note)
    else:
        failed_layers = layers_failed(records_or_path, verify)
        admin = admin_rules(topo, failed_layers.get("admin-rule", frozenset()))
        found = effective_exposure(found, parsed, topo, tables.nsgs, topo_failed, admin=admin)
        layered = any(len(topo[t]) for t in ("admin_rules", "dnat_rules", "app_listeners"))
        found = pd.concat([found.assign(layer="nsg")]
                          + ([layer_findings(parsed, topo, topo.endpoint_table, admin, tables.nsgs, port_tuple)]
                             if layered else []), ignore_index=True)
        found = unknown_layers(found, failed_layers)
    if "layer" not in found:
        found["layer"] = "nsg"
    subs = set(tables.nsgs["subscription_id"].astype(str).str.lower()) | set(found["subscription_id"].astype(str)
                                                                            .str.lower())
    coverage = layer_coverage(topo, subs, layers_failed(records_or_path, verify) if topo is not None else None,
                              layers_collected(records_or_path, verify) if topo is not None else None)
    if not include_shadowed:
        found = found[~found["shadowed"].to_numpy(dtype=bool)].reset_index(drop=True)
    errors = error_table(tables.errors, parsed.errors, parsed.rules)
    if admin is not None and len(admin.parsed.errors):  # an admin rule's bad field: its VNet's verdicts are unknown
        errors = pd.concat([errors, error_table(admin.errors, admin.parsed.errors, admin.parsed.rules)],
                           ignore_index=True)
    return ScanResult(
        findings=found,
        errors=errors,
        ports=port_tuple,
        nsgs=tables.nsgs,
        rules=tables.rules,
        broad=broad(parsed, port_tuple),
        shadowed=n_shadowed,
        topology=topo,
        topology_note=note,
        parsed=parsed,
        layers=coverage,
    )


LAYER_UNKNOWN = {"firewall-dnat": "unknown-firewall-dnat", "app-gateway": "unknown-app-gateway"}


def unknown_layers(found: pd.DataFrame, failed_layers: dict[str, frozenset[str]]) -> pd.DataFrame:
    """Findings of subscriptions whose firewall or gateway records could not be collected:
    a path through them may reach what the NSGs alone do not, so no verdict short of
    ``reachable`` holds (``unknown-firewall-dnat``, ``unknown-app-gateway``)."""
    for layer, exposure in LAYER_UNKNOWN.items():
        subs = failed_layers.get(layer, frozenset())
        if not subs or not len(found):
            continue
        hit = found["subscription_id"].astype(str).str.lower().isin(subs).to_numpy() \
            & found["exposure"].isin(["blocked", "no-public-path", "latent"]).to_numpy() \
            & found["layer"].isin(["nsg", layer]).to_numpy()
        found.loc[hit, "exposure"] = exposure
        found.loc[hit, "exposure_note"] = f"the subscription's {layer} records could not be collected"
    return found


def with_attached_ids(found: pd.DataFrame, nsgs: pd.DataFrame) -> pd.DataFrame:
    """``found`` with ``attached_ids``: what each finding's NSG is attached to (empty for tables
    collected before attachments were recorded)."""
    if "attached_ids" in nsgs and len(found):
        by_nsg = pd.Series(nsgs["attached_ids"].to_numpy(), index=nsgs["nsg_key"].to_numpy())
        by_nsg = by_nsg[~by_nsg.index.duplicated()]
        found["attached_ids"] = by_nsg.reindex(lowered(found["nsg_id"])).to_numpy(dtype=object)
    else:
        found["attached_ids"] = [()] * len(found)
    return found


def reach(source: Any, port: int, verify: bool = True) -> pd.DataFrame:
    """What the internet reaches on ``port`` right now: one row per (endpoint, public path).

    ``source`` as for ``scan``; an input without topology raises ``InputError`` (there is nothing
    to answer from, and an empty answer would read as "nothing reachable").
    """
    where = source if isinstance(source, str | Path) else "input"
    source = _opened(source, verify)
    tables, topo, failed, note = load_inputs(source, verify=verify)
    if topo is None:
        raise InputError(f"{where}: {note}; "
                         "collect again (auditkit collect) to answer what is reachable")
    failed_layers = layers_failed(source, verify)
    out = reachable(parse_rules(tables.rules), topo, tables.nsgs, parse_ports([port])[0],
                    admin=admin_rules(topo, failed_layers.get("admin-rule", frozenset())))
    out.attrs["unknown_subscriptions"] = sorted(failed)
    undecided = out.attrs.pop("undecided", {})
    bad = topo.incomplete
    out.attrs["incomplete"] = sorted(bad) + sorted(undecided)
    out.attrs["incomplete_why"] = {str(e["nsg_id"]).lower(): f"{e['field']}: {e['message']}" for e in reversed(topo.errors)
                                   if str(e["nsg_id"]).lower() in bad}
    out.attrs["incomplete_why"].update(undecided)
    for layer in LAYER_UNKNOWN:  # a firewall or gateway not read could publish anything there
        for sub in sorted(failed_layers.get(layer, ())):
            out.attrs["incomplete"].append(f"/subscriptions/{sub}")
            out.attrs["incomplete_why"][f"/subscriptions/{sub}"] = f"its {layer} records could not be collected"
    return out


def layers_collected(source: Any, verify: bool = True) -> dict[str, bool]:
    """Per layer, whether a snapshot's collection asked for it (``topology.layers``); {} for an export."""
    if not _is_snapshot(source):
        return {}
    snap = source if isinstance(source, Snapshot) else open_snapshot(source, verify=verify)
    info = snap.meta.get("topology")
    layers = info.get("layers") if isinstance(info, dict) else None
    return {str(k): bool(v.get("collected")) for k, v in layers.items() if isinstance(v, dict)} \
        if isinstance(layers, dict) else {}


def layers_failed(source: Any, verify: bool = True) -> dict[str, frozenset[str]]:
    """Per layer, the subscriptions whose records of it could not be collected (a snapshot's
    ``meta.json`` ``topology.failed_layers``; an export says nothing of the kind)."""
    if not _is_snapshot(source):
        return {}
    snap = source if isinstance(source, Snapshot) else open_snapshot(source, verify=verify)
    info = snap.meta.get("topology")
    failed = info.get("failed_layers") if isinstance(info, dict) else None
    if not isinstance(failed, dict):
        return {}
    return {str(k): frozenset(str(s).lower() for s in v) for k, v in failed.items() if isinstance(v, list)}


def error_table(record_errors: pd.DataFrame, field_errors: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """Record errors, then field errors (``rule`` a row of ``rules``) with their NSG id and rule name."""
    pos = field_errors["rule"].to_numpy(dtype=np.int64)
    fe = pd.DataFrame({
        "nsg_id": rules["nsg_id"].to_numpy()[pos],
        "rule_name": rules["rule_name"].to_numpy()[pos],
        "field": field_errors["field"].to_numpy(),
        "message": field_errors["message"].to_numpy(),
    }, columns=ERROR_COLUMNS)
    frames = [f for f in (record_errors, fe) if len(f)]
    if not frames:
        return pd.DataFrame(columns=ERROR_COLUMNS)
    return pd.concat(frames, ignore_index=True)
