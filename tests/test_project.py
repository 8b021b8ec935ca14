"""The project's own promises: dependencies declared once, notebooks free of outputs."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names that differ from PyPI names.
CONDA_NAMES = {"pyyaml": "pyyaml"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    runtime = {_name(r) for r in project["dependencies"]}
    # Every extra but the test tools (the conda environment is the whole kit), without self-references.
    runtime |= {_name(r) for name, reqs in extras.items() if name != "test" for r in reqs} - {"auditkit"}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = set()
    pip_extra = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_extra |= {_name(d) for d in dep.get("pip", [])}
        else:
            conda.add(_name(dep))
    conda.discard("python")
    conda.discard("pip")
    declared = conda | pip_extra
    assert declared == runtime, f"environment.yml only: {declared - runtime}; pyproject only: {runtime - declared}"


def test_resourcegraph_pinned_to_8_0() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    rg = [r for r in project["dependencies"] if _name(r) == "azure-mgmt-resourcegraph"][0]
    assert "<8.1" in rg
    env = (ROOT / "environment.yml").read_text()
    assert re.search(r"azure-mgmt-resourcegraph\s*[>=]=?\s*8\.0.*<\s*8\.1|azure-mgmt-resourcegraph\s*=\s*8\.0", env)


def test_notebooks_are_output_free() -> None:
    for nb_path in (ROOT / "notebooks").rglob("*.ipynb"):
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            assert not cell.get("outputs"), f"{nb_path.name} has outputs"
            assert not cell.get("execution_count"), f"{nb_path.name} has execution counts"


def test_reports_dir_is_ignored() -> None:
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "reports/*" in ignore
    assert "!reports/.gitkeep" in ignore


def test_optional_parts_are_extras_and_all_adds_every_one() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert "distributed" not in core
    assert "adlfs" not in core
    assert {_name(r) for r in extras["cluster"]} == {"distributed"}
    assert "adlfs" in {_name(r) for r in extras["storage"]}
    assert "jupyterlab" in core
    assert extras["all"] == ["auditkit[cluster,storage]"]
