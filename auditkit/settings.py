"""Settings shared by the CLI and the notebooks, read from ``parameters/audit.yaml``.

The kit's defaults are the ``parameters/audit.yaml`` it ships (one file, copied by ``auditkit
init``); a user's file is merged on top of them. The user's file is ``--parameters FILE``, else
``$AUDITKIT_PARAMETERS``, else the ``parameters/audit.yaml`` of the audit folder the command runs
in (the working directory or one of its parents, as git finds its repository).
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

PARAMETERS = Path("parameters") / "audit.yaml"
_PACKAGE = Path(__file__).resolve().parent


def kit_path(*parts: str) -> Path:
    """A file the kit ships beside its code: the notebooks, the default parameters.

    In an installed wheel they are data of the package (``auditkit/notebooks``,
    ``auditkit/parameters``); in a source checkout they sit at the top of the repository.
    """
    for base in (_PACKAGE, _source_checkout()):
        if base is not None and base.joinpath(*parts).exists():
            return base.joinpath(*parts)
    raise AuditkitError(f"{Path(*parts)}: not shipped with this installation of auditkit (reinstall the kit)")


@functools.cache
def _source_checkout() -> Path | None:
    root = _PACKAGE.parent
    try:
        if 'name = "auditkit"' in (root / "pyproject.toml").read_text(encoding="utf-8"):
            return root
    except OSError:
        pass
    return None


def audit_folder(start: str | Path | None = None) -> Path | None:
    """The audit folder a command runs in: the nearest of ``start`` (default: the working
    directory) and its parents that holds ``parameters/audit.yaml`` (``auditkit init`` makes one)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PARAMETERS).is_file():
            return folder
    return None


def default_folder(name: str) -> Path:
    """``snapshots`` or ``reports`` of the audit folder the command runs in, else of the working directory."""
    return (audit_folder() or Path.cwd()) / name


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
    def min_window_days(self) -> int:
        return int(self.raw["flows"].get("min_window_days", 30))

    @property
    def max_file_mb(self) -> int:
        return int(self.raw["flows"].get("max_file_mb", 512))

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


FOLDER_README = """# NSG exposure audit

This folder was made by `auditkit init`. Commands run here (or in a folder below) use its
`parameters/audit.yaml` and keep their evidence in `snapshots/` and `reports/`.

1. **Settings**: edit `parameters/audit.yaml` (audited ports, tag aliases, your mail gateway's
   prefixes under `flows.mail_gateways`).
2. **Collect** a snapshot with an identity that has `Reader` on the subscriptions to audit:
   `auditkit collect --auth cli` (interactive), or from a saved export without credentials:
   `auditkit collect --from-file nsgs.json`.
3. **Render** the month's reports: `auditkit render` writes `reports/<YYYY-MM>/index.html`, one
   report per subscription and `manifest.json`; `auditkit verify reports/<YYYY-MM>` checks them.
4. **Explore** in JupyterLab: `jupyter lab notebooks/`, open a notebook, Run All. Until the first
   snapshot exists the notebooks show the built-in demo tenant.
5. **Schedule** the monthly job (cron, on a VM with a managed identity):
   `0 6 1 * *  cd <this folder> && auditkit monthly --auth managed-identity`

Keep `snapshots/` and `reports/` on storage with an immutability policy: they are the evidence.
"""


def init_folder(folder: str | Path) -> tuple[list[Path], list[Path]]:
    """Make ``folder`` an audit folder: notebooks, commented settings, snapshots/, reports/, README.md.

    Returns (created, left alone): an existing file is never overwritten.
    """
    root = Path(folder)
    created: list[Path] = []
    kept: list[Path] = []
    files = {root / PARAMETERS: kit_path("parameters", "audit.yaml").read_bytes(),
             root / "README.md": FOLDER_README.encode("utf-8")}
    for nb in sorted(kit_path("notebooks").glob("*.ipynb")):
        files[root / "notebooks" / nb.name] = nb.read_bytes()
    try:
        for d in (root / "snapshots", root / "reports"):
            if d.is_dir():
                kept.append(d)
            else:
                d.mkdir(parents=True)
                created.append(d)
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with open(path, "xb") as fh:  # exclusive: never overwrite what is there
                    fh.write(data)
                created.append(path)
            except FileExistsError:
                kept.append(path)
    except OSError as exc:
        raise InputError(f"{exc.filename or root}: cannot create: {exc.strerror or exc}") from None
    return created, kept
