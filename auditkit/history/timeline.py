"""Findings over time: from the first snapshot that shows a finding until it is fixed.

A finding's identity is (NSG resource id lower-cased, rule name, port). Across snapshots ordered
by ``as_of``, a finding is *resolved* at the first snapshot after its last appearance in which
its subscription was collected successfully and the finding is absent. If its subscription is
missing from, or failed in, every later snapshot, it is *unknown*: losing read access must not
look like a fix. A finding that comes back after being resolved is *reopened*.

Time runs from the snapshots' ``as_of``, never from the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditkit.engine.changes import CHANGE_COLUMNS
from auditkit.errors import AuditkitError
from auditkit.evidence.partial import partial_line
from auditkit.evidence.snapshot import Snapshot, parse_as_of, scan_folder
from auditkit.history import lifecycle, saved
from auditkit.history.acceptance import covering
from auditkit.history.cache import Derived, derived
from auditkit.history.distinct import Contents
from auditkit.settings import Settings, load_settings
from auditkit.settings.accepted_risks import load_exceptions

STATUS_OPEN, STATUS_RESOLVED, STATUS_UNKNOWN = "open", "resolved", "unknown"
# Present, but covered by an accepted-risk entry in force on the latest snapshot's date.
STATUS_ACCEPTED = "accepted"


@dataclass(frozen=True)
class History:
    """Everything the KPIs, the reports and the notebooks read about a run of snapshots."""

    snapshots: pd.DataFrame  # id, as_of, hash, collected, failed (known subscriptions it did not read), nsgs, partial
    findings: pd.DataFrame  # one row per finding identity, with its latest details
    timeline: pd.DataFrame  # per snapshot and port: open, new, resolved, reopened
    coverage: pd.DataFrame  # per snapshot: the tag-coverage KPIs
    governance: pd.DataFrame  # per NSG of the latest snapshot
    ports: tuple[int, ...]
    settings: Settings
    derived: list[Derived]
    subscriptions: pd.DataFrame  # subscription_id, name, read (in the latest snapshot), last_read, reason
    scope: frozenset | None = None  # the subscriptions this history is restricted to (None: all)
    verified: bool = True  # every snapshot file read was checked against its meta.json
    unreadable: tuple = ()  # snapshot folders skipped: Unreadable(name, reason)
    exceptions: tuple = ()  # the accepted-risk entries in force for this history (settings.accepted_risks)

    @property
    def latest(self) -> Derived:
        return self.derived[-1]

    @property
    def unread(self) -> pd.DataFrame:
        """Subscriptions known to the history that the latest snapshot did not read: never clean."""
        return self.subscriptions[~self.subscriptions["read"].to_numpy(dtype=bool)].reset_index(drop=True)

    def for_subscription(self, subscription_id: str) -> History:
        """The same history restricted to one subscription's NSGs and findings."""
        sid = subscription_id.lower()
        if self.scope == frozenset({sid}):
            return self
        ds = [d.restricted(sid) for d in self.derived]
        return build_history(ds, self.ports, self.settings, scope=frozenset({sid}), verified=self.verified,
                             unreadable=self.unreadable, exceptions=self.exceptions)


MISSING_REASON = ("missing from the collection: no longer visible to the identity, moved to another tenant, or "
                  "deleted; the kit cannot tell which")


def read_status(ds: list[Derived], finding_subscriptions: Any = (),
                scope: frozenset | None = None) -> tuple[pd.DataFrame, list[int]]:
    """Per subscription the snapshots know of, whether the latest snapshot read it, when it was
    last read and why not; and per snapshot, how many known subscriptions it did not read.

    A subscription is known from the first snapshot that read it, listed it as failed, or shows
    one of its findings; it stays known, so one that disappears from a later collection counts
    as unread there, never as clean.
    """
    known: dict[str, None] = {}
    last_read: dict[str, pd.Timestamp] = {}
    unread_counts: list[int] = []
    names: dict[str, str] = {}
    owners = {str(s).lower() for s in finding_subscriptions}
    for d in ds:
        snap = d.snapshot
        collected = {s.lower() for s in snap.collected}
        failed = {str(f.get("subscription_id", "")).lower() for f in snap.failed}
        seen = collected | failed | d.finding_subscriptions
        for s in sorted(seen):
            if scope is None or s in scope:
                known.setdefault(s)
        for s in collected:
            last_read[s] = snap.as_of
        unread_counts.append(sum(1 for s in known if s not in collected))
        for s, n in snap.subscription_names.items():
            names[s] = n
    for s in sorted(owners):
        if scope is None or s in scope:
            known.setdefault(s)
    latest = ds[-1].snapshot
    collected = {s.lower() for s in latest.collected}
    failed = {str(f.get("subscription_id", "")).lower(): f for f in latest.failed}
    rows = []
    for s in known:
        read = s in collected
        if read:
            reason = ""
        elif s in failed:
            f = failed[s]
            reason = f"failed: {f.get('status') or ''} {f.get('code') or ''}: {f.get('message') or ''}".strip()
        else:
            reason = MISSING_REASON
        rows.append({"subscription_id": s, "name": names.get(s, s), "read": read,
                     "last_read": last_read.get(s, pd.NaT), "reason": reason})
    frame = pd.DataFrame(rows, columns=["subscription_id", "name", "read", "last_read", "reason"])
    frame["last_read"] = pd.to_datetime(frame["last_read"], utc=True)
    return frame, unread_counts


