"""Accepted risks: ``parameters/exceptions.yaml``, the exposures accepted on record until a date.

Each entry matches findings by NSG id (case-insensitive; ``*`` and ``?`` allowed in the resource
group and NSG name only), rule name and port, and carries who approved it, why, the ticket and the
expiry date (required). ``max_sources`` optionally lists the sources the acceptance covers: a
finding whose sources widen beyond them is no longer covered. The file beside the settings file
in use wins, then the audit folder's, then the shipped one (empty).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator, StringConstraints
from pydantic_core import ErrorDetails

from auditkit.settings.folders import read_yaml, settings_file
from auditkit.settings.validation import TEXT, UNKNOWN, FileModel, checked, near_miss, problem, unknown_first

# The keys of ExceptionEntry, in the order error lines name them (tests/settings check they agree).
REQUIRED = ("nsg", "rule", "port", "justification", "approved_by", "ticket", "expires")
OPTIONAL = ("max_sources", "note")
# The resource a finding is a rule of: an NSG, or (layers beyond NSGs) the firewall whose DNAT
# rule, the VNet whose admin rule, the application gateway whose listener opens the port.
_NSG = re.compile(r"^/subscriptions/([^/*?]+)/resourcegroups/([^/]+)/providers/microsoft\.network/"
                  r"(networksecuritygroups|azurefirewalls|virtualnetworks|applicationgateways)/([^/]+)$")


@dataclass(frozen=True)
class Acceptance:
    """One entry of the exceptions file, checked."""

    index: int
    nsg: str  # lower-cased id pattern
    rule: str  # lower-cased rule name pattern
    port: int | None  # None: every audited port ("*")
    justification: str
    approved_by: str
    ticket: str
    expires: date
    max_sources: tuple[str, ...] | None

    @property
    def label(self) -> str:
        return f"exception {self.index} ({self.ticket})"

    def valid_on(self, day: date) -> bool:
        """In force on ``day``: it returns to open the day after ``expires``."""
        return day <= self.expires

    def nsg_regex(self) -> str:
        return _wildcards(self.nsg)

    def rule_regex(self) -> str:
        return _wildcards(self.rule)

    def as_dict(self) -> dict:
        return {"index": self.index, "nsg": self.nsg, "rule": self.rule, "port": self.port or "*",
                "justification": self.justification, "approved_by": self.approved_by, "ticket": self.ticket,
                "expires": self.expires.isoformat(),
                "max_sources": list(self.max_sources) if self.max_sources is not None else None}


def _wildcards(pattern: str) -> str:
    """A pattern with ``*`` and ``?`` (never across ``/``) as an anchored regular expression that both
    Python's and Arrow's (RE2) engines read alike."""
    return "^" + re.escape(pattern).replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "$"


def exceptions_file(parameters_file: str | Path | None = None) -> Path:
    """The exceptions file: beside the settings file in use, else the audit folder's, else the shipped one."""
    return settings_file("exceptions.yaml", parameters_file)


def _nsg_id(v: str) -> str:
    nsg = v.strip().lower().rstrip("/")
    if not _NSG.match(nsg):
        raise problem("nsg_id", "{value} is not an NSG id (/subscriptions/<id>/resourceGroups/<rg>/providers/"
                      "Microsoft.Network/networkSecurityGroups/<name>, or the azureFirewalls, virtualNetworks or "
                      "applicationGateways whose rule a finding is; * only in <rg> and <name>)", value=repr(v))
    return nsg


def _port(v: Any) -> int | None:
    if v == "*":
        return None
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535:
        return v
    if isinstance(v, str) and v.strip().isdigit() and int(v) <= 65535:
        return int(v)
    raise problem("port", "{value} is not a port number or '*'", value=repr(v))


def _expires(v: Any) -> date:
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v).strip())
    except ValueError:
        raise problem("date", "{value} is not a date (YYYY-MM-DD)", value=repr(v)) from None


def _sources(v: list[str]) -> tuple[str, ...]:
    return tuple(s.strip().lower() for s in v)


Text = Annotated[str, StringConstraints(pattern=r"\S"), AfterValidator(str.strip)]


class ExceptionEntry(FileModel):
    """One entry of ``exceptions:``, its keys in the order they are checked (the first mistake is reported)."""

    nsg: Annotated[str, StringConstraints(pattern=r"\S"), AfterValidator(_nsg_id)]
    rule: Annotated[Text, AfterValidator(str.lower)]
    port: Annotated[int | None, PlainValidator(_port)]
    expires: Annotated[date, PlainValidator(_expires)]
    max_sources: Annotated[list[Text], Field(min_length=1), AfterValidator(_sources)] | None = None
    justification: Text
    approved_by: Text
    ticket: Text
    note: Any = None


class ExceptionsFile(FileModel):
    exceptions: Annotated[list[Any], BeforeValidator(lambda v: v or [])]  # "exceptions:" alone: none


def _entry_line(where: str, errors: list[ErrorDetails]) -> str:
    if errors[0]["type"] == "model_type":
        return f"{where}: expected a mapping with {', '.join(REQUIRED)}"
    absent = {e["loc"][0] for e in errors if e["type"] == "missing"}
    if absent:
        missing = ", ".join(k for k in REQUIRED if k in absent)
        return f"{where}: missing {missing} (an accepted risk needs all of {', '.join(REQUIRED)})"
    e = unknown_first(errors)
    key = e["loc"][0]
    if e["type"] in UNKNOWN:
        near = near_miss(key, REQUIRED + OPTIONAL)
        return f"{where}: unknown key {str(key)!r}" + (f" (did you mean {near!r}?)" if near else "")
    if key == "max_sources":
        return f"{where}: max_sources must be a non-empty list of prefixes or tags"
    if e["type"] in TEXT:
        return f"{where}: {key} must be non-empty text, got {e['input']!r}"
    return f"{where}: {key} {e['msg']}"


def load_exceptions(parameters_file: str | Path | None = None) -> list[Acceptance]:
    """Every entry of the exceptions file, checked: one-line errors name the file and the entry."""
    path = exceptions_file(parameters_file)
    data = read_yaml(path)
    if data is None:
        return []
    entries = checked(ExceptionsFile, data, lambda _: f"{path}: expected 'exceptions:' followed by a list of entries")
    out = []
    for i, raw in enumerate(entries.exceptions, start=1):
        where = f"{path}: exceptions entry {i}"
        e = checked(ExceptionEntry, raw, lambda errors, where=where: _entry_line(where, errors))
        out.append(Acceptance(i, e.nsg, e.rule, e.port, e.justification, e.approved_by, e.ticket, e.expires,
                              e.max_sources))
    return out
