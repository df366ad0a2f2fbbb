"""The engine's layout rules, read from the source: modules stay small, ``autograder`` does not reach into the
repository's ``assignments/`` (it must work from a wheel), and only the registry names the assignments."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from autograder.suites import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("autograder", "reference")  # the installed packages
SCRIPTS = ("assignments/authoring",)  # the notebooks' authoring scripts: small modules too, but may import both
MAX_MODULE_LINES = 400
REGISTRY = ROOT / "autograder" / "suites"


def _modules(folders) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


MODULES = _modules(PACKAGES)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_the_modules_are_found():
    assert len(MODULES) > 50 and ROOT / "autograder" / "grading.py" in MODULES
    assert ROOT / "assignments" / "authoring" / "nb.py" in _modules(SCRIPTS)


@pytest.mark.parametrize("path", MODULES + _modules(SCRIPTS), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_is_under_the_line_limit(path):
    assert len(path.read_text().splitlines()) < MAX_MODULE_LINES


def _imported(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_imports_the_repository_s_assignments_folder(path):
    assert not [n for n in _imported(_tree(path)) if n.split(".")[0] == "assignments"]


def _names_an_assignment(node: ast.AST) -> bool:
    """A comparison with an assignment's name (``a == "cnn"``, ``a in ("cnn", ...)``) or a literal list of them."""
    def is_name(n):
        return isinstance(n, ast.Constant) and n.value in ASSIGNMENTS
    if isinstance(node, ast.Compare):
        parts = [node.left, *node.comparators]
        return any(is_name(p) or (isinstance(p, (ast.Tuple, ast.List, ast.Set)) and any(map(is_name, p.elts)))
                   for p in parts)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return sum(map(is_name, node.elts)) >= 2
    return False


@pytest.mark.parametrize("path", [p for p in MODULES if REGISTRY not in p.parents],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_registry_names_the_assignments(path):
    found = [node.lineno for node in ast.walk(_tree(path)) if _names_an_assignment(node)]
    assert not found, f"{path.relative_to(ROOT)} names assignments at lines {found}: ask the registry"


def test_the_check_of_names_can_fail():
    assert _names_an_assignment(ast.parse('a == "cnn"', mode="eval").body)
    assert _names_an_assignment(ast.parse('("convolution", "layers")', mode="eval").body)
    assert not _names_an_assignment(ast.parse('("layers",)', mode="eval").body)
