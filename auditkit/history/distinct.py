"""Each distinct rule set evaluated once across snapshots: the cold path of history.

Month to month most NSGs do not change, and many NSGs share one rule set. An NSG's *content* is
its rules exactly as the engine reads them: every rule-level field, rule by rule, in order; not
the NSG's id, name, subscription, tags or attachments. The engine's verdicts on an NSG (findings,
shadowing, broad sources, field errors, the owner or justification its rules' descriptions name)
depend on its content only, so ``Contents`` evaluates each content once and puts the NSG-level
fields back for every NSG that has it. Contents are compared exactly, as the ids of their values
(each distinct value, list and content gets a lasting id in Arrow's hash tables), never as digests:
two different rule sets cannot share results.

Effective exposure depends on the other NSGs on a path (subnet and NIC), so a snapshot with
topology is evaluated whole, as are tables in a shape this module does not know.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from auditkit.engine.fields import parse_rules
from auditkit.engine.findings import FINDING_COLUMNS as ENGINE_FINDING_COLUMNS
from auditkit.engine.findings import broad, findings, in_finding_order, severities
from auditkit.engine.rules import ERROR_COLUMNS
from auditkit.engine.scan import error_table, with_attached_ids
from auditkit.evidence.arrow import from_arrow
from auditkit.evidence.snapshot import Snapshot
from auditkit.history.tag_coverage import DOCUMENTATION_COUNTS, described, documentation_counts
from auditkit.settings import Settings

# What the engine reads of a rule (its content), and what it reads of the rule's NSG.
CONTENT = ["rule_name", "default", "priority", "direction", "access", "protocol", "source_prefixes", "source_ports",
           "destination_prefixes", "destination_ports", "source_asgs", "destination_asgs", "description",
           "field_errors"]
NSG_FIELDS = ["subscription_id", "resource_group", "nsg_id", "nsg_key", "nsg_name", "attached", "subnets", "nics",
              "tags"]
# Per content: findings and broad rules without their NSG's fields, by rule position.
_TEMPLATE_FINDING = ["rule_name", "priority", "port", "protocol", "sources", "destination_ports", "destinations",
                     "shadowed", "description", "hidden_by"]
_TEMPLATE_BROAD = ["rule_name", "priority", "port", "protocol", "sources", "destination_ports", "destinations",
                   "description"]


@dataclass(frozen=True)
class Evaluated:
    """What the engine found in one snapshot, as ``scan`` would return it (no topology)."""

    findings: pd.DataFrame  # engine columns plus attached_ids, with shadowed rows
    broad: pd.DataFrame
    errors: pd.DataFrame  # ERROR_COLUMNS: record errors, then field errors
    nsgs: pd.DataFrame
    named: pd.DataFrame  # per nsg_key: owner, justification named in rule descriptions
    documentation: pd.DataFrame  # per nsg_key: DOCUMENTATION_COUNTS


class Vocabulary:
    """Values seen so far, each with a lasting id (its position): ids mean the same thing in every
    snapshot of a run, so contents can be compared across snapshots as ids."""

    def __init__(self) -> None:
        self.values: pa.Array | None = None

    def __len__(self) -> int:
        return 0 if self.values is None else len(self.values)

    def ids(self, dictionary: pa.Array) -> np.ndarray:
        """The id of each (distinct) value in ``dictionary``; values not seen before are added."""
        if self.values is None:
            self.values = dictionary
            return np.arange(len(dictionary), dtype=np.int32)
        if pa.types.is_null(self.values.type):  # every value so far was null (a column never set)
            self.values = self.values.cast(dictionary.type)
        elif dictionary.type != self.values.type:
            dictionary = dictionary.cast(self.values.type)  # string or large string; null
        known = pc.index_in(dictionary, value_set=self.values)
        new = pc.is_null(known)
        out = known.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        fresh = new.to_numpy(zero_copy_only=False)
        if fresh.any():
            out[fresh] = len(self.values) + np.arange(int(fresh.sum()), dtype=np.int32)
            self.values = pa.concat_arrays([self.values, dictionary.filter(new)])
        return out

    def encode(self, values: pa.Array) -> np.ndarray:
        """The id of each value (-1 for null), hashing in Arrow once per distinct value."""
        d = pc.dictionary_encode(values)
        ids = np.append(self.ids(d.dictionary), np.int32(-1))
        return ids[d.indices.fill_null(len(d.dictionary)).to_numpy(zero_copy_only=False)]


def _as_bytes(ids: np.ndarray, offsets: np.ndarray, validity: pa.Buffer | None = None) -> pa.Array:
    """Variable-length binary values made of the int32 ``ids`` between ``offsets`` (in ids)."""
    data = np.ascontiguousarray(ids, dtype=np.int32)
    bounds = np.asarray(offsets, dtype=np.int64) * 4
    return pa.Array.from_buffers(pa.large_binary(), len(bounds) - 1,
                                 [validity, pa.py_buffer(bounds), pa.py_buffer(data)])


def _within(n: np.ndarray) -> np.ndarray:
    """For runs of lengths ``n`` laid end to end, each element's position within its run."""
    return np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)


