"""Shared fixtures: small governed repositories in tmp dirs, real git, no network."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from keys import KNOWN, register

from promptlane.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CARD = """\
# Support reply card (test fixture)
id: support-reply
title: Customer support reply
description: Answers a customer question politely.
owner: team-support
tags: [support, email]
risk: high
model:
  provider: openai
  name: gpt-4o-mini
  params: {temperature: 0.2, max_tokens: 400}
variables: [customer_name, question]
steps:
  - {name: system, role: system, file: system.md}
  - {name: user, role: user, file: user.md}
budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}
"""
# The `calls:` of the fixtures' two-call chain: extract lists the facts of the message, draft
# (its own model and max_tokens) writes the reply from extract's output.
CHAIN_CALLS = """\
calls:
  - name: extract
    steps:
      - {name: system, role: system, file: extract-system.md}
      - {name: user, role: user, file: extract-user.md}
  - name: draft
    model: {name: gpt-4o}
    params: {max_tokens: 500}
    steps:
      - {name: system, role: system, file: draft-system.md}
      - {name: user, role: user, file: draft-user.md}
"""
SYSTEM = "You are a polite support agent. Cite the help centre.\n"
USER = "Customer {{ customer_name }} asks: {{ question }}\n"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dana Dev", "GIT_AUTHOR_EMAIL": "dana@example.com",
    "GIT_COMMITTER_NAME": "Dana Dev", "GIT_COMMITTER_EMAIL": "dana@example.com",
    "GIT_ALLOW_PROTOCOL": "file", "VIRTUALENV_NO_DOWNLOAD": "1", "PRE_COMMIT_NO_CONCURRENCY": "1",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch, tmp_path_factory):
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path_factory.getbasetemp() / "home"))
    monkeypatch.delenv("PROMPTLANE_ACTOR", raising=False)
    monkeypatch.delenv("PROMPTLANE_FAULT_AT", raising=False)


@pytest.fixture
def fresh_runtime(monkeypatch):
    """No default source or cached load of the runtime SDK leaks from one test into another."""
    from promptlane import runtime

    monkeypatch.setattr(runtime, "_default_source", None)
    for name in (runtime.SOURCE_ENV, "PROMPTLANE_ENV"):
        monkeypatch.delenv(name, raising=False)
    runtime.clear_cache()


# ---------------------------------------------------------------- promptfoo


def find_promptfoo() -> str | None:
    """The promptfoo to run: PROMPTLANE_PROMPTFOO when set (as `make test` sets it), else the
    clone's pinned install (`make promptfoo`), else one on PATH; None when there is none."""
    configured = os.environ.get("PROMPTLANE_PROMPTFOO")
    candidates = [configured] if configured else [str(ROOT / ".tools/promptfoo/node_modules/.bin/promptfoo"), shutil.which("promptfoo")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture
def promptfoo(monkeypatch) -> str:
    """The real promptfoo on PROMPTLANE_PROMPTFOO for this test (skipped without it or Node.js)."""
    found = find_promptfoo()
    if not found or not shutil.which("node"):
        pytest.skip("promptfoo or Node.js is not installed (run `make promptfoo`)")
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", found)
    return found


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=check)


def committed_scaffold(scaffold: Path, root: Path) -> Path:
    """A copy of the session's ``scaffold`` at ``root``, in a git repository of its own (main,
    one commit holding everything)."""
    shutil.copytree(scaffold, root, symlinks=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "scaffold")
    return root


