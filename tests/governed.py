"""Helpers for tests in a governed repository rendered from the template (the `rendered_template`
and `gov` fixtures live in conftest.py): paths, reviewer identities, a pinned clock, eval
result files written directly (they are the gates' input; the eval runner is tested with real
promptfoo elsewhere), and the CLI run in-process.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import yaml

from conftest import git
from keys import key_for
from promptlane.cli import main as cli_main

PID = "support-reply"
CARD = f"prompts/{PID}/card.yml"
LOCK = f"registry/{PID}.lock.json"
CHANGELOG = "schemas/prompt-change-log.yml"
AUDIT = "audit/artifact-audit-log.md"
EVAL_CONFIG = "evals/eval-config.promptfoo.yml"
CATEGORIES = ("accuracy", "hallucination", "cost", "safety")
PROD_ROLES = {"PM": "pm", "Tech Lead": "tech-lead", "QA": "qa", "Security": "security", "Governance": "governance"}


def clock(monkeypatch, when: str) -> None:
    monkeypatch.setenv("PROMPTLANE_NOW", when)


def as_user(monkeypatch, email: str) -> None:
    monkeypatch.setenv("PROMPTLANE_ACTOR", email)


def as_author(monkeypatch) -> None:
    """dana@example.com (conftest's git identity) edits prompts: the author of new versions."""
    monkeypatch.delenv("PROMPTLANE_ACTOR", raising=False)


def pl(root: Path, capsys, *args: str) -> tuple[int, str]:
    """Run the CLI in-process; (exit code, stdout + stderr)."""
    code = cli_main(["-C", str(root), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def card(root: Path) -> dict:
    return yaml.safe_load((root / CARD).read_text(encoding="utf-8"))


def lock(root: Path) -> dict:
    return json.loads((root / LOCK).read_text(encoding="utf-8"))


def changelog(root: Path) -> list[dict]:
    return yaml.safe_load((root / CHANGELOG).read_text(encoding="utf-8")) or []


def use_providers(root: Path, providers: list | None) -> None:
    """The eval config's ``providers:`` replaced (None: none, so each card's own model runs)."""
    path = root / EVAL_CONFIG
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.pop("providers")
    if providers is not None:
        doc["providers"] = providers
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def edit_text(root: Path, text: str = "Keep replies short.") -> None:
    path = root / f"prompts/{PID}/system.md"
    path.write_text(path.read_text(encoding="utf-8") + text + "\n", encoding="utf-8")


def write_results(root: Path, when: str, pass_rate: float = 1.0, categories: dict | None = None,
                  payload_hash: str | None = None, prompt_id: str = PID) -> Path:
    """An eval result file (promptlane-eval/2) for the card's current hash, bound to the
    repository's current eval inputs (store/evalinputs.current_inputs), as `eval run` binds them."""
    from promptlane.store.cards import read_card
    from promptlane.store.evalinputs import current_inputs
    from promptlane.store.repo import Repo

    own = yaml.safe_load((root / f"prompts/{prompt_id}/card.yml").read_text(encoding="utf-8"))
    payload_hash = payload_hash or own["hash"]
    tests = 10
    passed = round(tests * pass_rate)
    cats = categories or {name: 1.0 for name in CATEGORIES}
    doc = {
        "format": "promptlane-eval/2", "prompt": prompt_id, "hash": payload_hash, "version": str(own["version"]),
        "time": when, "promptfoo_version": "0.121.20", "provider": "local-echo",
        "tests": tests, "passed": passed, "failed": tests - passed, "errors": 0, "pass_rate": passed / tests,
        "categories": {name: {"tests": 4, "passed": round(4 * rate), "pass_rate": round(4 * rate) / 4} for name, rate in cats.items()},
        "tokens": {"prompt": 900, "completion": 300, "total": 1200}, "cost_usd": 0.0012, "failures": [],
        "inputs": current_inputs(Repo(root), read_card(Repo(root), prompt_id)),
    }
    path = root / "evals/results" / prompt_id / f"{payload_hash.split(':')[1][:16]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def answered(extra: tuple[str, ...]) -> tuple[str, ...]:
    """An approval's arguments with its checklist answered in full (--all-confirmed; the
    template's prod rule requires it), unless they answer it themselves or reject."""
    if {"--confirm", "--all-confirmed", "reject"} & set(extra) or "--decision=reject" in extra:
        return extra
    return (*extra, "--all-confirmed")


def approve_as(root: Path, capsys, monkeypatch, role: str, email: str | None = None, *extra: str) -> tuple[int, str]:
    """``promptlane approve`` as the reviewer, signing with their own key (tests/keys.py), every
    item of the role's checklist confirmed unless ``extra`` says otherwise."""
    email = email or f"{PROD_ROLES[role]}@example.com"
    as_user(monkeypatch, email)
    try:
        return pl(root, capsys, "approve", PID, "--role", role, "--key", str(key_for(email)), *answered(extra))
    finally:
        as_author(monkeypatch)


def new_version(root: Path, capsys, text: str = "Keep replies short.") -> str:
    """Edit the prompt as its author and sync: the new version."""
    edit_text(root, text)
    code, out = pl(root, capsys, "sync")
    assert code == 1, out
    return card(root)["version"]


def ready_for(root: Path, capsys, monkeypatch, env: str, when: str) -> None:
    """Eval results and every approval ``env`` needs for the current hash (high risk)."""
    write_results(root, when)
    roles = ["PM"] if env == "staging" else list(PROD_ROLES)
    for role in roles:
        code, out = approve_as(root, capsys, monkeypatch, role)
        assert code == 0, out


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def cli(root: Path, *args: str, actor: str | None = None, mp) -> tuple[int, str]:
    """The CLI in-process as ``actor`` (default: the git author, dana), for session fixtures
    that have no capsys: (exit code, stdout + stderr)."""
    if actor:
        mp.setenv("PROMPTLANE_ACTOR", actor)
        if args[:1] == ("approve",) and "--key" not in args:
            args = (*args, "--key", str(key_for(actor)))  # each reviewer signs with their own key
        if args[:1] == ("approve",) and not {"--governance", "--policy", "--retire", "--sign"} & set(args):
            args = (args[0], *answered(args[1:]))
    else:
        mp.delenv("PROMPTLANE_ACTOR", raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli_main(["-C", str(root), *args])
    mp.delenv("PROMPTLANE_ACTOR", raising=False)
    return code, out.getvalue()
