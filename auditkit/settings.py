"""Settings shared by the CLI and the notebooks, read from ``parameters/audit.yaml``.

The file is found at ``--parameters FILE``, else ``$AUDITKIT_PARAMETERS``, else
``parameters/audit.yaml`` in the working directory or in the source checkout. The built-in
values below are the same as the shipped file (a test keeps them equal) and apply when the kit
runs from an installed wheel with no parameters file around.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditkit.errors import InputError

BUILT_IN: dict[str, Any] = {
    "ports": [25, 22, 3389],
    "tags": {
        "owner": {"keys": ["owner", "owned-by", "ownedby", "owner-email", "team"], "description": ["owner"]},
        "expiry": {"keys": ["expires", "expiry", "expiration", "expiration-date", "expiry-date", "review-by"]},
        "justification": {"keys": ["justification", "business-justification", "purpose", "ticket", "change-ticket"],
                          "description": ["justification", "ticket"]},
        "environment": {"keys": ["environment", "env"], "production": ["prod", "production", "prd"]},
    },
    "flows": {"mail_gateways": ["203.0.113.0/24", "198.51.100.16/28"], "min_bytes": 1024, "max_prefix": 24},
}


@dataclass(frozen=True)
class Settings:
    """Validated settings; ``raw`` keeps the merged mapping for provenance (reports, manifests)."""

    raw: dict
    source: str

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.raw["ports"])

    def tag_keys(self, what: str) -> tuple[str, ...]:
        return tuple(k.lower() for k in self.raw["tags"][what].get("keys", []))

    def description_keys(self, what: str) -> tuple[str, ...]:
        return tuple(k.lower() for k in self.raw["tags"][what].get("description", []))

    @property
    def production_values(self) -> tuple[str, ...]:
        return tuple(v.lower() for v in self.raw["tags"]["environment"].get("production", []))

    @property
    def mail_gateways(self) -> tuple[str, ...]:
        return tuple(str(p) for p in self.raw["flows"].get("mail_gateways", []))

    @property
    def min_bytes(self) -> int:
        return int(self.raw["flows"].get("min_bytes", 1024))

    @property
    def max_prefix(self) -> int:
        return int(self.raw["flows"].get("max_prefix", 24))

    @property
    def fingerprint(self) -> str:
        """A short hash of everything that changes derived tables (for cache keys)."""
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()[:16]


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def find_parameters(path: str | Path | None = None) -> Path | None:
    if path:
        return Path(path)
    env = os.environ.get("AUDITKIT_PARAMETERS")
    if env:
        return Path(env)
    for candidate in (Path.cwd() / "parameters" / "audit.yaml",
                      Path(__file__).resolve().parents[1] / "parameters" / "audit.yaml"):
        if candidate.is_file():
            return candidate
    return None


def load_settings(path: str | Path | None = None, overrides: dict | None = None) -> Settings:
    """Settings from the parameters file (see module docstring), with optional overrides on top."""
    found = find_parameters(path)
    data: dict = {}
    if found is not None:
        try:
            data = yaml.safe_load(found.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise InputError(f"{found}: cannot read parameters: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise InputError(f"{found}: not valid YAML{where}") from None
        if not isinstance(data, dict):
            raise InputError(f"{found}: expected a mapping of settings")
    merged = _merge(BUILT_IN, data)
    if overrides:
        merged = _merge(merged, overrides)
    _validate(merged, str(found or "built-in defaults"))
    return Settings(raw=merged, source=str(found) if found else "built-in")


def _validate(s: dict, where: str) -> None:
    import ipaddress

    for p in s.get("flows", {}).get("mail_gateways", []):
        try:
            ipaddress.ip_network(str(p), strict=False)
        except ValueError:
            raise InputError(f"{where}: flows.mail_gateways: {p!r} is not a prefix") from None
    ports = s.get("ports")
    if not isinstance(ports, list) or not ports or not all(isinstance(p, int) and 0 <= p <= 65535 for p in ports):
        raise InputError(f"{where}: 'ports' must be a list of port numbers")
    for what in ("owner", "expiry", "justification", "environment"):
        keys = s.get("tags", {}).get(what, {}).get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise InputError(f"{where}: 'tags.{what}.keys' must be a list of tag names")