def select_snapshots(snapshots_dir: str | Path, as_of: Any = None, verify: bool = True,
                     unreadable: list | None = None) -> list[Snapshot]:
    """Snapshots ordered by ``as_of``; with ``as_of``, only those taken at or before it. Unreadable
    snapshot folders are skipped and appended to ``unreadable`` when given."""
    snaps, bad = scan_folder(snapshots_dir, verify)
    if unreadable is not None:
        unreadable.extend(bad)
    if as_of is not None:
        limit = pd.Timestamp(parse_as_of(as_of))
        snaps = [s for s in snaps if s.as_of <= limit]
    if not snaps:
        raise AuditkitError(f"{snapshots_dir}: no snapshots" + (f" at or before {as_of}" if as_of else "")
                            + " (create one with 'auditkit collect')")
    return snaps


def load_history(snapshots_dir: str | Path = "snapshots", ports: Any = None, settings: Settings | None = None,
                 as_of: Any = None, use_cache: bool = True, verify: bool = True,
                 subscription: str | None = None, distinct: bool = True) -> History:
    """Build the history of every finding across the snapshots in ``snapshots_dir``.

    With ``verify`` every snapshot file read is checked against its ``meta.json`` (a mismatch is a
    ``SnapshotError`` naming the file); snapshot folders whose ``meta.json`` is unreadable are
    skipped and listed in ``History.unreadable``. With ``subscription``, the history of that one
    subscription (as ``History.for_subscription``), reading only its rows of the derived cache.
    """
    from auditkit.engine.scan import parse_ports

    settings = settings or load_settings()
    port_tuple = parse_ports(ports) if ports is not None else settings.ports
    unreadable: list = []
    snaps = select_snapshots(snapshots_dir, as_of, verify=verify, unreadable=unreadable)
    sid = subscription.lower() if subscription else None
    # Each distinct NSG content evaluated once across snapshots (``distinct=False``: every NSG, for comparison).
    contents = Contents(port_tuple, settings) if distinct else None
    ds = [derived(s, port_tuple, settings, use_cache=use_cache, subscription=sid, contents=contents) for s in snaps]
    exceptions = tuple(load_exceptions(settings.source))
    if sid or not use_cache:
        return build_history(ds, port_tuple, settings, scope=frozenset({sid}) if sid else None, verified=verify,
                             unreadable=tuple(unreadable), exceptions=exceptions)
    # The whole tenant's history, saved once built (see ``history.saved``).
    root = snaps[0].path.parent
    recorded = saved.inputs(ds, port_tuple, settings, verify, tuple(unreadable), exceptions)
    frames = saved.load(root, recorded)
    if frames is not None:
        return History(**frames, governance=ds[-1].governance, ports=port_tuple, settings=settings, derived=ds,
                       scope=None, verified=verify, unreadable=tuple(unreadable), exceptions=exceptions)
    history = build_history(ds, port_tuple, settings, verified=verify, unreadable=tuple(unreadable),
                            exceptions=exceptions)
    saved.save(root, recorded, saved.frames_of(history))
    return history


def changes_of(ds: list[Derived]) -> pd.DataFrame:
    """Every rule change the snapshots recorded (Resource Graph's resourcechanges), once each."""
    frames = [d.changes for d in ds if d.changes is not None]
    if not frames:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    out = pd.concat(frames, ignore_index=True).drop_duplicates(["change_id", "rule_name"])
    return out[out["rule_name"] != ""].reset_index(drop=True)


