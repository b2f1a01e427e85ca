"""The everyday edges of the command line, in a repository rendered from the template:

* every command works from any folder inside a governed repository, as git does: the root is
  the nearest folder above that holds prompts/, never outside the git work tree; stderr says
  once which root is used, stdout stays the command's; file names stay relative to where the
  command started;
* a reader that closes the pipe early (``promptlane status | head -1``) ends the run quietly,
  exit 141, no traceback;
* ``status`` on a branch with no commit yet says so, and what to do.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, git
from governed import CARD, PID, card, commit, edit_text, new_version, pl
from promptlane.cli import main as cli_main

PROMPT_DIR = f"prompts/{PID}"


def run_in(folder: Path, capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in-process, started in ``folder`` (no -C): (exit code, stdout, stderr)."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        code = cli_main(list(args))
    finally:
        os.chdir(old)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def using(root: Path) -> str:
    return f"promptlane: using the repository at {root.resolve()}\n"


# ---------------------------------------------------------------- 1. any folder inside the repository


def test_status_json_and_eval_plan_from_a_prompt_folder_keep_stdout_clean(gov):
    """Its own process, started in prompts/support-reply/: stdout is exactly what the root
    prints (scripts parse it), stderr is the one line naming the root."""
    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "promptlane", *args], cwd=cwd,
                              capture_output=True, text=True, timeout=120)

    sub = gov / PROMPT_DIR
    for args in (("status", "--json"), ("eval", "plan")):
        at_root, inside = run(gov, *args), run(sub, *args)
        assert inside.returncode == at_root.returncode, inside.stderr
        assert inside.stdout == at_root.stdout and inside.stdout.strip(), inside.stderr
        assert inside.stderr == using(gov) + at_root.stderr
        assert "using the repository" not in at_root.stderr
    assert [row["prompt"] for row in json.loads(run(sub, "status", "--json").stdout)["prompts"]] == [PID, "triage-reply"]


def test_sync_and_check_from_a_subfolder_take_file_names_relative_to_it(gov, capsys):
    sub = gov / PROMPT_DIR
    edit_text(gov, "Keep replies short.")
    code, out, err = run_in(sub, capsys, "sync", "system.md")
    assert code == 1, out + err
    assert card(gov)["version"] == "1.0.1" and f"{CARD}" in out
    assert err == using(gov)
    assert not (sub / "registry").exists() and not (sub / "audit").exists()  # nothing written below the root

    (sub / "card.yml").write_text((sub / "card.yml").read_text(encoding="utf-8").replace("version: 1.0.1", "version: 9.9.9"),
                                  encoding="utf-8")
    code, out, err = run_in(sub / "..", capsys, "check", f"{PID}/card.yml")
    assert code == 1 and f"{CARD}:" in out, out + err  # the problem is named root-relative
    assert err.startswith(using(gov))


def test_minus_c_a_subfolder_finds_the_root_and_reads_file_names_from_there(gov, capsys, tmp_path):
    """-C DIR is "as if started in DIR", through a symlink too: DIR may be any folder inside."""
    link = tmp_path / "shortcut"
    link.symlink_to(gov / PROMPT_DIR, target_is_directory=True)
    edit_text(gov, "Keep replies short.")
    code, out, err = run_in(tmp_path, capsys, "-C", str(link), "sync", "system.md")
    assert code == 1, out + err
    assert card(gov)["version"] == "1.0.1"
    assert err == using(gov)
    code, out, err = run_in(tmp_path, capsys, "-C", str(link), "status")
    assert code == 0 and out.startswith("prompt ") and err == using(gov)


def test_a_prompt_named_prompts_does_not_make_its_folder_a_repository(gov, capsys):
    """From prompts/ (which then holds prompts/prompts/), the root is still the repository."""
    other = gov / "prompts" / "prompts"
    shutil.copytree(gov / PROMPT_DIR, other)
    (other / "card.yml").write_text((other / "card.yml").read_text(encoding="utf-8").replace(f"id: {PID}", "id: prompts"),
                                    encoding="utf-8")
    code, out, err = run_in(gov / "prompts", capsys, "status", "--json")
    assert code == 0, out + err
    assert sorted(row["prompt"] for row in json.loads(out)["prompts"]) == ["prompts", PID, "triage-reply"]
    assert err == using(gov)


def test_log_validate_from_a_subfolder_uses_the_repository_trace_schema(gov, capsys):
    code, out, err = run_in(gov / "logs", capsys, "log", "validate", "log-sample.output.json")
    assert code == 0, out + err
    assert "match the trace schema" in out and err == using(gov)


def test_the_search_stops_at_the_top_of_the_git_work_tree(gov, capsys):
    """A separate git repository inside a governed one (a vendored clone): its folders are not
    the governed repository's, and the error says where promptlane looked and what to do."""
    inner = gov / "vendor" / "tool"
    (inner / "src").mkdir(parents=True)
    git(inner, "init", "-q")
    code, out, err = run_in(inner / "src", capsys, "status")
    assert code == 2 and out == ""
    assert (f"{(inner / 'src').resolve()}: no prompts/ folder here or in any folder above it up to "
            f"{inner.resolve()} (the top of its git work tree)") in err
    assert "run promptlane inside a governed repository" in err and "-C DIR" in err and "promptlane init DIR" in err


