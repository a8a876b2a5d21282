"""The library's shape: each package imports only from the layers below it (docs/architecture.md), no source file
is over 400 lines, no function over 60."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "oneclass"
#: lowest first; a module may import from its own layer and those before it
LAYERS = [
    {"__version__", "errors", "params", "files", "metrics", "registry", "overlay"},  # no torch
    {"runtime", "training", "checkpoint", "nn", "data", "report"},  # torch plumbing, data, report writer
    {"core"},  # the Detector contract
    {"methods"},  # one file per method
    # what uses detectors, and the facade
    {"oneclass", "evaluation", "export", "serve", "bench", "settings", "demo", "testing", "video"},
    {"cli"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def part(path: Path) -> str:
    """The top-level part of the package a file belongs to: "core" for core/detector.py, "oneclass" for the facade
    (`oneclass/__init__.py`, which re-exports the core lazily)."""
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.name != "__init__.py" else "oneclass"


def imported_parts(tree: ast.Module) -> set[str]:
    """The parts of oneclass a module imports, anywhere in it, except under `if TYPE_CHECKING:`."""
    found = set()
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
            for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "oneclass":
            names = node.module.split(".")[1:2] or [a.name for a in node.names]
            found |= {n if n in LAYER else "oneclass" for n in names}  # `from oneclass import load`: the facade
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("oneclass.")}
    return found


def test_every_part_of_the_package_has_a_layer():
    assert {part(p) for p in modules()} <= set(LAYER)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_from_a_layer_above_its_own(path):
    mine = LAYER[part(path)]
    upward = {p for p in imported_parts(ast.parse(path.read_text())) if LAYER[p] > mine}
    assert not upward, f"{path.relative_to(SRC)} (layer {mine}) imports {sorted(upward)} from above"


def test_the_layer_check_catches_an_upward_import():
    tree = ast.parse("from oneclass.core import Detector\n")  # as data/images.py importing the core would
    assert LAYER[max(imported_parts(tree), key=LAYER.get)] > LAYER["data"]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_files_and_functions_stay_short(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_FILE_LINES
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= MAX_FUNCTION_LINES]
    assert not long, f"{path.relative_to(SRC)}: {', '.join(long)}"