def _expand(cids: np.ndarray, template: pd.DataFrame, n_contents: int) -> tuple[np.ndarray, np.ndarray]:
    """For NSGs with contents ``cids``, the rows of a template (sorted by content) that apply to
    each: (NSG position, template row) pairs, NSG by NSG in template order; none for an empty one."""
    if not len(template):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    count = np.bincount(template["cid"].to_numpy(dtype=np.int64), minlength=n_contents)
    n = count[cids]
    return np.repeat(np.arange(len(cids)), n), np.repeat((np.cumsum(count) - count)[cids], n) + _within(n)


class Contents:
    """The distinct NSG contents seen so far and what the engine found in each (one history run)."""

    def __init__(self, ports: tuple[int, ...], settings: Settings):
        self.ports, self.settings = ports, settings
        self.columns = {c: Vocabulary() for c in CONTENT}  # each content column's values
        self.lists = {c: Vocabulary() for c in CONTENT}  # a list column's lists, as item ids
        self.contents = Vocabulary()  # each NSG content: its rules' value ids, rule by rule
        self.finding = pd.DataFrame()  # cid, pos, and _TEMPLATE_FINDING, sorted by cid, pos, port
        self.broad = pd.DataFrame()
        self.errors = pd.DataFrame()  # cid, pos, field, message, check, seq
        self.named = pd.DataFrame(columns=["owner", "justification"], dtype=object)  # by cid
        self.documentation = np.zeros((0, len(DOCUMENTATION_COUNTS)), dtype=np.int64)  # by cid
        self.evaluated = 0  # NSGs the engine evaluated (one per new content)

    def evaluate(self, snapshot: Snapshot) -> Evaluated | None:
        """The engine's results for ``snapshot``, evaluating only contents not seen before; None
        when the snapshot must be evaluated whole (topology, or a table shape not known here)."""
        if isinstance(snapshot.meta.get("topology"), dict):
            return None
        rules = snapshot.arrow("rules", columns=CONTENT + NSG_FIELDS)
        if rules is None:
            return None
        keys = pc.dictionary_encode(rules.column("nsg_key").combine_chunks())
        codes = keys.indices.to_numpy(zero_copy_only=False)
        change = np.flatnonzero(np.diff(codes)) + 1 if len(codes) else np.zeros(0, dtype=np.int64)
        starts = np.concatenate([[0], change, [len(codes)]]).astype(np.int64) if len(codes) else np.zeros(1, np.int64)
        if len(starts) - 1 != len(keys.dictionary):
            return None  # an NSG's rules are not in one run: evaluate the snapshot whole
        nsgs = snapshot.table("nsgs")
        if nsgs["nsg_key"].duplicated().any():
            return None
        cids = self._learn(rules, starts)
        units = from_arrow(rules.select(NSG_FIELDS).take(pa.array(starts[:-1])))
        none = from_arrow(rules.slice(0, 0))
        return Evaluated(self._findings(cids, units, nsgs, none), self._broad(cids, units, none),
                         self._errors(cids, units, starts, rules, snapshot), nsgs,
                         self.named.iloc[cids].set_axis(units["nsg_key"].to_numpy()),
                         pd.DataFrame(self.documentation[cids], columns=DOCUMENTATION_COUNTS,
                                      index=units["nsg_key"].to_numpy()))

    def _content_ids(self, rules: pa.Table, starts: np.ndarray) -> pa.Array:
        """Per NSG (its rules at ``starts[i]:starts[i + 1]``), its content as bytes: each rule's
        value ids, column by column; equal bytes are equal rules, within and across snapshots."""
        matrix = np.empty((rules.num_rows, len(CONTENT)), dtype=np.int32)
        for j, c in enumerate(CONTENT):
            arr = rules.column(c).combine_chunks()
            if arr.offset:
                arr = arr.take(pa.array(np.arange(len(arr))))  # a copy that starts at its first value
            if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
                items = self.columns[c].encode(arr.values)
                offsets = arr.offsets.to_numpy(zero_copy_only=False)
                validity = arr.buffers()[0] if arr.null_count else None
                matrix[:, j] = self.lists[c].encode(_as_bytes(items, offsets, validity))
            else:
                matrix[:, j] = self.columns[c].encode(arr)
        return _as_bytes(matrix.ravel(), starts * len(CONTENT))

    def _learn(self, rules: pa.Table, starts: np.ndarray) -> np.ndarray:
        """Each NSG's content id; contents not seen before are evaluated by the engine first."""
        content = self._content_ids(rules, starts)
        base = len(self.contents)
        cids = self.contents.encode(content).astype(np.int64)
        new = cids >= base
        if new.any():
            first = np.flatnonzero(new)[np.unique(cids[new], return_index=True)[1]]  # one NSG per new content
            self._run(rules, starts, first, base)
        return cids

    def _run(self, rules: pa.Table, starts: np.ndarray, first: np.ndarray, base: int) -> None:
        """Evaluate the NSGs ``first`` (content ids ``base``, ``base + 1``...) and keep, per content
        and rule position, what the engine found."""
        n = starts[first + 1] - starts[first]
        pos_of_rule = _within(n)
        rows = np.repeat(starts[first], n) + pos_of_rule
        frame = from_arrow(rules.take(pa.array(rows, pa.int64())))
        cid_of_rule = np.repeat(base + np.arange(len(first)), n)
        parsed = parse_rules(frame)
        rank = {p: i for i, p in enumerate(self.ports)}

        def template(found: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
            r = found["rule"].to_numpy(dtype=np.int64)
            # Text as Python objects, as in the rules table: the rows are typed again when put back.
            out = found[columns].astype({c: object for c in columns if pd.api.types.is_string_dtype(found[c])})
            out = out.assign(cid=cid_of_rule[r], pos=pos_of_rule[r],
                                        rank=found["port"].map(rank).to_numpy(dtype=np.int64))
            return out.sort_values(["cid", "pos", "rank"], kind="stable").reset_index(drop=True)

        self.finding = _append(self.finding, template(findings(parsed, self.ports, keep_rule=True),
                                                      _TEMPLATE_FINDING))
        self.broad = _append(self.broad, template(broad(parsed, self.ports, keep_rule=True), _TEMPLATE_BROAD))
        err = parsed.errors
        r = err["rule"].to_numpy(dtype=np.int64)
        self.errors = _append(self.errors, pd.DataFrame({
            "cid": cid_of_rule[r], "pos": pos_of_rule[r], "field": err["field"].to_numpy(dtype=object),
            "message": err["message"].to_numpy(dtype=object), "check": err["check"].to_numpy(dtype=np.int64),
            "seq": np.arange(len(err))}).sort_values(["cid", "seq"], kind="stable").reset_index(drop=True))
        keys = frame["nsg_key"].to_numpy(dtype=object)[np.cumsum(n) - n]
        named = described(frame, self.settings).reindex(keys)
        self.named = pd.concat([self.named, named.reset_index(drop=True)], ignore_index=True)
        counts = documentation_counts(frame, self.settings).reindex(keys).fillna(0).to_numpy(dtype=np.int64)
        self.documentation = np.concatenate([self.documentation, counts])
        self.evaluated += len(first)

    def _findings(self, cids: np.ndarray, units: pd.DataFrame, nsgs: pd.DataFrame, none: pd.DataFrame) -> pd.DataFrame:
        t = self.finding
        unit, row = _expand(cids, t, len(self.contents))
        if not len(row):
            return with_attached_ids(findings(parse_rules(none), self.ports), nsgs)  # typed as the engine's "nothing"
        pick = t.iloc[row].reset_index(drop=True)
        nsg = units.iloc[unit].reset_index(drop=True)
        out = pd.DataFrame({c: _column(nsg if c in NSG_FIELDS else pick, c) for c in ENGINE_FINDING_COLUMNS
                            if c != "severity"}, columns=ENGINE_FINDING_COLUMNS)
        out["severity"] = severities(pick["shadowed"].to_numpy(dtype=bool), nsg["attached"].to_numpy(dtype=bool))
        return with_attached_ids(in_finding_order(out), nsgs)

    def _broad(self, cids: np.ndarray, units: pd.DataFrame, none: pd.DataFrame) -> pd.DataFrame:
        t = self.broad
        columns = [c for c in ENGINE_FINDING_COLUMNS if c not in ("shadowed", "severity", "hidden_by")]
        unit, row = _expand(cids, t, len(self.contents))
        if not len(row):
            return broad(parse_rules(none), self.ports)
        # As the engine lists them: by port, then rule.
        order = np.lexsort((t["pos"].to_numpy()[row], unit, t["rank"].to_numpy()[row]))
        unit, row = unit[order], row[order]
        pick = t.iloc[row].reset_index(drop=True)
        nsg = units.iloc[unit].reset_index(drop=True)
        return pd.DataFrame({c: _column(nsg if c in NSG_FIELDS else pick, c) for c in columns}, columns=columns)

    def _errors(self, cids: np.ndarray, units: pd.DataFrame, starts: np.ndarray, rules: pa.Table,
                snapshot: Snapshot) -> pd.DataFrame:
        t = self.errors
        unit, row = _expand(cids, t, len(self.contents))
        if len(row):  # as the engine lists them: check by check, each in rule order
            order = np.lexsort((t["seq"].to_numpy()[row], t["pos"].to_numpy()[row], unit, t["check"].to_numpy()[row]))
            unit, row = unit[order], row[order]
        rule_rows = starts[unit] + (t["pos"].to_numpy()[row] if len(row) else 0)
        names = rules.column("rule_name").take(pa.array(rule_rows, pa.int64())).to_numpy(zero_copy_only=False)
        found = pd.DataFrame({"rule": np.arange(len(row)), "field": t["field"].to_numpy(dtype=object)[row] if len(row)
                              else [], "message": t["message"].to_numpy(dtype=object)[row] if len(row) else []})
        where = pd.DataFrame({"nsg_id": units["nsg_id"].to_numpy(dtype=object)[unit], "rule_name": names.astype(object)})
        return error_table(pd.DataFrame(snapshot.meta.get("record_errors", []), columns=ERROR_COLUMNS), found, where)


def _column(frame: pd.DataFrame, name: str) -> object:
    """A column as ``engine.findings`` hands it to the DataFrame it builds, so that pandas types
    the rows put back exactly as it types the engine's own."""
    if name == "priority":
        return frame[name].array
    if name == "protocol":
        return pd.array(frame[name].to_numpy(dtype=object), dtype=object)
    return frame[name].to_numpy()


def _append(frame: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
    """``frame`` then ``more``; an empty one adds nothing (and does not change the other's types)."""
    if not len(frame) and (len(more) or not len(frame.columns)):
        return more
    return frame if not len(more) else pd.concat([frame, more], ignore_index=True)
