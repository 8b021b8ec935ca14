"""Findings: the exposed (NSG, rule, port) rows, with what an auditor needs to act on them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditkit.engine.exposure import broad_sources, candidates
from auditkit.engine.fields import ParsedRules
from auditkit.engine.shadowed import shadowed_by

FINDING_COLUMNS = [
    "subscription_id",
    "resource_group",
    "nsg_id",
    "nsg_name",
    "rule_name",
    "priority",
    "port",
    "protocol",
    "sources",
    "destination_ports",
    "destinations",
    "attached",
    "subnets",
    "nics",
    "severity",
    "shadowed",
    "description",
    "tags",
    "hidden_by",
]

# Severity: an attached NSG exposes workloads now ("high"); an unattached one exposes them the
# moment it is attached ("latent"); a shadowed rule admits nothing today ("info").
SEVERITY_ATTACHED = "high"
SEVERITY_LATENT = "latent"
SEVERITY_SHADOWED = "info"


def severities(shadowed: np.ndarray, attached: np.ndarray) -> np.ndarray:
    """Each finding's severity from whether its rule is shadowed and its NSG attached."""
    return np.where(shadowed, SEVERITY_SHADOWED, np.where(attached, SEVERITY_ATTACHED, SEVERITY_LATENT))


def _rows(parsed: ParsedRules, cand: pd.DataFrame) -> pd.DataFrame:
    rules = parsed.rules
    r = cand["rule"].to_numpy()
    pick = rules.iloc[r]
    attached = pick["attached"].to_numpy(dtype=bool)
    shadow = cand["shadowed"].to_numpy(dtype=bool)
    severity = severities(shadow, attached)
    sources = [tuple(p) + tuple(a) for p, a in zip(pick["source_prefixes"], pick["source_asgs"], strict=True)]
    destinations = [tuple(p) + tuple(a) for p, a in
                    zip(pick["destination_prefixes"], pick["destination_asgs"], strict=True)]
    out = pd.DataFrame({
        "subscription_id": pick["subscription_id"].to_numpy(),
        "resource_group": pick["resource_group"].to_numpy(),
        "nsg_id": pick["nsg_id"].to_numpy(),
        "nsg_name": pick["nsg_name"].to_numpy(),
        "rule_name": pick["rule_name"].to_numpy(),
        "priority": pick["priority"].array,
        "port": cand["port"].to_numpy(),
        "protocol": pick["protocol"].array,
        "sources": sources,
        "destination_ports": pick["destination_ports"].to_numpy(),
        "destinations": destinations,
        "attached": attached,
        "subnets": pick["subnets"].to_numpy(),
        "nics": pick["nics"].to_numpy(),
        "severity": severity,
        "shadowed": shadow,
        "description": pick["description"].to_numpy(),
        "tags": pick["tags"].to_numpy(),
        "hidden_by": cand["hidden_by"].to_numpy() if "hidden_by" in cand else [()] * len(cand),
    }, columns=FINDING_COLUMNS)
    return out


def findings(parsed: ParsedRules, ports: tuple[int, ...], keep_rule: bool = False) -> pd.DataFrame:
    """Every rule-1-to-4 finding with its ``shadowed`` verdict, sorted by subscription, NSG, priority, port.

    ``keep_rule`` adds ``rule``, the finding's row in ``parsed.rules``, and leaves the rows in the
    order the checks produced them (by port, then rule): for history, which maps the findings of
    one NSG's rules onto every NSG with the same rules, then sorts with ``in_finding_order``.
    """
    cand = candidates(parsed, ports)
    hidden, by = shadowed_by(parsed, cand)
    cand["shadowed"] = hidden
    cand["hidden_by"] = pd.Series(by, index=cand.index, dtype=object)
    out = _rows(parsed, cand)
    if keep_rule:
        return out.assign(rule=cand["rule"].to_numpy())
    return in_finding_order(out)


def in_finding_order(out: pd.DataFrame) -> pd.DataFrame:
    """Findings sorted by subscription, NSG, priority, port; ties keep the order they came in."""
    if not len(out):
        return out
    order = np.lexsort((out["port"].to_numpy(), out["priority"].to_numpy(dtype=float, na_value=np.inf),
                        _text_rank(out["nsg_id"], lower=True), _text_rank(out["subscription_id"])))
    return out.iloc[order].reset_index(drop=True)


def _text_rank(column: pd.Series, lower: bool = False) -> np.ndarray:
    """Each value's rank among the column's distinct values, compared as NumPy compares text (equal
    text, equal rank): the distinct values are converted and sorted, not every row."""
    codes, uniques = pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=False)
    text = np.asarray(uniques, dtype=object).astype(str)
    return np.unique(np.char.lower(text) if lower else text, return_inverse=True)[1][codes]


def broad(parsed: ParsedRules, ports: tuple[int, ...], keep_rule: bool = False) -> pd.DataFrame:
    """Custom inbound Allow rules on an audited port from a broad service tag such as AzureCloud,
    by port, then rule (``keep_rule``: with each one's row in ``parsed.rules``).

    Not findings: reported apart so that reviewers can judge them.
    """
    wide_tag = broad_sources(parsed)
    cand = candidates(parsed, ports, require_internet=False)
    cand = cand[wide_tag[cand["rule"].to_numpy()]]
    cand["shadowed"] = False
    out = _rows(parsed, cand).drop(columns=["shadowed", "severity", "hidden_by"])
    return out.assign(rule=cand["rule"].to_numpy()) if keep_rule else out
