"""The walls between the stages, read from the import statements of every module (not by convention).

Data flows one way: collect -> evidence -> engine -> history / flows -> present -> render. A stage
may import the stages before it and the shared modules at the top (settings, errors, formats);
never a later stage, and nothing imports the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "auditkit"
SHARED = {"settings", "errors", "formats", "__init__"}
STAGES = ["collect", "evidence", "engine", "history", "flows", "present", "render", "demo"]

# What each stage may import besides itself and the shared modules.
ALLOWED = {
    "evidence": set(),
    "engine": {"evidence"},
    "collect": {"evidence", "engine"},  # records -> the normalised tables a snapshot keeps
    "history": {"evidence", "engine"},
    "flows": {"evidence", "engine", "history"},
    "present": {"evidence", "engine", "history", "flows", "demo"},
    "render": {"evidence", "engine", "history", "flows", "present"},
    "demo": {"collect", "evidence", "engine", "flows"},
    "shared": set(),
}


def _imports(path: Path) -> set[str]:
    """Every ``auditkit.*`` module a file imports, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "auditkit"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "auditkit":
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; write auditkit.<stage>.<module>")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and str(arg.value).startswith("auditkit"):
                    found.add(arg.value)
    return found


def _stage_of(module: str) -> str | None:
    """``auditkit.engine.scan`` -> ``engine``; a shared module (or the settings package) -> ``shared``;
    the CLI -> ``cli``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "shared"
    if parts[1] in STAGES:
        return parts[1]
    if parts[1] in ("cli", "__main__"):
        return "cli"
    if parts[1] in SHARED:
        return "shared"
    if parts[1] in ("__version__", "scan", "kpis", "DEFAULT_PORTS", "ScanResult"):
        return "shared"  # names the top-level package exports lazily
    return "unknown"


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        owner = "shared" if len(rel.parts) == 1 or rel.parts[0] == "settings" else rel.parts[0]
        if rel.parts[0] == "cli" or rel.parts == ("__main__.py",):
            owner = "cli"
        out.append((owner, path))
    return out


@pytest.mark.parametrize("owner,path", _modules(), ids=[str(p.relative_to(PACKAGE)) for _, p in _modules()])
def test_module_imports_only_earlier_stages(owner: str, path: Path) -> None:
    if owner == "cli":
        return  # the CLI may call every stage
    assert owner in ALLOWED, f"{path}: a module outside the stages; put it in one of {STAGES}"
    allowed = ALLOWED[owner] | {owner, "shared"}
    for module in _imports(path):
        stage = _stage_of(module)
        assert stage != "cli", f"{path} imports the CLI ({module}): nothing imports the CLI"
        assert stage != "unknown", f"{path} imports {module}, which is in no stage"
        assert stage in allowed, f"{path} ({owner}) imports {module} ({stage}): against the data flow"


def test_only_shared_modules_at_the_top() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == {"__init__", "__main__", "errors", "formats"}, top
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(STAGES) | {"settings", "cli"}, folders  # settings: shared, a package of its own


def test_the_wall_test_catches_a_breach(tmp_path: Path) -> None:
    # The checker itself must be able to fail: an engine module that imports render is refused.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from auditkit.render.manifest import verify\n    return verify\n")
    imported = _imports(bad)
    assert "auditkit.render.manifest" in imported
    assert {_stage_of(m) for m in imported} - (ALLOWED["engine"] | {"engine", "shared"}) == {"render"}
