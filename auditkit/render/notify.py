"""After the monthly run: a short summary posted to a webhook (plain JSON, Slack or Teams).

A failing webhook is reported and never fails the run: the reports are the evidence, the message
only says they exist.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from auditkit import __version__

STYLES = ("json", "slack", "teams")


def summary(kpis: dict, timeline_latest: dict, period: str, folder: str, manifest_sha256: str | None,
            failures: int) -> dict:
    """What the message says: the period, its counts, where the reports are and how to verify them."""
    return {
        "tool": "auditkit", "version": __version__, "period": period,
        "open_findings": sum(kpis["open_findings"].values()),
        "reachable_findings": sum(kpis.get("reachable_findings", {}).values()),
        "accepted_findings": kpis.get("accepted_findings", 0),
        "unknown_findings": kpis["unknown_findings"],
        "new_findings": int(timeline_latest.get("new", 0)), "resolved_findings": int(timeline_latest.get("resolved", 0)),
        "subscriptions_not_read": len(kpis.get("unread_subscriptions", [])),
        "reports": folder, "manifest_sha256": manifest_sha256, "failed_reports": failures,
    }


def text_of(s: dict) -> str:
    line = (f"NSG exposure audit {s['period']}: {s['open_findings']} open findings ({s['reachable_findings']} "
            f"reachable), {s['new_findings']} new, {s['resolved_findings']} resolved, {s['accepted_findings']} "
            f"accepted, {s['unknown_findings']} unknown")
    if s["subscriptions_not_read"]:
        line += f"; {s['subscriptions_not_read']} subscription(s) could not be read"
    if s["failed_reports"]:
        line += f"; {s['failed_reports']} report(s) FAILED"
    return line + f". Reports: {s['reports']} (manifest SHA-256 {s['manifest_sha256']})."


def payload(s: dict, style: str = "json") -> dict:
    """The body for ``style``: the summary itself, a Slack incoming-webhook message, or a Teams one."""
    if style == "slack":
        return {"text": text_of(s)}
    if style == "teams":
        return {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                "summary": f"NSG exposure audit {s['period']}", "themeColor": "B00020" if s["reachable_findings"]
                else "2E7D32", "title": f"NSG exposure audit {s['period']}", "text": text_of(s)}
    return s


def post(url: str, body: Any, timeout: float = 10.0) -> str | None:
    """POST ``body`` as JSON; None when the webhook accepted it, else why not (one line)."""
    data = json.dumps(body).encode("utf-8")
    try:
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": f"auditkit/{__version__}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's own URL
            if not 200 <= response.status < 300:
                return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", None) or exc)
    return None
