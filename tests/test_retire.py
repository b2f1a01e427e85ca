"""`promptlane retire ID --reason TEXT`: a prompt withdrawn from every environment for good.

Real git repositories rendered from the template, real ed25519 keys (tests/keys.py), real
signed approvals, real pre-commit runs of the template's hooks. A retirement is gated by the
policy's retire rule (default: one signed Governance approval), logged as a `retire` event,
keeps every version, snapshot, review and log, and leaves the repository consistent; the
runtime and the exports refuse a retired prompt; deleting a served prompt by hand is caught.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest
import yaml

from conftest import BIN, git, snapshot_tree
from governed import AUDIT, CHANGELOG, LOCK, PID, changelog, commit, lock, pl
from signing import BASE, REVIEWER_OF, Keys, edit_policy, open_branch, released_base, run

GOVERNANCE = REVIEWER_OF["Governance"]

FOLDER = f"prompts/{PID}"
RETIRE_AT = "2026-12-01T12:00:00Z"


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> Keys:
    return Keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def served(gov, keys, capsys, monkeypatch):
    """main: support-reply 1.0.1 released to staging and prod by five reviewers, committed."""
    released_base(gov, keys, capsys)
    monkeypatch.setenv("PROMPTLANE_NOW", RETIRE_AT)
    return gov


def approve_retire(root, capsys, keys: Keys, role: str = "Governance", reviewer: str = GOVERNANCE, *extra: str,
                   prompt: str = PID):
    return run(root, capsys, "approve", prompt, "--retire", "--role", role, "--key", str(keys.private(reviewer)), *extra,
               actor=reviewer)


def retire(root, capsys, reason: str = "replaced by support-reply-v2", *extra: str, prompt: str = PID):
    return run(root, capsys, "retire", prompt, "--reason", reason, *extra)


def consistent(root, capsys) -> None:
    for args in (("check", "--all"), ("audit", "verify", "--full")):
        code, out = run(root, capsys, *args)
        assert code == 0, f"promptlane {' '.join(args)}:\n{out}"


# ---------------------------------------------------------------- the honest path


def test_retire_withdraws_everywhere_logs_and_keeps_history(served, capsys, keys):
    root = served
    others = sorted(p.name for p in (root / "prompts").iterdir() if p.is_dir() and p.name != PID)  # the template's other examples
    store_before = sorted(p.name for p in (root / "registry/store" / PID).iterdir())
    versions_before = lock(root)["versions"]
    log_before = (root / CHANGELOG).read_text(encoding="utf-8")
    code, out = approve_retire(root, capsys, keys, "Governance", GOVERNANCE, "--note", "superseded")
    assert code == 0, out
    code, out = retire(root, capsys)
    assert code == 0, out
    assert "Retired support-reply" in out and f"Removing {FOLDER}/card.yml" in out
    doc = lock(root)
    assert set(doc["environments"].values()) == {None}
    assert doc["retired"] == {"time": RETIRE_AT, "actor": "dana@example.com", "reason": "replaced by support-reply-v2"}
    assert doc["versions"] == versions_before and doc["withdrawn"] == {}  # withdrawals are rollback's, not retire's
    assert sorted(p.name for p in (root / "registry/store" / PID).iterdir()) == store_before
    assert not (root / FOLDER).exists()
    assert (root / CHANGELOG).read_text(encoding="utf-8").startswith(log_before)  # appended only
    entry = changelog(root)[-1]
    assert (entry["event"], entry["prompt"], entry["version"], entry["environments"]) == ("retire", PID, "1.0.1", {})
    assert "Governance: governance@example.com (signed)" in entry["reason"]
    assert "| retire | support-reply | 1.0.1 |" in (root / AUDIT).read_text(encoding="utf-8").splitlines()[-1]
    consistent(root, capsys)
    commit(root, "retire support-reply")
    consistent(root, capsys)
    assert sorted(p.name for p in (root / "prompts").iterdir() if p.is_dir()) == others  # served on
    assert (root / "prompts/.gitkeep").exists() == (not others)  # written only when no prompt is left
    for other in others:
        code, out = approve_retire(root, capsys, keys, prompt=other)
        assert code == 0, out
        code, out = retire(root, capsys, "no longer needed", prompt=other)
        assert code == 0, out
        commit(root, f"retire {other}")
    consistent(root, capsys)
    assert (root / "prompts/.gitkeep").is_file()  # the last prompt retired: prompts/ stays in a clone
    clone = root.parent / "clone"
    git(root.parent, "clone", "-q", str(root), str(clone))
    consistent(clone, capsys)


def test_a_retirement_on_a_branch_passes_ci_against_the_base(served, capsys, keys, monkeypatch):
    root = open_branch(served, monkeypatch, RETIRE_AT)
    assert approve_retire(root, capsys, keys)[0] == 0
    assert retire(root, capsys)[0] == 0
    commit(root, "retire")
    for args in (("check", "--all", "--base", BASE), ("audit", "verify", "--full", "--base", BASE)):
        code, out = run(root, capsys, *args)
        assert code == 0, out


def test_the_policy_can_ask_more_and_notify_runs(served, capsys, keys, tmp_path):
    root = served
    said = tmp_path / "notified.txt"
    notifier = tmp_path / "notify.py"
    notifier.write_text("import sys\nopen(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')\n", encoding="utf-8")

    def stricter(doc):
        doc["retire"] = {"required_roles": ["PM", "Governance"], "min_reviewers": 2,
                         "notify": f"{sys.executable} {notifier} {said} $PROMPTLANE_EVENT $PROMPTLANE_PROMPT $PROMPTLANE_ENV"}
    edit_policy(root, stricter)
    commit(root, "retire needs PM and Governance")
    assert approve_retire(root, capsys, keys)[0] == 0
    code, out = retire(root, capsys)
    assert code == 1 and "PL650" in out and "retire needs a signed approval by PM" in out, out
    assert approve_retire(root, capsys, keys, "PM", "pm@example.com")[0] == 0
    code, out = retire(root, capsys)
    assert code == 0, out
    assert said.read_text(encoding="utf-8") == "retire support-reply all\n"
    consistent(root, capsys)


def test_loosening_the_retire_rule_is_a_governed_change(served, capsys):
    edit_policy(served, lambda doc: doc.update(retire={"required_roles": ["QA"]}))  # Governance dropped
    code, out = run(served, capsys, "check", "workflows/policy-as-code-example.yml")
    assert code == 1 and "PL410" in out and "retire.required_roles drops Governance" in out, out


# ---------------------------------------------------------------- refusals


def test_refusals_change_nothing(served, capsys, keys):
    root = served
    before = snapshot_tree(root)
    code, out = retire(root, capsys)
    assert code == 1 and "PL650" in out and "promptlane approve support-reply --retire --role Governance" in out, out
    assert "registry/support-reply.lock.json:1:1: PL650" in out
    code, out = run(root, capsys, "retire", "no-such-prompt", "--reason", "x")
    assert code == 2 and "no prompt 'no-such-prompt'" in out
    code, out = run(root, capsys, "retire", "../etc", "--reason", "x")
    assert code == 2 and "not a prompt id" in out
    code, out = run(root, capsys, "retire", PID, "--reason", "  ")
    assert code == 2 and "--reason is required" in out
    with pytest.raises(SystemExit) as exit_:
        pl(root, capsys, "retire", PID)
    assert exit_.value.code == 2 and "--reason" in capsys.readouterr().err
    assert snapshot_tree(root) == before
    # an approval of another state of the prompt (before a promotion moved it) says nothing now
    code, out = run(root, capsys, "approve", PID, "--retire", "--role", "Governance", "--key", str(keys.private("mallory@example.com")),
                    actor="mallory@example.com")
    assert code == 1 and "PL505" in out


def test_an_approval_is_bound_to_what_the_prompt_serves(served, capsys, keys):
    root = served
    assert approve_retire(root, capsys, keys)[0] == 0
    code, out = run(root, capsys, "rollback", PID, "--env", "prod", "--reason", "INC-1", "--to", "1.0.1")
    assert code == 2  # prod served only 1.0.1: nothing to roll back to; serve nothing else instead:
    doc = lock(root)
    doc["environments"]["prod"] = None  # what the prompt serves changed since the approval
    (root / LOCK).write_text(json.dumps(doc), encoding="utf-8")
    code, out = retire(root, capsys)
    assert code == 1 and "PL650" in out, out


def test_already_retired_and_no_way_back(served, capsys, keys):
    root = served
    assert approve_retire(root, capsys, keys)[0] == 0
    assert retire(root, capsys)[0] == 0
    commit(root, "retired")
    code, out = retire(root, capsys)
    assert code == 1 and "PL125" in out and "already retired" in out
    code, out = run(root, capsys, "approve", PID, "--retire", "--role", "Governance", actor=GOVERNANCE)
    assert code == 2 and "already retired" in out
    # the folder brought back from git: sync, check, promote and rollback all refuse it
    git(root, "checkout", "HEAD~1", "--", FOLDER)
    before = snapshot_tree(root)
    for args in (("sync",), ("check", "--all"), ("promote", PID, "--to", "staging"),
                 ("rollback", PID, "--env", "prod", "--reason", "x")):
        code, out = run(root, capsys, *args)
        assert code == 1 and "PL125" in out and "new id" in out, (args, out)
    assert snapshot_tree(root) == before


# ---------------------------------------------------------------- the runtime and the exports


def test_runtime_and_exports_refuse_a_retired_prompt(served, capsys, keys, tmp_path):
    from promptlane import runtime

    root = served
    assert approve_retire(root, capsys, keys)[0] == 0
    assert retire(root, capsys)[0] == 0
    bundle, db = tmp_path / "bundle.json", tmp_path / "registry.sqlite"
    assert run(root, capsys, "registry", "export", "json", str(bundle))[0] == 0
    assert run(root, capsys, "registry", "export", "sqlite", str(db))[0] == 0
    entry = json.loads(bundle.read_text(encoding="utf-8"))["prompts"][PID]
    assert entry["environments"] == {} and entry["retired"]["reason"] == "replaced by support-reply-v2"
    assert set(entry["versions"]) == {"1.0.0", "1.0.1"}  # history kept
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT prompt, reason FROM retired").fetchall() == [(PID, "replaced by support-reply-v2")]
        assert con.execute("SELECT count(*) FROM served WHERE prompt = ?", (PID,)).fetchone() == (0,)
    for source in (bundle, db, root / "registry"):
        runtime.clear_cache()
        registry = runtime.load(source)
        for call in (lambda: registry.get(PID, "prod"), lambda: registry.version(PID, "1.0.1")):
            with pytest.raises(runtime.RetiredError, match="was retired on 2026-12-01T12:00:00Z"):
                call()
        with pytest.raises(runtime.NotServedError):  # a subclass: handlers of "not served" catch it
            registry.get(PID, "dev")


# ---------------------------------------------------------------- crash safety


STEPS = ["journal", "temp", "append:audit/artifact-audit-log.md", "append:schemas/prompt-change-log.yml",
         f"rename:{LOCK}", f"delete:{FOLDER}/card.yml", f"delete:{FOLDER}/system.md", f"delete:{FOLDER}/user.md"]


@pytest.mark.parametrize("step", STEPS)
def test_an_interrupted_retirement_is_put_back(served, capsys, keys, step):
    root = served
    assert approve_retire(root, capsys, keys)[0] == 0
    before = snapshot_tree(root)
    env = {**os.environ, "PROMPTLANE_FAULT_AT": step, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(BIN / "promptlane"), "-C", str(root), "retire", PID, "--reason", "r"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 70, done.stdout + done.stderr
    code, out = run(root, capsys, "check", "--all")
    assert code == 1 and "PL190" in out
    code, out = run(root, capsys, "sync", "README.md")  # recovers only
    after = snapshot_tree(root)
    assert {k: v for k, v in after.items() if not k.startswith(".promptlane/")} == \
        {k: v for k, v in before.items() if not k.startswith(".promptlane/")}, out
    assert not [p for p in root.rglob("*") if p.name.endswith((".promptlane-tmp", ".promptlane-bak"))]
    assert retire(root, capsys, "r")[0] == 0
    consistent(root, capsys)


# ---------------------------------------------------------------- deleting by hand, caught by the hooks and CI


def _pre_commit(root, *args):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(BIN / "pre-commit"), *args], cwd=root, env=env, capture_output=True, text=True)


@pytest.fixture
def hooked(served, capsys):
    """The hooks installed; a second prompt, so that prompts/ stays when one is deleted."""
    assert run(served, capsys, "new", "faq-answer")[0] == 0
    assert run(served, capsys, "sync")[0] == 1
    commit(served, "a second prompt")
    done = _pre_commit(served, "install")
    assert done.returncode == 0, done.stdout + done.stderr
    return served


def _commit(root, message: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["git", "commit", "-m", message], cwd=root, env=env, capture_output=True, text=True)


def test_deleting_a_served_prompt_is_refused_by_the_hook_and_ci(hooked, capsys):
    root = hooked
    git(root, "rm", "-r", "-q", FOLDER)
    refused = _commit(root, "delete support-reply")
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "PL124" in said and "promptlane retire support-reply" in said, said
    assert "git checkout HEAD -- prompts/support-reply" in said
    code, out = run(root, capsys, "check", "--all")
    assert code == 1 and f"{LOCK}:1:1: PL124" in out
    git(root, "commit", "-q", "--no-verify", "-m", "deleted past the hooks")
    done = _pre_commit(root, "run", "--all-files")
    assert done.returncode == 1 and "PL124" in done.stdout, done.stdout


def test_deleting_a_step_file_is_refused_by_the_hook(hooked, capsys):
    root = hooked
    git(root, "rm", "-q", f"{FOLDER}/user.md")
    refused = _commit(root, "delete a step")
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "PL130" in said, said
    # the template's one hook always runs, and its check part (with --deleted) said why
    assert "no files to check" not in said and "--- promptlane check ---" in said, said


def test_a_retirement_commits_through_the_hooks(hooked, capsys, keys):
    root = hooked
    assert approve_retire(root, capsys, keys)[0] == 0
    assert retire(root, capsys)[0] == 0
    git(root, "add", "-A")
    landed = _commit(root, "retire support-reply")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert git(root, "status", "--porcelain").stdout == ""
    done = _pre_commit(root, "run", "--all-files")
    assert done.returncode == 0, done.stdout
    card_gone = not (root / FOLDER).exists()
    assert card_gone and yaml.safe_load((root / CHANGELOG).read_text(encoding="utf-8"))[-1]["event"] == "retire"


def test_an_unrelated_commit_does_not_check_the_whole_repository(hooked, capsys):
    root = hooked
    (root / "NOTES.md").write_text("notes\n", encoding="utf-8")
    git(root, "add", "NOTES.md")
    landed = _commit(root, "notes")
    assert landed.returncode == 0, landed.stdout + landed.stderr
