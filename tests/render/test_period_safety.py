"""A rendered period is evidence: one render at a time, odd paths, interrupts and kill -9 never
leave a half-written period, processes or temporary folders; verify and signatures catch rewrites."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from auditkit.render.manifest import manifest_sha256, verify
from auditkit.render.swap import period_lock
from tests.parts import ssh_keygen

KEYGEN = ssh_keygen()


def _cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditkit", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _marked_processes(mark: str) -> list[int]:
    """Processes whose environment carries ``mark``: the render, its workers and their kernels."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                status = (entry / "status").read_text()
                if "\nState:\tZ" not in status:  # zombies are dead already
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait_gone(mark: str, seconds: float = 15) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = _marked_processes(mark)
        if not left:
            return []
        time.sleep(0.3)
    return _marked_processes(mark)


def _as_on_a_terminal() -> None:
    # Ctrl-C as on a terminal, even when the tests run where SIGINT is ignored (a shell's background
    # job, some CI runners): an ignored SIGINT is inherited, and Python then keeps ignoring it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_render(snaps: Path, out: Path, mark: str) -> subprocess.Popen:
    env = {**os.environ, "AUDITKIT_TEST_MARK": mark}
    return subprocess.Popen([sys.executable, "-m", "auditkit", "render", "--snapshots", str(snaps), "--out",
                             str(out), "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_as_on_a_terminal)


def _wait_for_the_period_folder(out: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if out.is_dir() and any(p.is_dir() for p in out.glob(".tmp-*")):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the render never started its period folder")


def _wait_for_a_report(out: Path, proc: subprocess.Popen, seconds: float = 120) -> Path:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tmps = [p for p in out.glob(".tmp-*") if p.is_dir()] if out.is_dir() else []
        if tmps and any(tmps[0].glob("*.ipynb")):
            return tmps[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("no report started")


@pytest.mark.slow(seconds=12)
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_interrupt_stops_promptly_and_leaves_nothing(demo_snapshots: Path, tmp_path: Path, how: str) -> None:
    mark = uuid.uuid4().hex
    out = tmp_path / "reports"
    proc = _start_render(demo_snapshots, out, mark)
    _wait_for_the_period_folder(out, proc)
    time.sleep(2)  # workers and kernels starting: the whole period (about 25 s) is still ahead
    started = time.monotonic()
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)  # a scheduler stopping the job
    else:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - started < 20
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert _wait_gone(mark) == []  # workers and kernels are gone
    assert sorted(p.name for p in out.iterdir()) == []  # no period, no temporary folder, no lock


@pytest.mark.slow(seconds=26)
def test_kill_9_of_the_parent_takes_workers_and_kernels_along(demo_snapshots: Path, tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    out = tmp_path / "reports"
    proc = _start_render(demo_snapshots, out, mark)
    stale = _wait_for_a_report(out, proc)
    assert len(_marked_processes(mark)) >= 3  # the render, its workers, their kernels
    proc.kill()
    proc.communicate(timeout=30)
    assert _wait_gone(mark) == [], "workers or kernels outlived their parent"
    assert stale.exists()  # kill -9 cannot clean up; the next run does
    r = _cli("render", "--snapshots", str(demo_snapshots), "--out", str(out), "--workers", "1", "--subscription",
             _any_subscription(demo_snapshots))
    assert r.returncode == 0, r.stderr
    assert f"removed {stale.name}" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["2026-10"]


def _any_subscription(snaps: Path) -> str:
    from auditkit.history.timeline import load_history

    return load_history(snaps).subscriptions["subscription_id"].iloc[0]


def test_a_second_render_of_the_same_period_is_refused(demo_snapshots: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    with period_lock(out, "2026-10"):
        r = _cli("render", "--snapshots", str(demo_snapshots), "--out", str(out), "--period", "2026-10")
        assert r.returncode == 2
        assert "another render of this period is running" in r.stderr
        assert f"pid {os.getpid()}" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (out / "2026-10.lock").exists()


@pytest.mark.needs("ssh-keygen")
@pytest.mark.slow(seconds=19)
def test_odd_paths_signing_and_verify(demo_snapshots: Path, tmp_path: Path) -> None:
    weird = tmp_path / "re{ports}%s %(x)s {0}"
    snaps = tmp_path / "snap{shots}%d"
    shutil.copytree(demo_snapshots, snaps)
    key = tmp_path / "signing_key"
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "auditor", "-f", str(key)], check=True)
    sub = _any_subscription(snaps)
    r = _cli("render", "--snapshots", str(snaps), "--out", str(weird), "--workers", "2", "--subscription", sub,
             "--sign-key", str(key))
    assert r.returncode == 0, r.stderr
    period = weird / "2026-10"
    assert (period / f"{sub}.html").is_file()
    assert (period / "manifest.json.sig").is_file()
    digest = manifest_sha256(period)
    assert digest in r.stdout

    r = _cli("verify", str(period), "--expect-sha256", digest, "--public-key", f"{key}.pub")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "the signature is valid" in r.stdout, r.stdout + r.stderr
    assert digest in r.stdout, r.stdout + r.stderr
    # OpenSSH alone checks the same signature (what an auditor does years later).
    (tmp_path / "allowed").write_text("auditor " + (tmp_path / "signing_key.pub").read_text())
    with open(period / "manifest.json", "rb") as fh:
        ok = subprocess.run([KEYGEN, "-Y", "verify", "-f", str(tmp_path / "allowed"), "-I", "auditor", "-n",
                             "auditkit", "-s", str(period / "manifest.json.sig")], stdin=fh, capture_output=True)
    assert ok.returncode == 0, ok.stderr

    # A rewritten report with a rewritten manifest passes the hash check but fails the signature.
    page = period / f"{sub}.html"
    page.write_text(page.read_text().replace("Executive summary", "Executive summary (all clear)"))
    m = json.loads((period / "manifest.json").read_text())
    import hashlib

    m["files"][page.name] = {"sha256": hashlib.sha256(page.read_bytes()).hexdigest(), "size": page.stat().st_size}
    (period / "manifest.json").write_text(json.dumps(m, indent=2))
    assert verify(period) == []  # consistent on its own...
    r = _cli("verify", str(period), "--public-key", f"{key}.pub")
    assert r.returncode == 1
    assert "the manifest was changed after signing" in r.stdout
    r = _cli("verify", str(period), "--expect-sha256", digest)
    assert r.returncode == 1
    assert "not the expected" in r.stdout


@pytest.mark.needs("ssh-keygen")
def test_signatures_made_by_openssh_verify_and_bad_keys_are_one_line(tmp_path: Path) -> None:
    from auditkit.errors import InputError
    from auditkit.render.signature import check, load_private_key, load_public_key, sign


    key = tmp_path / "k"
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    msg = tmp_path / "manifest.json"
    msg.write_bytes(b'{"files": {}}\n')
    subprocess.run([KEYGEN, "-Y", "sign", "-f", str(key), "-n", "auditkit", str(msg)], check=True,
                   capture_output=True)
    raw = load_public_key(f"{key}.pub")
    assert check(msg.read_bytes(), (tmp_path / "manifest.json.sig").read_text(), raw) is None
    ours = sign(msg.read_bytes(), load_private_key(key))
    assert check(msg.read_bytes() + b" ", ours, raw) is not None
    other = tmp_path / "other"
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    assert "another key" in check(msg.read_bytes(), ours, load_public_key(f"{other}.pub"))
    lines = ours.strip().splitlines()
    body = "".join(lines[1:-1])
    assert "damaged" in check(msg.read_bytes(), "\n".join([lines[0], body[:40], lines[-1]]), raw)
    i = len(body) - 8  # inside the 64 signature bytes at the end of the blob
    flipped = body[:i] + ("B" if body[i] != "B" else "C") + body[i + 1:]
    assert "does not match" in check(msg.read_bytes(), "\n".join([lines[0], flipped, lines[-1]]), raw)
    assert "not an SSH signature" in check(msg.read_bytes(), "hello", raw)
    rsa = tmp_path / "rsa"
    subprocess.run([KEYGEN, "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(rsa)], check=True)
    enc = tmp_path / "enc"
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "secret", "-f", str(enc)], check=True)
    (tmp_path / "junk").write_text("not a key")
    for path, needle in ((rsa, "an Ed25519 key is required"), (enc, "encrypted"), (tmp_path / "junk", "not an "),
                         (tmp_path / "missing", "cannot read")):
        with pytest.raises(InputError) as info:
            load_private_key(path)
        assert needle in str(info.value)
        assert "\n" not in str(info.value)


def test_verify_rejects_anything_that_is_not_a_listed_regular_file(demo_reports: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(demo_reports, copy)
    listed = next(p for p in copy.glob("*.ipynb"))
    listed.unlink()
    listed.symlink_to(copy / "index.ipynb")  # a listed name replaced by a link to good content
    (copy / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(copy / "pipe")
    (copy / "extra-folder").mkdir()
    (copy / "extra-folder" / "x.html").write_text("x")
    (copy / "empty-folder").mkdir()
    problems = verify(copy)
    assert f"{listed.name}: not a regular file (a symbolic link)" in problems
    assert "dangling: not in the manifest and not a regular file (a symbolic link)" in problems
    assert "pipe: not in the manifest and not a regular file (a FIFO)" in problems
    assert "extra-folder: a folder that is not in the manifest" in problems
    assert "extra-folder/x.html: not in the manifest" in problems
    assert "empty-folder: a folder that is not in the manifest" in problems


@pytest.mark.parametrize("content,needle", [
    (b"{not json", "not valid JSON"),
    (b"[]", "malformed manifest"),
    (b'{"files": {"a.html": "sha"}}', "malformed manifest"),
    (b'{"files": {"../escape.html": {"sha256": "x", "size": 1}}}', "not a plain path"),
    (b'{"files": {"/etc/passwd": {"sha256": "x", "size": 1}}}', "not a plain path"),
    (b"[" * 50000 + b"]" * 50000, "not valid JSON"),
])
def test_malformed_manifest_is_one_line(tmp_path: Path, content: bytes, needle: str) -> None:
    (tmp_path / "manifest.json").write_bytes(content)
    r = _cli("verify", str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
