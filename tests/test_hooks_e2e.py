"""Layers 2 and 3: the hook manifest, and real pre-commit runs in a rendered repository.

The hook repository is a snapshot of this working tree committed to a tmp git repo, so the
code under test is the code on disk, installed by pre-commit the way users get it. A
session-wide PRE_COMMIT_HOME builds the hook environment once.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, git, snapshot_tree

# One pytest-xdist worker runs this file (make test: --dist loadgroup): the hook environment in
# the session's PRE_COMMIT_HOME is built once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hooks_e2e")]
PRE_COMMIT = str(BIN / "pre-commit")


def test_manifest_is_valid_and_every_hook_is_a_console_script_and_documented():
    subprocess.run([PRE_COMMIT, "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")], check=True)
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    scripts = _console_scripts()
    readme = (ROOT / "README.md").read_text()
    for hook in hooks:
        assert hook["entry"] in scripts, hook["id"]
        assert f"`{hook['id']}`" in readme, f"{hook['id']} is not documented in README.md"


def _console_scripts() -> set[str]:
    import tomllib

    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


@pytest.mark.parametrize("path,hook,matches", [
    ("prompts/support-reply/card.yml", "promptlane-sync", True),
    ("prompts/support-reply/system.md", "promptlane-sync", True),
    ("registry/support-reply.lock.json", "promptlane-check", True),
    ("README.md", "promptlane-sync", False),
    ("evals/eval-config.promptfoo.yml", "promptlane-sync", False),
    ("evals/tests/support-reply.yml", "promptlane-check", True),
    ("evals/results/support-reply/057d65a56c7e0a17.json", "promptlane-check", True),
    ("reviews/support-reply/1.0.0/pm-pm.md", "promptlane-check", True),
    ("workflows/policy-as-code-example.yml", "promptlane-check", True),
    ("workflows/rollback-flow.md", "promptlane-check", True),
    ("logs/log-sample.output.json", "promptlane-check", True),
    ("schemas/prompt-card.example.yml", "promptlane-check", True),
    ("schemas/prompt-change-log.yml", "promptlane-check", False),
    ("HITL_Approval_Template.md", "promptlane-check", True),
    ("ci/eval-gate.yml", "promptlane-check", True),
    (".github/workflows/eval-gate.yml", "promptlane-check", True),
    ("README.md", "promptlane-check", False),
    # the one hook takes what either of them takes (its sync part only prompts/ and registry/)
    ("prompts/support-reply/card.yml", "promptlane", True),
    ("registry/store/support-reply/1.0.0.json", "promptlane", True),
    ("evals/tests/support-reply.yml", "promptlane", True),
    ("reviews/support-reply/1.0.0/pm-pm.md", "promptlane", True),
    ("requirements.txt", "promptlane", True),
    ("schemas/prompt-change-log.yml", "promptlane", False),
    ("README.md", "promptlane", False),
])
def test_hook_file_patterns(path, hook, matches):
    import re

    spec = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}[hook]
    assert bool(re.search(spec["files"], path)) is matches


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory) -> tuple[Path, str]:
    """This working tree, committed in a tmp repository: (path, commit sha)."""
    target = tmp_path_factory.mktemp("hook-repo")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    env = _env(tmp_path_factory.getbasetemp())
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=target, env=env, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=target, capture_output=True, text=True, check=True).stdout.strip()
    return target, sha


def _env(base: Path) -> dict:
    env = dict(os.environ)
    env["PRE_COMMIT_HOME"] = str(base / "pre-commit-home")  # shared by the whole session
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    return env


@pytest.fixture
def governed(tmp_path, hook_repo, tmp_path_factory):
    """A rendered governed repository wired to the hook repo, with its first commit made."""
    from promptlane.commands.init import init

    path, sha = hook_repo
    project = init(str(tmp_path / "prompts-repo"), {"hooks_repo": str(path), "hooks_rev": sha})
    env = _env(tmp_path_factory.getbasetemp())
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "-m", "scaffold")
    return project, env


def _run(args, cwd, env, check=False):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=check)


def test_fresh_scaffold_passes_its_own_hooks_and_changes_nothing(governed):
    project, env = governed
    before = snapshot_tree(project)
    done = _run([PRE_COMMIT, "run", "--all-files"], project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "promptlane (sync, check, audit verify)" in done.stdout and "Passed" in done.stdout
    assert snapshot_tree(project) == before


def test_edit_commit_is_refused_with_the_fixers_message_then_lands_with_a_patch_bump(governed):
    project, env = governed
    _run([PRE_COMMIT, "install"], project, env, check=True)
    system = project / "prompts/support-reply/system.md"
    system.write_text(system.read_text() + "Never promise refunds.\n")
    git(project, "add", "-A")
    refused = _run(["git", "commit", "-m", "tighten refund wording"], project, env)
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr  # git relays hook output on stderr
    assert "support-reply: patch -> 1.0.1" in said
    assert "Fixing prompts/support-reply/card.yml" in said
    git(project, "add", "-A")
    landed = _run(["git", "commit", "-m", "tighten refund wording"], project, env)
    assert landed.returncode == 0, landed.stdout + landed.stderr
    card = yaml.safe_load((project / "prompts/support-reply/card.yml").read_text())
    assert (card["version"], card["environment"]) == ("1.0.1", "dev")
    entries = yaml.safe_load((project / "schemas/prompt-change-log.yml").read_text())
    assert [(e["event"], e["version"], e["bump"]) for e in entries][-1] == ("version", "1.0.1", "patch")
    assert entries[-1]["hash"] == card["hash"]
    audit = (project / "audit/artifact-audit-log.md").read_text().splitlines()
    assert audit[-1].startswith("| 3 | ") and card["hash"] in audit[-1]  # after the two examples' first versions
    lock = json.loads((project / "registry/support-reply.lock.json").read_text())
    assert lock["environments"]["dev"] == "1.0.1"
    assert _run(["git", "status", "--porcelain"], project, env).stdout == ""
    again = _run([PRE_COMMIT, "run", "--all-files"], project, env)
    assert again.returncode == 0, again.stdout


def test_a_hand_edited_version_is_refused_by_the_hooks_and_nothing_is_written(governed):
    """The reported bug: sync 'returned' the prompt to its version and logged a demotion."""
    project, env = governed
    _run([PRE_COMMIT, "install"], project, env, check=True)
    card = project / "prompts/support-reply/card.yml"
    card.write_text(card.read_text().replace("version: 1.0.0", "version: 1.0.7"))
    git(project, "add", "-A")
    before = snapshot_tree(project)
    refused = _run(["git", "commit", "-m", "bump by hand"], project, env)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Fixing" not in said, said
    assert ("prompts/support-reply/card.yml:20:10: PL151 version: 1.0.7 was never issued; do not edit version by hand; "
            "set it back to 1.0.0, the version issued for this hash") in said
    assert snapshot_tree(project) == before


def test_a_broken_eval_test_file_is_refused_by_the_commit(governed):
    """The reported bug: a YAML error in evals/tests/<id>.yml passed the commit; only `eval run` found it."""
    project, env = governed
    _run([PRE_COMMIT, "install"], project, env, check=True)
    tests = project / "evals/tests/support-reply.yml"
    tests.write_text(tests.read_text().replace("metadata: {category: accuracy}", "metadata: {category: accuracy", 1))
    git(project, "add", "-A")
    refused = _run(["git", "commit", "-m", "new test"], project, env)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "evals/tests/support-reply.yml:7:7: PL100 YAML syntax error" in said, said


def test_an_edited_audit_row_is_caught_by_pre_commit(governed):
    project, env = governed
    log = project / "audit/artifact-audit-log.md"
    log.write_text(log.read_text().replace("| first version |", "| first version (approved) |"))
    done = _run([PRE_COMMIT, "run", "--all-files"], project, env)
    assert done.returncode == 1 and "PL204" in done.stdout


@pytest.mark.parametrize("hook,name", [("promptlane-check", "promptlane check"),
                                       ("promptlane", "promptlane (sync, check, audit verify)")])
def test_try_repo_works_from_another_repository(governed, hook_repo, hook, name):
    project, env = governed
    path, _ = hook_repo
    done = _run([PRE_COMMIT, "try-repo", str(path), hook, "--all-files"], project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert name in done.stdout


def test_the_three_hooks_from_the_hook_repository_still_work(governed, hook_repo):
    """A team that wants them apart lists the three ids (README "Hooks"): each runs on its own."""
    project, env = governed
    path, sha = hook_repo
    config = {"repos": [{"repo": str(path), "rev": sha,
                         "hooks": [{"id": "promptlane-sync"}, {"id": "promptlane-check"}, {"id": "promptlane-audit"}]}]}
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "-m", "the three hooks")
    _run([PRE_COMMIT, "install"], project, env, check=True)
    system = project / "prompts/support-reply/system.md"
    system.write_text(system.read_text() + "Never promise refunds.\n")
    git(project, "add", "-A")
    refused = _run(["git", "commit", "-m", "tighten refund wording"], project, env)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "support-reply: patch -> 1.0.1" in said, said
    for name in ("promptlane sync (hash", "promptlane check (cards", "promptlane audit verify (hash-chained"):
        assert name in said, said
    assert "--- promptlane" not in said  # the separate hooks print no part headers
    git(project, "add", "-A")
    landed = _run(["git", "commit", "-m", "tighten refund wording"], project, env)
    assert landed.returncode == 0, landed.stdout + landed.stderr
