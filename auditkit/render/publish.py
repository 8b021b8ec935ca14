"""A rendered period published to a storage URL (``render --out abfs://...``), never left mixed.

Object storage has no folder rename, so ``swap`` becomes a journal:

1. ``remote_lock``: ``<out>/<period>.lock`` is created only if absent (``If-None-Match: *``), so
   two renders of a period never publish at once; the blob names its holder.
2. ``publish`` uploads the finished period whole beside the period (``.tmp-<period>-<run>/``,
   ``manifest.json`` last), then writes the journal ``<period>.publishing`` naming that upload.
3. The switch: the old ``manifest.json`` (and signature) is removed first, so the period never
   holds a manifest that does not match its files; then the new files are copied in (within the
   storage account), old files that are not in the new run are removed, the new manifest and
   signature are copied last, and the upload and the journal are removed.

A run killed during the switch leaves the journal: the next run (``recover``) finishes that
switch before anything else, so the period ends as the complete new run. Uploads of killed runs
that never reached the journal are removed; the period they would have replaced is untouched.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from auditkit.evidence.storage import (
    StorageError,
    copy,
    filesystem,
    join,
    listing,
    read_bytes,
    remove,
    upload,
    write_new,
)
from auditkit.render.manifest import MANIFEST
from auditkit.render.signature import SIGNATURE_FILE
from auditkit.render.swap import RenderBusy

LAST = (MANIFEST, SIGNATURE_FILE)


def journal(out: str, period: str) -> str:
    return join(out, f"{period}.publishing")


@contextmanager
def remote_lock(out: str, period: str) -> Iterator[str]:
    """Hold ``<out>/<period>.lock`` for the duration; ``RenderBusy`` names the holder when taken."""
    lock = join(out, f"{period}.lock")
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if not write_new(lock, json.dumps(info).encode()) and not (_gone(lock) and write_new(lock, json.dumps(info).encode())):
        try:
            held = json.loads(read_bytes(lock) or b"{}")
            holder = f"pid {held['pid']} on {held['host']} since {held['since']}"
        except (ValueError, KeyError, TypeError):
            holder = "holder unknown"
        raise RenderBusy(f"{join(out, period)}: another render of this period is running ({holder}); lock {lock} "
                         "(remove it if that run is gone)")
    try:
        yield lock
    finally:
        remove(lock)


def _gone(lock: str) -> bool:
    """True when ``lock`` was left by a process of this machine that no longer runs (killed): the
    lock is removed. A holder on another machine cannot be checked from here: never removed. Two
    runs on this machine never get here at once: ``period_lock`` (``flock``) is taken first."""
    try:
        held = json.loads(read_bytes(lock) or b"{}")
        if held.get("host") != socket.gethostname() or not isinstance(held.get("pid"), int):
            return False
        os.kill(held["pid"], 0)
        return False
    except ProcessLookupError:
        remove(lock)
        return True
    except (ValueError, TypeError, AttributeError, PermissionError):
        return False


def _children(out: str) -> list[str]:
    fs, root = filesystem(out)
    try:
        entries = fs.ls(root, detail=False, refresh=True) if fs.exists(root) else []
    except TypeError:
        entries = fs.ls(root, detail=False)
    except FileNotFoundError:
        return []
    except Exception as exc:  # noqa: BLE001
        raise StorageError(f"{out}: cannot list: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    return [e.rstrip("/").rsplit("/", 1)[-1] for e in entries]


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
        remove(journal(out, period))
    for name in _children(out):
        if name.startswith(f".tmp-{period}-"):
            remove(join(out, name), recursive=True)
            done.append(name)
    return done


def _switch(out: str, period: str, staged: str) -> None:
    source, final = join(out, staged), join(out, period)
    new = listing(source)
    try:
        old = listing(final)
    except StorageError:
        old = {}
    remove([join(final, rel) for rel in LAST if rel in old])
    copy([(join(source, rel), join(final, rel)) for rel in sorted(new) if rel not in LAST])
    remove([join(final, rel) for rel in sorted(old) if rel not in new and rel not in LAST])
    for rel in LAST:  # the manifest, then its signature
        if rel in new:
            copy([(join(source, rel), join(final, rel))])
    remove(source, recursive=True)


def publish(folder: Path, out: str, period: str) -> str:
    """Put the finished period ``folder`` at ``<out>/<period>`` (see the module docstring; call
    under ``remote_lock``); return its URL."""
    staged = f".tmp-{period}-{os.getpid()}-{time.time_ns()}"
    upload(folder, join(out, staged), last=LAST)
    if not write_new(journal(out, period), staged.encode()):  # ``recover`` ran under this lock: not ours
        raise StorageError(f"{journal(out, period)}: appeared while this run held the lock; the new period is "
                           f"uploaded as {join(out, staged)}")
    _switch(out, period, staged)
    remove(journal(out, period))
    return join(out, period)


def keep_failed(folder: Path, out: str, name: str) -> str:
    """Upload a failed attempt beside the period as ``<out>/<name>`` (manifest last); its URL."""
    upload(folder, join(out, name), last=LAST)
    return join(out, name)
