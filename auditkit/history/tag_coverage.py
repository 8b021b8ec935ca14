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


def tag_values(tags: pd.Series, settings: Settings, what: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per row, the value of each governance tag in ``what`` (owner, expiry...), read once per
    distinct tags object: the NSGs of a snapshot share a few tag sets, decoded once each."""
    values = tags.to_numpy(dtype=object)
    codes, first = pd.factorize(np.fromiter(map(id, values), dtype=np.int64, count=len(values)))
    distinct = pd.Series(values[np.unique(codes, return_index=True)[1]] if len(values) else [], dtype=object)
    long = tag_rows(distinct)
    return {w: first_tag(long, settings.tag_keys(w), len(first))[codes] for w in what}


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


def described(rules: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Per NSG (``nsg_key`` index), the owner and justification named in the description of its
    first custom rule that names one (None when none does)."""
    custom = rules[~rules["default"].to_numpy(dtype=bool)]
    keys = custom["nsg_key"].to_numpy(dtype=object)
    cols = {}
    for what in ("owner", "justification"):
        value = description_value(custom["description"], settings.description_keys(what))
        has = pd.notna(value)
        cols[what] = pd.Series(value[has], dtype=object).groupby(keys[has], sort=False).first()
    return pd.DataFrame(cols, columns=["owner", "justification"])


def governance(nsgs: pd.DataFrame, rules: pd.DataFrame, subscriptions: pd.DataFrame, as_of: pd.Timestamp,
               settings: Settings) -> pd.DataFrame:
    """One row per NSG: owner, expiry (valid, invalid, expired), justification, environment."""
    return governance_of(nsgs, described(rules, settings), subscriptions, as_of, settings)


def governance_of(nsgs: pd.DataFrame, named: pd.DataFrame, subscriptions: pd.DataFrame, as_of: pd.Timestamp,
                  settings: Settings) -> pd.DataFrame:
    """``governance`` from the NSGs and what their rules' descriptions name (``described``)."""
    tag = tag_values(nsgs["tags"], settings, ("owner", "justification", "expiry", "environment"))
    owner, justification = tag["owner"], tag["justification"]
    expiry_value, environment = tag["expiry"], tag["environment"]
    owner_tag, just_tag = owner.copy(), justification.copy()

    # Descriptions of the NSG's custom rules can name an owner or a justification; tags win.
    for target, what in ((owner, "owner"), (justification, "justification")):
        from_desc = named[what].reindex(nsgs["nsg_key"].to_numpy()).to_numpy(dtype=object)
        fill = pd.isna(target) & pd.notna(from_desc)
        target[fill] = from_desc[fill]

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
    return with_documentation(gov, documentation_counts(rules, settings))


DOCUMENTATION_COUNTS = ["rules", "owner_named", "justification_named", "both_named"]


def documentation_counts(rules: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Per NSG (``nsg_key`` index), its custom inbound Allow rules, and how many of them name an
    owner, a justification, and both in their own description."""
    direction, access = lowered(rules["direction"]), lowered(rules["access"])
    r = rules[~rules["default"].to_numpy(dtype=bool) & (direction == "inbound") & (access == "allow")]
    own = pd.notna(description_value(r["description"], settings.description_keys("owner")))
    just = pd.notna(description_value(r["description"], settings.description_keys("justification")))
    counts = pd.DataFrame({"rules": 1, "owner_named": own, "justification_named": just, "both_named": own & just},
                          index=r["nsg_key"].to_numpy(dtype=object))
    return counts.astype(np.int64).groupby(level=0, sort=False).sum()[DOCUMENTATION_COUNTS]


def with_documentation(gov: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """Governance plus ``production_rules`` and ``documented_rules``: a production NSG's custom
    inbound Allow rule is documented when its owner and its justification are each known, from the
    NSG's tags or from the rule's own description."""
    c = counts.reindex(gov["nsg_key"].to_numpy()).fillna(0).to_numpy(dtype=np.int64)
    tag_owner = gov["owner_from"].to_numpy(dtype=object) == "tag"
    tag_just = gov["justification_from"].to_numpy(dtype=object) == "tag"
    documented = np.select([tag_owner & tag_just, tag_owner, tag_just], [c[:, 0], c[:, 2], c[:, 1]], c[:, 3])
    production = gov["production"].to_numpy(dtype=bool)
    out = gov.copy()
    out["production_rules"] = np.where(production, c[:, 0], 0).astype(np.int64)
    out["documented_rules"] = np.where(production, documented, 0).astype(np.int64)
    return out


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
