"""The template's one hook, `promptlane` (`promptlane hook`: sync, check and audit verify in one
process), through real pre-commit and real `git commit` in copies of a real `promptlane init`
render: the commit flow, and the same verdicts as the three hooks promptlane-sync,
promptlane-check and promptlane-audit on the same changes.

The three-hook repositories use the configuration docs give for switching to them: the
manifest's three hooks as `repo: local` entries with `language: unsupported`, as the template's
one hook is.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest
import yaml

from conftest import BIN, ROOT, git, snapshot_tree

from promptlane.commands.hook import CHECK_FILES, SYNC_FILES

pytestmark = pytest.mark.slow
PRE_COMMIT = str(BIN / "pre-commit")
THREE = ["promptlane-sync", "promptlane-check", "promptlane-audit"]
PROBLEM = re.compile(r"^\S+:\d+:\d+: PL\d+ .*$", re.M)


def manifest() -> dict[str, dict]:
    return {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}


def three_hook_config() -> str:
    """The three hooks, as a repository that wants them apart writes them (README "Hooks")."""
    hooks = [{**manifest()[i], "language": "unsupported"} for i in THREE]
    return yaml.safe_dump({"minimum_pre_commit_version": "4.4.0", "repos": [{"repo": "local", "hooks": hooks}]},
                          sort_keys=False)


def _env(base: Path) -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PRE_COMMIT_HOME": str(base / "pre-commit-home"),
            "PROMPTLANE_NOW": "2026-12-01T09:00:00Z"}


def _copy(scaffold: Path, target: Path, three: bool, env: dict) -> Path:
    shutil.copytree(scaffold, target, symlinks=True)
    if not (target / ".git").is_dir():
        git(target, "init", "-q", "-b", "main")
    if three:
        (target / ".pre-commit-config.yaml").write_text(three_hook_config(), encoding="utf-8")
    git(target, "add", "-A")
    git(target, "commit", "-q", "--no-verify", "-m", "scaffold")
    subprocess.run([PRE_COMMIT, "install"], cwd=target, env=env, check=True, capture_output=True)
    return target


@pytest.fixture
def one(scaffold, tmp_path) -> tuple[Path, dict]:
    env = _env(tmp_path)
    return _copy(scaffold, tmp_path / "one", False, env), env


@pytest.fixture
def pair(scaffold, tmp_path) -> tuple[Path, Path, dict]:
    """The same scaffold twice: with the template's one hook, and with the three hooks."""
    env = _env(tmp_path)
    return _copy(scaffold, tmp_path / "one", False, env), _copy(scaffold, tmp_path / "three", True, env), env


def commit(root: Path, env: dict, message: str = "change", **extra: str) -> subprocess.CompletedProcess:
    git(root, "add", "-A")
    return subprocess.run(["git", "commit", "-m", message], cwd=root, env={**env, **extra}, capture_output=True, text=True)


