"""``auditkit monthly --notify``: a summary posted to a local webhook; a failing webhook never fails the run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from auditkit.demo.estate import edge_network

SUB = "60000000-0000-4000-8000-000000000001"


@pytest.fixture()
def hook():
    got: list = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, self.headers["Content-Type"], json.loads(body)))
            status = 500 if self.path == "/broken" else 200
            self.send_response(status)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", got
    server.shutdown()


def monthly(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    nsgs, topo = edge_network(SUB)
    tmp_path.mkdir(parents=True, exist_ok=True)
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"data": nsgs + topo}))
    return subprocess.run([sys.executable, "-m", "auditkit", "monthly", "--from-file", str(export), "--as-of",
                           "2026-10-01T06:00:00Z", "--snapshots", str(tmp_path / "snaps"), "--out",
                           str(tmp_path / "reports"), "--workers", "1", *extra],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow(seconds=35)
def test_summary_reaches_the_webhook_and_failures_never_fail_the_run(tmp_path: Path, hook) -> None:
    url, got = hook
    r = monthly(tmp_path, "--notify", f"{url}/hook")
    assert r.returncode == 0, r.stderr
    ((path, ctype, body),) = got
    assert path == "/hook"
    assert ctype == "application/json"
    assert body["period"] == "2026-09"
    assert body["reachable_findings"] == 5
    assert body["open_findings"] == 8
    assert body["failed_reports"] == 0
    assert len(body["manifest_sha256"]) == 64
    manifest = tmp_path / "reports" / "2026-09" / "manifest.json"
    import hashlib

    assert hashlib.sha256(manifest.read_bytes()).hexdigest() == body["manifest_sha256"]
    # A webhook that answers 500: said on stderr in one line, exit code unchanged.
    target = f"{url}/broken"
    r = monthly(tmp_path / "teams", "--notify", target, "--notify-format", "teams")
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stderr.splitlines() if "notification" in x]
    assert len(lines) == 1
    assert target in lines[0]
    assert "failed (HTTP 500" in lines[0]
    teams = got[-1][2]
    assert teams["@type"] == "MessageCard"
    assert "NSG exposure audit 2026-09" in teams["text"]
    assert "8 open findings (5 reachable)" in teams["text"]  # what the message says, not only that it came
    assert teams["themeColor"] == "B00020"  # something is reachable: the red card


def test_a_webhook_that_is_not_there_is_one_reason_not_an_exception() -> None:
    from auditkit.render.notify import payload, post

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    problem = post(f"http://127.0.0.1:{closed}/x", payload({"period": "2026-09"}, "json"), timeout=5)
    assert problem
    assert "refused" in problem.lower()
    assert post("not a url", {}) == "unknown url type: 'not a url'"  # what is wrong, in its words


def test_every_payload_says_the_counts_and_where_the_evidence_is() -> None:
    from auditkit.render.notify import payload

    s = {"tool": "auditkit", "version": "x", "period": "2026-09", "open_findings": 8, "reachable_findings": 5,
         "accepted_findings": 1, "unknown_findings": 2, "new_findings": 3, "resolved_findings": 4,
         "subscriptions_not_read": 1, "reports": "reports/2026-09", "manifest_sha256": "ab" * 32, "failed_reports": 1}
    assert payload(s, "json") == s
    text = ("NSG exposure audit 2026-09: 8 open findings (5 reachable), 3 new, 4 resolved, 1 accepted, 2 unknown; "
            f"1 subscription(s) could not be read; 1 report(s) FAILED. Reports: reports/2026-09 (manifest SHA-256 "
            f"{'ab' * 32}).")
    assert payload(s, "slack") == {"text": text}
    teams = payload(s, "teams")
    assert teams["text"] == text
    assert teams["title"] == "NSG exposure audit 2026-09"
    assert teams["themeColor"] == "B00020"
    assert payload({**s, "reachable_findings": 0}, "teams")["themeColor"] == "2E7D32"
