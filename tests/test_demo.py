"""The README's first command: the demo walks a prompt from edit to prod and back, then a chain to prod."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_from_edit_to_prod_and_back(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "demo/run_demo.py"), "--keep", str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "support-reply: patch -> 1.0.1" in out
    assert "refused: 7 gate(s) unmet (judged under the working tree's files" in out and "; nothing was changed" in out
    assert "Promoted support-reply 1.0.1" in out and "Promoted support-reply 1.0.2" in out
    assert "approved reviews/allowed_signers" in out and "PL522 not written" in out  # keys registered; a forgery refused
    assert "prod now serves support-reply 1.0.1" in out
    assert "audit log: chain intact" in out
    assert "sqlite served: support-reply prod -> 1.0.1" in out
    assert "rows into audit/archive/0001/" in out and out.rstrip().count("audit log: chain intact") >= 2
    # The second example, a chain of two calls: edited, evaluated whole, promoted, run from the bundle.
    assert "triage-reply: patch -> 1.0.1" in out and "triage-reply ... 5/5 passed" in out
    assert "Promoted triage-reply 1.0.1" in out and "sqlite served: triage-reply prod -> 1.0.1" in out
    assert "served by prod; a chain: True, calls: extract, draft" in out
    assert "3 trace record(s) in 1 file(s) match the trace schema" in out
