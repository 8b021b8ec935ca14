"""Snapshots and reports at a storage URL (``abfs://``), through fsspec/adlfs, against Azurite on
127.0.0.1: the local copy follows the remote, an edited remote snapshot is caught, evidence is
never overwritten, a period is published whole (also after a run killed mid-switch), and every
storage failure is one line with exit code 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from auditkit.cli import main
from auditkit.errors import AuditkitError
from auditkit.evidence.snapshot import list_snapshots
from auditkit.evidence.storage import (
    filesystem,
    join,
    listing,
    local_copy,
    read_bytes,
    stage,
    upload,
    write_new,
)
from auditkit.render.publish import _here, journal, publish, recover, remote_lock
from auditkit.render.swap import RenderBusy
from tests.builders import nsg, rule
from tests.storage_emulator import connection_string, skip_without_azurite

skip_without_azurite()
EXPORT = Path(__file__).resolve().parents[1] / "fixtures" / "exports" / "az-graph-query.json"


@pytest.fixture
def store(azurite: str, monkeypatch, tmp_path: Path) -> str:
    """A new, empty container, and a staging folder of this test's own."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(azurite))
    monkeypatch.setenv("AUDITKIT_STAGING", str(tmp_path / "staging"))
    container = f"t{uuid.uuid4().hex[:16]}"
    fs, _ = filesystem(f"abfs://{container}")
    fs.mkdir(container)
    return f"abfs://{container}"


def _export(path: Path, n: int) -> Path:
    path.write_text(json.dumps({"value": [nsg(rule("smtp", 100 + i), name=f"nsg-{i}") for i in range(n)]}))
    return path


