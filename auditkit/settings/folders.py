"""Where the kit's files are: what it ships (notebooks, default settings), the audit folder a
command runs in (``auditkit init`` makes one), and its ``snapshots/`` and ``reports/``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError, InputError

PARAMETERS = Path("parameters") / "audit.yaml"
_PACKAGE = Path(__file__).resolve().parents[1]


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
             root / "parameters" / "controls.yaml": kit_path("parameters", "controls.yaml").read_bytes(),
             root / "parameters" / "exceptions.yaml": kit_path("parameters", "exceptions.yaml").read_bytes(),
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


def settings_file(name: str, parameters_file: str | Path | None = None) -> Path:
    """A settings file such as ``controls.yaml``: beside the settings file in use, else the audit
    folder's ``parameters/``, else the one the kit ships."""
    candidates = []
    if parameters_file and str(parameters_file) not in ("built-in", "built-in defaults"):
        candidates.append(Path(parameters_file).parent / name)
    folder = audit_folder()
    if folder is not None:
        candidates.append(folder / "parameters" / name)
    for c in candidates:
        if c.is_file():
            return c
    return kit_path("parameters", name)


def read_yaml(path: Path) -> Any:
    """A YAML file's content; unreadable or invalid YAML is a one-line ``InputError`` naming the file."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"{path}: not valid YAML" + (f" at line {mark.line + 1}" if mark else "")) from None
