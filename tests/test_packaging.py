"""The kit as users get it: a wheel with everything the commands need, installed anywhere, run from any folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_and_data_folder_is_in_the_wheel_list() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "auditkit").rglob("*.py")}
    found |= {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "auditkit").rglob("*")
              if p.is_file() and p.suffix in (".j2", ".json", ".yaml") and "__pycache__" not in p.parts}
    found |= {"auditkit.notebooks", "auditkit.parameters"}
    assert listed == found, f"missing: {found - listed}; stale: {listed - found}"
    assert config["package-dir"] == {"auditkit.notebooks": "notebooks", "auditkit.parameters": "parameters"}


def test_init_makes_an_audit_folder_and_never_overwrites(tmp_path: Path) -> None:
    from auditkit.cli import main

    folder = tmp_path / "audit"
    assert main(["init", str(folder)]) == 0
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*")}
    assert {"notebooks/subscription_audit.ipynb", "notebooks/tenant_overview.ipynb", "notebooks/explore_findings.ipynb",
            "parameters/audit.yaml", "snapshots", "reports", "README.md"} <= names
    assert "mail_gateways: []" in (folder / "parameters" / "audit.yaml").read_text()
    (folder / "parameters" / "audit.yaml").write_text("ports: [25]\n")
    (folder / "README.md").write_text("mine\n")
    r = subprocess.run([sys.executable, "-m", "auditkit", "init", str(folder)], capture_output=True, text=True)
    assert r.returncode == 0
    assert "left alone (already there)" in r.stdout
    assert "audit.yaml" in r.stdout
    assert "README.md" in r.stdout
    assert (folder / "parameters" / "audit.yaml").read_text() == "ports: [25]\n"
    assert (folder / "README.md").read_text() == "mine\n"


def test_commands_inside_an_audit_folder_use_its_settings_and_snapshots(tmp_path: Path) -> None:
    from auditkit.settings import audit_folder, default_folder, init_folder, load_settings

    init_folder(tmp_path / "audit")
    (tmp_path / "audit" / "parameters" / "audit.yaml").write_text("ports: [2525]\n")
    deep = tmp_path / "audit" / "notebooks"
    cwd = os.getcwd()
    try:
        os.chdir(deep)
        assert audit_folder() == (tmp_path / "audit").resolve()
        assert default_folder("snapshots") == (tmp_path / "audit" / "snapshots").resolve()
        s = load_settings()
        assert s.ports == (2525,)
        assert s.tag_keys("owner")  # the user's key on top of the shipped defaults
    finally:
        os.chdir(cwd)


def _sources(dest: Path) -> Path:
    """The checkout's files (committed or new, never ignored ones) copied away, as a clean clone has them."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.mark.slow(seconds=180)
def test_wheel_installs_into_a_fresh_environment_and_works_from_an_empty_folder(tmp_path: Path) -> None:
    src = _sources(tmp_path / "src")
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(src)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    log = build.stdout + build.stderr
    assert "Deprecat" not in log, log[-3000:]
    assert "SetuptoolsWarning" not in log, log[-3000:]
    [wheel] = (tmp_path / "dist").glob("auditkit-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py, kit = venv / "bin" / "python", venv / "bin" / "auditkit"
    # uv resolves and installs the same wheels from the same index as pip, several times faster.
    install = subprocess.run([sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", str(py),
                              "--compile-bytecode", f"{wheel}[all]"], capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stderr[-3000:]

    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "AUDITKIT_"))}
    env.update({"PATH": f"{venv / 'bin'}:{env.get('PATH', '')}", "JUPYTER_DATA_DIR": str(tmp_path / "jd"),
                "JUPYTER_CONFIG_DIR": str(tmp_path / "jc"), "AUDITKIT_DEMO_DIR": str(tmp_path / "demo-cache")})

    def run(*args: str, cwd: Path = work, timeout: int = 900) -> subprocess.CompletedProcess:
        r = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"{args}: {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
        return r

    # Storage URLs open with what the wheel installed (fsspec, adlfs); opening makes no request.
    run(str(py), "-c", "from auditkit.evidence.storage import filesystem; "
        "print(type(filesystem('abfs://audit@example.dfs.core.windows.net/snapshots')[0]).__name__)")
    # The installed kit, not the checkout: its files come from site-packages.
    where = run(str(py), "-c", "import auditkit, auditkit.settings as s; print(auditkit.__file__); "
                "print(s.kit_path('notebooks')); print(s.kit_path('parameters', 'audit.yaml'))").stdout.split()
    assert all(str(venv) in w for w in where), where

    run(str(kit), "init", "audit")
    audit = work / "audit"
    run(str(kit), "demo", "--workers", "2", cwd=audit)
    periods = [p for p in (audit / "reports" / "demo").iterdir() if p.is_dir() and p.name[:2] == "20"]
    assert len(periods) == 1
    assert (periods[0] / "index.html").is_file()
    run(str(kit), "verify", str(periods[0]), cwd=audit)
    manifest = json.loads((periods[0] / "manifest.json").read_text())
    assert manifest["failures"] == []
    assert len(manifest["reports"]) == 9
    # The demo's gateway comes from the demo's own settings, never the shipped defaults.
    assert manifest["parameters"]["settings"]["flows"]["mail_gateways"]
    # The governance loop: tickets out, with the demo's accepted MX, and the SMTP guardrail.
    tickets = json.loads((audit / "reports" / "demo" / "exports" / "findings.ocsf.json").read_text())
    assert tickets["ocsf_version"] == "1.8.0"
    assert any(f["unmapped"]["accepted_ticket"] == "RISK-2025-117" for f in tickets["findings"])
    assert (audit / "reports" / "demo" / "guardrails" / "auditkit-internet-port-25.bicep").is_file()

    snaps = audit / "reports" / "demo" / "snapshots"
    sub = next(r["subscription_id"] for r in manifest["reports"] if r["subscription_id"])
    run(str(kit), "render", "--snapshots", str(snaps), "--subscription", sub, "--workers", "1", cwd=audit)
    [rendered] = [p for p in (audit / "reports").iterdir() if p.name[:2] == "20"]
    assert (rendered / f"{sub}.html").is_file()
    run(str(kit), "verify", str(rendered), cwd=audit)
    m = json.loads((rendered / "manifest.json").read_text())
    assert m["parameters"]["settings"]["flows"]["mail_gateways"] == []  # the audit folder's, as shipped

    # A notebook of the initialised folder, run the way JupyterLab runs it (cwd = its folder).
    run(str(py), "-m", "papermill", "tenant_overview.ipynb", str(tmp_path / "out.ipynb"), "-k", "python3",
        "--no-progress-bar", cwd=audit / "notebooks")
    out = json.loads((tmp_path / "out.ipynb").read_text())
    texts = json.dumps([c.get("outputs", []) for c in out["cells"]])
    assert "tenant overview" in texts
    assert "Traceback" not in texts
