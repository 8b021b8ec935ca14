"""Where evidence is kept: a local folder, or a storage URL (``abfs://``, ``az://``, any fsspec protocol).

The kit's readers and writers work on local folders (memory-mapped Parquet, ``flock``, atomic
renames), which object storage does not have. So a remote folder is mirrored into a local copy
(``stage``) before it is read: a file is fetched again only when its ETag changed, files gone
from the remote go from the copy (except derived cache entries, which check themselves), and
every snapshot is still verified against its recorded hashes once copied. Writes go the other
way (``upload``): every blob commits whole, and the files that make a folder complete
(``manifest.json``) go last. Azure Blob Storage is reached through adlfs, which takes the account
and credentials from the URL (``abfs://container@account.dfs.core.windows.net/path``) or from
``AZURE_STORAGE_ACCOUNT_NAME`` plus ``AZURE_STORAGE_CONNECTION_STRING``/``..._ACCOUNT_KEY``/
``..._SAS_TOKEN``, else ``DefaultAzureCredential`` (managed identity, workload identity, az login).
Blob ``https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH`` URLs (flow logs) go the same way
(``evidence.blob_url``). fsspec and adlfs are the ``storage`` extra.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError

# Beside each copy, never in it (a copied report folder must hold only the report's files):
# <copy>.json maps every file's relative path to its ETag; <copy>.lock serialises the stagings.
DERIVED = ".cache"  # derived entries: kept in the copy when absent remotely (they verify themselves)


_AZURE_ENV = {"connection_string": "AZURE_STORAGE_CONNECTION_STRING", "account_name": "AZURE_STORAGE_ACCOUNT_NAME",
              "account_key": "AZURE_STORAGE_ACCOUNT_KEY", "sas_token": "AZURE_STORAGE_SAS_TOKEN"}


STORAGE_EXTRA = "storage URLs need the storage extra: pip install 'auditkit[storage]'"


class StorageError(AuditkitError):
    """A storage URL that cannot be reached, read or written (missing, forbidden, throttled)."""


class NoContainer(StorageError):
    """A storage URL whose container (or bucket) does not exist."""


@dataclass(frozen=True)
class Staged:
    """A local copy of a remote folder and what the last ``stage`` did to it."""

    url: str
    path: Path
    version: str  # digest of the remote evidence listing (paths and ETags, derived entries aside)
    fetched: int
    removed: int
    skipped: tuple = ()  # remote names that cannot be a local path (``..``, ``a//b``), or gone meanwhile
    files: frozenset = frozenset()  # the relative paths the remote holds

    def new_derived(self) -> list[str]:
        """Derived cache entries written into the copy that the remote does not hold yet (complete
        entries only: no temporary or lock files)."""
        base = self.path / DERIVED
        found = []
        for p in base.rglob("*") if base.is_dir() else ():
            rel = p.relative_to(self.path).as_posix()
            if p.is_file() and not p.is_symlink() and rel not in self.files and \
                    not any(part.startswith(".tmp") or part.endswith(".lock") for part in rel.split("/")):
                found.append(rel)
        return sorted(found)


def is_url(location: Any) -> bool:
    """True for ``scheme://...`` locations other than ``file://`` (those are plain folders)."""
    return isinstance(location, str) and "://" in location and not location.startswith("file://") \
        and location.split("://", 1)[0].replace("+", "").isalnum()


def plain_path(location: Any) -> Any:
    """``file:///x`` as the folder ``/x``; anything else as it is."""
    return location[len("file://"):] if isinstance(location, str) and location.startswith("file://") else location


def join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts)])