def attribute(findings: pd.DataFrame, ds: list[Derived], as_of: np.ndarray, first_idx: np.ndarray) -> pd.DataFrame:
    """Who last changed each finding's rule and when (``changed_by``, ``client_type``, ``operation``,
    ``changed_at``), and ``first_seen`` moved to the change that made the rule appear when that change
    falls between the snapshot before and the first snapshot showing it (``first_seen_source``)."""
    out = findings.assign(changed_at=pd.NaT, changed_by=None, client_type=None, operation=None,
                          first_seen_source="snapshot")
    out["changed_at"] = pd.to_datetime(out["changed_at"], utc=True)
    ch = changes_of(ds)
    if not len(ch) or not len(out):
        return out
    ch = ch[ch["changed_at"] <= pd.Timestamp(as_of[-1], tz="UTC")]
    keys = out[["nsg_key", "rule_name"]].assign(row=np.arange(len(out)))
    keys["rule_name"] = keys["rule_name"].astype(str)
    m = keys.merge(ch, on=["nsg_key", "rule_name"])
    if not len(m):
        return out
    last = m.sort_values("changed_at").drop_duplicates("row", keep="last")
    rows = last["row"].to_numpy()
    for col in ("changed_at", "changed_by", "client_type", "operation"):
        values = last[col].to_numpy()
        series = out[col].copy()
        series.iloc[rows] = values
        out[col] = series
    # The appearance: a change after the snapshot before the first showing, up to that snapshot.
    fi = first_idx[m["row"].to_numpy()]
    upper = pd.to_datetime(as_of[fi], utc=True)
    lower = pd.to_datetime(np.where(fi > 0, as_of[np.maximum(fi - 1, 0)], np.datetime64("NaT")), utc=True)
    inside = (m["changed_at"].to_numpy() <= upper) & ((lower.isna()) | (m["changed_at"].to_numpy() > lower))
    appeared = m[np.asarray(inside)].sort_values("changed_at").drop_duplicates("row", keep="first")
    if len(appeared):
        r = appeared["row"].to_numpy()
        fs = out["first_seen"].copy()
        fs.iloc[r] = appeared["changed_at"].to_numpy()
        out["first_seen"] = pd.to_datetime(fs, utc=True)
        src = out["first_seen_source"].to_numpy(dtype=object).copy()
        src[r] = "change"
        out["first_seen_source"] = src
    return out


def identities(rows: pd.DataFrame) -> np.ndarray:
    """Each row's finding identity (NSG, rule name, port) as a number, in order of first appearance."""
    return rows.groupby(["nsg_key", "rule_name", "port"], sort=False, dropna=False).ngroup().to_numpy(dtype=np.int64)


def latest_details(ds: list[Derived], snap: np.ndarray, row: np.ndarray) -> pd.DataFrame:
    """The findings at (snapshot ``snap[i]``, position ``row[i]``), every column, in that order."""
    parts, where = [], []
    for j in np.unique(snap):  # a loop over snapshots; each reads its rows at once
        pick = np.flatnonzero(snap == j)
        parts.append(ds[j].finding_rows(row[pick]))
        where.append(pick)
    if not parts:
        return ds[-1].finding_rows(np.zeros(0, dtype=np.int64)) if ds else pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    return out.iloc[np.argsort(np.concatenate(where), kind="stable")].reset_index(drop=True)


@dataclass(frozen=True)
class Stacked:
    """Every snapshot's findings in one frame, numbered by finding identity."""

    rows: pd.DataFrame  # the identifying columns, with snap (snapshot index) and row (position in it)
    fid: np.ndarray  # each row's finding identity
    n: int  # how many identities
    snap: np.ndarray  # each row's snapshot index
    last: np.ndarray  # per identity, the position in ``rows`` of its last appearance


