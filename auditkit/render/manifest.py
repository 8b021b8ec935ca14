"""The manifest of a rendered period: its body, built from the plan and the run, and its verification.

``manifest.json`` lists every file with its SHA-256 and size, the snapshots used (ids and hashes),
the parameters, the versions of the tools, start and end times, and the failures. ``verify``
re-hashes every file and names any that changed or went missing, and anything in the folder that
is not a regular file listed in the manifest (an added file, a symlink, a FIFO, an extra folder).
The manifest's own SHA-256 is what an auditor keeps; a detached signature (``manifest.json.sig``,
see ``signature``) proves who wrote it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from auditkit.errors import InputError
from auditkit.evidence.snapshot import sha256_file
from auditkit.history.period import cutoff
from auditkit.render.signature import SIGNATURE_FILE, check, load_public_key
from auditkit.render.workers import Outcome

if TYPE_CHECKING:  # the plan's module loads the report context: verify never needs it
    from auditkit.render.plan import Plan

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


@dataclass(frozen=True)
class RunRecord:
    """What the runner did, as the manifest records it."""

    started: datetime
    outcomes: list[Outcome]  # one per report, the refused subscriptions' included
    attempts: dict[str, int]  # report name -> times it was started
    runner: dict  # {"kind": "local", "workers": n} or {"kind": "dask", "scheduler": address}
    workers: int | None  # local worker processes; None on a cluster


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def failure_entries(outcomes: list[Outcome]) -> list[dict]:
    """The manifest's ``failures``: one entry per failed report (no report for a refused subscription)."""
    return [{"report": None if o.error.get("ename") == "InvalidSubscriptionId" else o.name,
             "subscription_id": o.subscription_id, **o.error} for o in outcomes if not o.ok]


def manifest_body(plan: Plan, tmp: Path, common: dict, ran: RunRecord) -> dict:
    """Everything ``manifest.json`` says but its file table: the run's inputs, runner and reports."""
    failures = failure_entries(ran.outcomes)
    history, names = plan.ctx.history, plan.names
    keep_notebooks = plan.request.keep_notebooks
    return {
        "tool": "auditkit",
        "period": plan.period,
        "cutoff": _stamp(cutoff(plan.period)),
        "started_at": _stamp(ran.started),
        "finished_at": _stamp(datetime.now(UTC)),
        "complete": not failures,
        "partial": bool(failures) and plan.request.allow_partial,
        "versions": versions(),
        "parameters": {**common, "subscriptions": plan.subs, "workers": ran.workers,
                       "settings": history.settings.raw, "settings_source": history.settings.source},
        "snapshots": [{"id": r.snapshot, "as_of": _stamp(r.as_of), "sha256": r.hash}
                      for r in history.snapshots.itertuples()],
        "snapshot_hashes_checked": plan.request.verify,
        "unreadable_snapshots": [{"snapshot": u.name, "reason": u.reason} for u in history.unreadable],
        "assets": {"mode": plan.request.assets, "plotly_js": common.get("assets"),
                   "stylesheets": sorted(p.relative_to(tmp).as_posix() for p in (tmp / "assets").glob("*.css"))},
        "runner": ran.runner,
        "reports": [{"file": f"{o.name}.html" if o.ok else None,
                     "notebook": f"{o.name}.ipynb" if keep_notebooks or not o.ok else None,
                     "pdf": f"{o.name}.pdf" if o.ok and plan.browser else None,
                     "subscription_id": o.subscription_id,
                     "subscription_name": names.get(o.subscription_id) if o.subscription_id else None,
                     "ok": o.ok, "seconds": o.seconds, "attempts": ran.attempts.get(o.name, 0)}
                    for o in sorted(ran.outcomes, key=lambda o: o.name)],
        "failures": failures,
    }


def file_table(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size}
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in (MANIFEST, SIGNATURE_FILE)}


def write_manifest(folder: Path, body: dict) -> Path:
    manifest = {**body, "files": file_table(folder)}
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def manifest_sha256(folder: str | Path) -> str:
    try:
        return hashlib.sha256((Path(folder) / MANIFEST).read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError(f"{Path(folder) / MANIFEST}: cannot read: {exc.strerror or exc}") from None


def _load(folder: Path) -> tuple[bytes, dict]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise InputError(f"{folder}: no {MANIFEST} (not a rendered report folder)") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file")
    data = path.read_bytes()
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{path}: not valid JSON: {str(exc).splitlines()[0][:200]}") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("sha256"), str)
            and isinstance(v.get("size"), int) for k, v in files.items()):
        raise InputError(f"{path}: malformed manifest: 'files' must map each file to its sha256 and size")
    for rel in files:
        parts = PurePosixPath(rel).parts
        if not rel or rel.startswith("/") or ".." in parts or "\\" in rel or rel in (MANIFEST, SIGNATURE_FILE):
            raise InputError(f"{path}: malformed manifest: file name {rel!r} is not a plain path inside the folder")
    return data, manifest


def verify(folder: str | Path, expect_sha256: str | None = None, public_key: str | Path | None = None) -> list[str]:
    """Problems found when checking a rendered period against its manifest; empty when intact.

    ``expect_sha256`` is the manifest hash the auditor kept; ``public_key`` checks the detached
    signature ``manifest.json.sig``. A malformed manifest is an ``InputError``.
    """
    folder = Path(folder)
    data, manifest = _load(folder)
    problems = []
    if expect_sha256 is not None and hashlib.sha256(data).hexdigest() != expect_sha256.strip().lower():
        problems.append(f"{MANIFEST}: SHA-256 is {hashlib.sha256(data).hexdigest()}, not the expected "
                        f"{expect_sha256.strip().lower()}")
    if public_key is not None:
        raw = load_public_key(public_key)
        try:
            armored = (folder / SIGNATURE_FILE).read_text(encoding="ascii")
        except FileNotFoundError:
            problems.append(f"{SIGNATURE_FILE}: missing (the period was not signed, or the signature was removed)")
        except (OSError, UnicodeDecodeError):
            problems.append(f"{SIGNATURE_FILE}: unreadable")
        else:
            why = check(data, armored, raw)
            if why:
                problems.append(f"{SIGNATURE_FILE}: {why}")
    listed = manifest["files"]
    for rel, info in listed.items():
        p = folder / rel
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            problems.append(f"{rel}: missing")
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"{rel}: not a regular file ({_kind(st.st_mode)})")
        elif st.st_size != info["size"] or sha256_file(p) != info["sha256"]:
            problems.append(f"{rel}: changed (SHA-256 differs from the manifest)")
    allowed_dirs = {str(PurePosixPath(rel).parent) for rel in listed} - {"."}
    allowed_dirs |= {str(parent) for d in list(allowed_dirs) for parent in PurePosixPath(d).parents} - {"."}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in sorted(dirs + files):
            p = Path(root) / name
            rel = p.relative_to(folder).as_posix()
            mode = os.lstat(p).st_mode
            if stat.S_ISDIR(mode):
                if rel not in allowed_dirs:
                    problems.append(f"{rel}: a folder that is not in the manifest")
            elif rel in listed or (rel in (MANIFEST, SIGNATURE_FILE) and stat.S_ISREG(mode)):
                continue
            elif stat.S_ISREG(mode):
                problems.append(f"{rel}: not in the manifest")
            else:
                problems.append(f"{rel}: not in the manifest and not a regular file ({_kind(mode)})")
    return problems


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"
