"""Exports that say they are incomplete: one page of many, or a truncated result, read off the envelope.

Resource Graph's response carries ``totalRecords``, ``count``, ``resultTruncated`` ("true"/"false")
and ``$skipToken`` while more pages remain; ``az graph query`` writes ``total_records``,
``count`` and ``skip_token``; the Python SDK's ``as_dict()`` ``total_records``,
``result_truncated`` and ``skip_token``. Only these top-level keys are read: no second parse.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from auditkit.errors import InputError

TOKEN_KEYS = ("skip_token", "skipToken", "$skipToken", "nextLink", "@odata.nextLink")  # nextLink: an ARM list page
TOTAL_KEYS = ("total_records", "totalRecords")
PAGE_KEYS = ("count",)  # the rows Resource Graph says this response holds
TRUNCATED_KEYS = ("result_truncated", "resultTruncated")
HOW_TO = ("export every page (az graph query ... --skip-token TOKEN until none is returned, or auditkit collect), "
          "or pass --allow-partial (monthly: --allow-partial-input)")


@dataclass(frozen=True)
class Partial:
    """Why an input is incomplete, the records it holds and the total the service counted (when known)."""

    reason: str
    records: int
    total_records: int | None

    def as_dict(self) -> dict:
        return {"reason": self.reason, "records": self.records, "total_records": self.total_records}

    def holds(self) -> str:
        """``holds 1000 of 2500 records`` (or ``holds 1000 records`` when the total is not known)."""
        of = f" of {self.total_records}" if self.total_records not in (None, self.records) else ""
        return f"holds {self.records}{of} records"


class PartialInput(InputError):
    """An export that says it is incomplete: never read as a whole tenant unless the user says so."""

    def __init__(self, where: str, partial: Partial):
        super().__init__(f"{where}: {partial.holds()} ({partial.reason}); {HOW_TO}")
        self.partial = partial


_ACCEPTED: ContextVar[list | None] = ContextVar("auditkit_partial_accepted", default=None)


@contextmanager
def partial_accepted() -> Iterator[list[Partial]]:
    """Within it, an incomplete export is read, not refused, and noted in the list it yields."""
    accepted: list[Partial] = []
    token = _ACCEPTED.set(accepted)
    try:
        yield accepted
    finally:
        _ACCEPTED.reset(token)


def refuse_partial(obj: Any, where: str) -> None:
    """Raise ``PartialInput`` when ``obj``'s envelope says rows are missing, unless ``partial_accepted``."""
    partial = incompleteness(obj)
    if partial is None:
        return
    accepted = _ACCEPTED.get()
    if accepted is None:
        raise PartialInput(where, partial)
    accepted.append(partial)


def incompleteness(obj: Any) -> Partial | None:
    """What an export's envelope says is missing, or ``None`` for a whole (or envelope-less) export."""
    if not isinstance(obj, Mapping):
        return None
    rows = _row_count(obj)
    total = next((v for k in TOTAL_KEYS if (v := _count(obj.get(k))) is not None), None)
    token_key = next((k for k in TOKEN_KEYS if obj.get(k)), None)
    if token_key:
        tool = {"skip_token": "az graph query", "nextLink": "the ARM list", "@odata.nextLink": "the ARM list"}.get(
            token_key, "Resource Graph")
        return Partial(f"{tool} returned one page: {token_key} is set", rows, total)
    truncated_key = next((k for k in TRUNCATED_KEYS if str(obj.get(k)).lower() == "true"), None)
    if truncated_key:
        return Partial(f"{truncated_key} is true: the service could not page the query", rows, total)
    if total is not None and total > rows:
        key = next(k for k in TOTAL_KEYS if _count(obj.get(k)) == total)
        return Partial(f"{key} is {total} and no page token is left", rows, total)
    page = next((v for k in PAGE_KEYS if (v := _count(obj.get(k))) is not None), None)
    if page is not None and page > rows:  # rows lost between the service and this file
        return Partial(f"count is {page} but the file holds {rows} rows", rows, total or page)
    return None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: Any) -> int | None:
    """A record count as the envelope gives it: a number, or a number written as text ("2500")."""
    if _is_count(value):
        return value
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def _row_count(obj: Mapping) -> int:
    inner = obj.get("data", obj.get("value"))
    if isinstance(inner, Mapping):  # Resource Graph "table" result format: {"columns": [...], "rows": [...]}
        inner = inner.get("rows")
    return len(inner) if isinstance(inner, list) else 0


def partial_line(mark: Any) -> str:
    """A snapshot's ``partial`` mark (meta.json) as one line: what it holds and why it is incomplete."""
    if not isinstance(mark, Mapping):
        return "the input said it is incomplete"
    records, total = mark.get("records"), mark.get("total_records")
    of = f" of {total}" if _is_count(total) else ""
    return f"holds {records}{of} records ({mark.get('reason') or 'incomplete input'}): not the whole scope"
