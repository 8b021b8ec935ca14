"""The manifest of a rendered period, and its verification.

``manifest.json`` lists every file with its SHA-256 and size, the snapshots used (ids and hashes),
the parameters, the versions of the tools, start and end times, and the failures. ``verify``
re-hashes every file and names any that changed, went missing or was added.
"""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from auditkit.errors import InputError
from auditkit.evidence.snapshot import sha256_file

MANIFEST = "manifest.json"
TOOLS = ("auditkit", "papermill", "nbconvert", "nbclient", "ipykernel", "plotly", "pandas", "pyarrow")


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in TOOLS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def file_table(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size}
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def write_manifest(folder: Path, body: dict) -> Path:
    manifest = {**body, "files": file_table(folder)}
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def verify(folder: str | Path) -> list[str]:
    """Problems found when re-hashing a rendered period against its manifest; empty when intact."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{folder}: no {MANIFEST} (not a rendered report folder)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{folder / MANIFEST}: not valid JSON: {exc.msg}") from None
    problems = []
    listed = manifest.get("files", {})
    for rel, info in listed.items():
        p = folder / rel
        if not p.is_file():
            problems.append(f"{rel}: missing")
        elif p.stat().st_size != info.get("size") or sha256_file(p) != info.get("sha256"):
            problems.append(f"{rel}: changed (SHA-256 differs from the manifest)")
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel != MANIFEST and rel not in listed:
            problems.append(f"{rel}: not in the manifest")
    return problems
