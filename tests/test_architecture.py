"""The package keeps the shape docs/architecture.md describes: layers without cycles
(import-linter), types (mypy, strict on core/), small modules, no private name shared."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

import pytest

from conftest import BIN, ROOT

PACKAGE = ROOT / "src" / "promptlane"
GENERATED = {"core/_card_validator.py", "core/_review_validator.py", "core/_governance_validator.py",
             "core/_policy_validator.py"}  # compiled from the schemas by scripts/gen_card_validator.py
MAX_LINES = 450
MAX_TOP_LEVEL = 8


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), path


def test_layers_and_no_cycles_hold():
    # Contracts in pyproject.toml [tool.importlinter]: the layers, the runtime and the core on
    # their own, and acyclic siblings at every depth (imports inside functions included).
    done = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_mypy_finds_nothing():
    env = {**os.environ, "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache")}
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_ships_type_information():
    assert (PACKAGE / "py.typed").is_file()


def test_the_top_level_holds_only_entry_points_and_layers():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert modules == ["__init__.py", "__main__.py", "cli.py", "hooks.py"]
    assert packages == ["commands", "core", "evals", "operations", "runtime", "schemas", "store"]
    assert len(modules) - 1 <= MAX_TOP_LEVEL


def test_no_module_is_too_long_to_read():
    long = {rel: n for rel, path in _modules() if rel not in GENERATED
            and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these (one module, one job): {long}"


def test_no_private_name_is_imported_from_another_module():
    shared = []
    for rel, path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("promptlane"):
                shared += [f"{rel}:{node.lineno} {node.module}.{alias.name}" for alias in node.names
                           if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert shared == []
