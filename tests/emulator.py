"""A local emulator of the Azure Resource Graph endpoint, for driving the real SDK in tests.

HTTPS on 127.0.0.1 with a certificate from a throwaway test CA (trustme). It serves
``POST /providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01`` with the service's
request and response shapes (``$top``, ``$skip``, ``$skipToken``, ``resultFormat``; ``totalRecords``,
``count``, ``resultTruncated`` as a string, ``$skipToken``, ``data``, ``facets``), its error
envelopes, quota headers on every response, and switchable faults. The same server answers the ARM
network endpoints of the layers collector (tests/arm_emulator.py).
"""

from __future__ import annotations

import base64
import json
import math
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import trustme

from tests import arm_emulator
from tests.arm_emulator import ARM_ONLY_TYPES

API_PATH = "/providers/Microsoft.ResourceGraph/resources"
API_VERSION = "2021-03-01"


@dataclass
class Faults:
    throttle_next: int = 0  # answer the next N requests with 429 and no Retry-After
    unavailable_next: int = 0  # answer the next N requests with 503
    forbidden: set = field(default_factory=set)  # subscriptions the identity cannot read
    # x-ms-user-quota-remaining counts down from this (the service: 15 per 5 s; tests of quota waits set
    # their own, the rest would only wait: a collection now sends a query per layer type too)
    quota_per_window: int = 40
    quota_window_seconds: float = 5.0
    enforce_quota: bool = True  # a request past the quota gets 429 (no Retry-After)
    truncated: bool = False  # answer resultTruncated "true"
    repeat_token: bool = False  # hand out the same $skipToken forever
    delay: float = 0.0  # seconds before each answer
    reject_token: bool = False  # 401 on every request
    topology_forbidden: set = field(default_factory=set)  # subscriptions whose non-NSG resources are unreadable
    subscription_limit_hit: bool = False  # tenant/management-group scope answers x-ms-tenant-subscription-limit-hit
    # The ARM network endpoints (tests/arm_emulator.py):
    network_forbidden: set = field(default_factory=set)  # subscriptions the network API refuses (403)
    network_throttle_next: int = 0  # answer the next N network requests with 429 and Retry-After
    network_retry_after: str | None = "1"  # that header's value; None sends none
    admin_page_size: int = 20  # admin rules per page (at most the request's $top)
    rule_groups_page_size: int = 2  # rule collection groups per page


@dataclass
class Tenant:
    subscriptions: list[dict]
    nsgs: list[dict]
    management_groups: dict = field(default_factory=dict)  # mg name -> [subscription ids]
    resources: list = field(default_factory=list)  # other resource types (NICs, VNets, load balancers...)
    changes: list = field(default_factory=list)  # resourcechanges rows (the service's shape)


