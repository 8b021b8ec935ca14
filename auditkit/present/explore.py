"""For analysts in JupyterLab: filter the history and export what they found."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from auditkit.formats import to_csv
from auditkit.history.timeline import History

EXPORT_COLUMNS = ["status", "severity", "port", "subscription_id", "resource_group", "nsg_name", "rule_name",
                  "priority", "sources", "destination_ports", "attached", "first_seen", "last_seen", "resolved_at",
                  "age_days", "reopened", "owner", "environment", "description", "nsg_id"]


def findings_with_tags(history: History) -> pd.DataFrame:
    """The history's findings joined with their NSG's governance (owner, environment, expiry)."""
    gov = history.governance.set_index("nsg_key")
    gov = gov[~gov.index.duplicated()]
    f = history.findings.copy()
    for col in ("owner", "environment", "expiry", "production"):
        f[col] = gov[col].reindex(f["nsg_key"].to_numpy()).to_numpy(dtype=object)
    return f


def filter_findings(frame: pd.DataFrame, subscription: str | None = None, port: int | None = None,
                    status: str | None = None, owner: str | None = None, environment: str | None = None,
                    min_age_days: float | None = None) -> pd.DataFrame:
    """Findings matching every filter given (case-insensitive text, substring for owner)."""
    m = pd.Series(True, index=frame.index)
    if subscription:
        m &= frame["subscription_id"].str.lower() == subscription.lower()
    if port is not None:
        m &= frame["port"] == int(port)
    if status:
        m &= frame["status"] == status
    if owner:
        m &= frame["owner"].fillna("").str.lower().str.contains(owner.lower(), regex=False)
    if environment:
        m &= frame["environment"].fillna("").str.lower() == environment.lower()
    if min_age_days is not None:
        m &= frame["age_days"].fillna(-1) >= min_age_days
    return frame[m].reset_index(drop=True)


def export_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the filtered findings as CSV; cells a spreadsheet would run as formulas are neutralised."""
    path = Path(path)
    cols = [c for c in EXPORT_COLUMNS if c in frame.columns]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(to_csv(frame[cols]), encoding="utf-8")
    tmp.replace(path)
    return path


def table(frame: pd.DataFrame, limit: int = 500):
    """The first ``limit`` findings as an escaped HTML table."""
    from auditkit.present.html import concat, paragraph
    from auditkit.present.html import table as html_table

    cols = [c for c in EXPORT_COLUMNS[:15] if c in frame.columns]
    more = paragraph(f"... and {len(frame) - limit} more (export the CSV to see them all).", "ak-note") \
        if len(frame) > limit else paragraph(f"{len(frame)} findings.", "ak-note")
    return concat(html_table(frame.head(limit), cols, empty="No finding matches."), more)