def stack(ds: list[Derived], exceptions: tuple) -> Stacked:
    """Every snapshot's findings, only the columns that identify them (and that accepted risks match);
    each finding's other columns are read from the last snapshot that showed it."""
    columns = ["nsg_key", "rule_name", "port", "subscription_id"] + (["sources"] if exceptions else [])
    frames = []
    for i, d in enumerate(ds):
        keys = d.finding_columns(columns)
        frames.append(keys.assign(snap=i, row=np.arange(len(keys))))
    allf = pd.concat(frames, ignore_index=True)
    fid = identities(allf)
    snap_idx = allf["snap"].to_numpy()
    # Positions in ``allf``, one per finding in ``fid`` order: sorted by finding then snapshot
    # (stable), the last row of each finding's run. Per-finding values are read at these rows
    # only, never converted for every row of every snapshot.
    order = np.lexsort((snap_idx, fid))
    ends = np.flatnonzero(np.r_[fid[order][1:] != fid[order][:-1], True]) if len(order) else order
    return Stacked(rows=allf, fid=fid, n=int(fid.max()) + 1 if len(fid) else 0, snap=snap_idx, last=order[ends])


def observed_matrix(ds: list[Derived], st: Stacked) -> np.ndarray:
    """Per finding and snapshot, whether the snapshot could have seen it: its subscription was
    collected successfully and its NSG's record was readable."""
    n_snap = len(ds)
    sub_of = st.rows["subscription_id"].iloc[st.last].to_numpy(dtype=object)
    sub_codes, sub_names = pd.factorize(sub_of)
    collected = np.zeros((len(sub_names), n_snap), dtype=bool)
    name_pos = {s: i for i, s in enumerate(sub_names)}
    for j, d in enumerate(ds):
        rows = [name_pos[s.lower()] for s in d.snapshot.collected if s.lower() in name_pos]
        collected[rows, j] = True
    observed = collected[sub_codes] if st.n else np.zeros((0, n_snap), dtype=bool)
    # An NSG whose record could not be read was not observed either: its absence is no fix.
    nsg_of = st.rows["nsg_key"].iloc[st.last].to_numpy(dtype=object)
    for j, d in enumerate(ds):
        unread = {str(e.get("nsg_id", "")).lower() for e in d.snapshot.meta.get("record_errors", [])
                  if str(e.get("nsg_id", "")).lower().startswith("/subscriptions/")}
        if unread and st.n:
            observed[:, j] &= ~np.isin(nsg_of, list(unread))
    return observed


def accepted_matrix(st: Stacked, as_of: np.ndarray, exceptions: tuple) -> tuple[np.ndarray, Any, Any]:
    """Per finding and snapshot, whether an accepted risk covered it, as of each snapshot's own date
    and on its own rows (reproducible history); and per row, the entry in force and the expired one."""
    accepted = np.zeros((st.n, len(as_of)), dtype=bool)
    if exceptions and st.n:
        days = np.array([pd.Timestamp(as_of[j]).date() for j in st.snap], dtype=object)
        in_force, expired_entry = covering(st.rows, days, exceptions)
        accepted[st.fid, st.snap] = in_force > 0
    else:
        in_force = expired_entry = np.zeros(len(st.rows), dtype=np.int64)
    return accepted, in_force, expired_entry


def timeline_rows(snapshot: Snapshot, ports: tuple[int, ...], port_of: np.ndarray, present: np.ndarray,
                  accepted: np.ndarray, changes: lifecycle.Changes) -> list[dict]:
    """One snapshot's row of the timeline per port: open, accepted, unreadable, new, reopened, resolved."""
    out = []
    for port in ports:
        on = port_of == port
        out.append({"snapshot": snapshot.id, "as_of": snapshot.as_of, "port": port,
                    "open": int((present & ~accepted & on).sum()), "accepted": int((present & accepted & on).sum()),
                    "unreadable": int((changes.carried & on).sum()),
                    "new": int((changes.new & on).sum()), "reopened": int((changes.reopened & on).sum()),
                    "resolved": int((changes.resolved & on).sum())})
    return out