def test_outside_a_git_work_tree_only_the_folder_itself_counts(tmp_path, capsys, monkeypatch):
    """A stray prompts/ above a folder that is in no git work tree is nobody's repository."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain" / "prompts").mkdir(parents=True)
    (tmp_path / "plain" / "sub").mkdir()
    code, out, err = run_in(tmp_path / "plain" / "sub", capsys, "check")
    assert code == 2
    assert f"{(tmp_path / 'plain' / 'sub').resolve()}: no prompts/ folder here, and it is not inside a git work tree" in err
    assert "promptlane init DIR" in err


# ---------------------------------------------------------------- 2. a closed pipe ends quietly


def _assert_quiet(done_code: int, stderr: str) -> None:
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr and "Exception ignored" not in stderr, stderr
    assert done_code == 141, stderr


@pytest.mark.parametrize("args", [("status",), ("status", "--json"), ("report", "--markdown"), ("eval", "plan"),
                                  ("diff", PID)], ids=" ".join)
def test_a_reader_gone_before_any_output_ends_the_run_quietly(gov, capsys, args):
    """``promptlane ... | true``: every write meets a closed pipe."""
    new_version(gov, capsys)  # two versions, for diff
    commit(gov, "1.0.1")
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([str(BIN / "promptlane"), *args], cwd=gov, stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        os.close(write)
    _assert_quiet(done.returncode, done.stderr)


def test_status_piped_into_head_1_ends_quietly(gov, capsys):
    """``promptlane status | head -1`` with more output than the pipe holds: the reader takes
    one line and closes, so promptlane's next write meets a closed pipe."""
    for n in range(24):
        folder = gov / "prompts" / f"reply-{n:02d}"
        shutil.copytree(gov / PROMPT_DIR, folder)
        (folder / "card.yml").write_text((folder / "card.yml").read_text(encoding="utf-8")
                                         .replace(f"id: {PID}", f"id: reply-{n:02d}"), encoding="utf-8")
    assert pl(gov, capsys, "sync")[0] == 1
    commit(gov, "24 more prompts")
    import fcntl

    read, write = os.pipe()
    capacity = 65536
    if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: a one-page pipe, so the output is far larger
        capacity = fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)
    process = subprocess.Popen([str(BIN / "promptlane"), "status"], cwd=gov, stdout=write, stderr=subprocess.PIPE,
                               text=True)
    os.close(write)
    first = b""
    while not first.endswith(b"\n"):
        chunk = os.read(read, 1)
        assert chunk, "promptlane printed nothing"
        first += chunk
    os.close(read)
    _, stderr = process.communicate(timeout=120)
    assert first.startswith(b"prompt ")
    expected = subprocess.run([str(BIN / "promptlane"), "status"], cwd=gov, capture_output=True, timeout=120).stdout
    if len(expected) <= capacity + len(first):
        pytest.skip(f"status prints {len(expected)} bytes, which fit in this pipe ({capacity})")
    _assert_quiet(process.returncode, stderr)


