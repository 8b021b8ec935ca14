"""Run one Resource Graph query to the last row, the way public collectors learned the hard way.

- Page with ``$top=1000`` while a ``$skipToken`` comes back; never stop on
  ``resultTruncated == "false"`` (real responses say false and still carry a token). A
  ``resultTruncated == "true"`` or a repeated skip token is an error: rows would be lost.
- Read the quota headers on every response; when ``x-ms-user-quota-remaining`` reaches 0, wait
  ``x-ms-user-quota-resets-after`` (hh:mm:ss) plus jitter.
- Retry HTTP 429 ourselves with bounded exponential backoff: Resource Graph's 429 often has no
  ``Retry-After``, and azure-core does not retry a POST 429 without it. 5xx are retried by
  azure-core's RetryPolicy (it retries POST on 500/503/504).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from auditkit.errors import AuditkitError

PAGE_SIZE = 1000


class GraphError(AuditkitError):
    """A query that failed for good: status, service error code and message."""

    def __init__(self, status: int | None, code: str, message: str):
        super().__init__(f"Resource Graph {status or ''} {code}: {message}".replace("  ", " "))
        self.status = status
        self.code = code
        self.message = message


class Forbidden(GraphError):
    """HTTP 403: the identity cannot read at least one subscription of the request."""


class CredentialError(AuditkitError):
    """HTTP 401 or no token at all: nothing can be collected."""


@dataclass
class Stats:
    """What a collection cost: requests sent, pages and rows received, retries and waits."""

    requests: int = 0
    pages: int = 0
    rows: int = 0
    retries_429: int = 0
    quota_waits: int = 0
    waited_seconds: float = 0.0
    minimum_requests: int = 0
    subscription_limit_hit: bool = False
    queries: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "queries"}


@dataclass
class Pacing:
    """Retry and wait bounds; tests shrink them, production keeps the defaults."""

    max_429_retries: int = 8
    max_wait_seconds: float = 600.0
    backoff_initial: float = 2.0  # doubled on each retry
    backoff_cap: float = 60.0
    jitter: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)


def _hms(value: str | None) -> float:
    """``x-ms-user-quota-resets-after`` is hh:mm:ss."""
    if not value:
        return 0.0
    try:
        parts = [float(p) for p in str(value).split(":")]
    except ValueError:
        return 0.0
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def _error_parts(exc: HttpResponseError) -> tuple[str, str]:
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None) or ""
    message = getattr(err, "message", None) or exc.message or str(exc)
    details = getattr(err, "details", None) or []
    for d in details:
        if getattr(d, "code", None):
            code = f"{code}/{d.code}" if code else d.code
            if getattr(d, "message", None):
                message = f"{message} ({d.message})"
            break
    return code or "Error", " ".join(str(message).split())


class Querier:
    """Sends Resource Graph queries through the official client, paging, pacing and counting."""

    def __init__(self, client: Any, stats: Stats, pacing: Pacing | None = None,
                 on_page: Callable[[int], None] | None = None, describe_credential: str = ""):
        self.client = client
        self.stats = stats
        self.pacing = pacing or Pacing()
        self.on_page = on_page
        self.describe_credential = describe_credential
        # Every response body of every completed query exactly as received, labelled by what it
        # answers: the raw evidence. Pages of a query that failed part-way are not used, nor kept.
        self.received: list[tuple[str, bytes]] = []
        self.last_body = b""

    def _wait(self, seconds: float) -> None:
        seconds = max(0.0, seconds) + self.pacing.rng.uniform(0, self.pacing.jitter)
        self.stats.waited_seconds += seconds
        self.pacing.sleep(seconds)

    def _after(self, headers: Any) -> None:
        if headers is None:
            return
        if str(headers.get("x-ms-tenant-subscription-limit-hit", "")).lower() == "true":
            self.stats.subscription_limit_hit = True
        remaining = headers.get("x-ms-user-quota-remaining")
        try:
            exhausted = remaining is not None and int(remaining) <= 0
        except ValueError:
            exhausted = False
        if exhausted:
            self.stats.quota_waits += 1
            # The header has one-second resolution: "00:00:00" still means "wait for the reset".
            self._wait(_hms(headers.get("x-ms-user-quota-resets-after")) or 1.0)

    def send(self, request: QueryRequest) -> Any:
        """One request, with 429 retried under bounds; returns the deserialised response and keeps
        its body, byte for byte, in ``last_body``."""
        attempt = 0
        started = time.monotonic()
        while True:
            self.stats.requests += 1
            try:
                response, headers, body = self.client.resources(
                    request, cls=lambda pipeline_response, deserialized, _: (
                        deserialized, pipeline_response.http_response.headers, pipeline_response.http_response.body()))
            except ClientAuthenticationError as exc:
                raise CredentialError(f"authentication refused (401) {self.describe_credential}: "
                                      f"{' '.join(str(exc.message or exc).split())}") from None
            except HttpResponseError as exc:
                status = exc.status_code
                code, message = _error_parts(exc)
                if status == 401:
                    raise CredentialError(f"authentication refused (401) {self.describe_credential}: {message}") from None
                if status == 429:
                    attempt += 1
                    self.stats.retries_429 += 1
                    headers = exc.response.headers if exc.response is not None else {}
                    retry_after = headers.get("Retry-After")
                    delay = float(retry_after) if retry_after and str(retry_after).isdigit() else min(
                        self.pacing.backoff_cap, self.pacing.backoff_initial * 2 ** (attempt - 1))
                    delay = max(delay, _hms(headers.get("x-ms-user-quota-resets-after")))
                    if attempt > self.pacing.max_429_retries or \
                            time.monotonic() - started + delay > self.pacing.max_wait_seconds:
                        raise GraphError(429, code or "RateLimiting",
                                         f"still throttled after {attempt - 1} retries: {message}") from None
                    self._wait(delay)
                    continue
                if status == 403:
                    raise Forbidden(403, code, message) from None
                raise GraphError(status, code, message) from None
            except ServiceRequestError as exc:
                raise GraphError(None, "ServiceRequestError", str(exc).splitlines()[0]) from None
            self._after(headers)
            self.last_body = bytes(body or b"")
            return response

    def rows(self, query: str, *, subscriptions: list[str] | None = None,
             management_groups: list[str] | None = None, label: str = "") -> list[dict]:
        """Every row of ``query`` in the given scope, pages concatenated as the service sent them."""
        out: list[dict] = []
        bodies: list[tuple[str, bytes]] = []
        token: str | None = None
        tokens: set[str] = set()
        while True:
            if token is None:
                options = QueryRequestOptions(top=PAGE_SIZE, result_format="objectArray")
            else:
                options = QueryRequestOptions(skip_token=token, result_format="objectArray")
            request = QueryRequest(query=query, subscriptions=subscriptions or None,
                                   management_groups=management_groups or None, options=options)
            response = self.send(request)
            bodies.append((label, self.last_body))
            if str(response.result_truncated).lower() == "true":
                raise GraphError(200, "ResultTruncated", "the service could not page this query "
                                 "(resultTruncated is true): rows would be lost")
            data = response.data or []
            if not isinstance(data, list):
                raise GraphError(200, "UnexpectedFormat", f"data is {type(data).__name__}, expected objectArray rows")
            out.extend(data)
            self.stats.pages += 1
            self.stats.rows += len(data)
            if self.on_page:
                self.on_page(len(data))
            token = response.skip_token
            if not token:
                self.received.extend(bodies)
                return out
            if token in tokens:
                raise GraphError(200, "RepeatedSkipToken", "the service returned the same $skipToken twice")
            tokens.add(token)
