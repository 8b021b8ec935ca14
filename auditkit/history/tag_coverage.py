"""Tag coverage: who owns each NSG, why its rules exist, and until when.

Azure cannot tag a single rule, so governance lives on the NSG's tags (keys compared
case-insensitively, aliases from ``parameters/audit.yaml``) or in a rule's description
(``owner=alice justification=CHG-42``). The environment comes from the NSG's tag, else from its
subscription's.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from auditkit.engine.fields import lowered
from auditkit.settings import Settings

GOVERNANCE_COLUMNS = ["nsg_key", "nsg_id", "subscription_id", "owner", "owner_from", "expiry", "expiry_value",
                      "expiry_invalid", "expired", "justification", "justification_from", "environment",
                      "production", "production_rules", "documented_rules"]


def tag_rows(tags: pd.Series) -> pd.DataFrame:
    """Tags in long form: (row, key lower-cased, value as text), empty values left out."""
    rows = [(i, str(k).lower(), str(v).strip()) for i, d in enumerate(tags.to_numpy(dtype=object))
            if isinstance(d, dict) for k, v in d.items() if v is not None and str(v).strip()]
    return pd.DataFrame(rows, columns=["row", "key", "value"]).astype({"row": np.int64})


def first_tag(long: pd.DataFrame, keys: tuple[str, ...], n: int) -> np.ndarray:
    """Per row, the value of the first alias in ``keys`` that is set (None when none is)."""
    out = np.full(n, None, dtype=object)
    if not len(long) or not keys:
        return out
    hit = long[long["key"].isin(keys)].copy()
    hit["rank"] = hit["key"].map({k: i for i, k in enumerate(keys)})
    hit = hit.sort_values(["row", "rank"], kind="stable").drop_duplicates("row")
    out[hit["row"].to_numpy()] = hit["value"].to_numpy(dtype=object)
    return out


def description_value(descriptions: pd.Series, keys: tuple[str, ...]) -> np.ndarray:
    """Per description, the value after the first ``key=`` (or ``key:``) found, else None."""
    out = np.full(len(descriptions), None, dtype=object)
    if not keys or not len(descriptions):
        return out
    codes, uniques = pd.factorize(descriptions.fillna("").to_numpy(dtype=object))
    pattern = r"(?i)(?:^|[\s;,(])(?:" + "|".join(re.escape(k) for k in keys) + r")\s*[=:]\s*([^\s;,)]+)"
    found = pd.Series(uniques, dtype=object).astype(str).str.extract(pattern)[0]
    values = np.array([v if isinstance(v, str) and v else None for v in found] + [None], dtype=object)
    return values[codes]


def governance(nsgs: pd.DataFrame, rules: pd.DataFrame, subscriptions: pd.DataFrame, as_of: pd.Timestamp,
               settings: Settings) -> pd.DataFrame:
    """One row per NSG: owner, expiry (valid, invalid, expired), justification, environment."""
    n = len(nsgs)
    long = tag_rows(nsgs["tags"])
    owner = first_tag(long, settings.tag_keys("owner"), n)
    justification = first_tag(long, settings.tag_keys("justification"), n)
    expiry_value = first_tag(long, settings.tag_keys("expiry"), n)
    environment = first_tag(long, settings.tag_keys("environment"), n)
    owner_tag, just_tag = owner.copy(), justification.copy()

    # Descriptions of the NSG's custom rules can name an owner or a justification for the NSG.
    custom = rules[~rules["default"].to_numpy(dtype=bool)]
    key_pos = pd.Series(np.arange(n), index=nsgs["nsg_key"].to_numpy())
    rule_nsg = key_pos.reindex(custom["nsg_key"].to_numpy()).to_numpy()
    for target, what in ((owner, "owner"), (justification, "justification")):
        from_desc = description_value(custom["description"], settings.description_keys(what))
        has = pd.notna(from_desc) & ~np.isnan(rule_nsg)
        pos = rule_nsg[has].astype(np.int64)
        vals = from_desc[has]
        # First rule per NSG wins; tags win over descriptions.
        first = pd.Series(vals).groupby(pos).first()
        missing = pd.isna(target[first.index.to_numpy()])
        target[first.index.to_numpy()[missing]] = first.to_numpy(dtype=object)[missing]

    # Environment: the NSG's tag, else its subscription's.
    if len(subscriptions):
        slong = tag_rows(subscriptions["tags"])
        sub_env = first_tag(slong, settings.tag_keys("environment"), len(subscriptions))
        env_by_sub = pd.Series(sub_env, index=subscriptions["subscription_id"].str.lower().to_numpy())
        env_by_sub = env_by_sub[~env_by_sub.index.duplicated()]
        fallback = env_by_sub.reindex(nsgs["subscription_id"].str.lower().to_numpy()).to_numpy(dtype=object)
        environment = np.where(pd.isna(environment), fallback, environment)
    production = np.isin(lowered(pd.Series(environment, dtype=object)), list(settings.production_values))

    parsed = pd.to_datetime(pd.Series(expiry_value, dtype=object), format="ISO8601", errors="coerce", utc=True)
    has_value = pd.notna(expiry_value)
    invalid = has_value & parsed.isna().to_numpy()
    as_of_utc = pd.Timestamp(as_of).tz_convert("UTC") if pd.Timestamp(as_of).tzinfo else \
        pd.Timestamp(as_of).tz_localize("UTC")
    expired = (parsed < as_of_utc).fillna(False).to_numpy(dtype=bool)

    return pd.DataFrame({
        "nsg_key": nsgs["nsg_key"].to_numpy(),
        "nsg_id": nsgs["nsg_id"].to_numpy(),
        "subscription_id": nsgs["subscription_id"].str.lower().to_numpy(),
        "owner": owner,
        "owner_from": np.where(pd.notna(owner_tag), "tag", np.where(pd.notna(owner), "description", "")),
        "expiry": parsed.dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
        "expiry_value": expiry_value,
        "expiry_invalid": invalid,
        "expired": expired,
        "justification": justification,
        "justification_from": np.where(pd.notna(just_tag), "tag",
                                       np.where(pd.notna(justification), "description", "")),
        "environment": environment,
        "production": production,
        "production_rules": 0,
        "documented_rules": 0,
    }, columns=GOVERNANCE_COLUMNS)


def with_rule_documentation(gov: pd.DataFrame, rules: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Governance plus, per NSG, its production custom inbound Allow rules and how many are documented."""
    docs = documented_rules(rules, gov, settings)
    counts = docs.groupby("nsg_key")["documented"].agg(["size", "sum"])
    out = gov.copy()
    out["production_rules"] = counts["size"].reindex(out["nsg_key"].to_numpy()).fillna(0).to_numpy(dtype=np.int64)
    out["documented_rules"] = counts["sum"].reindex(out["nsg_key"].to_numpy()).fillna(0).to_numpy(dtype=np.int64)
    return out