def filesystem(url: str, credential: Any = None) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path within it, or a one-line error; ``credential``
    is for Azure Blob ``http(s)://`` URLs (see ``evidence.blob_url``)."""
    try:
        import fsspec
    except ImportError:
        raise StorageError(f"{url}: {STORAGE_EXTRA}") from None
    from auditkit.evidence import blob_url

    blob = blob_url.parse(url)
    scheme = "abfs" if blob else url.split("://", 1)[0]
    try:
        # adlfs reads these itself; passed explicitly, they are part of fsspec's instance-cache key, so
        # a changed credential is never answered by a file system opened with the previous one.
        options = blob_url.options(blob, credential) if blob else \
            {name: os.environ[var] for name, var in _AZURE_ENV.items() if os.environ.get(var)} \
            if scheme in ("abfs", "abfss", "az") else {}
        fs, root = fsspec.core.url_to_fs(f"abfs://{blob.path}" if blob else url, **options)
    except ImportError as exc:
        if scheme in ("abfs", "abfss", "az"):
            raise StorageError(f"{url}: {STORAGE_EXTRA}") from None
        raise StorageError(f"{url}: {scheme}:// storage needs a package that is not installed "
                           f"({str(exc).splitlines()[0]})") from None
    except ValueError as exc:
        said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Protocol not known" in said:
            raise StorageError(f"{url}: not a storage URL this kit can open: {said}") from None
        hint = " (name the account: abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH, or set " \
            "AZURE_STORAGE_ACCOUNT_NAME)" if not blob and options == {} and scheme in ("abfs", "abfss", "az") else ""
        raise StorageError(f"{url}: cannot open: {said}{hint}") from None
    except Exception as exc:  # noqa: BLE001 - credentials and account settings are checked here
        raise _failure(url, "cannot open", exc) from None
    return fs, root.rstrip("/")


def _failure(url: str, doing: str, exc: BaseException) -> StorageError:
    """One line for a storage exception: what, where, and the service's reason (first line only)."""
    if isinstance(exc, FileNotFoundError):
        return StorageError(f"{url}: {doing}: not found")
    status = getattr(exc, "status_code", None)
    reason = getattr(exc, "reason", None) or ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    said = f"HTTP {status} {reason}".strip() if status else text
    if status and "ErrorCode" in str(exc):
        code = str(exc).split("ErrorCode:", 1)[1].split()[0] if "ErrorCode:" in str(exc) else ""
        said = f"{said} ({code})" if code else said
    return StorageError(f"{url}: {doing}: {said[:300]}")


