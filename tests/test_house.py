"""The house stays livable: no module of the kit over 500 lines, no function over 100, one module
per CLI command. A module that grows past one idea becomes a package with one module per idea; a
long function splits along its seams (a vectorised hot path into named steps like any other)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "auditkit"
MODULE_LINES = 500
FUNCTION_LINES = 100


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_is_over_500_lines() -> None:
    long = {p.relative_to(PACKAGE).as_posix(): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MODULE_LINES}
    assert long == {}


def test_no_function_is_over_100_lines() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - min([node.lineno, *(d.lineno for d in node.decorator_list)]) + 1
                if lines > FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno} {node.name}"] = lines
    assert long == {}


def test_the_cli_has_one_module_per_command() -> None:
    from auditkit.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    modules = {p.stem for p in (PACKAGE / "cli").glob("*.py")} - {"__init__", "__main__"}
    missing = {name for name in commands if name.replace("-", "_") not in modules}
    assert missing == set()
