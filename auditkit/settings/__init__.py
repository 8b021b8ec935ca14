"""Settings shared by the CLI and the notebooks, read from ``parameters/audit.yaml``.

The kit's defaults are the ``parameters/audit.yaml`` it ships (one file, copied by ``auditkit
init``); a user's file is merged on top of them. The user's file is ``--parameters FILE``, else
``$AUDITKIT_PARAMETERS``, else the ``parameters/audit.yaml`` of the audit folder the command runs
in (the working directory or one of its parents, as git finds its repository).

The shipped ``audit.yaml`` is the one source of the defaults: the code holds none. Its model
(``auditkit.settings.schema``) requires every key, so the merged settings are complete or refused,
and the properties below read the checked values without a fallback of their own.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from auditkit.errors import AuditkitError, InputError
from auditkit.settings.folders import (  # noqa: F401 (part of this module's interface)
    PARAMETERS,
    audit_folder,
    default_folder,
    init_folder,
    kit_path,
)
from auditkit.settings.schema import AuditSettings, validate


@functools.cache
def _shipped_defaults() -> dict:
    path = kit_path("parameters", "audit.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise AuditkitError(f"{path}: the shipped defaults are damaged (reinstall the kit)")
    return data


def defaults() -> dict:
    """The shipped default settings, as a fresh mapping."""
    return copy.deepcopy(_shipped_defaults())


@dataclass(frozen=True)
class Settings:
    """Validated settings: the properties read ``checked`` (the model); ``raw`` keeps the merged
    mapping for provenance (reports, manifests) and the fingerprint."""

    raw: dict
    source: str
    checked: AuditSettings

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(self.checked.ports)

    def tag_keys(self, what: str) -> tuple[str, ...]:
        return tuple(k.lower() for k in getattr(self.checked.tags, what).keys)

    def description_keys(self, what: str) -> tuple[str, ...]:
        """The description words for ``what``; none for tags that have no description aliases (expiry)."""
        return tuple(k.lower() for k in getattr(getattr(self.checked.tags, what), "description", ()))

    @property
    def production_values(self) -> tuple[str, ...]:
        return tuple(v.lower() for v in self.checked.tags.environment.production)

    @property
    def mail_gateways(self) -> tuple[str, ...]:
        return tuple(self.checked.flows.mail_gateways)

    @property
    def min_bytes(self) -> int:
        return self.checked.flows.min_bytes

    @property
    def max_prefix(self) -> int:
        return self.checked.flows.max_prefix

    @property
    def min_window_days(self) -> int:
        return self.checked.flows.min_window_days

    @property
    def max_file_mb(self) -> int:
        return self.checked.flows.max_file_mb

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
    """The user's settings file (see the module docstring), or None: the shipped defaults apply."""
    if path:
        return Path(path)
    env = os.environ.get("AUDITKIT_PARAMETERS")
    if env:
        return Path(env)
    folder = audit_folder()
    return folder / PARAMETERS if folder else None


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
    merged = _merge(_shipped_defaults(), data)
    if overrides:
        merged = _merge(merged, overrides)
    checked = validate(merged, str(found or "built-in defaults"))
    return Settings(raw=merged, source=str(found) if found else "built-in", checked=checked)