def said(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr  # git relays hook output on stderr


# ---------------------------------------------------------------- the manifest and the scaffold


def test_the_one_hooks_pattern_is_the_union_of_the_three_and_the_command_uses_theirs():
    hooks = manifest()
    assert hooks["promptlane-sync"]["files"] == SYNC_FILES and hooks["promptlane-check"]["files"] == CHECK_FILES
    one = hooks["promptlane"]
    assert one["files"] == CHECK_FILES  # check's pattern includes sync's
    for path in ("prompts/a/card.yml", "prompts/a/system.md", "registry/a.lock.json", "registry/store/a/1.0.0.json"):
        assert re.search(SYNC_FILES, path) and re.search(CHECK_FILES, path), path
    assert one["entry"] == "promptlane-hook" and one["args"] == ["--deleted"]
    assert one["always_run"] is True and one["require_serial"] is True and one.get("pass_filenames", True)


def test_a_scaffold_runs_the_one_hook_by_default(scaffold):
    (repo,) = yaml.safe_load((scaffold / ".pre-commit-config.yaml").read_text(encoding="utf-8"))["repos"]
    assert [h["id"] for h in repo["hooks"]] == ["promptlane"]
    text = (scaffold / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    for name in THREE:  # how to switch, and what to SKIP
        assert name in text
    assert "SKIP=promptlane" in text


# ---------------------------------------------------------------- the commit flow with the one hook


def test_an_edit_is_fixed_the_commit_refused_then_it_lands(one):
    root, env = one
    system = root / "prompts/support-reply/system.md"
    system.write_text(system.read_text(encoding="utf-8") + "Never promise refunds.\n", encoding="utf-8")
    refused = commit(root, env)
    assert refused.returncode != 0
    out = said(refused)
    assert "files were modified by this hook" in out
    assert "--- promptlane sync ---" in out and "support-reply: patch -> 1.0.1" in out
    assert "Fixing prompts/support-reply/card.yml" in out
    assert out.index("--- promptlane sync ---") < out.index("--- promptlane audit verify ---")
    landed = commit(root, env)
    assert landed.returncode == 0, said(landed)
    assert git(root, "status", "--porcelain").stdout == ""
    card = yaml.safe_load((root / "prompts/support-reply/card.yml").read_text(encoding="utf-8"))
    assert card["version"] == "1.0.1"


def test_a_bad_card_is_refused_at_its_line(one):
    root, env = one
    card = root / "prompts/support-reply/card.yml"
    lines = card.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines, 1) if line.startswith("owner:"))
    lines[at - 1] = "owner: [not, a, string]\n"
    card.write_text("".join(lines), encoding="utf-8")
    before = snapshot_tree(root)
    refused = commit(root, env)
    out = said(refused)
    assert refused.returncode != 0 and "Fixing" not in out, out
    assert re.search(rf"^prompts/support-reply/card\.yml:{at}:\d+: PL\d+ ", out, re.M), out
    assert "--- promptlane check ---" in out
    assert snapshot_tree(root) == before
    assert git(root, "log", "-1", "--format=%s").stdout.strip() == "scaffold"


def test_a_tampered_audit_log_is_refused(one):
    root, env = one
    log = root / "audit/artifact-audit-log.md"
    log.write_text(log.read_text(encoding="utf-8").replace("| first version |", "| first version (approved) |", 1),
                   encoding="utf-8")
    (root / "NOTES.md").write_text("a note\n", encoding="utf-8")  # the commit touches no prompt
    refused = commit(root, env)
    out = said(refused)
    assert refused.returncode != 0 and "--- promptlane audit verify ---" in out and "PL204" in out, out


def test_a_deleted_prompt_text_is_refused(one):
    root, env = one
    (root / "prompts/support-reply/user.md").unlink()
    refused = commit(root, env)
    out = said(refused)
    assert refused.returncode != 0, out
    assert re.search(r"^prompts/support-reply/card\.yml:\d+:\d+: PL\d+ .*user\.md", out, re.M), out


def test_skip_names_the_one_hook_and_each_of_the_three(pair):
    one_root, three_root, env = pair
    for root in (one_root, three_root):
        (root / "prompts/support-reply/user.md").unlink()
    skipped = commit(one_root, env, SKIP="promptlane")
    assert skipped.returncode == 0 and "promptlane (sync, check, audit verify)" in said(skipped), said(skipped)
    assert "Skipped" in said(skipped)
    # with the three: skipping check alone lets the deletion through; sync and audit still run
    refused = commit(three_root, env, SKIP="promptlane-sync,promptlane-audit")
    assert refused.returncode != 0 and "PL" in said(refused), said(refused)
    landed = commit(three_root, env, SKIP="promptlane-check")
    assert landed.returncode == 0, said(landed)
    assert said(landed).count("Skipped") >= 2  # check skipped; sync has no file (the text was deleted)


# ---------------------------------------------------------------- the same verdicts as the three hooks


def _edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root / rel
        path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    return change


