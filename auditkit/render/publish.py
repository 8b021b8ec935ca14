"""A rendered period published to a storage URL (``render --out abfs://...``), never left mixed.

Object storage has no folder rename, so ``swap`` becomes a journal:

1. ``remote_lock``: ``<out>/<period>.lock`` is created only if absent (``If-None-Match: *``), so
   two renders of a period never publish at once; the blob names its holder.
2. ``publish`` uploads the finished period whole beside the period (``.tmp-<period>-<run>/``,
   ``manifest.json`` last), then writes the journal ``<period>.publishing`` naming that upload.
3. The switch: the old ``manifest.json`` (and signature) is removed first, so the period never
   holds a manifest that does not match its files; then the new files are uploaded into it
   (uploads, not server-side copies, which may still be pending when they return), old files
   that are not in the new run are removed, the new manifest and signature go last; then the
   journal is removed, and only then the upload (so a journal always names a complete upload).

A run killed during the switch leaves the journal: the next run (``recover``) finishes that
switch before anything else, so the period ends as the complete new run. Uploads of killed runs
that never reached the journal are removed; the period they would have replaced is untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from auditkit.evidence.storage import (
    StorageError,
    children,
    join,
    listing,
    read_bytes,
    remove,
    stage,
    upload,
    write_new,
)
from auditkit.render.manifest import MANIFEST
from auditkit.render.signature import SIGNATURE_FILE
from auditkit.render.swap import RenderBusy, holder_of

LAST = (MANIFEST, SIGNATURE_FILE)


def journal(out: str, period: str) -> str:
    return join(out, f"{period}.publishing")


def _here() -> dict:
    """What tells this machine and process namespace apart: a pid means something only there."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pidns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        boot, pidns = None, None
    return {"host": socket.gethostname(), "boot_id": boot, "pid_namespace": pidns}


@contextmanager
def remote_lock(out: str, period: str) -> Iterator[str]:
    """Hold ``<out>/<period>.lock`` for the duration; ``RenderBusy`` names the holder when taken.

    A lock whose holder ran on this machine, in this process namespace, and is gone (killed) is
    taken over; any other holder is never second-guessed. Call under ``period_lock`` on a
    machine-wide folder (``machine_lock_folder``), so that two runs of this machine never both
    take one over.
    """
    lock = join(out, f"{period}.lock")
    run = uuid.uuid4().hex
    info = {"pid": os.getpid(), **_here(), "run": run,
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    data = json.dumps(info).encode()
    if not write_new(lock, data) and not (_gone(lock) and write_new(lock, data)):
        holder = holder_of(read_bytes(lock) or b"")
        raise RenderBusy(f"{join(out, period)}: another render of this period is running ({holder}); lock {lock} "
                         "(remove it if that run is gone)")
    try:
        yield lock
    finally:
        try:
            mine = json.loads(read_bytes(lock) or b"{}").get("run") == run
        except (ValueError, AttributeError):
            mine = False
        if mine:
            remove(lock)


def machine_lock_folder(out: str) -> Path:
    """A folder every process of this machine shares, for the local lock of a storage URL's periods."""
    return Path(tempfile.gettempdir()) / "auditkit-locks" / hashlib.sha256(out.encode()).hexdigest()[:24]


def _gone(lock: str) -> bool:
    """True when ``lock`` was left by a process of this machine and process namespace that no
    longer runs (killed): the lock is removed. Other holders cannot be checked from here."""
    try:
        held = json.loads(read_bytes(lock) or b"{}")
        here = _here()
        if not isinstance(held, dict) or not isinstance(held.get("pid"), int) or here["boot_id"] is None or \
                any(held.get(k) != v for k, v in here.items()):
            return False
        os.kill(held["pid"], 0)
        return False
    except ProcessLookupError:
        remove(lock)
        return True
    except (ValueError, TypeError, AttributeError, PermissionError):
        return False


def recover(out: str, period: str) -> list[str]:
    """Finish a switch a killed run left in its journal, then remove uploads of killed runs (call
    under the lock); return the names of what was finished or removed."""
    done = []
    pending = read_bytes(journal(out, period))
    if pending is not None:
        staged = pending.decode("utf-8", "replace").strip()
        if staged.startswith(f".tmp-{period}-") and "/" not in staged:
            _switch(out, period, staged)
            done.append(staged)
        remove(journal(out, period))  # then the upload goes with the other leftovers below
    for name in children(out):
        if name.startswith(f".tmp-{period}-"):
            remove(join(out, name), recursive=True)
            done.append(name)
    return done


def _switch(out: str, period: str, staged: str, folder: Path | None = None) -> None:
    """Replace ``<out>/<period>`` by the upload ``<out>/<staged>``; its files are uploaded from
    ``folder`` (the finished period) or, when finishing a killed run's switch, from a local copy
    of the upload. Uploads, not server-side copies: each has landed when the call returns."""
    source, final = join(out, staged), join(out, period)
    if folder is None:
        folder = stage(source).path
    new = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    if MANIFEST not in new:
        raise StorageError(f"{source}: an incomplete upload (no {MANIFEST}): the period was not switched to it")
    old = listing(final)
    remove([join(final, rel) for rel in LAST if rel in old])  # from here the period holds no manifest
    upload(folder, final, only=[rel for rel in new if rel not in LAST])
    remove([join(final, rel) for rel in old if rel not in new and rel not in LAST])
    upload(folder, final, only=[rel for rel in LAST if rel in new], last=LAST)  # the manifest, then its signature


def publish(folder: Path, out: str, period: str) -> str:
    """Put the finished period ``folder`` at ``<out>/<period>`` (see the module docstring; call
    under ``remote_lock``); return its URL."""
    staged = f".tmp-{period}-{os.getpid()}-{time.time_ns()}"
    upload(folder, join(out, staged), last=LAST)
    if not write_new(journal(out, period), staged.encode()):  # ``recover`` ran under this lock: not ours
        raise StorageError(f"{journal(out, period)}: appeared while this run held the lock; the new period is "
                           f"uploaded as {join(out, staged)}")
    _switch(out, period, staged, folder)
    remove(journal(out, period))  # before the upload goes: a journal always names a complete upload
    remove(join(out, staged), recursive=True)
    return join(out, period)


def keep_failed(folder: Path, out: str, name: str) -> str:
    """Upload a failed attempt beside the period as ``<out>/<name>`` (manifest last); its URL."""
    upload(folder, join(out, name), last=LAST)
    return join(out, name)
