"""One severity vocabulary: what the engine assigns, --fail-on, the tables' sort and OCSF read the same list."""

from __future__ import annotations

import pandas as pd

from auditkit.engine.findings import SEVERITY_ATTACHED, SEVERITY_LATENT, SEVERITY_SHADOWED
from auditkit.engine.reachability import SEVERITY
from auditkit.engine.severity import SEVERITIES, UNRANKED, at_least, severity_rank


def test_every_severity_the_engine_assigns_is_in_the_vocabulary() -> None:
    assigned = {SEVERITY_ATTACHED, SEVERITY_LATENT, SEVERITY_SHADOWED, *SEVERITY.values()}
    assert assigned <= set(SEVERITIES)


def test_at_least_is_the_severity_and_every_worse_one() -> None:
    assert at_least("critical") == ("critical",)
    assert at_least("low") == ("critical", "high", "medium", "low")
    assert at_least("info") == SEVERITIES


def test_rank_is_worst_first_and_an_unknown_severity_sorts_last() -> None:
    ranks = severity_rank(pd.Series(["info", "critical", "bogus", "high"])).tolist()
    assert ranks == [5, 0, UNRANKED, 1]


def test_every_severity_has_an_ocsf_id() -> None:
    from auditkit.present.tickets import _OCSF_SEVERITY

    assert set(_OCSF_SEVERITY) == set(SEVERITIES)
