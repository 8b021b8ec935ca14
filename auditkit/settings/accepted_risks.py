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
from typing import Any

from auditkit.errors import InputError
from auditkit.settings.folders import read_yaml, settings_file

REQUIRED = ("nsg", "rule", "port", "justification", "approved_by", "ticket", "expires")
OPTIONAL = ("max_sources", "note")
_NSG = re.compile(r"^/subscriptions/([^/*?]+)/resourcegroups/([^/]+)/providers/microsoft\.network/"
                  r"networksecuritygroups/([^/]+)$")


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


def _text(entry: dict, key: str, where: str) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: {key} must be non-empty text, got {value!r}")
    return value.strip()


def _entry(i: int, entry: Any, path: Path) -> Acceptance:
    where = f"{path}: exceptions entry {i}"
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected a mapping with {', '.join(REQUIRED)}")
    missing = [k for k in REQUIRED if k not in entry]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)} (an accepted risk needs all of {', '.join(REQUIRED)})")
    unknown = sorted(set(map(str, entry)) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        import difflib

        hint = difflib.get_close_matches(unknown[0], REQUIRED + OPTIONAL, n=1)
        raise InputError(f"{where}: unknown key {unknown[0]!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    nsg = _text(entry, "nsg", where).lower().rstrip("/")
    if not _NSG.match(nsg):
        raise InputError(f"{where}: nsg {entry['nsg']!r} is not an NSG id (/subscriptions/<id>/resourceGroups/<rg>/"
                         "providers/Microsoft.Network/networkSecurityGroups/<name>; * only in <rg> and <name>)")
    rule = _text(entry, "rule", where).lower()
    port_raw = entry["port"]
    if port_raw == "*":
        port = None
    elif isinstance(port_raw, int) and not isinstance(port_raw, bool) and 0 <= port_raw <= 65535:
        port = port_raw
    elif isinstance(port_raw, str) and port_raw.strip().isdigit() and int(port_raw) <= 65535:
        port = int(port_raw)
    else:
        raise InputError(f"{where}: port {port_raw!r} is not a port number or '*'")
    expires_raw = entry["expires"]
    if isinstance(expires_raw, date):
        expires = expires_raw
    else:
        try:
            expires = date.fromisoformat(str(expires_raw).strip())
        except ValueError:
            raise InputError(f"{where}: expires {expires_raw!r} is not a date (YYYY-MM-DD)") from None
    sources = entry.get("max_sources")
    if sources is not None:
        if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s.strip() for s in sources):
            raise InputError(f"{where}: max_sources must be a non-empty list of prefixes or tags")
        sources = tuple(s.strip().lower() for s in sources)
    return Acceptance(i, nsg, rule, port, _text(entry, "justification", where), _text(entry, "approved_by", where),
                      _text(entry, "ticket", where), expires, sources)


def load_exceptions(parameters_file: str | Path | None = None) -> list[Acceptance]:
    """Every entry of the exceptions file, checked: one-line errors name the file and the entry."""
    path = exceptions_file(parameters_file)
    data = read_yaml(path)
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) != {"exceptions"} or not isinstance(data["exceptions"] or [], list):
        raise InputError(f"{path}: expected 'exceptions:' followed by a list of entries")
    return [_entry(i, e, path) for i, e in enumerate(data["exceptions"] or [], start=1)]