# ---------------------------------------------------------------- 3. a branch with no commit yet


def test_status_on_a_branch_with_no_commit_yet_says_commit_first(rendered_template, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PROMPTLANE_BRANCH", raising=False)
    monkeypatch.setenv("PROMPTLANE_NOW", "2026-12-01T09:00:00Z")
    root = tmp_path / "fresh"
    shutil.copytree(rendered_template, root, symlinks=True)
    shutil.rmtree(root / ".git", ignore_errors=True)
    git(root, "init", "-q")
    git(root, "symbolic-ref", "HEAD", "refs/heads/main")  # whatever init.defaultBranch says
    git(root, "add", "-A")
    assert git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode != 0  # unborn

    code, out = pl(root, capsys, "status")
    assert code == 0, out
    assert "lacks: PL602 branch main has no commit yet; commit first (`git add -A && git commit`)" in out
    assert "detached HEAD" not in out

    code, out = pl(root, capsys, "promote", PID, "--to", "staging")
    assert code == 1 and "PL602 branch main has no commit yet; commit first" in out

    monkeypatch.setenv("PROMPTLANE_BRANCH", "main")  # CI names the branch: it still overrides git
    code, out = pl(root, capsys, "status")
    assert code == 0 and "PL602" not in out, out

    monkeypatch.delenv("PROMPTLANE_BRANCH")
    git(root, "commit", "-q", "-m", "scaffold")  # once there is a commit, the branch gate passes
    code, out = pl(root, capsys, "status")
    assert code == 0 and "PL602" not in out, out


# ---------------------------------------------------------------- found by a bug hunt of the above


def _shell(cwd: Path, script: str) -> subprocess.CompletedProcess:
    """``script`` in bash, with ``promptlane`` this checkout's (for redirections like ``2>&-``)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_prompts_and_policy_are_reserved_ids(gov, capsys):
    """A prompt named "prompts" would make its registry/store/prompts/, evals/results/prompts/
    and reviews/prompts/ folders look like a repository root to a command run below them."""
    for reserved in ("prompts", "policy"):
        code, out = pl(gov, capsys, "new", reserved)
        assert code == 2 and f"'{reserved}' is not a valid prompt id" in out
    other = gov / "prompts" / "prompts"
    shutil.copytree(gov / PROMPT_DIR, other)
    (other / "card.yml").write_text((other / "card.yml").read_text(encoding="utf-8").replace(f"id: {PID}", "id: prompts"),
                                    encoding="utf-8")
    code, out = pl(gov, capsys, "sync")
    assert code == 1 and "prompts/prompts/card.yml:4:5: PL121 id 'prompts' is reserved" in out
    assert not (gov / "registry/store/prompts").exists() and not (gov / "registry/prompts.lock.json").exists()


def test_a_current_folder_that_was_deleted_is_a_clear_refusal(gov):
    done = _shell(gov, "mkdir gone && cd gone && rm -rf ../gone && promptlane status")
    assert done.returncode == 2, done.stderr
    assert "the current folder no longer exists" in done.stderr and "Traceback" not in done.stderr


def test_a_closed_stderr_keeps_notes_out_of_stdout(gov):
    done = _shell(gov / "prompts", "promptlane eval plan 2>&-")
    assert done.returncode == 0
    assert json.loads(done.stdout)["include"][0]["prompt"] == PID  # nothing but the matrix


@pytest.mark.parametrize("command", ["report --markdown", f"diff {PID}", "status"])
def test_a_closed_stdout_is_no_traceback(gov, command):
    done = _shell(gov, f"promptlane {command} >&-")
    assert "Traceback" not in done.stderr and "AttributeError" not in done.stderr, done.stderr


def test_a_misspelled_file_checks_nothing_and_says_so(gov, capsys):
    code, out = pl(gov, capsys, "check", str(gov / "prompts/suport-reply/card.yml"))
    assert code == 2
    assert "no such file" in out and "did you mean prompts/support-reply/card.yml?" in out


@pytest.mark.parametrize("command", ["sync", "check"])
def test_a_prompts_bare_id_means_that_prompt(gov, capsys, command):
    """`promptlane sync support-reply`, as a person types it: the prompt is synced (or checked),
    not silently skipped because no file is named support-reply."""
    edit_text(gov)
    code, out = pl(gov, capsys, command, PID)
    if command == "sync":
        assert code == 1 and f"promptlane sync: {PID}: " in out and card(gov)["version"] != "1.0.0", out
        code, out = pl(gov, capsys, "check", PID)
        assert code == 0, out
    else:
        assert code == 1 and "PL150" in out, out


@pytest.mark.parametrize("below", [None, "prompts", f"prompts/{PID}"])
@pytest.mark.parametrize("name", [PID, f"{PID}/"])
def test_a_bare_id_is_the_prompt_from_any_folder(gov, capsys, below, name):
    edit_text(gov)
    code, out = pl(gov / below if below else gov, capsys, "sync", name)
    assert code == 1 and f"promptlane sync: {PID}: " in out, out


@pytest.mark.parametrize("command", ["sync", "check"])
@pytest.mark.parametrize("name, hint", [("suport-reply", "suport-reply (no such prompt either; did you mean support-reply?)"),
                                        ("Support-Reply", "did you mean support-reply?"),
                                        ("billing", f"billing (no such prompt either; the prompts are {PID}")])
def test_a_word_that_names_no_file_and_no_prompt_is_refused(gov, capsys, command, name, hint):
    from conftest import snapshot_tree

    edit_text(gov)
    before = snapshot_tree(gov)
    code, out = pl(gov, capsys, command, PID, name)
    assert code == 2, out
    assert "no such file: " in out and hint in out and "nothing was checked or changed" in out, out
    assert snapshot_tree(gov) == before


@pytest.mark.parametrize("name", ["README.md", "schemas", "missing.md", "docs/missing.md"])
def test_names_of_no_prompt_are_still_ignored(gov, capsys, name):
    """What pre-commit passes for files that are no prompt's (a README, a folder), and file
    names of no prompt (a dot or a folder in them): ignored, as before; sync exits 0."""
    from conftest import snapshot_tree

    edit_text(gov)
    before = snapshot_tree(gov)
    code, out = pl(gov, capsys, "sync", name)
    assert code == 0 and out == "", out
    assert snapshot_tree(gov) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give the clone to someone else")
def test_a_repository_git_refuses_is_explained_not_misread(gov, capsys):
    shutil.chown(gov, "nobody")
    for path in gov.rglob("*"):
        os.chown(path, 65534, -1, follow_symlinks=False)
    env_home = gov.parent / "home-dubious"
    env_home.mkdir()
    env = {**os.environ, "HOME": str(env_home), "GIT_CONFIG_GLOBAL": str(env_home / "gitconfig"),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    (env_home / "gitconfig").write_text("")
    below = subprocess.run([str(BIN / "promptlane"), "status"], cwd=gov / "prompts", env=env, capture_output=True,
                           text=True, timeout=120)
    assert below.returncode == 2
    assert "git refuses to work in this repository (detected dubious ownership" in below.stderr
    assert "git config --global --add safe.directory" in below.stderr
    at_root = subprocess.run([str(BIN / "promptlane"), "status"], cwd=gov, env=env, capture_output=True, text=True,
                             timeout=120)
    assert "git refuses to read this repository (detected dubious ownership" in at_root.stdout, at_root.stdout