def documented_rules(rules: pd.DataFrame, gov: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Custom inbound Allow rules of production NSGs, each with ``documented``: owner and justification
    known from the NSG's tags or from the rule's own description."""
    direction, access = lowered(rules["direction"]), lowered(rules["access"])
    mask = ~rules["default"].to_numpy(dtype=bool) & (direction == "inbound") & (access == "allow")
    r = rules[mask]
    g = gov.set_index("nsg_key")
    g = g[~g.index.duplicated()]
    prod = g["production"].reindex(r["nsg_key"].to_numpy()).fillna(False).to_numpy(dtype=bool)
    r = r[prod]
    tag_owner = g["owner_from"].reindex(r["nsg_key"].to_numpy()).to_numpy(dtype=object) == "tag"
    tag_just = g["justification_from"].reindex(r["nsg_key"].to_numpy()).to_numpy(dtype=object) == "tag"
    own = tag_owner | pd.notna(description_value(r["description"], settings.description_keys("owner")))
    just = tag_just | pd.notna(description_value(r["description"], settings.description_keys("justification")))
    return pd.DataFrame({"nsg_key": r["nsg_key"].to_numpy(), "rule_name": r["rule_name"].to_numpy(),
                         "documented": own & just})


def coverage(gov: pd.DataFrame) -> dict:
    """The tag-coverage KPIs: fractions 0..1 over the NSGs (None when there are none)."""
    n = len(gov)

    def frac(part: float, total: int) -> float | None:
        return round(float(part) / total, 4) if total else None

    prod_rules = int(gov["production_rules"].sum()) if n else 0
    return {
        "nsgs": int(n),
        "owner": frac(pd.notna(gov["owner"]).sum(), n),
        "expiry": frac(pd.notna(gov["expiry"]).sum(), n),
        "expired": frac(gov["expired"].astype(bool).sum(), n),
        "justification": frac(pd.notna(gov["justification"]).sum(), n),
        "production_rules_documented": frac(gov["documented_rules"].sum(), prod_rules) if n else None,
        "production_rules": prod_rules,
        "invalid_expiry": int(gov["expiry_invalid"].astype(bool).sum()) if n else 0,
    }
