"""Never "clean" without knowing: a subscription the latest snapshot did not read (the demo's
contoso-legacy-dc, lost in the last two snapshots) is unknown everywhere, never clean."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from auditkit.history.kpis import kpis
from auditkit.history.timeline import load_history
from auditkit.settings import load_settings

LEGACY = "contoso-legacy-dc"


def _legacy_id(history) -> str:
    return history.subscriptions.set_index("name").loc[LEGACY, "subscription_id"]


def test_kpis_list_the_unread_subscription(demo_snapshots: Path) -> None:
    k = kpis(demo_snapshots, settings=load_settings())
    [u] = k["unread_subscriptions"]
    assert u["name"] == LEGACY
    assert u["last_read"] == "2026-09-01T06:00:00Z"
    assert u["reason"].startswith("missing from the collection")
    assert k["failed_subscriptions_latest"] == 1
    assert k["unknown_findings"] > 0


def test_snapshot_table_counts_a_subscription_that_disappeared(demo_snapshots: Path) -> None:
    h = load_history(demo_snapshots, settings=load_settings())
    assert h.snapshots["failed"].tolist() == [0] * 10 + [1, 1]
    scoped = h.for_subscription(_legacy_id(h))
    assert scoped.snapshots["failed"].tolist() == [0] * 10 + [1, 1]
    assert scoped.unread["name"].tolist() == [LEGACY]
    other = h.subscriptions[h.subscriptions["read"]]["subscription_id"].iloc[0]
    assert h.for_subscription(other).unread.empty


def test_a_failed_subscription_is_unread_with_its_reason(tmp_path: Path) -> None:
    from auditkit.collect.collection import Collection, Rows
    from auditkit.collect.store import write
    from tests.builders import nsg, rule

    a, b = "aaaaaaaa-0000-4000-8000-00000000000a", "bbbbbbbb-0000-4000-8000-00000000000b"
    for month, failed in ((1, []), (2, [{"subscription_id": b, "status": 403, "code": "AuthorizationFailed",
                                          "message": "no access"}])):
        recs = [nsg(rule("x"), sub=a)] + ([nsg(rule("y"), name="n2", sub=b)] if not failed else [])
        write(Collection(rows=Rows(recs), as_of=datetime(2026, month, 1, tzinfo=UTC), collected_at=datetime.now(UTC),
                         requested=[a, b], collected=[a] if failed else [a, b], failed=failed,
                         source={"source": {"kind": "test"}}), tmp_path)
    k = kpis(tmp_path, settings=load_settings())
    [u] = k["unread_subscriptions"]
    assert u["subscription_id"] == b
    assert u["reason"] == "failed: 403 AuthorizationFailed: no access"
    assert k["open_findings"]["25"] == 1
    assert k["unknown_findings"] == 1


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page.read_text()))


def test_reports_say_not_read_and_never_clean(demo_reports: Path) -> None:
    manifest = json.loads((demo_reports / "manifest.json").read_text())
    legacy = next(r for r in manifest["reports"] if r["subscription_name"] == LEGACY)
    report = " ".join(_text(demo_reports / legacy["file"]).split())
    assert "Not read since 2026-09-01: the findings below are the last known state" in report
    assert "it cannot be assessed" in report
    summary = report[report.rindex("Executive summary"):report.rindex("Custom inbound Allow rules")]
    assert "unknown open: SMTP (25)" in summary
    assert "0 open:" not in summary
    overview = " ".join(_text(demo_reports / "index.html").split())
    assert "1 subscriptions not read" in overview
    assert "1 subscription(s) not read in the latest snapshot" in overview
    row = overview[overview.index("Subscriptions ranked"):]
    assert f"{LEGACY} " in row
    assert "not read" in row
    assert "Not read (failed or missing)" in report