def write_prompt(root: Path, prompt_id: str = "support-reply", card: str = CARD, texts: dict | None = None) -> Path:
    folder = root / "prompts" / prompt_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "card.yml").write_text(card.replace("id: support-reply", f"id: {prompt_id}"), encoding="utf-8")
    for name, text in (texts or {"system.md": SYSTEM, "user.md": USER}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def run_cli(root: Path, *args: str, capsys=None) -> tuple[int, str]:
    """Run the CLI in-process (layer 1): returns (exit code, stdout)."""
    old = os.getcwd()
    os.chdir(root)
    try:
        code = cli_main(list(args))
    finally:
        os.chdir(old)
    out = capsys.readouterr().out if capsys else ""
    return code, out


@pytest.fixture
def repo(tmp_path) -> Path:
    """A governed repo with one synced prompt, committed in git."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_prompt(root)
    assert cli_main(["-C", str(root), "sync"]) == 1
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first prompt")
    return root


def snapshot_tree(root: Path) -> dict[str, bytes]:
    """Every file under root except .git and promptlane's local cache (not repository state),
    by relative path: to prove nothing changed."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if ".git" in rel.parts or rel.parts[:2] == (".promptlane", "cache") or not path.is_file():
            continue
        files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


# ---------------------------------------------------------------- a rendered governed repository


@pytest.fixture(scope="session")
def rendered_template(tmp_path_factory) -> Path:
    """The template rendered once (defaults), with a tmp cookiecutter config: nothing in $HOME."""
    from promptlane.commands.init import init

    base = tmp_path_factory.mktemp("promotion-template")
    config = base / "cookiecutter.yml"
    config.write_text(f"cookiecutters_dir: {base / 'cc'}\nreplay_dir: {base / 'replay'}\n")
    (base / "gitconfig").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in GIT_ENV.items():
            mp.setenv(key, value)
        mp.setenv("GIT_CONFIG_GLOBAL", str(base / "gitconfig"))
        root = init(base / "governed", {"project": "governed"}, config_file=str(config))
    register(root, *KNOWN)  # the reviewers' (and the author's) own keys, as a team sets them up
    return root


@pytest.fixture
def gov(rendered_template, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the rendered repository, committed on main; clock pinned; actor = dana."""
    root = tmp_path / "governed"
    shutil.copytree(rendered_template, root, symlinks=True)
    if not (root / ".git").is_dir():
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "scaffold")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    (tmp_path / "gitconfig").write_text("")
    from governed import as_author, clock

    clock(monkeypatch, "2026-12-01T09:00:00Z")
    as_author(monkeypatch)
    return root


# ---------------------------------------------------------------- a pull request's report comment


@pytest.fixture
def github(monkeypatch, tmp_path):
    """A recording stand-in for GitHub's API (tests/github_stub.py) in GITHUB_API_URL, and the
    variables GitHub Actions sets for a run of pull request 7 of team-prompts/governed."""
    import json

    from github_stub import GitHubStub

    stub = GitHubStub()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": 7}}), encoding="utf-8")
    for name, value in {"GITHUB_API_URL": stub.start(), "GITHUB_TOKEN": "ghs_job-token",
                        "GITHUB_REPOSITORY": "team-prompts/governed", "GITHUB_EVENT_PATH": str(event),
                        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242"}.items():
        monkeypatch.setenv(name, value)
    yield stub
    stub.stop()


@pytest.fixture
def report(gov, capsys) -> Path:
    """What the gate job writes: `promptlane report --markdown OUT` of the scaffold."""
    from governed import pl

    out = gov.parent / "pr-report" / "report.md"
    code, printed = pl(gov, capsys, "report", "--markdown", str(out))
    assert code == 0, printed
    return out


# ---------------------------------------------------------------- a repository that lived a life (session)


@pytest.fixture(scope="session")
def session_env(tmp_path_factory):
    """Git identity, an empty global git config and a tmp HOME for session-wide fixtures."""
    base = tmp_path_factory.mktemp("report-env")
    (base / "gitconfig").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in GIT_ENV.items():
            mp.setenv(key, value)
        mp.setenv("GIT_CONFIG_GLOBAL", str(base / "gitconfig"))
        mp.setenv("HOME", str(base))
        mp.delenv("PROMPTLANE_ACTOR", raising=False)
        yield mp


@pytest.fixture(scope="session")
def scaffold(tmp_path_factory, session_env) -> Path:
    """The template rendered once with its defaults (read-only: copy before changing)."""
    import contextlib
    import io

    from promptlane.commands.init import init

    base = tmp_path_factory.mktemp("scaffold")
    config = base / "cookiecutter.yml"
    config.write_text(f"cookiecutters_dir: {base / 'cc'}\nreplay_dir: {base / 'replay'}\n")
    with contextlib.redirect_stdout(io.StringIO()):
        root = init(base / "governed", {"project": "governed"}, config_file=str(config))
    register(root, *KNOWN)
    return root


@pytest.fixture(scope="session")
def life(scaffold, tmp_path_factory, session_env) -> dict:
    """1.0.0 (scaffold) -> 1.0.1 promoted to staging and prod -> 1.0.2 in dev (80% evals).

    Returns {"root": Path, "released": commit after the prod promotion}."""
    from governed import PID, PROD_ROLES, cli, commit, edit_text, write_results

    mp = session_env
    root = tmp_path_factory.mktemp("life") / "governed"
    shutil.copytree(scaffold, root, symlinks=True)
    git(root, "init", "-q", "-b", "main")
    commit(root, "scaffold")
    mp.setenv("PROMPTLANE_NOW", "2026-12-01T09:00:00Z")
    edit_text(root, "Keep replies short.")
    assert cli(root, "sync", mp=mp)[0] == 1
    commit(root, "1.0.1")

    mp.setenv("PROMPTLANE_NOW", "2026-12-01T10:00:00Z")
    write_results(root, "2026-12-01T09:30:00Z")
    for role, user in PROD_ROLES.items():
        code, out = cli(root, "approve", PID, "--role", role, actor=f"{user}@example.com", mp=mp)
        assert code == 0, out
    for env in ("staging", "prod"):
        code, out = cli(root, "promote", PID, "--to", env, mp=mp)
        assert code == 0, out
    commit(root, "1.0.1 in prod")
    released = git(root, "rev-parse", "HEAD").stdout.strip()

    mp.setenv("PROMPTLANE_NOW", "2026-12-02T09:00:00Z")
    edit_text(root, "Never promise refunds.")
    assert cli(root, "sync", mp=mp)[0] == 1
    write_results(root, "2026-12-02T09:10:00Z", pass_rate=0.8)
    commit(root, "1.0.2")
    mp.delenv("PROMPTLANE_NOW")
    return {"root": root, "released": released}
