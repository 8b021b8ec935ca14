"""A rendered period is replaced whole, by one render at a time, and never left half-written.

- ``period_lock``: one ``render`` of a period at a time, through a lock file beside the period
  (``reports/<period>.lock``, ``flock``, released by the kernel if the process dies); a second run
  is told who holds it.
- ``swap``: the new period folder takes the old one's place with Linux's ``renameat2`` and
  ``RENAME_EXCHANGE``, one atomic step: there is no moment without a period folder. Where the
  file system cannot exchange (some network file systems, non-Linux), the old folder is renamed
  aside and removed right after.
- ``remove_stale``: temporary folders of runs that were killed are removed by the next run
  (under the lock, so never those of a live run).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from auditkit.errors import InputError

RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class RenderBusy(InputError):
    """Another render of the same period holds its lock."""


def tmp_name(period: str) -> str:
    return f".tmp-{period}-{os.getpid()}"


@contextmanager
def period_lock(out: Path, period: str) -> Iterator[Path]:
    """Hold ``out/<period>.lock`` for the duration; ``RenderBusy`` names the holder when taken."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{period}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise RenderBusy(f"{out / period}: another render of this period is running ({_holder(path)}); "
                             f"lock {path}") from None
        # The file may have been removed by the previous holder between open and lock: retry on
        # the current file so that two runs never hold locks on two different files.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        yield path
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)


def holder_of(text: str | bytes) -> str:
    """Who holds a lock, from the lock's text (a local lock file or a lock blob)."""
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on {info['host']} since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"


def _holder(path: Path) -> str:
    try:
        return holder_of(path.read_bytes())
    except OSError:
        return "holder unknown"


def remove_stale(out: Path, period: str) -> list[Path]:
    """Remove temporary folders that killed runs of ``period`` left behind (call under the lock)."""
    removed = []
    for p in out.glob(f".tmp-{period}-*"):
        if p.is_dir() and p.name != tmp_name(period):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2``); False when the system cannot."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap(new: Path, final: Path) -> None:
    """Put ``new`` where ``final`` is: atomically when the old one exists, then remove the old."""
    if not final.exists():
        os.rename(new, final)
        return
    if _exchange(new, final):
        shutil.rmtree(new, ignore_errors=True)  # now the old period
        return
    old = final.with_name(f".tmp-{final.name}-{os.getpid()}-old-{int(time.time())}")
    os.rename(final, old)
    os.rename(new, final)
    shutil.rmtree(old, ignore_errors=True)
