"""Pyflakes rules over the whole tree: no unused imports, no undefined names."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import BIN, ROOT


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(BIN)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    done = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