def finding_table(ds: list[Derived], st: Stacked, life: lifecycle.State, accepted_last: np.ndarray,
                  as_of: np.ndarray, exceptions: tuple, in_force: Any, expired_entry: Any) -> pd.DataFrame:
    """One row per finding identity: its latest details, status, dates and acceptance."""
    n_snap = len(ds)
    status = np.where(life.state == lifecycle.RESOLVED, STATUS_RESOLVED,
                      np.where(life.last_seen == n_snap - 1, STATUS_OPEN, STATUS_UNKNOWN)).astype(object)
    if st.n:
        status[(status == STATUS_OPEN) & accepted_last] = STATUS_ACCEPTED
    # Latest details of each finding: its row in the last snapshot that showed it.
    by_index = {e.index: e for e in exceptions}
    details = latest_details(ds, st.snap[st.last], st.rows["row"].to_numpy()[st.last])
    # The layer that opens the port: an NSG rule unless the finding says otherwise (older entries do not).
    details["layer"] = details["layer"].astype(object).fillna("nsg") if "layer" in details else "nsg"
    accepted_by, expired_by = np.asarray(in_force)[st.last], np.asarray(expired_entry)[st.last]
    details["acceptance"] = [by_index[i].as_dict() if i else (by_index[x].as_dict() if x else None)
                             for i, x in zip(accepted_by, expired_by, strict=True)]
    details["acceptance_state"] = ["accepted" if i else ("expired" if x else "")
                                   for i, x in zip(accepted_by, expired_by, strict=True)]
    latest_as_of = as_of[-1]
    fs = as_of[life.first_seen]
    ra = np.where(life.resolved_at >= 0, as_of[np.maximum(life.resolved_at, 0)], np.datetime64("NaT"))
    days = np.timedelta64(1, "D")
    age = np.where(status == STATUS_OPEN, (latest_as_of - fs) / days, np.nan)
    findings = details.assign(
        first_seen=pd.to_datetime(fs, utc=True),
        last_seen=pd.to_datetime(as_of[life.last_seen], utc=True),
        status=status,
        resolved_at=pd.to_datetime(ra, utc=True),
        reopened=life.reopened,
        time_to_remediate_days=(ra - fs) / days,
        age_days=age,
    )
    findings = attribute(findings, ds, as_of, life.first_seen)
    return findings.sort_values(["status", "subscription_id", "nsg_key", "port"], kind="stable") \
        .reset_index(drop=True)


def snapshot_table(ds: list[Derived], unread_counts: list[int], scope: frozenset | None) -> pd.DataFrame:
    """One row per snapshot: id, as_of, hash, subscriptions collected and not read, NSGs, and what
    is missing from a partial one ("" when whole)."""
    return pd.DataFrame({
        "snapshot": [d.snapshot.id for d in ds],
        "as_of": [d.snapshot.as_of for d in ds],
        "hash": [d.snapshot.hash for d in ds],
        "collected": [len(d.snapshot.collected) if scope is None else len(scope & {s.lower() for s in
                                                                                   d.snapshot.collected})
                      for d in ds],
        # Not read: failed, or known from an earlier snapshot and missing from this one.
        "failed": unread_counts,
        "nsgs": [d.coverage["nsgs"] for d in ds],
        "partial": [partial_line(d.snapshot.meta["partial"]) if d.snapshot.meta.get("partial") else "" for d in ds],
    })


def build_history(ds: list[Derived], ports: tuple[int, ...], settings: Settings,
                  scope: frozenset | None = None, verified: bool = True, unreadable: tuple = (),
                  exceptions: tuple = ()) -> History:
    """The history of every finding across the derived snapshots ``ds`` (oldest first)."""
    n_snap = len(ds)
    as_of = np.array([d.snapshot.as_of.to_datetime64() for d in ds])
    st = stack(ds, exceptions)
    present = np.zeros((st.n, n_snap), dtype=bool)
    present[st.fid, st.snap] = True
    observed = observed_matrix(ds, st)
    port_of = np.zeros(st.n, dtype=np.int64)
    port_of[st.fid] = st.rows["port"].to_numpy(dtype=np.int64)
    accepted, in_force, expired_entry = accepted_matrix(st, as_of, exceptions)

    life = lifecycle.initial(st.n)
    timeline = []
    for j in range(n_snap):  # a loop over snapshots; every step is vectorised over findings
        life, changes = lifecycle.step(life, j, present[:, j], observed[:, j])
        timeline += timeline_rows(ds[j].snapshot, ports, port_of, present[:, j], accepted[:, j], changes)

    findings = finding_table(ds, st, life, accepted[:, n_snap - 1], as_of, exceptions, in_force, expired_entry)
    subs, unread_counts = read_status(ds, findings["subscription_id"].unique() if len(findings) else (), scope)
    cov = pd.DataFrame([{"snapshot": d.snapshot.id, "as_of": d.snapshot.as_of, **d.coverage} for d in ds])
    return History(snapshots=snapshot_table(ds, unread_counts, scope), findings=findings,
                   timeline=pd.DataFrame(timeline), coverage=cov, governance=ds[-1].governance, ports=ports,
                   settings=settings, derived=ds, subscriptions=subs, scope=scope, verified=verified,
                   unreadable=unreadable, exceptions=tuple(exceptions))