def _append(rel: str, text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root / rel
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    return change


def _delete(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).unlink()


SCENARIOS: dict[str, Callable[[Path], None]] = {
    "text edited (fixer)": _append("prompts/support-reply/system.md", "Keep it short.\n"),
    "variables changed (major)": _append("prompts/support-reply/user.md", "Order: {{ order_id }}\n"),
    "version edited by hand": _edit("prompts/support-reply/card.yml", "version: 1.0.0", "version: 1.0.7"),
    "environment raised by hand": _edit("prompts/support-reply/card.yml", "environment: dev", "environment: prod"),
    "card not YAML": _edit("prompts/support-reply/card.yml", "owner:", "owner: [unclosed"),
    "text deleted": _delete("prompts/support-reply/user.md"),
    "whole prompt deleted": lambda root: shutil.rmtree(root / "prompts/support-reply"),
    "lock edited": _edit("registry/support-reply.lock.json", '"dev": "1.0.0"', '"dev": "1.0.9"'),
    "audit row edited": _edit("audit/artifact-audit-log.md", "| first version |", "| first version (approved) |"),
    "eval test file broken": _edit("evals/tests/support-reply.yml", "metadata: {category: accuracy}",
                                   "metadata: {category: accuracy"),
    "policy broken": _edit("workflows/policy-as-code-example.yml", "environments:", "environment:"),
    "README only": _append("README.md", "\nA note.\n"),
}


def _verdict(root: Path, env: dict) -> tuple:
    """What a commit decided: committed or not, each problem line, the files afterwards."""
    done = commit(root, env)
    out = said(done)
    tree = {rel: data for rel, data in snapshot_tree(root).items() if rel != ".pre-commit-config.yaml"}
    modified = "files were modified by this hook" in out
    return done.returncode == 0, modified, sorted(set(PROBLEM.findall(out))), tree, out


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_one_hook_and_the_three_give_the_same_verdict(pair, scenario):
    one_root, three_root, env = pair
    verdicts = []
    for root in (one_root, three_root):
        SCENARIOS[scenario](root)
        first = _verdict(root, env)
        second = _verdict(root, env)  # after a fixer: the re-add and commit again
        verdicts.append((first, second))
    (one_first, one_second), (three_first, three_second) = verdicts
    for a, b in ((one_first, three_first), (one_second, three_second)):
        assert a[:3] == b[:3], f"one hook:\n{a[4]}\nthree hooks:\n{b[4]}"
        assert a[3] == b[3], sorted(k for k in set(a[3]) | set(b[3]) if a[3].get(k) != b[3].get(k))
    assert git(one_root, "log", "--format=%s").stdout == git(three_root, "log", "--format=%s").stdout


# ---------------------------------------------------------------- by hand (layer 1)


def test_by_hand_each_part_takes_its_own_files_and_the_worst_code_wins(gov, capfd):
    from conftest import run_cli

    edited = gov / "prompts/support-reply/system.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "Keep it short.\n", encoding="utf-8")
    code, _ = run_cli(gov, "hook", "--deleted", "prompts/support-reply/system.md", "README.md")
    out = capfd.readouterr().out
    assert code == 1 and "--- promptlane sync ---" in out and "support-reply: patch -> 1.0.1" in out, out
    assert out.index("--- promptlane sync ---") < out.index("--- promptlane audit verify ---")
    code, _ = run_cli(gov, "hook", "--deleted", "prompts/support-reply/system.md", "README.md")
    out = capfd.readouterr().out
    assert code == 0 and "--- promptlane sync ---" not in out and "--- promptlane check ---" not in out, out
    assert out.strip() == "--- promptlane audit verify ---\naudit log: chain intact, registry consistent"


def test_by_hand_a_part_refused_as_a_whole_is_said_and_the_next_part_runs(gov, capfd):
    from conftest import run_cli

    code, _ = run_cli(gov, "hook", "prompts/suport-reply/card.yml")  # a typo: no such file
    captured = capfd.readouterr()
    assert code == 2, captured.out + captured.err
    for part in ("sync", "check"):
        assert f"promptlane {part}: no such file: prompts/suport-reply/card.yml (did you mean " \
               f"prompts/support-reply/card.yml?)" in captured.err, captured.err
    assert "audit log: chain intact" in captured.out  # audit verify ran all the same
