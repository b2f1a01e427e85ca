"""The template's eval gate workflow (plan -> matrix of evals -> gate -> comment) and its eval fixtures:
the rendered workflow validates against GitHub's schema, and a fresh scaffold has no budget
or PII findings (its deliberate test data carries the allow comment)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import BIN, run_cli
from promptlane.commands.init import init
from promptlane.core.pii import ALLOW_MARKER, scan_text


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("eval-ci")
    config = base / "cookiecutter.yml"
    config.write_text(f"cookiecutters_dir: {base / 'cc'}\nreplay_dir: {base / 'replay'}\n")
    return init(base / "governed", config_file=str(config))


def test_both_workflow_copies_are_identical_and_valid(rendered):
    reference, wired = rendered / "ci/eval-gate.yml", rendered / ".github/workflows/eval-gate.yml"
    assert reference.read_bytes() == wired.read_bytes()
    done = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(reference), str(wired)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_plan_then_matrix_evals_then_gate(rendered):
    workflow = yaml.safe_load((rendered / "ci/eval-gate.yml").read_text())
    jobs = workflow["jobs"]
    assert list(jobs) == ["plan", "eval", "gate", "comment"]
    plan_steps = " ".join(step.get("run", "") for step in jobs["plan"]["steps"])
    assert "promptlane eval plan" in plan_steps and "GITHUB_OUTPUT" in plan_steps
    assert jobs["plan"]["outputs"]["matrix"] == "${{ steps.plan.outputs.matrix }}"
    evals = jobs["eval"]
    assert evals["needs"] == "plan" and evals["if"] == "needs.plan.outputs.count != '0'"
    assert evals["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    run_step = next(step for step in evals["steps"] if "promptlane eval run" in step.get("run", ""))
    assert run_step["env"]["PROMPT"] == "${{ matrix.prompt }}"  # via env, never inlined into the script
    gate = jobs["gate"]
    assert gate["needs"] == ["plan", "eval"]
    gate_runs = [step.get("run", "") for step in gate["steps"]]
    assert any(r.startswith("pre-commit run --all-files") for r in gate_runs)
    assert any(step.get("uses", "").startswith("actions/download-artifact") for step in gate["steps"])
    report = next(step for step in gate["steps"] if "promptlane report --markdown" in step.get("run", ""))
    assert '>> "$GITHUB_STEP_SUMMARY"' in report["run"]  # the report where reviewers look
    assert jobs["comment"]["needs"] == "gate"


def test_a_fresh_scaffold_has_no_budget_or_pii_findings(rendered, capsys):
    code, out = run_cli(rendered, "check", capsys=capsys)
    assert [line for line in out.splitlines() if ": PL3" in line] == []


def test_the_fixtures_personal_data_is_marked_and_guarded(rendered):
    text = (rendered / "evals/tests/support-reply.yml").read_text()
    assert scan_text(text, honour_allow=True) == []
    marked = [f for f in scan_text(text) if ALLOW_MARKER in text.splitlines()[f.line - 1]]
    assert {f.kind for f in marked} == {"credit-card", "email"}
    tests = yaml.safe_load(text)
    safety = [t for t in tests if t["metadata"]["category"] == "safety"]
    guards = [a["value"] for t in safety for a in t["assert"] if a["type"] == "javascript"]
    assert len(guards) == 2 and all("@" in g for g in guards)  # no e-mail address may leak
