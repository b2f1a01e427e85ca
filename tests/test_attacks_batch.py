"""Attacks on `promptlane eval run` batched (several prompts in one promptfoo process) by a
contributor who can write any file of a pull request but is no reviewer.

The hole: a batch runs every prompt's tests in ONE Node process, so JavaScript one prompt's tests
run (an inline `javascript` assertion, which promptlane allows) can change what another prompt's
assertions conclude. zzz's own tests fail when zzz runs alone; batched with aaa, whose test
replaces String.prototype.includes, zzz's results say 1/1 passed, bound to zzz's hash and to
zzz's eval inputs, which do not include aaa's tests file (so no review of zzz's inputs shows it).

Real promptfoo, the template's offline provider (local_echo.py), a scaffold rendered from the
template plus two prompts from `promptlane new`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

PROMPTLANE = [sys.executable, "-m", "promptlane.cli"]

# zzz's real test: the template's provider never says this, so it fails whenever it runs alone.
VICTIM_TESTS = """\
- description: zzz real test that fails
  metadata: {category: accuracy}
  vars: {customer_name: Zed, question: hello}
  assert:
    - type: contains
      value: NEVER-IN-OUTPUT-XYZ
"""

# aaa's test passes, and on the way makes every later `contains "NEVER-IN..."` pass in this process.
POISON = ("(() => { const o = String.prototype.includes; String.prototype.includes = function (v, ...r) "
          "{ return String(v).startsWith('NEVER-IN') || o.call(this, v, ...r) }; return true })()")
ATTACKER_TESTS = f"""\
- description: aaa innocent-looking test
  metadata: {{category: accuracy}}
  vars: {{customer_name: Ann, question: hello}}
  assert:
    - type: javascript
      value: "{POISON}"
"""


def pl(root: Path, *args: str, jobs: int = 1) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROMPTLANE_JOBS": str(jobs)}
    return subprocess.run([*PROMPTLANE, "-C", str(root), *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def pair(scaffold, tmp_path) -> Path:
    """The scaffold plus aaa (the attacker's tests) and zzz (the victim's failing test), synced;
    the eval config's maxConcurrency 1 (a value the eval config may hold), so aaa's test, first
    in the batch, is graded before zzz's."""
    root = tmp_path / "governed"
    shutil.copytree(scaffold, root, symlinks=True)
    for prompt_id in ("aaa", "zzz"):
        assert run_cli(root, "new", prompt_id)[0] == 0
    (root / "evals/tests/zzz.yml").write_text(VICTIM_TESTS, encoding="utf-8")
    (root / "evals/tests/aaa.yml").write_text(ATTACKER_TESTS, encoding="utf-8")
    config = root / "evals/eval-config.promptfoo.yml"
    text = config.read_text(encoding="utf-8")
    assert "maxConcurrency: 2" in text
    config.write_text(text.replace("maxConcurrency: 2", "maxConcurrency: 1"), encoding="utf-8")
    assert run_cli(root, "sync")[0] == 1
    return root


def results(root: Path, prompt_id: str) -> dict:
    [path] = (root / "evals/results" / prompt_id).glob("*.json")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_one_prompts_javascript_cannot_pass_another_prompts_failing_test(pair, promptfoo, tmp_path):
    """Attack: aaa's javascript assertion replaces String.prototype.includes so that zzz's failing
    `contains` passes, had the two shared a promptfoo process. CI's own results (--results-dir)
    run each prompt in a process of its own: zzz's are what zzz alone gives."""
    alone = tmp_path / "alone"
    shutil.copytree(pair, alone, symlinks=True)
    done = pl(alone, "eval", "run", "zzz", "--force")
    assert done.returncode == 1, done.stdout + done.stderr
    assert results(alone, "zzz")["passed"] == 0  # zzz's real test fails

    # CI's way: every owed prompt, --force, its own results folder; one core, so one batch.
    ci = tmp_path / "ci-results"
    done = pl(pair, "eval", "run", "aaa", "zzz", "--force", "--results-dir", str(ci))
    zzz = json.loads(next((ci / "zzz").glob("*.json")).read_text(encoding="utf-8"))
    assert zzz["hash"] == results(alone, "zzz")["hash"]
    # Safe: the batch writes what zzz alone writes (0/1), and the run fails.
    assert zzz["passed"] == 0 and zzz["failed"] == 1, zzz
    assert done.returncode == 1, done.stdout + done.stderr


@pytest.mark.slow
def test_one_prompts_javascript_cannot_fail_another_prompts_tests(pair, promptfoo, tmp_path):
    """Attack: aaa's assertion makes every `includes` true, which breaks triage-reply's tests in a
    shared process. CI's own results keep triage-reply's 5/5. (Results written in the checkout are
    batched and could be; CI never takes those on trust: it evaluates what a change promotes.)"""
    ci = tmp_path / "ci-results"
    (pair / "evals/tests/aaa.yml").write_text(ATTACKER_TESTS.replace(
        POISON, "(() => { String.prototype.includes = function () { return true }; return true })()"), encoding="utf-8")
    done = pl(pair, "eval", "run", "aaa", "triage-reply", "--force", "--results-dir", str(ci))
    chain = json.loads(next((ci / "triage-reply").glob("*.json")).read_text(encoding="utf-8"))
    assert chain["tests"] == chain["passed"] == 5, (chain, done.stdout[-2000:])


def test_a_var_promptfoo_would_run_is_refused(pair, promptfoo):
    """Defence: the load-time way to run code in the batch (a test var `file://x.js`, run as
    promptfoo renders the prompt) is refused before promptfoo starts (PL347)."""
    (pair / "evals/tests/aaa_helper.js").write_text("module.exports = () => ({output: 'x'});\n", encoding="utf-8")
    (pair / "evals/tests/aaa.yml").write_text(ATTACKER_TESTS.replace(
        "question: hello", "question: 'file://tests/aaa_helper.js'"), encoding="utf-8")
    done = pl(pair, "eval", "run", "aaa", "--force")
    assert done.returncode != 0
    assert "PL347" in done.stdout + done.stderr
    assert not (pair / "evals/results/aaa").exists() or not list((pair / "evals/results/aaa").glob("*.json"))