def test_collect_to_a_url_then_read_it_back_and_catch_an_edited_snapshot(store: str, tmp_path: Path, capsys) -> None:
    url = join(store, "snapshots")
    assert main(["collect", "--from-file", str(_export(tmp_path / "e.json", 3)), "--snapshots", url,
                 "--as-of", "2026-10-31T00:00:00Z"]) == 0
    files = listing(url)
    [name] = {rel.split("/")[0] for rel in files}
    assert f"{name}/meta.json" in files
    assert f"{name}/nsgs.parquet" in files
    # Evidence is never overwritten: the same as_of again is refused, and nothing remote changed.
    tags = {rel: info["etag"] for rel, info in files.items()}
    assert main(["collect", "--from-file", str(_export(tmp_path / "f.json", 4)), "--snapshots", url,
                 "--as-of", "2026-10-31T00:00:00Z"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert {rel: info["etag"] for rel, info in listing(url).items()} == tags
    # A second month, then a read-only command on the URL: both snapshots, both intact.
    assert main(["collect", "--from-file", str(_export(tmp_path / "g.json", 2)), "--snapshots", url,
                 "--as-of", "2026-11-30T00:00:00Z"]) == 0
    capsys.readouterr()
    assert main(["snapshots", "--snapshots", url]) == 0
    out = capsys.readouterr().out
    assert out.count("  ok  ") == 2
    assert "CHANGED" not in out
    # Edited in place (same size, so only its ETag tells): fetched again, and the hash check fails.
    fs, root = filesystem(url)
    path = f"{root}/{name}/nsgs.parquet"
    data = bytearray(fs.cat_file(path))
    data[len(data) // 2] ^= 0xFF
    fs.pipe_file(path, bytes(data))
    copy = stage(url)
    assert copy.fetched == 1
    assert copy.removed == 0
    assert main(["snapshots", "--snapshots", url]) == 1
    assert "CHANGED" in capsys.readouterr().out
    # A snapshot removed from the storage leaves the local copy too; a derived entry stays.
    (copy.path / ".cache").mkdir(exist_ok=True)
    (copy.path / ".cache" / "entry").write_text("derived")
    fs.rm(f"{root}/{name}", recursive=True)
    again = stage(url)
    assert again.removed == len([r for r in files if r.startswith(name)])
    assert again.version != copy.version
    assert len(list_snapshots(again.path)) == 1
    assert (again.path / ".cache" / "entry").is_file()
    assert again.new_derived() == [".cache/entry"]


def test_a_blob_name_that_cannot_be_a_local_path_is_skipped_and_named(azurite: str, store: str) -> None:
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(connection_string(azurite)).get_container_client(
        store.split("://")[1])
    client.upload_blob("snaps/ok.txt", b"fine")
    client.upload_blob("snaps//twice.txt", b"an empty path segment")
    copy = stage(join(store, "snaps"))
    assert (copy.path / "ok.txt").read_bytes() == b"fine"
    assert copy.skipped
    assert all("twice.txt" in s for s in copy.skipped)
    assert copy.files == {"ok.txt"}
    assert sorted(p.name for p in copy.path.rglob("*")) == ["ok.txt"]


def _period(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    (folder / "manifest.json").write_text(json.dumps(sorted(files)))
    return folder


def test_a_period_is_replaced_whole_and_a_killed_switch_is_finished_by_the_next_run(store: str,
                                                                                   tmp_path: Path) -> None:
    out = join(store, "reports")
    first = _period(tmp_path / "a", {"index.html": "old", "gone.html": "old", "assets/x.css": "old"})
    with remote_lock(out, "2026-10"):
        assert publish(first, out, "2026-10") == join(out, "2026-10")
        with pytest.raises(RenderBusy, match=r"another render of this period is running \(pid \d+ on "):
            with remote_lock(out, "2026-10"):
                pass
    assert read_bytes(join(out, "2026-10.lock")) is None  # released
    # A lock left by a killed run of this machine is taken over; one of another machine never is.
    dead = subprocess.Popen(["true"])
    dead.wait()
    for host, taken in ((socket.gethostname(), True), ("elsewhere", False)):
        write_new(join(out, "2026-10.lock"), json.dumps({**_here(), "pid": dead.pid, "host": host,
                                                         "since": "x"}).encode())
        if taken:
            with remote_lock(out, "2026-10"):
                assert json.loads(read_bytes(join(out, "2026-10.lock")))["pid"] == os.getpid()
        else:
            with pytest.raises(RenderBusy, match=f"pid {dead.pid} on elsewhere"):
                with remote_lock(out, "2026-10"):
                    pass
    filesystem(out)[0].rm(f"{filesystem(out)[1]}/2026-10.lock")
    second = _period(tmp_path / "b", {"index.html": "new", "sub.html": "new"})
    with remote_lock(out, "2026-10"):
        publish(second, out, "2026-10")
    now = listing(join(out, "2026-10"))
    assert sorted(now) == ["index.html", "manifest.json", "sub.html"]
    assert read_bytes(join(out, "2026-10", "index.html")) == b"new"
    assert sorted(listing(out)) == sorted(f"2026-10/{r}" for r in now)  # no upload, journal or lock left
    # Killed mid-switch: the old manifest already gone, one file copied; the journal names the upload.
    third = _period(tmp_path / "c", {"index.html": "third", "other.html": "third"})
    staged = ".tmp-2026-10-1-2"
    upload(third, join(out, staged))
    assert write_new(journal(out, "2026-10"), staged.encode())
    filesystem(out)[0].rm(f"{filesystem(out)[1]}/2026-10/manifest.json")
    filesystem(out)[0].pipe_file(f"{filesystem(out)[1]}/2026-10/index.html", b"third")
    upload(_period(tmp_path / "d", {"index.html": "never published"}), join(out, ".tmp-2026-10-9-9"))
    with remote_lock(out, "2026-10"):
        done = recover(out, "2026-10")
    assert sorted(done) == sorted([staged, staged, ".tmp-2026-10-9-9"])  # finished, then its upload removed
    want = ["2026-10/index.html", "2026-10/manifest.json", "2026-10/other.html"]
    assert read_bytes(join(out, "2026-10", "manifest.json")) == (tmp_path / "c" / "manifest.json").read_bytes()
    assert sorted(listing(out)) == want
    # Killed after the switch, before the journal went: finishing it again changes nothing.
    upload(third, join(out, staged))
    write_new(journal(out, "2026-10"), staged.encode())
    with remote_lock(out, "2026-10"):
        recover(out, "2026-10")
    assert sorted(listing(out)) == want
    # A journal naming an upload without its manifest (never written so by the kit): refused, the
    # period untouched.
    upload(third, join(out, staged), only=["index.html"])
    write_new(journal(out, "2026-10"), staged.encode())
    with remote_lock(out, "2026-10"), pytest.raises(AuditkitError, match="an incomplete upload"):
        recover(out, "2026-10")
    assert [r for r in listing(out) if r.startswith("2026-10/")] == want


def test_storage_failures_are_one_line_with_exit_code_2(azurite: str, store: str, monkeypatch, capsys) -> None:
    url = join(store, "snapshots")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(azurite, key="d3Jvbmcga2V5"))
    assert main(["snapshots", "--snapshots", url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{url}: cannot list: HTTP 403" in err, err
    assert main(["render", "--snapshots", url, "--out", "nosuchscheme://x/y"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "nosuchscheme://x/y: not a storage URL" in err, err
    with pytest.raises(AuditkitError, match="cannot write"):
        upload(Path(__file__).parent, "abfs://no-such-container-here/x", only=[Path(__file__).name])
    assert not local_copy(url).exists()


def test_a_report_fails_when_the_snapshots_changed_since_the_run_was_planned(store: str) -> None:
    from auditkit.render.workers import Job, _state, local_parameters

    fs, root = filesystem(store)
    fs.pipe_file(f"{root}/snaps/a.txt", b"1")
    planned = stage(join(store, "snaps"))
    job = Job("nb.ipynb", "index", "t", {"snapshots_dir": join(store, "snaps")}, "out",
              snapshots_version=planned.version)
    _state.pop("staged", None)
    assert local_parameters(job)["snapshots_dir"] == str(planned.path)
    fs.pipe_file(f"{root}/snaps/.cache/entry", b"derived")  # derived entries do not count
    _state.pop("staged", None)
    assert local_parameters(job)["snapshots_dir"] == str(planned.path)
    fs.pipe_file(f"{root}/snaps/b.txt", b"2")  # new evidence does
    _state.pop("staged", None)
    with pytest.raises(AuditkitError, match="the snapshots changed since the run was planned"):
        local_parameters(job)
    _state.pop("staged", None)


def test_a_collect_survives_other_stagings_and_a_cut_off_upload(store: str, tmp_path: Path, monkeypatch) -> None:
    """The snapshot is built outside the local copy, so another process staging the URL meanwhile
    cannot remove it; blobs of a cut-off upload (no meta.json) are cleared, never a snapshot."""
    import auditkit.evidence.writing as snapshot_module  # where a snapshot is uploaded

    url = join(store, "snapshots")
    fs, root = filesystem(url)
    fs.pipe_file(f"{root}/2026-10-31T000000Z/nsgs.parquet", b"half an upload")
    real = snapshot_module.upload

    def staged_meanwhile(*args, **kwargs):
        stage(url)  # what another process on this machine may do at any moment
        return real(*args, **kwargs)

    monkeypatch.setattr(snapshot_module, "upload", staged_meanwhile)
    assert main(["collect", "--from-file", str(_export(tmp_path / "e.json", 2)), "--snapshots", url,
                 "--as-of", "2026-10-31T00:00:00Z"]) == 0
    [snap] = list_snapshots(stage(url).path)
    assert snap.verify() == []
    assert read_bytes(join(url, snap.id, "nsgs.parquet")) != b"half an upload"


def test_odd_remote_shapes_are_one_line_errors_or_named_skips(azurite: str, store: str, tmp_path: Path,
                                                              capsys) -> None:
    fs, root = filesystem(store)
    fs.pipe_file(f"{root}/odd/dirD", b"a blob named like a folder")
    fs.pipe_file(f"{root}/odd/dirD/w.txt", b"inside")
    copy = stage(join(store, "odd"))
    assert copy.skipped == ("dirD",)
    assert (copy.path / "dirD" / "w.txt").read_bytes() == b"inside"
    assert main(["snapshots", "--snapshots", join(store, "odd")]) == 0
    assert "blob 'dirD' skipped" in capsys.readouterr().err
    for url, said in ((join(store, "odd", "dirD", "w.txt"), "a file, not a folder"),
                      ("abfs://no-such-container-x/snapshots", "no such container")):
        assert main(["snapshots", "--snapshots", url]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert url in err, err
        assert said in err, err
    local = tmp_path / "local"
    assert main(["collect", "--from-file", str(_export(tmp_path / "e.json", 1)), "--snapshots",
                 f"file://{local}", "--as-of", "2026-10-31T00:00:00Z"]) == 0
    assert len(list_snapshots(local)) == 1
