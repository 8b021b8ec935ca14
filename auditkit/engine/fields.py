"""Parse the rules table's fields into intervals and typed values, reporting every bad entry.

A malformed entry is reported as an error (NSG, rule, field, message) and the rule is still
evaluated on what could be read; a rule with any error never shadows another (see ``shadowed``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.engine.intervals import address_blocks, explode, port_intervals

PROTOCOLS = frozenset({"tcp", "udp", "icmp", "esp", "ah", "*", "any"})
TCP_PROTOCOLS = ["tcp", "*", "any"]

def lowered(series: pd.Series) -> np.ndarray:
    """A text column lower-cased as an object array, with "" where the value is not set."""
    codes, uniques = pd.factorize(series.to_numpy(dtype=object))
    lowered_uniques = np.array([u.lower() if isinstance(u, str) else "" for u in uniques] + [""], dtype=object)
    return lowered_uniques[codes]


def typed_errors(rules: pd.DataFrame) -> pd.DataFrame:
    """The rules table's ``field_errors`` (fields of the wrong type, found when it was built) as
    (rule, field, message) rows; tables written before that column existed have none."""
    if "field_errors" not in rules:
        return pd.DataFrame({"rule": np.zeros(0, dtype=np.int64), "field": [], "message": []})
    rule, entries = explode(rules["field_errors"])
    parts = [str(e).split("\t", 1) for e in entries]
    return pd.DataFrame({"rule": rule, "field": [p[0] for p in parts],
                         "message": [p[1] if len(p) > 1 else "" for p in parts]})


@dataclass(frozen=True)
class ParsedRules:
    """The rules table with every list field parsed into intervals, and the problems found."""

    rules: pd.DataFrame
    destination_ports: pd.DataFrame
    source_ports: pd.DataFrame
    sources: pd.DataFrame
    destinations: pd.DataFrame
    errors: pd.DataFrame  # rule, field, message, check
    valid: np.ndarray  # rule has no error at all
    direction: np.ndarray  # lower-cased, "" when not set
    access: np.ndarray
    protocol: np.ndarray


def parse_rules(rules: pd.DataFrame) -> ParsedRules:
    """Parse every field the engine needs, collecting one error per bad entry."""
    if not rules.index.equals(pd.RangeIndex(len(rules))):
        rules = rules.reset_index(drop=True)
    dports, e1 = port_intervals(rules["destination_ports"], "destinationPortRange")
    sports, e2 = port_intervals(rules["source_ports"], "sourcePortRange")
    src, e3 = address_blocks(rules["source_prefixes"], rules["source_asgs"], "sourceAddressPrefix")
    dst, e4 = address_blocks(rules["destination_prefixes"], rules["destination_asgs"], "destinationAddressPrefix",
                             source=False)
    # Each error carries ``check``, which check found it (each check counts, whether it finds an error
    # or not): the errors are listed check by check, each check's in rule order.
    errors = [e.assign(check=i) for i, e in enumerate((e1, e2, e3, e4, typed_errors(rules)))]
    checks = itertools.count(len(errors))
    position = np.arange(len(rules))

    def missing(mask: np.ndarray, field: str, message: Any) -> None:
        check = next(checks)
        if mask.any():
            errors.append(pd.DataFrame({"rule": position[mask], "field": field, "message": message, "check": check}))

    typed = errors[-1]

    def mistyped(field: str) -> np.ndarray:
        mask = np.zeros(len(rules), dtype=bool)
        mask[typed.loc[typed["field"] == field, "rule"].to_numpy(dtype=np.int64)] = True
        return mask

    text: dict[str, np.ndarray] = {}
    for col, allowed, expected in (("protocol", PROTOCOLS, "Tcp, Udp, Icmp, Esp, Ah or *"),
                                   ("direction", ("inbound", "outbound"), "Inbound or Outbound"),
                                   ("access", ("allow", "deny"), "Allow or Deny")):
        v = text[col] = lowered(rules[col])
        missing((v == "") & ~mistyped(col), col, "not set")
        bad = (v != "") & ~np.isin(v, list(allowed))
        missing(bad, col, [f"{x!r} is not {expected}" for x in rules[col].to_numpy()[bad]])
    missing(rules["priority"].isna().to_numpy(dtype=bool) & ~mistyped("priority"), "priority",
            "missing, not a whole number, or out of range")
    for frame, field, what in ((dports, "destinationPortRange", "destination port"),
                               (sports, "sourcePortRange", "source port"),
                               (src, "sourceAddressPrefix", "source address"),
                               (dst, "destinationAddressPrefix", "destination address")):
        present = np.zeros(len(rules), dtype=bool)
        present[frame["rule"].to_numpy()] = True
        # An entry that failed to parse already has its own error; "not set" is for empty fields.
        already = np.zeros(len(rules), dtype=bool)
        for e in errors:
            already[e.loc[e["field"] == field, "rule"].to_numpy(dtype=np.int64)] = True
        missing(~present & ~already, field, f"no {what} set")

    err = pd.concat(errors, ignore_index=True)
    err["rule"] = err["rule"].astype(np.int64)
    valid = np.ones(len(rules), dtype=bool)
    valid[err["rule"].to_numpy()] = False
    return ParsedRules(rules, dports, sports, src, dst, err, valid, text["direction"], text["access"],
                       text["protocol"])