class Emulator:
    """Start with ``with Emulator(tenant) as emu:``; ``emu.url`` and ``emu.ca_file`` for the client."""

    def __init__(self, tenant: Tenant, workdir: Path, scope: str = "https://management.azure.com/.default"):
        self.tenant = tenant
        self.faults = Faults()
        self.scope = scope
        self.requests: list[dict] = []
        self.arm_requests: list[dict] = []  # method, path, query, body of every ARM network request
        self.statuses: list[int] = []
        self.sent: list[bytes] = []  # every 200 response body, byte for byte
        self._lock = threading.Lock()
        self._window_start = time.monotonic()
        self._used = 0
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = str(workdir / "emulator-ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        self._ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self._ctx)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.socket = self._ctx.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/"
        self._by_sub_cache: dict[str, list[dict]] | None = None

    def __enter__(self) -> Emulator:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- quota -------------------------------------------------------------------------------
    def _quota(self) -> tuple[int, float, bool]:
        """(remaining after this request, seconds until reset, over quota)."""
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= self.faults.quota_window_seconds:
                self._window_start, self._used = now, 0
            self._used += 1
            remaining = self.faults.quota_per_window - self._used
            reset = max(0.0, self.faults.quota_window_seconds - (now - self._window_start))
            return max(remaining, 0), reset, remaining < 0

    # -- data --------------------------------------------------------------------------------
    def _rows(self, query: str, subs: list[str] | None, mgs: list[str] | None) -> list[dict]:
        if "resourcecontainers" in query:
            table = self.tenant.subscriptions
        elif query.lstrip().startswith("resourcechanges"):
            table = self.tenant.changes
        else:
            # The "| where type =~ 'x'" or "type in~ ('x', 'y')" clause of the kit's queries.
            wanted = set(re.findall(r"'([a-z]+\.[a-z]+/[a-z]+)'", query.lower()))
            # Effective admin rules and rule collection groups are served by ARM only (arm_emulator).
            table = [r for r in self.tenant.nsgs + self.tenant.resources if r["type"].lower() in wanted
                     and r["type"].lower() not in ARM_ONLY_TYPES]
        if subs:
            scope = {s.lower() for s in subs}
        elif mgs:
            scope = {s.lower() for m in mgs for s in self.tenant.management_groups.get(m, [])}
        else:
            scope = {s["subscriptionId"].lower() for s in self.tenant.subscriptions} - \
                {f.lower() for f in self.faults.forbidden}
        rows = [r for r in table if r["subscriptionId"].lower() in scope]
        return sorted(rows, key=lambda r: r["id"].lower())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emu = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict, extra: dict | None = None) -> None:
                remaining, reset, _ = emu._last_quota
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-ms-user-quota-remaining", str(remaining))
                self.send_header("x-ms-user-quota-resets-after", time.strftime("%H:%M:%S", time.gmtime(math.ceil(reset))))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
                emu.statuses.append(status)
                if status == 200:
                    emu.sent.append(payload)

            def _error(self, status: int, code: str, message: str, details: list | None = None) -> None:
                err: dict = {"code": code, "message": message}
                if details:
                    err["details"] = details
                self._send(status, {"error": err})

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                emu._last_quota = (emu.faults.quota_per_window, emu.faults.quota_window_seconds, False)
                return arm_emulator.handle(emu, self, "GET", urlparse(self.path), b"")

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                emu._last_quota = emu._quota()
                if emu.faults.delay:
                    time.sleep(emu.faults.delay)
                url = urlparse(self.path)
                if url.path.startswith("/subscriptions/"):
                    return arm_emulator.handle(emu, self, "POST", url, raw)
                if url.path.rstrip("/") != API_PATH:
                    return self._error(404, "NotFound", f"no route {url.path}")
                if parse_qs(url.query).get("api-version") != [API_VERSION]:
                    return self._error(400, "InvalidApiVersion", "api-version must be 2021-03-01")
                auth = self.headers.get("Authorization", "")
                if emu.faults.reject_token or auth != f"Bearer token-for:{emu.scope}":
                    return self._error(401, "AuthenticationFailed", "Authentication failed. The token is invalid "
                                       "or was issued for another audience.")
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    return self._error(400, "BadRequest", "request body is not JSON")
                emu.requests.append(body)
                if emu.faults.throttle_next > 0:
                    emu.faults.throttle_next -= 1
                    return self._error(429, "RateLimiting", "Please provide below info when asking for support: "
                                       "timestamp, correlationId. Too many requests.")
                if emu.faults.enforce_quota and emu._last_quota[2]:
                    return self._error(429, "RateLimiting", "Quota exceeded for this window.")
                if emu.faults.unavailable_next > 0:
                    emu.faults.unavailable_next -= 1
                    return self._error(503, "ServiceUnavailable", "The service is temporarily unavailable.")
                subs = body.get("subscriptions") or []
                mgs = body.get("managementGroups") or []
                options = body.get("options") or {}
                if len(subs) > 1000:
                    return self._error(400, "BadRequest", "Please provide below info when asking for support",
                                       [{"code": "TooManySubscriptions",
                                         "message": f"At most 1000 subscriptions per request, got {len(subs)}."}])
                top = options.get("$top")
                if top is not None and int(top) > 1000:
                    return self._error(400, "BadRequest", "Invalid $top",
                                       [{"code": "InvalidTop", "message": "$top must be at most 1000."}])
                forbidden = {f.lower() for f in emu.faults.forbidden}
                if "networksecuritygroups" not in body.get("query", "") and "resourcecontainers" not in \
                        body.get("query", ""):
                    forbidden |= {f.lower() for f in emu.faults.topology_forbidden}
                denied = sorted({s.lower() for s in subs} & forbidden)
                if denied:
                    return self._error(403, "AuthorizationFailed", "The client does not have authorization to "
                                       f"perform action over scope '/subscriptions/{denied[0]}'.")
                query = body.get("query", "")
                token = options.get("$skipToken")
                if token:
                    state = json.loads(base64.b64decode(token))
                    offset, top = state["offset"], state["top"]
                else:
                    offset, top = int(options.get("$skip") or 0), int(top or 100)
                rows = emu._rows(query, subs, mgs)
                page = rows[offset:offset + top]
                out: dict = {"totalRecords": len(rows), "count": len(page),
                             "resultTruncated": "true" if emu.faults.truncated else "false",
                             "facets": [], "data": page}
                if offset + top < len(rows):
                    out["$skipToken"] = base64.b64encode(json.dumps({"offset": offset + top, "top": top}).encode()).decode()
                if emu.faults.repeat_token and token:
                    out["$skipToken"] = token  # a broken service: the same token again
                # Above 10,000 subscriptions, a tenant or management-group scope query uses the first
                # 10,000 and says so in this header.
                extra = {"x-ms-tenant-subscription-limit-hit": "true"} \
                    if emu.faults.subscription_limit_hit and not subs else None
                return self._send(200, out, extra)

        return Handler

    _last_quota: tuple = (15, 5.0, False)


class FakeCredential:
    """A TokenCredential whose token names the scope it was asked for, so the emulator can check it."""

    def __init__(self) -> None:
        self.scopes: list[tuple] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(f"token-for:{scopes[0]}", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        self.scopes.append(scopes)
        return AccessTokenInfo(f"token-for:{scopes[0]}", int(time.time()) + 3600)
