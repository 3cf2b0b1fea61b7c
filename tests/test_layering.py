"""Which package may import which: read from the source (every import statement, lazy ones too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cyclip"


def imported_cyclip_modules(path: Path) -> set[str]:
    """``cyclip.x.y`` names imported anywhere in a file (``from cyclip.x import y`` gives both
    ``cyclip.x`` and ``cyclip.x.y``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {name for name in found if name == "cyclip" or name.startswith("cyclip.")}


def package_imports(package: str) -> set[str]:
    files = [SRC / f"{package}.py"] if (SRC / f"{package}.py").exists() else []
    files += sorted((SRC / package).rglob("*.py")) if (SRC / package).is_dir() else []
    assert files, f"no sources for cyclip.{package}"
    return set().union(*(imported_cyclip_modules(f) for f in files))


def test_world_needs_nothing_from_data():
    assert not {m for m in package_imports("world") if m.startswith("cyclip.data")}


def test_data_imports_world_plainly():
    source = (SRC / "data" / "builtin.py").read_text(encoding="utf-8")
    assert "cyclip.world" in package_imports("data")
    assert "importlib" not in source and "hasattr" not in source


@pytest.mark.parametrize("module", ["types", "rundir", "numbers"])
def test_bottom_modules_import_nothing_from_cyclip(module):
    assert package_imports(module) == set()


def test_report_does_not_borrow_from_the_cli():
    assert not {m for m in package_imports("report") if m.startswith("cyclip.cli")}
