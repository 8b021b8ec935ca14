"""The one severity vocabulary: every severity a finding can have, worst first.

``--fail-on``, the findings tables' sort and the OCSF mapping all read it from here, so a new
severity is added once (the OCSF mapping then fails to import until it is given an OCSF id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# Worst first; engine.findings and engine.reachability assign them.
SEVERITIES = ("critical", "high", "medium", "low", "latent", "info")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}
UNRANKED = len(SEVERITIES)  # a severity outside the vocabulary sorts after every known one


def severity_rank(severity: pd.Series) -> pd.Series:
    """Each severity's place in SEVERITIES (0 = worst), UNRANKED for one outside it: a sort key."""
    return severity.map(_RANK).fillna(UNRANKED)


def at_least(severity: str) -> tuple[str, ...]:
    """``severity`` and every worse one, as ``--fail-on`` counts them."""
    return SEVERITIES[:SEVERITIES.index(severity) + 1]