def staging_root() -> Path:
    """Where local copies live: ``$AUDITKIT_STAGING``, else ``$XDG_CACHE_HOME/auditkit/remote``."""
    if os.environ.get("AUDITKIT_STAGING"):
        return Path(os.environ["AUDITKIT_STAGING"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "auditkit" / "remote"


def local_copy(url: str) -> Path:
    """The local copy of ``url``'s folder (one per URL, shared by the processes of one machine)."""
    return staging_root() / hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:24]


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    import fcntl

    fd = os.open(folder.with_name(f"{folder.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def is_relative_name(rel: str) -> bool:
    """True for a relative path that stays inside its folder and names one file exactly: no ``..``,
    no absolute path, no empty or ``.`` part (``a//b``, ``a/./b``), no backslash or NUL."""
    parts = rel.split("/")  # not PurePosixPath: it would fold ``a//b`` and ``a/./b`` into other names
    return bool(rel) and "\\" not in rel and "\x00" not in rel and not any(p in ("", ".", "..") for p in parts)


def listing(url: str, credential: Any = None) -> dict[str, dict]:
    """Every file under ``url``: relative path -> its details (size, ETag); a one-line error when
    the folder cannot be listed, is a file, or its container does not exist (``NoContainer``). A
    folder that does not exist in an existing container has no files, as on a disk a missing
    snapshots folder has no snapshots (object storage has no empty folders)."""
    fs, root = filesystem(url, credential)
    try:
        found = fs.find(root, detail=True)
        if not found:
            container = root.split("/", 1)[0]
            if container and not fs.exists(container):
                raise NoContainer(f"{url}: no such container or bucket ({container})")
    except StorageError:
        raise
    except FileNotFoundError:
        return {}
    except Exception as exc:  # noqa: BLE001
        raise _failure(url, "cannot list", exc) from None
    if not isinstance(found, dict):  # adlfs answers a blob's own path with a list
        raise StorageError(f"{url}: a file, not a folder")
    files = {}
    for path, info in found.items():
        if info.get("type", "file") != "file":
            continue
        rel = path[len(root) + 1:] if path.startswith(f"{root}/") else ("" if path == root else f"/{path}")
        if not rel:
            raise StorageError(f"{url}: a file, not a folder")
        files[rel] = info
    return files


def _derived(rel: str) -> bool:
    return rel == DERIVED or rel.startswith(f"{DERIVED}/")


def _tag(info: dict) -> str:
    etag = info.get("etag") or info.get("ETag")
    if etag:
        return str(etag).strip('"')
    return f"{info.get('size')}:{info.get('last_modified') or info.get('mtime') or info.get('created')}"


def stage(url: str, expect_version: str | None = None) -> Staged:
    """Mirror the folder at ``url`` into its local copy (see the module docstring) and return it.

    ``expect_version``: the listing must still be that one (``Staged.version``), else
    ``StorageError`` and the copy is left as it is. Names that cannot be a local path, or that
    are both a file and a folder of other files, are skipped and named in ``Staged.skipped``.
    """
    fs, root = filesystem(url)
    local = local_copy(url)
    local.parent.mkdir(parents=True, exist_ok=True)
    fetched = removed = 0
    with _locked(local):  # the listing too: one taken before waiting could roll the copy back
        files = listing(url)
        local.mkdir(exist_ok=True)
        folders = {rel.rsplit("/", i)[0] for rel in files for i in range(1, rel.count("/") + 1)}
        wanted = {rel: _tag(info) for rel, info in files.items() if is_relative_name(rel) and rel not in folders}
        skipped = sorted(set(files) - set(wanted))
        version = hashlib.sha256(json.dumps(sorted((k, v) for k, v in wanted.items() if not _derived(k))).encode()
                                 ).hexdigest()[:32]
        if expect_version is not None and version != expect_version:
            raise StorageError(f"{url}: the snapshots changed since the run was planned (their listing differs)")
        known = _known(local)
        for rel, tag in sorted(wanted.items()):
            dest = local / rel
            if known.get(rel) == tag and dest.is_file() and dest.stat().st_size == files[rel].get("size"):
                continue
            tmp = dest.with_name(f".{dest.name}.staging-{os.getpid()}")
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                if dest.is_dir():
                    shutil.rmtree(dest)
                fs.get_file(f"{root}/{rel}", str(tmp))
            except FileNotFoundError:
                # Gone since the listing, or a name the service does not give back as listed:
                # skipped and named. Inside a snapshot, its hash check then fails.
                tmp.unlink(missing_ok=True)
                skipped.append(rel)
                continue
            except Exception as exc:  # noqa: BLE001
                tmp.unlink(missing_ok=True)
                raise _failure(join(url, rel), "cannot read", exc) from None
            os.replace(tmp, dest)
            known[rel] = tag
            fetched += 1
        for p in sorted(local.rglob("*"), reverse=True):
            rel = p.relative_to(local).as_posix()
            if rel in wanted:
                continue
            if p.is_dir() and not p.is_symlink():
                if not any(p.iterdir()) and not rel.startswith(DERIVED):
                    p.rmdir()
                continue
            if _derived(rel):
                continue
            p.unlink()
            known.pop(rel, None)
            removed += 1
        _remember(local, {k: v for k, v in known.items() if k in wanted})
    return Staged(url, local, version, fetched, removed, tuple(sorted(skipped)), frozenset(wanted) - set(skipped))


def _known(local: Path) -> dict:
    """The ETag of every file of the local copy ``local`` as last fetched (beside the copy)."""
    try:
        known = json.loads(local.with_name(f"{local.name}.json").read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _remember(local: Path, known: dict) -> None:
    state = local.with_name(f"{local.name}.json")
    tmp = state.with_name(f".{state.name}.{os.getpid()}")
    tmp.write_text(json.dumps(known))
    os.replace(tmp, state)


def adopt(url: str, folder: Path) -> Path:
    """Move ``folder``, just uploaded as ``<url>/<folder.name>``, into the URL's local copy with its
    blobs' ETags, instead of fetching back what was sent; its path there."""
    local = local_copy(url)
    local.parent.mkdir(parents=True, exist_ok=True)
    with _locked(local):
        tags = {f"{folder.name}/{rel}": _tag(info) for rel, info in listing(join(url, folder.name)).items()}
        local.mkdir(exist_ok=True)
        dest = local / folder.name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(folder, dest)
        _remember(local, {**_known(local), **tags})
    return dest


def upload(folder: Path, url: str, last: Iterable[str] = (), only: Iterable[str] | None = None,
           exclusive: bool = False) -> int:
    """Write every file of ``folder`` (or the relative paths ``only``) under ``url``, those named in
    ``last`` after all the others; return how many. Each blob commits whole or not at all;
    ``exclusive``: a blob that already exists is never replaced (``FileExistsError``-like
    ``StorageError`` naming it), for evidence that must not be overwritten."""
    fs, root = filesystem(url)
    order = _ordered(folder, last, only)
    if exclusive:
        for rel in order:
            if not write_new(join(url, rel), (folder / rel).read_bytes()):
                raise StorageError(f"{join(url, rel)}: already exists; evidence is never overwritten")
        return len(order)
    last = set(last)
    first = [r for r in order if r not in last]
    last = order[len(first):]
    # Many blobs at once (fsspec runs the requests of one call concurrently); the last ones after.
    for batch in ([first] if first else []) + [[r] for r in last]:
        try:
            fs.put([str(folder / r) for r in batch], [f"{root}/{r}" for r in batch])
        except Exception as exc:  # noqa: BLE001
            raise _failure(join(url, batch[0]) if len(batch) == 1 else url, "cannot write", exc) from None
    return len(order)


def _ordered(folder: Path, last: Iterable[str], only: Iterable[str] | None) -> list[str]:
    rels = sorted(only) if only is not None else sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    last = list(last)
    return [r for r in rels if r not in last] + [r for r in last if r in rels]


def children(url: str) -> list[str]:
    """The names directly under ``url`` (files and folders); none when there is no such folder."""
    fs, root = filesystem(url)
    try:
        return [e.rstrip("/").rsplit("/", 1)[-1] for e in fs.ls(root, detail=False, refresh=True)]
    except FileNotFoundError:
        return []
    except Exception as exc:  # noqa: BLE001
        raise _failure(url, "cannot list", exc) from None


def readable(location: str | Path) -> Path:
    """A folder to read: ``location`` itself, or the local copy of a storage URL, staged now."""
    return stage(location).path if is_url(location) else Path(location)


def write_new(url: str, data: bytes) -> bool:
    """Create the blob ``url`` with ``data`` only if it does not exist yet (one conditional
    request, ``If-None-Match: *``); False when it already exists."""
    fs, path = filesystem(url)
    try:
        with fs.open(path, "xb") as f:
            f.write(data)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise _failure(url, "cannot write", exc) from None
    except Exception as exc:  # noqa: BLE001
        if type(exc).__name__ == "ResourceExistsError":
            return False
        raise _failure(url, "cannot write", exc) from None
    return True


def read_bytes(url: str) -> bytes | None:
    """The bytes of the blob ``url``, or None when there is none."""
    fs, path = filesystem(url)
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001
        raise _failure(url, "cannot read", exc) from None


def read_each(url: str, rels: Iterable[str], credential: Any = None,
              batch: int = 16) -> Iterator[tuple[str, bytes | StorageError]]:
    """The bytes of each file ``url/rel``, in order, fetched ``batch`` at a time (concurrently); one
    that cannot be read comes as its one-line ``StorageError`` and the others still come."""
    fs, root = filesystem(url, credential)
    rels = list(rels)
    for start in range(0, len(rels), batch):
        some = rels[start:start + batch]
        try:
            got = fs.cat([f"{root}/{rel}" for rel in some], on_error="return")
        except Exception as exc:  # noqa: BLE001 - the whole batch failed: each says so
            got = {}
            failed = exc
        else:
            failed = FileNotFoundError()
        for rel in some:
            data = got.get(fs._strip_protocol(f"{root}/{rel}"), failed)
            yield rel, data if isinstance(data, bytes) else _failure(join(url, rel), "cannot read", data)


def remove(urls: str | list[str], recursive: bool = False) -> None:
    """Remove ``urls`` (one, or many of the same storage at once; folders with ``recursive``); a
    missing one is not an error."""
    many = [urls] if isinstance(urls, str) else list(urls)
    if not many:
        return
    fs, _ = filesystem(many[0])
    paths = [filesystem(u)[1] for u in many]
    try:
        fs.rm(paths if len(paths) > 1 else paths[0], recursive=recursive)
    except FileNotFoundError:
        if len(paths) > 1:  # one was gone: the others one by one
            for u in many:
                remove(u, recursive)
    except Exception as exc:  # noqa: BLE001
        raise _failure(many[0] if len(many) == 1 else f"{many[0]} (and {len(many) - 1} more)", "cannot remove",
                       exc) from None
