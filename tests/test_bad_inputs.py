"""A catalogue of bad inputs beyond the card itself (test_card_catalogue.py has those 23).

Each case breaks a fresh copy of the rendered template (the ``gov`` fixture of conftest.py: committed on
main, clock pinned, dana@example.com as the author), runs one command and asserts:

* its exit code (0 fine, 1 a check failed, 2 bad usage or configuration);
* the problem line it prints, ``path:line:col: CODE`` plus a key phrase (or, for a refusal
  without a file to point at, the command's one-line message on stderr);
* that NO FILE CHANGED: the tree (without .git) is byte-for-byte the same after the command.

A few cases are inputs that must be *accepted* (a BOM, CRLF line endings): they pass and
change nothing either. Commands run in-process, except where the case needs its own
process (a PATH without git).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import git, snapshot_tree
from governed import PID, approve_as, as_user, card, commit, new_version, pl, write_results

CARD = f"prompts/{PID}/card.yml"
LOCK = f"registry/{PID}.lock.json"
SNAP = f"registry/store/{PID}/1.0.0.json"
POLICY = "workflows/policy-as-code-example.yml"
REVIEWERS = "reviews/reviewers.yml"
FORM = f"reviews/{PID}/1.0.0/pm-pm.md"
AUDIT = "audit/artifact-audit-log.md"
CHANGELOG = "schemas/prompt-change-log.yml"
TESTS = f"evals/tests/{PID}.yml"
EVAL_CONFIG = "evals/eval-config.promptfoo.yml"
_TEMPLATE = Path(__file__).resolve().parent.parent / "{{cookiecutter.project}}"
_EVAL_CONFIG_LINES = (_TEMPLATE / EVAL_CONFIG).read_text().splitlines()


def config_line(text: str) -> int:
    """The line of the template's eval config that holds ``text`` (its comments grow; the rows should not care)."""
    (found,) = [number for number, line in enumerate(_EVAL_CONFIG_LINES, 1) if text in line]
    return found


# The scaffold's logs as the template writes them (one init row and entry per example prompt; the
# cookiecutter variables sit inside lines, so the rendered files have these lines too).
_AUDIT_LINES = (_TEMPLATE / AUDIT).read_text(encoding="utf-8").splitlines()
SCAFFOLD_AUDIT_LINES = len(_AUDIT_LINES)
SCAFFOLD_ROWS = sum(1 for line in _AUDIT_LINES if re.match(r"\| \d+ \|", line))
SCAFFOLD_CHANGELOG_LINES = len((_TEMPLATE / CHANGELOG).read_text(encoding="utf-8").splitlines())
EXAMPLE = "schemas/prompt-card.example.yml"
JOURNAL = ".promptlane/journal.json"
OTHER_HASH = "sha256:" + "ab" * 32
SCAFFOLD_HASH_PREFIX = "sha256:057d65a56c7e"  # the template's support-reply 1.0.0


@dataclass
class Ctx:
    """What a setup function may use: the repository, pytest's monkeypatch and capsys."""
    root: Path
    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture
    env: dict = field(default_factory=dict)   # extra environment for a subprocess case

    def edit(self, rel: str, old: str, new: str, count: int = -1) -> None:
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, count), encoding="utf-8")

    def write(self, rel: str, data: str | bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))

    def append(self, rel: str, data: str | bytes) -> None:
        with open(self.root / rel, "ab") as handle:
            handle.write(data if isinstance(data, bytes) else data.encode("utf-8"))

    def cli(self, *args: str) -> str:
        """A promptlane command as part of the setup (must succeed)."""
        code, out = pl(self.root, self.capsys, *args)
        assert code in (0, 1), out
        return out

    def new_version(self, text: str = "Keep replies short.") -> None:
        new_version(self.root, self.capsys, text)

    def approve(self, role: str = "PM", email: str | None = None) -> None:
        code, out = approve_as(self.root, self.capsys, self.monkeypatch, role, email)
        assert code == 0, out

    def staging_ready(self) -> None:
        """Eval results and the PM approval that staging needs for the current hash."""
        write_results(self.root, "2026-12-01T08:30:00Z")
        self.approve("PM")

    def read_only(self, rel: str) -> None:
        """``rel`` read-only; root ignores mode bits, so os.access is asked by mode (as in test_sync_check)."""
        (self.root / rel).chmod(0o444)
        real = os.access
        self.monkeypatch.setattr(os, "access", lambda p, m: real(p, m) and bool(os.stat(p).st_mode & 0o200 or m != os.W_OK))


@dataclass(frozen=True)
class RunIn:
    """Returned by a setup that makes another folder to run the command in (a clone, a plain folder)."""
    path: Path


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Ctx], object]      # may return RunIn(folder) to run elsewhere
    argv: tuple[str, ...]                # "{root}" is replaced by the repository's path
    code: int
    expect: tuple[tuple[str, str], ...]  # (line prefix, key phrase): a printed line starts with and contains them
    own_process: bool = False
    after: Callable[[Path], None] | None = None   # more assertions on the unchanged repository
    xfail: str | None = None
    interrupted: bool = False                     # the setup kills a run part-way (its temp files remain)


def C(name, setup, argv, code, *expect, **kw) -> Case:
    return Case(name, setup, tuple(argv.split()) if isinstance(argv, str) else tuple(argv), code, tuple(expect), **kw)


# ---------------------------------------------------------------- setups that need a few lines


def crlf(ctx: Ctx, *rels: str) -> None:
    for rel in rels:
        path = ctx.root / rel
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def bom(ctx: Ctx, rel: str) -> None:
    path = ctx.root / rel
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def same_hash_as_the_lock(root: Path) -> None:
    from promptlane.store.cards import read_card
    from promptlane.store.repo import Repo

    card_read = read_card(Repo(root), PID)
    assert card_read.ok and card_read.hash == json.loads((root / LOCK).read_text())["versions"][0]["hash"]
    assert b"\r\n" in (root / f"prompts/{PID}/system.md").read_bytes()


def two_versions(ctx: Ctx) -> None:
    ctx.new_version()
    commit(ctx.root, "1.0.1")


# After two_versions: the scaffold's rows, then 1.0.1's on the line after the scaffold's last.
NEW_ROW = SCAFFOLD_ROWS + 1
NEW_ROW_LINE = SCAFFOLD_AUDIT_LINES + 1


def audit_rows(ctx: Ctx) -> list[str]:
    two_versions(ctx)
    lines = (ctx.root / AUDIT).read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) == NEW_ROW_LINE and lines[-1].startswith(f"| {NEW_ROW} | ") and f"| {PID} | 1.0.1 |" in lines[-1]
    assert lines[-2].startswith(f"| {NEW_ROW - 1} | ")
    return lines


def truncated_audit(ctx: Ctx) -> None:
    lines = audit_rows(ctx)
    ctx.write(AUDIT, "".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # the last row cut mid-line


def reordered_audit(ctx: Ctx) -> None:
    lines = audit_rows(ctx)
    ctx.write(AUDIT, "".join(lines[:-2] + [lines[-1], lines[-2]]))  # the last two rows swapped


def edited_audit_row(ctx: Ctx) -> None:
    ctx.edit(AUDIT, "| first version |", "| first version, reviewed |")


SEALED_1 = "audit/archive/0001"
SEALED_2 = "audit/archive/0002"


def sealed_twice(ctx: Ctx) -> None:
    """The scaffold's rows and 1.0.1's sealed in 0001, 1.0.2's row in 0002, each seal committed on its own."""
    two_versions(ctx)
    ctx.cli("audit", "seal")
    commit(ctx.root, "seal 1")
    ctx.new_version("Answer in the customer's language.")
    commit(ctx.root, "1.0.2")
    ctx.cli("audit", "seal")
    commit(ctx.root, "seal 2")


def interrupted_seal(ctx: Ctx) -> None:
    """`audit seal` killed after its journal and temp files were written."""
    env = {**os.environ, "PROMPTLANE_FAULT_AT": "temp"}
    done = subprocess.run([sys.executable, "-m", "promptlane.cli", "-C", str(ctx.root), "audit", "seal"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 70, done.stdout + done.stderr


def sealed_then(change: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        sealed_twice(ctx)
        change(ctx)
    return setup


def lock_doc(ctx: Ctx, change: Callable[[dict], None]) -> None:
    doc = json.loads((ctx.root / LOCK).read_text(encoding="utf-8"))
    change(doc)
    ctx.write(LOCK, json.dumps(doc, indent=2) + "\n")


def duplicate_version(doc: dict) -> None:
    doc["versions"].append(dict(doc["versions"][0], hash=OTHER_HASH))


def shallow_clone(ctx: Ctx) -> RunIn:
    two_versions(ctx)
    clone = ctx.tmp / "shallow"
    git(ctx.tmp, "clone", "-q", "--depth", "1", f"file://{ctx.root}", str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    return RunIn(clone)


def detached_head_ready_for_prod(ctx: Ctx) -> None:
    ctx.monkeypatch.delenv("PROMPTLANE_BRANCH", raising=False)
    ctx.staging_ready()
    assert ctx.cli("promote", PID, "--to", "staging")
    commit(ctx.root, "staging")
    git(ctx.root, "checkout", "-q", "--detach")


def no_git_on_path(ctx: Ctx) -> None:
    empty = ctx.tmp / "empty-bin"
    empty.mkdir()
    ctx.env["PATH"] = str(empty)


FAKE_PROMPTFOO = """#!{python}
import sys
if sys.argv[1:] == ["--version"]:  # it starts: the failure is the eval's (promptlane asks after a run without results)
    print("0.121.20")
    sys.exit(0)
sys.stderr.write("TypeError: Cannot read properties of undefined (reading 'vars')\\n    at evaluate (src/evaluator.ts:42)\\n")
sys.exit({code})
"""


def fake_promptfoo(ctx: Ctx, code: int = 0) -> None:
    """promptfoo replaced by a script (exit ``code``, a stack trace on stderr); Node.js not needed."""
    script = ctx.tmp / "fake-promptfoo"
    script.write_text(FAKE_PROMPTFOO.format(python=sys.executable, code=code))
    script.chmod(0o755)
    ctx.monkeypatch.setenv("PROMPTLANE_PROMPTFOO", str(script))
    ctx.monkeypatch.setattr("promptlane.evals.runner.require_node", lambda: None)


def format_1(path: Path) -> None:
    """A results file as promptlane wrote it before inputs were recorded."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.pop("inputs")
    path.write_text(json.dumps({**doc, "format": "promptlane-eval/1"}), encoding="utf-8")


def current_promptfoo_results(ctx: Ctx) -> Path:
    """promptfoo results of support-reply's current payload (its rendered steps)."""
    from promptlane.evals.render import messages
    from promptlane.store.cards import read_card
    from promptlane.store.repo import Repo

    card = read_card(Repo(ctx.root), PID)
    path = promptfoo_results(ctx, card.hash)
    doc = json.loads(path.read_text())
    row = doc["results"]["results"][0]
    row["prompt"]["raw"] = json.dumps(messages(card.payload["steps"], row["vars"]))
    path.write_text(json.dumps(doc))
    return path


def promptfoo_results(ctx: Ctx, bound_hash: str) -> Path:
    """A promptfoo results.json for support-reply whose prompt config names ``bound_hash``."""
    row = {"success": True, "score": 1, "cost": 0.0001, "vars": {"customer_name": "Ana", "question": "Hi?"},
           "prompt": {"raw": "[]", "label": PID, "config": {"promptlane_prompt": PID, "promptlane_hash": bound_hash}},
           "testCase": {"description": "t", "metadata": {"category": "accuracy"}, "vars": {"customer_name": "Ana", "question": "Hi?"}},
           "gradingResult": {"pass": True, "reason": "ok"}, "tokenUsage": {"total": 10, "prompt": 8, "completion": 2},
           "provider": {"id": "echo", "label": "echo"}}
    doc = {"results": {"version": 3, "timestamp": "2026-12-01T08:00:00Z", "results": [row], "stats": {}},
           "metadata": {"promptfooVersion": "0.121.20"}}
    path = ctx.tmp / "results.json"
    path.write_text(json.dumps(doc))
    return path


def results_file(root: Path) -> Path:
    return root / "evals/results" / PID / (card(root)["hash"].split(":")[1][:16] + ".json")


def log_record_without_hash(ctx: Ctx) -> None:
    sample = json.loads((ctx.root / "logs/log-sample.output.json").read_text(encoding="utf-8"))
    record = sample[0] if isinstance(sample, list) else sample
    del record["hash"]
    ctx.write("trace.jsonl", json.dumps(record) + "\n")


def raised_by_hand(ctx: Ctx, env: str = "staging") -> None:
    ctx.edit(CARD, "environment: dev", f"environment: {env}")


def stale_approval(ctx: Ctx) -> None:
    """PM approved 1.0.0; the text changed (1.0.1) and the form was moved to 1.0.1 by hand."""
    ctx.approve("PM")
    ctx.new_version()
    write_results(ctx.root, "2026-12-01T08:30:00Z")
    old = ctx.root / FORM
    new = ctx.root / f"reviews/{PID}/1.0.1/pm-pm.md"
    new.parent.mkdir(parents=True)
    new.write_text(old.read_text().replace('version: "1.0.0"', 'version: "1.0.1"'))
    raised_by_hand(ctx)


def self_approval(ctx: Ctx) -> None:
    ctx.new_version()  # dana@example.com is the author of 1.0.1 ...
    ctx.edit(REVIEWERS, "  - pm@example.com\n", "  - pm@example.com\n  - dana@example.com\n")  # ... and a PM
    as_user(ctx.monkeypatch, "dana@example.com")


def staging_served(ctx: Ctx) -> None:
    ctx.staging_ready()
    ctx.cli("promote", PID, "--to", "staging")


def issued_hash(ctx: Ctx, version: str) -> str:
    return next(v["hash"] for v in json.loads((ctx.root / LOCK).read_text(encoding="utf-8"))["versions"] if v["version"] == version)


def hash_of_1_0_0_on_1_0_1(ctx: Ctx) -> None:
    """The card at 1.0.1 claims 1.0.0's hash: sync would 'return' it to 1.0.1 and log it."""
    two_versions(ctx)
    ctx.edit(CARD, f"hash: {issued_hash(ctx, '1.0.1')}", f"hash: {issued_hash(ctx, '1.0.0')}")


def old_card_checked_out(ctx: Ctx) -> None:
    """The 1.0.0 card and texts back from git while dev serves 1.0.1: no environment serves 1.0.0."""
    two_versions(ctx)
    git(ctx.root, "checkout", "HEAD~1", "--", f"prompts/{PID}")


def symlinked_text(ctx: Ctx) -> None:
    outside = ctx.tmp / "outside.md"
    outside.write_text("Customer {{ customer_name }} asks: {{ question }}\n")
    user = ctx.root / f"prompts/{PID}/user.md"
    user.unlink()
    user.symlink_to(outside)


def sparse_50mb_text(ctx: Ctx) -> None:
    with open(ctx.root / f"prompts/{PID}/user.md", "ab") as handle:
        handle.truncate(50 * 1024 * 1024)


def duplicate_id(ctx: Ctx) -> None:
    shutil.copytree(ctx.root / f"prompts/{PID}", ctx.root / f"prompts/{PID}-copy")


def not_governed(ctx: Ctx) -> RunIn:
    other = ctx.tmp / "plain"
    other.mkdir()
    (other / "README.md").write_text("not a governed repository\n")
    return RunIn(other)


def comment_run(event: str | None = '{"pull_request": {"number": 7}}', report: str | bytes | None = "## promptlane\n",
                token: bool = True) -> Callable[[Ctx], None]:
    """What GitHub Actions sets for `report --comment`; refused before any call (the API address is a closed port)."""
    def setup(ctx: Ctx) -> None:
        ctx.monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
        ctx.monkeypatch.setenv("GITHUB_REPOSITORY", "team-prompts/governed")
        ctx.monkeypatch.setenv("GITHUB_EVENT_PATH", "event.json")
        if token:
            ctx.monkeypatch.setenv("GITHUB_TOKEN", "ghs_job-token")
        else:
            ctx.monkeypatch.delenv("GITHUB_TOKEN", raising=False)
        if event is not None:
            ctx.write("event.json", event)
        if report is not None:
            ctx.write("pr-report.md", report)
    return setup


def folder_with_newline(ctx: Ctx) -> None:
    shutil.copytree(ctx.root / f"prompts/{PID}", ctx.root / "prompts/b\n")


def path_becomes_folder(rel: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        (ctx.root / rel).unlink()
        (ctx.root / rel).mkdir()
    return setup


def dangling_form(ctx: Ctx) -> None:
    folder = ctx.root / f"reviews/{PID}/1.0.0"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pm-pm.md").symlink_to(folder / "nowhere.md")


def dangling_lock(ctx: Ctx) -> None:
    (ctx.root / LOCK).unlink()
    (ctx.root / LOCK).symlink_to(ctx.root / "registry/nowhere.json")


def pointer_never_issued(ctx: Ctx) -> None:
    """staging points at 9.9.9, which the lock never issued, though a snapshot of that name exists."""
    lock_doc(ctx, lambda doc: doc["environments"].update(staging="9.9.9"))
    shutil.copyfile(ctx.root / SNAP, ctx.root / f"registry/store/{PID}/9.9.9.json")


def promptlane_folder_is_a_file(ctx: Ctx) -> None:
    ctx.edit(f"prompts/{PID}/system.md", "\n", "\nKeep replies short.\n", 1)
    shutil.rmtree(ctx.root / ".promptlane", ignore_errors=True)
    ctx.write(".promptlane", "notes\n")


def plain_folder(ctx: Ctx) -> RunIn:
    other = ctx.tmp / "not-git"
    other.mkdir()
    return RunIn(other)


def file_in_the_way(ctx: Ctx) -> None:
    ctx.write("exports", "a file where the export wants a folder\n")


def no_front_matter(ctx: Ctx) -> None:
    ctx.staging_ready()
    ctx.write(FORM, "# Prompt approval\n\nApproved by PM.\n")


def form_edit(old: str, new: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        ctx.staging_ready()
        ctx.edit(FORM, old, new, 1)
    return setup


def corrupt_snapshot(ctx: Ctx) -> None:
    ctx.write(SNAP, '{"format": "promptlane-snapshot/1", "hash": ')  # cut mid-write


def card_text(ctx: Ctx) -> str:
    return (ctx.root / CARD).read_text(encoding="utf-8")


def journal_outside(ctx: Ctx) -> None:
    """A journal that names files outside the repository (it could arrive in a commit: .gitignore
    does not stop `git add -f`, and the hooks run sync on every commit and in CI)."""
    (ctx.tmp / "victim.txt").write_text("not promptlane's to touch\n")
    ctx.write(JOURNAL, json.dumps({"writes": [], "appends": [{"path": "../victim.txt", "size": 0}]}))


def victim_untouched(root: Path) -> None:
    assert (root.parent / "victim.txt").read_text() == "not promptlane's to touch\n"


# ---------------------------------------------------------------- the catalogue

P = POLICY
CASES = [
    # ---- policy file: syntax, YAML 1.1 traps, unknown keys, wrong types, structure, loosening
    C("policy-yaml-syntax", lambda c: c.edit(P, "environments: [dev, staging, prod]", "environments: [dev, staging, prod"),
      "check", 2, (f"{P}:38:10: PL100", "YAML syntax error: did not find expected ',' or ']'")),
    C("policy-yaml11-bool-allow-skip", lambda c: c.edit(P, "allow_skip: false", "allow_skip: no", 1),
      "check", 2, (f"{P}:42:17: PL102", "'no' is read as a boolean by YAML 1.1")),
    C("policy-yaml11-bool-policy-only", lambda c: c.edit(P, "policy_only: true", "policy_only: yes", 1),
      f"promote {PID} --to staging", 2, (f"{P}:53:22: PL102", "'yes' is read as a boolean by YAML 1.1")),
    C("policy-unknown-key", lambda c: c.edit(P, "allow_skip: false", "allow_skip: false\n    alow_skip: true", 1),
      "check", 1, (f"{P}:43:5: PL400", "promotion.staging: unknown key 'alow_skip'")),
    C("policy-wrong-type", lambda c: c.edit(P, "min_pass_rate: 0.9\n", "min_pass_rate: high\n", 1),
      f"promote {PID} --to staging", 2, (f"{P}:62:24: PL400", "min_pass_rate: 'high' is not of type 'number'")),
    C("policy-one-environment", lambda c: c.edit(P, "environments: [dev, staging, prod]", "environments: [dev]"),
      "sync", 2, (f"{P}:36:15: PL171", "environments: must list at least two unique names")),
    C("policy-not-a-mapping", lambda c: c.write(P, "- dev\n- staging\n- prod\n"),
      "check", 2, (f"{P}:1:1: PL170", "must be a YAML mapping")),
    C("policy-loosened-without-governance", lambda c: c.edit(P, "min_pass_rate: 0.9\n", "min_pass_rate: 0.5\n", 1),
      "check", 1, (f"{P}:62:24: PL410", "policy loosened: promotion.staging.risk.high.min_pass_rate lowered 0.9 -> 0.5")),
    C("policy-bom-and-crlf-accepted", lambda c: (crlf(c, P), bom(c, P)), "check", 0),

    # ---- reviewers.yml and review forms
    C("reviewers-yaml-syntax", lambda c: c.edit(REVIEWERS, "  - qa@example.com", "  - [qa@example.com"),
      f"approve {PID} --role PM", 2, (f"{REVIEWERS}:9:11: PL100", "YAML syntax error")),
    C("reviewers-duplicate-role", lambda c: c.append(REVIEWERS, '"PM":\n  - mallory@example.com\n'),
      f"approve {PID} --role PM", 2, (f"{REVIEWERS}:13:1: PL101", "duplicate key 'PM' (first at line 3)")),
    C("reviewers-role-not-a-list", lambda c: c.edit(REVIEWERS, '"QA":\n  - qa@example.com', '"QA": qa@example.com'),
      f"approve {PID} --role PM", 2, (f"{REVIEWERS}:1:1: PL510", "must map each role to a list of e-mails")),
    C("review-form-yaml-syntax", form_edit('hash: "', 'hash: ["'),
      f"promote {PID} --to staging", 1, (f"{FORM}:8:1: PL100", "YAML syntax error")),
    C("review-form-no-front-matter", no_front_matter,
      f"promote {PID} --to staging", 1, (f"{FORM}:1:1: PL500", "has no YAML front matter")),
    C("review-form-unknown-key", form_edit("note:", "signed_by_ceo: true\nnote:"),
      f"promote {PID} --to staging", 1, (f"{FORM}:5:1: PL501", "'signed_by_ceo' was unexpected")),
    C("review-form-wrong-type", form_edit('version: "1.0.0"', "version: 1.0"),
      f"promote {PID} --to staging", 1, (f"{FORM}:6:10: PL501", "version: 1.0 is not of type 'string'")),
    C("approval-forged-hash-edited", lambda c: (form_edit('hash: "sha256:057d', 'hash: "sha256:157d')(c), raised_by_hand(c)),
      "sync", 1, (f"{FORM}:7:7: PL504", "is not the current hash of support-reply 1.0.0")),
    C("approval-stale-older-hash", stale_approval,
      "check", 1, (f"reviews/{PID}/1.0.1/pm-pm.md:7:7: PL504", "an approval counts only for the text it reviewed")),
    C("approval-self", self_approval,
      f"approve {PID} --role PM", 1, (f"{CARD}:22:9: PL507", "dana@example.com is the author of support-reply 1.0.1 and cannot approve it")),
    C("approval-unknown-reviewer", lambda c: as_user(c.monkeypatch, "mallory@example.com"),
      f"approve {PID} --role PM", 1, (f"{REVIEWERS}:3:1: PL505", "mallory@example.com is not listed under PM")),
    C("approve-unknown-role", lambda c: None,
      f"approve {PID} --role Intern", 2, ("promptlane approve: ", "role 'Intern' is not in reviews/reviewers.yml")),
    C("approve-policy-by-wrong-role", lambda c: None,
      "approve --policy --role QA", 2, ("promptlane approve: ", "a governance change is approved by the Governance role")),
    C("approve-without-a-signing-key", lambda c: as_user(c.monkeypatch, "pm@example.com"),
      f"approve {PID} --role PM --all-confirmed", 2, (".git/config:1:1: PL540", "no signing key; set your signing key as for signed git commits")),
    C("approve-with-a-missing-key-file", lambda c: as_user(c.monkeypatch, "pm@example.com"),
      f"approve {PID} --role PM --all-confirmed --key no-such-key", 2, ("no-such-key:1:1: PL540", "no such key file")),
    C("approve-governance-of-a-plain-file", lambda c: as_user(c.monkeypatch, "governance@example.com"),
      "approve --governance README.md --role Governance", 2, ("promptlane approve: ", "--governance README.md: not a governance file")),
    C("approve-sign-a-form-that-is-not-one", lambda c: as_user(c.monkeypatch, "pm@example.com"),
      "approve --sign README.md", 2, ("promptlane approve: ", "README.md: not a review form")),
    # prod's rule has require_checklist: off a terminal an approval must say what it confirms
    C("approve-checklist-unanswered-off-a-terminal", lambda c: as_user(c.monkeypatch, "pm@example.com"),
      f"approve {PID} --role PM", 2, ("promptlane approve: ", "the policy requires the PM checklist for prod (require_checklist)")),
    C("approve-confirm-an-item-not-in-the-checklist", lambda c: as_user(c.monkeypatch, "pm@example.com"),
      ["approve", PID, "--role", "PM", "--confirm", "Tone and length suit the audience"], 2,
      ("promptlane approve: ", "is not an item of this checklist (did you mean 'Tone, language and length suit the audience.'?)")),
    C("approve-confirm-on-a-governance-approval", lambda c: as_user(c.monkeypatch, "governance@example.com"),
      "approve --governance reviews/allowed_signers --role Governance --all-confirmed", 2,
      ("promptlane approve: ", "--sign, --retire and governance approvals have none")),
    C("allowed-signers-line-not-base64", lambda c: c.append("reviews/allowed_signers", "pm@example.com ssh-ed25519 not*base64\n"),
      "check reviews/allowed_signers", 1, ("reviews/allowed_signers:", "PL512 not an allowed_signers line")),
    C("allowed-signers-cert-authority", lambda c: c.append("reviews/allowed_signers",
      "*@example.com cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"),
      "check reviews/allowed_signers", 1, ("reviews/allowed_signers:", "PL512 cert-authority keys are not supported")),

    # ---- evals: test files, config, promptfoo missing or crashing, results
    C("eval-tests-yaml-syntax", lambda c: (fake_promptfoo(c), c.edit(TESTS, "metadata: {category: accuracy}", "metadata: {category: accuracy", 1)),
      f"eval run {PID}", 2, (f"{TESTS}:7:7: PL100", "YAML syntax error: did not find expected ',' or '}'")),
    C("eval-tests-unknown-category", lambda c: (fake_promptfoo(c), c.edit(TESTS, "{category: accuracy}", "{category: vibes}", 1)),
      f"eval run {PID}", 2, (f"{TESTS}:6:24: PL321", "[0] metadata.category is 'vibes'")),
    # check (and so the commit) refuses a test file `eval run` would refuse, at the offending key
    C("check-eval-tests-yaml-syntax", lambda c: c.edit(TESTS, "metadata: {category: accuracy}", "metadata: {category: accuracy", 1),
      f"check {TESTS}", 1, (f"{TESTS}:7:7: PL100", "YAML syntax error: did not find expected ',' or '}'")),
    C("check-eval-test-not-a-mapping", lambda c: c.append(TESTS, "- just a string\n"),
      f"check {TESTS}", 1, (f"{TESTS}:94:3: PL320", "[6]: a test case must be a mapping (description, metadata, vars, assert)")),
    C("check-eval-tests-not-a-list", lambda c: c.write(TESTS, "description: one test\nvars: {customer_name: Ana}\n"),
      f"check {TESTS}", 1, (f"{TESTS}:1:1: PL320", "must be a non-empty YAML list of promptfoo test cases")),
    C("check-eval-test-unknown-category", lambda c: c.edit(TESTS, "{category: accuracy}", "{category: acuracy}", 1),
      f"check {TESTS}", 1, (f"{TESTS}:6:24: PL321", "[0] metadata.category is 'acuracy' (did you mean 'accuracy'?); use one of accuracy, hallucination, cost, safety")),
    C("check-eval-test-undeclared-var", lambda c: c.edit(TESTS, "customer_name: Ana", "custmer_name: Ana"),
      f"check {TESTS}", 1, (f"{TESTS}:8:5: PL340", "[0] vars.custmer_name: prompts/support-reply declares no such variable "
                            "(variables: customer_name, question) and no assertion of this test uses it (did you mean 'customer_name'?)")),
    C("check-eval-test-var-of-an-assertion-is-accepted", lambda c: c.edit(  # accepted: an assertion's own var is no typo
        TESTS, "    question: Can I get my money back for last week's order?\n  assert:\n    - type: icontains\n      value: refund",
        "    question: Can I get my money back for last week's order?\n    topic: refund\n  assert:\n    - type: icontains\n      value: '{{ topic }}'"),
      f"check {TESTS}", 0),
    C("check-eval-test-missing-var", lambda c: c.edit(TESTS, "    customer_name: Ana\n", ""),
      f"check {TESTS}", 1, (f"{TESTS}:7:3: PL322", "[0] vars: gives no value for {{ customer_name }}, which prompts/support-reply uses")),
    C("check-eval-test-unknown-key", lambda c: c.edit(TESTS, "  assert:\n    - type: icontains\n      value: refund", "  asert:\n    - type: icontains\n      value: refund"),
      f"check {TESTS}", 1, (f"{TESTS}:23:3: PL342", "[1] asert: is not a key of a promptfoo test case, which ignores it (did you mean 'assert'?)")),
    C("check-eval-assertion-unknown-key", lambda c: c.edit(TESTS, "threshold: 0.002", "treshold: 0.002"),
      f"check {TESTS}", 1, (f"{TESTS}:55:7: PL343", "[3] assert[0].treshold: is not a key of a promptfoo assertion, which ignores it (did you mean 'threshold'?)")),
    C("check-eval-tests-of-unknown-prompt", lambda c: c.write("evals/tests/suport-reply.yml", (c.root / TESTS).read_text(encoding="utf-8")),
      "check evals/tests/suport-reply.yml", 1, ("evals/tests/suport-reply.yml:1:1: PL341", "is the tests file of no prompt: prompts/suport-reply/ "
                                                "does not exist (did you mean evals/tests/support-reply.yml, the tests of prompts/support-reply?)")),
    C("check-all-eval-tests-of-unknown-prompt", lambda c: c.write("evals/tests/suport-reply.yml", (c.root / TESTS).read_text(encoding="utf-8")),
      "check --all", 1, ("evals/tests/suport-reply.yml:1:1: PL341", "is the tests file of no prompt")),
    C("check-eval-tests-named-yaml", lambda c: (c.root / TESTS).rename(c.root / f"evals/tests/{PID}.yaml"),
      f"check evals/tests/{PID}.yaml", 1, (f"evals/tests/{PID}.yaml:1:1: PL344", "is not read: `promptlane eval run` reads evals/tests/support-reply.yml")),
    C("eval-config-yaml-syntax", lambda c: (fake_promptfoo(c), c.edit(EVAL_CONFIG, "maxConcurrency: 2", "maxConcurrency: [2")),
      f"eval run {PID}", 2, (f"{EVAL_CONFIG}:{config_line('maxConcurrency') + 1}:1: PL100", "YAML syntax error")),
    C("eval-config-provider-file-missing", lambda c: (fake_promptfoo(c), (c.root / "evals/providers/local_echo.py").unlink()),
      f"eval run {PID}", 2, (f"{EVAL_CONFIG}:{config_line('id: file://providers/local_echo.py')}:9: PL323", "file://providers/local_echo.py does not exist")),
    C("eval-config-unquoted-date", lambda c: (fake_promptfoo(c), c.edit(EVAL_CONFIG, "      output_per_1k: 0.0006\n", "      output_per_1k: 0.0006\n      apiVersion: 2024-10-21\n")),
      f"eval run {PID}", 2, (f"{EVAL_CONFIG}:{config_line('output_per_1k') + 1}:19: PL350", "providers[0].config.apiVersion: 2024-10-21 is a date to YAML, which promptfoo's "
                                                          'config (JSON) cannot hold; quote it ("2024-10-21") to keep it a string')),
    C("eval-config-provider-key-misspelt", lambda c: (fake_promptfoo(c), c.edit(EVAL_CONFIG, "    config:\n      input_per_1k", "    confg:\n      input_per_1k")),
      f"eval run {PID}", 2, (f"{EVAL_CONFIG}:{config_line('input_per_1k') - 1}:5: PL351", "providers[0].confg: is not a key of a promptfoo provider, which ignores it "
                                                         "without a word (did you mean 'config'?)")),
    C("check-eval-test-own-prompts", lambda c: c.edit(TESTS, "metadata: {category: accuracy}", "prompts: [triage-reply]\n  metadata: {category: accuracy}", 1),
      f"check {TESTS}", 1, (f"{TESTS}:6:3: PL348", "[0] prompts: would choose which prompts this test runs against")),
    C("eval-config-provider-prompts", lambda c: (fake_promptfoo(c), c.edit(EVAL_CONFIG, "    label: local-echo\n", "    label: local-echo\n    prompts: [support-reply]\n")),
      f"eval run {PID}", 2, (f"{EVAL_CONFIG}:{config_line('label: local-echo') + 1}:5: PL348", "providers[0].prompts: would choose which prompts this provider runs against")),
    C("check-eval-test-unquoted-date", lambda c: c.edit(TESTS, "metadata: {category: accuracy}", "metadata: {category: accuracy, added: 2024-10-21}", 1),
      f"check {TESTS}", 1, (f"{TESTS}:6:41: PL350", "[0] metadata.added: 2024-10-21 is a date to YAML")),
    C("eval-card-hash-edited", lambda c: (fake_promptfoo(c), c.edit(CARD, "hash: sha256:057d", "hash: sha256:157d")),
      f"eval run {PID}", 2, (f"{CARD}:21:7: PL325", "the card is not synced with its texts and model")),
    C("promptfoo-missing", lambda c: c.monkeypatch.setenv("PROMPTLANE_PROMPTFOO", "/nonexistent/promptfoo"),
      f"eval run {PID}", 2, ("promptlane eval: PROMPTLANE_PROMPTFOO=/nonexistent/promptfoo does not exist",
                             "npm install --prefix .tools/promptfoo promptfoo@0.121.20")),
    C("promptfoo-crashes-exit-1", lambda c: fake_promptfoo(c, 1),
      f"eval run {PID}", 2, ("promptlane eval: support-reply: promptfoo refused the config (exit 1):", ""),
      ("TypeError: Cannot read properties of undefined", "")),
    C("promptfoo-crashes-exit-3", lambda c: fake_promptfoo(c, 3),
      f"eval run {PID}", 1, ("promptlane eval: support-reply: promptfoo exited 3 without results:", "")),
    C("eval-import-malformed-file", lambda c: c.write("results.json", '{"results": [1, 2'),
      f"eval import {{root}}/results.json --prompt {PID}", 2, ("promptlane eval: ", "is not a readable JSON file")),
    C("eval-import-results-for-another-hash", lambda c: promptfoo_results(c, OTHER_HASH),
      f"eval import {{tmp}}/results.json --prompt {PID}", 1,
      ("promptlane eval: refused:", "is not the current payload of support-reply"), ("  test 't': was produced for sha256:abababababab", "")),
    C("eval-import-bad-prompt-id", lambda c: None,
      "eval import {root}/x.json --prompt ../../etc", 2, ("prompts/../../etc:1:1: PL120", "is not a prompt id")),
    C("promote-results-for-another-hash", lambda c: write_results(c.root, "2026-12-01T08:00:00Z", payload_hash=OTHER_HASH).rename(results_file(c.root)),
      f"promote {PID} --to staging", 1, (f"evals/results/{PID}/057d65a56c7e0a17.json:1:1: PL330", "belongs to support-reply sha256:abababababab..., not support-reply sha256:057d65a56c7e")),
    C("promote-results-malformed", lambda c: (write_results(c.root, "2026-12-01T08:00:00Z"), results_file(c.root).write_text('{"format": ')),
      f"promote {PID} --to staging", 1, (f"evals/results/{PID}/057d65a56c7e0a17.json:1:1: PL330", "is not valid UTF-8 JSON")),
    # ---- results bound to what was run (issue 16, item 4)
    C("promote-results-of-format-1", lambda c: format_1(write_results(c.root, "2026-12-01T08:00:00Z")),
      f"promote {PID} --to staging", 1, (f"evals/results/{PID}/057d65a56c7e0a17.json:1:1: PL331", "are promptlane-eval/1, not bound to the eval config")),
    C("promote-results-of-other-tests", lambda c: (write_results(c.root, "2026-12-01T08:00:00Z"), c.edit(TESTS, "Ana", "Anna", count=1)),
      f"promote {PID} --to staging", 1, (f"evals/results/{PID}/057d65a56c7e0a17.json:1:1: PL332", "the tests (evals/tests/support-reply.yml")),
    C("promote-results-of-an-edited-provider", lambda c: (write_results(c.root, "2026-12-01T08:00:00Z"),
                                                          c.edit("evals/providers/local_echo.py", "Best regards", "Kind regards")),
      f"promote {PID} --to staging", 1, (f"evals/results/{PID}/057d65a56c7e0a17.json:1:1: PL332", "the eval config (evals/eval-config.promptfoo.yml")),
    C("promote-results-of-a-provider-not-accepted", lambda c: (write_results(c.root, "2026-12-01T08:00:00Z"),
                                                               c.edit(POLICY, '    accept_providers: [card, "file://providers/local_echo.py"]\n', "", count=1)),
      f"promote {PID} --to staging", 1, (f"{CARD}:", "PL612 the eval results of 1.0.0 come from file://providers/local_echo.py")),
    C("eval-run-results-dir-inside-the-repository", lambda c: None,
      f"eval run {PID} --force --results-dir {{root}}/ci-results", 2,
      ("promptlane eval: --results-dir=", "is inside the repository")),
    C("eval-run-results-dir-without-force", lambda c: None,
      f"eval run {PID} --results-dir {{tmp}}/ci", 2, ("promptlane eval: --results-dir", "use it with --force")),
    C("eval-import-without-current-inputs", lambda c: current_promptfoo_results(c),
      f"eval import {{tmp}}/results.json --prompt {PID}", 2, ("promptlane eval: cannot tell which eval config", "--current-inputs")),

    # ---- budgets: prices and context windows from genai-prices (or the card's budget.price)
    C("budget-cost-of-a-model-genai-prices-does-not-know", lambda c: c.edit(CARD, "name: gpt-4o-mini", "name: gpt-4o-mnii"),
      "check", 1, (f"{CARD}:12:9: PL172", "does not know openai model 'gpt-4o-mnii' (did you mean 'gpt-4o-mini'?); "
                                          "declare the price on the card: budget: {price: {input_per_1m_usd:")),
    C("budget-cost-of-a-provider-genai-prices-does-not-know", lambda c: c.edit(CARD, "provider: openai", "provider: ollama"),
      "check", 1, (f"{CARD}:11:13: PL173", "has no prices for provider 'ollama'; declare the price on the card")),
    C("budget-max-input-tokens-over-the-context-window", lambda c: c.edit(CARD, "max_input_tokens: 1200", "max_input_tokens: 200000"),
      "check", 1, (f"{CARD}:18:28: PL174", "200,000 is more than openai gpt-4o-mini takes: its context window is 128,000 tokens")),

    # ---- the card beyond the card catalogue: BOM, CRLF, escapes, size, duplicates, managed block
    C("card-step-not-a-mapping", lambda c: c.edit(CARD, "  - {name: user, role: user, file: user.md}", "  - null"),
      "check", 1, (f"{CARD}:17:", "PL103")),
    C("card-steps-not-a-list", lambda c: c.write(CARD, re.sub(r"steps:\n(  - .*\n)+", "steps: system.md\n", card_text(c))),
      "check", 1, (f"{CARD}:15:", "PL103")),
    C("card-integer-key", lambda c: c.edit(CARD, "risk: high\n", "risk: high\n1: first\nownr: typo\n"),
      "check", 1, (f"{CARD}:10:1: PL103", "key 1 is read as a number, not text; quote it: '1'")),
    C("policy-integer-key", lambda c: c.append(P, "2026: reviewed\nnotes: x\n"),
      "check", 1, (f"{P}:", "unknown key")),
    C("card-python-tag-is-not-executed", lambda c: c.edit(CARD, "owner: \"team-prompts\"", "owner: !!python/object/apply:os.system [\"touch pwned\"]"),
      "sync", 1, (f"{CARD}:7:8: PL100", "could not determine a constructor for the tag"),
      after=lambda root: not (root / "pwned").exists() or pytest.fail("the YAML tag ran a command")),
    C("card-bom-accepted", lambda c: bom(c, CARD), "check", 0),
    C("card-crlf-accepted-by-sync", lambda c: crlf(c, CARD), "sync", 0),
    C("texts-crlf-hash-the-same", lambda c: crlf(c, f"prompts/{PID}/system.md", f"prompts/{PID}/user.md"), "check", 0,
      after=same_hash_as_the_lock),
    C("text-symlink-escape-sync", symlinked_text,
      "sync", 1, (f"{CARD}:17:36: PL131", "'user.md' points outside prompts/support-reply/")),
    C("text-dotdot-escape-promote", lambda c: c.edit(CARD, "file: user.md", "file: ../../registry/user.md"),
      f"promote {PID} --to staging", 1, (f"{CARD}:17:36: PL131", "points outside prompts/support-reply/")),
    C("text-sparse-50mb-sync", sparse_50mb_text,
      "sync", 1, (f"{CARD}:17:36: PL135", "'user.md' is 52428800 bytes, over the 1048576-byte limit")),
    C("duplicate-id-in-two-folders", duplicate_id,
      "check", 1, (f"prompts/{PID}-copy/card.yml:4:5: PL122", f"id '{PID}' is also used by {CARD}"),
      (f"prompts/{PID}-copy/card.yml:4:5: PL121", f"id '{PID}' must equal the folder name")),
    C("hash-edited-by-hand", lambda c: c.edit(CARD, "hash: sha256:057d", "hash: sha256:157d"),
      "check", 1, (f"{CARD}:21:7: PL161", f"hash: sha256:157d65a56c7e... was edited by hand; set it back to the hash issued for 1.0.0: hash: {SCAFFOLD_HASH_PREFIX}")),

    # ---- managed fields edited by hand: sync refuses them as check reports them (core/managed.py),
    # with the value to put back; no version, demotion or audit row is made up
    C("sync-version-never-issued-in-staging", lambda c: (staging_served(c), c.edit(CARD, "version: 1.0.0", "version: 1.0.7")),
      "sync", 1, (f"{CARD}:20:10: PL151", "version: 1.0.7 was never issued; do not edit version by hand; "
                                          "set it back to 1.0.0, the version issued for this hash")),
    C("sync-version-issued-for-another-hash", lambda c: (two_versions(c), c.edit(CARD, "version: 1.0.1", "version: 1.0.0")),
      f"sync {CARD}", 1, (f"{CARD}:20:10: PL152", "version: 1.0.0 was issued for sha256:057d65a56c7e..., a different payload; "
                                                   "a version is never reused; set it back to 1.0.1, the version issued for this hash")),
    C("sync-version-lowered", lambda c: (two_versions(c), c.edit(CARD, "version: 1.0.1", "version: 0.9.0")),
      "sync", 1, (f"{CARD}:20:10: PL151", "version: 0.9.0 is lower than 1.0.1, the highest issued; versions never go down; "
                                          "do not edit version by hand; set it back to 1.0.1")),
    C("sync-version-edited-with-a-real-change", lambda c: (c.edit(CARD, "version: 1.0.0", "version: 2.0.0"), c.new_version()),
      "sync", 1, (f"{CARD}:20:10: PL151", "set it back to 1.0.0, the version issued for hash: sha256:057d65a56c7e...; "
                                          "sync then numbers your change itself (add `bump: major`")),
    C("sync-hash-edited-by-hand", lambda c: c.edit(CARD, "hash: sha256:057d", "hash: sha256:157d"),
      "sync", 1, (f"{CARD}:21:7: PL161", f"set it back to the hash issued for 1.0.0: hash: {SCAFFOLD_HASH_PREFIX}")),
    C("sync-hash-of-another-version", hash_of_1_0_0_on_1_0_1,
      "sync", 1, (f"{CARD}:21:7: PL161", "hash: sha256:057d65a56c7e... was edited by hand; set it back to the hash issued for 1.0.1")),
    C("sync-author-edited", lambda c: c.edit(CARD, "author: promptlane init", "author: mallory@example.com"),
      "sync", 1, (f"{CARD}:22:9: PL162", "author: mallory@example.com is not who issued 1.0.0 (registry/support-reply.lock.json says "
                                         "promptlane init); an author is recorded, never edited; set it back to author: promptlane init")),
    C("check-author-edited", lambda c: c.edit(CARD, "author: promptlane init", "author: mallory@example.com"),
      "check", 1, (f"{CARD}:22:9: PL162", "set it back to author: promptlane init")),
    C("sync-environment-skips-staging", lambda c: (c.staging_ready(), c.edit(CARD, "environment: dev", "environment: prod")),
      "sync", 1, (f"{CARD}:23:14: PL163", "environment: prod skips staging, which does not serve 1.0.0, and promotion.prod has "
                                          "allow_skip: false; set it back to environment: dev")),
    C("check-environment-skips-staging", lambda c: (c.staging_ready(), c.edit(CARD, "environment: dev", "environment: prod")),
      "check", 1, (f"{CARD}:23:14: PL163", "set it back to environment: dev, then raise it one environment at a time")),
    C("sync-environment-unknown", lambda c: c.edit(CARD, "environment: dev", "environment: qa"),
      "sync", 1, (f"{CARD}:23:14: PL154", "environment: 'qa' is not one of dev, staging, prod")),
    C("sync-old-card-checked-out", old_card_checked_out,
      "sync", 1, (f"{CARD}:23:14: PL160", "environment: dev but registry/support-reply.lock.json has dev serving 1.0.1; "
                                          "no environment serves 1.0.0: to serve it again, `promptlane rollback support-reply --env dev --to 1.0.0`")),
    C("version-reused", lambda c: (two_versions(c), c.edit(CARD, "version: 1.0.1", "version: 1.0.0")),
      "check", 1, (f"{CARD}:20:10: PL152", "version: 1.0.0 was issued for sha256:057d65a56c7e..., a different payload")),
    C("version-lowered-below-all-promote", lambda c: c.edit(CARD, "version: 1.0.0", "version: 0.9.0"),
      f"promote {PID} --to staging", 1, (f"{CARD}:20:10: PL151", "set it back to 1.0.0, the version issued for this hash")),
    C("environment-unknown-check", lambda c: c.edit(CARD, "environment: dev", "environment: qa"),
      "check", 1, (f"{CARD}:23:14: PL154", "environment: 'qa' is not one of dev, staging, prod")),
    C("environment-unknown-rollback", lambda c: None,
      f"rollback {PID} --env qa --reason x", 2, ("promptlane rollback: ", "'qa' is not an environment; environments: dev, staging, prod")),
    C("environment-skipped-dev-to-prod", lambda c: c.staging_ready(),
      f"promote {PID} --to prod", 1, (f"{CARD}:23:14: PL601", "prod needs staging to serve 1.0.0 first (staging serves nothing)")),
    C("detached-head-promote-prod", detached_head_ready_for_prod,
      f"promote {PID} --to prod", 1, (f"{CARD}:23:14: PL602", "cannot tell the git branch (detached HEAD?); promotions to prod are allowed on: main, release/*")),

    # ---- registry: lock, snapshots, journal, read-only files, export
    C("lock-invalid-json", lambda c: c.write(LOCK, '{\n  "format": "promptlane-lock/1",\n  "id": \n'),
      "sync", 1, (f"{LOCK}:4:1: PL156", "is not valid JSON (Expecting value)")),
    C("lock-wrong-id", lambda c: lock_doc(c, lambda d: d.update(id="billing-faq")),
      f"promote {PID} --to staging", 1, (f"{LOCK}:1:1: PL156", "belongs to 'billing-faq', not 'support-reply'")),
    C("lock-duplicate-version", lambda c: lock_doc(c, duplicate_version),
      "audit verify", 1, (f"{LOCK}:1:1: PL156", "lists a version or a hash twice")),
    C("lock-not-utf8", lambda c: c.append(LOCK, b"\xff\xfe"),
      "check", 1, (f"{LOCK}:1:1: PL156", f"is not UTF-8; restore it from git (`git checkout -- {LOCK}`)")),
    C("snapshot-missing-export", lambda c: (c.root / SNAP).unlink(),
      "registry export json {root}/bundle.json", 1, (f"{SNAP}:1:1: PL157", "is missing or not a readable snapshot")),
    C("snapshot-corrupt-export", corrupt_snapshot,
      "registry export sqlite {root}/registry.sqlite", 1, (f"{SNAP}:1:1: PL157", "is missing or not a readable snapshot")),
    C("snapshot-corrupt-audit", corrupt_snapshot,
      "audit verify", 1, (f"{SNAP}:1:1: PL210", "is not a snapshot (no payload) (registry/support-reply.lock.json, 1.0.0)")),
    C("journal-present", lambda c: c.write(JOURNAL, '{"writes": [], "appends": []}'),
      "check", 1, (f"{JOURNAL}:1:1: PL190", "an earlier promptlane run was interrupted; run `promptlane sync`")),
    C("journal-corrupt", lambda c: c.write(JOURNAL, '{"writes": [{"path": '),
      "sync", 1, (f"{JOURNAL}:1:1: PL192", "is corrupt; nothing was undone")),
    C("journal-path-escapes-the-repository", journal_outside, "sync", 1,
      (f"{JOURNAL}:1:1: PL192", "names paths outside the repository ('../victim.txt')"), after=victim_untouched),
    C("lock-read-only-promote", lambda c: (c.staging_ready(), c.read_only(LOCK)),
      f"promote {PID} --to staging", 1, (f"{LOCK}:1:1: PL191", "is read-only; make it writable (chmod u+w) and run again")),
    C("export-to-unwritable-path", file_in_the_way,
      "registry export json {root}/exports/bundle.json", 2, ("promptlane registry: cannot write", "exports")),

    # ---- audit log and changelog
    C("audit-truncated-mid-row", truncated_audit,
      "audit verify", 1, (f"{AUDIT}:{NEW_ROW_LINE}:1: PL201", "row has 7 cells, expected 10")),
    C("audit-reordered", reordered_audit,
      "audit verify", 1, (f"{AUDIT}:{NEW_ROW_LINE - 1}:3: PL202", f"row '{NEW_ROW}' where row {NEW_ROW - 1} was expected")),
    C("audit-row-edited", edited_audit_row,
      "audit verify", 1, (f"{AUDIT}:5:1: PL204", "row 1: its cells do not match its hash")),
    C("audit-row-edited-since-the-base", edited_audit_row,  # the column of the first byte that differs
      "audit verify --base HEAD", 1, (f"{AUDIT}:5:169: PL205", "differs from the base before its end")),
    C("audit-not-utf8", lambda c: c.append(AUDIT, f"| {SCAFFOLD_ROWS + 1} | caf".encode() + b"\xe9 |\n"),  # the appended line
      "audit verify", 1, (f"{AUDIT}:{SCAFFOLD_AUDIT_LINES + 1}:1: PL200", "is not valid UTF-8; restore it from git")),
    C("changelog-not-utf8-verify", lambda c: c.append(CHANGELOG, b"# caf\xe9\n"),
      "audit verify", 1, (f"{CHANGELOG}:{SCAFFOLD_CHANGELOG_LINES + 1}:1: PL200", "is not valid UTF-8")),
    C("changelog-not-utf8-rollback", lambda c: c.append(CHANGELOG, b"# caf\xe9\n"),
      f"rollback {PID} --env dev --reason x", 1,
      (f"{CHANGELOG}:{SCAFFOLD_CHANGELOG_LINES + 1}:1: PL620", "cannot be read (is not valid UTF-8); restore it from git")),
    # The YAML error is reported on the line after the unclosed flow list (the end of the file).
    C("changelog-not-yaml-rollback", lambda c: c.append(CHANGELOG, "- event: [unclosed\n"),
      f"rollback {PID} --env dev --reason x", 1, (f"{CHANGELOG}:{SCAFFOLD_CHANGELOG_LINES + 2}:1: PL620", "cannot be read (YAML syntax error")),
    C("changelog-not-yaml-audit", lambda c: c.append(CHANGELOG, "- event: [unclosed\n"),
      "audit verify", 1, (f"{CHANGELOG}:{SCAFFOLD_CHANGELOG_LINES + 2}:1: PL207", "cannot be read")),
    C("not-a-git-repo-audit-base", lambda c: shutil.rmtree(c.root / ".git"),
      "audit verify --base HEAD", 2, ("promptlane audit: ", "is not a git repository; run `git init`")),
    C("shallow-clone-audit-base", shallow_clone,
      "audit verify --base HEAD~1", 2, ("promptlane audit: git ref 'HEAD~1' not found (this is a shallow clone", "git fetch")),
    C("git-missing-audit-base", no_git_on_path,
      "audit verify --base HEAD", 2, ("promptlane audit: git is not installed or not on PATH", "install git"), own_process=True),

    # ---- found by a hunt for tracebacks: each was one before
    C("new-id-with-newline", lambda c: None, ("new", "b\n"), 2, ("promptlane new: ", "is not a valid prompt id")),
    # ---- `promptlane new` from an example card it cannot copy: refused before anything is written
    C("new-example-step-into-another-prompt", lambda c: c.edit(EXAMPLE, "file: user.md}", "file: ../support-reply/user.md}"),
      "new clobber", 2, (f"{EXAMPLE}:16:36: PL131", "'../support-reply/user.md' points outside the new prompt's folder")),
    C("new-example-step-at-the-repository-root", lambda c: c.edit(EXAMPLE, "file: user.md}", "file: ../../evil.md}"),
      "new clobber", 2, (f"{EXAMPLE}:16:36: PL131", "'../../evil.md' points outside the new prompt's folder")),
    C("check-example-step-outside-its-folder", lambda c: c.edit(EXAMPLE, "file: user.md}", "file: ../support-reply/user.md}"),
      f"check {EXAMPLE}", 1, (f"{EXAMPLE}:16:36: PL131", "points outside the new prompt's folder")),
    C("new-example-step-is-a-string", lambda c: c.edit(EXAMPLE, "- {name: user, role: user, file: user.md}", "- user.md"),
      "new order-status", 2, (f"{EXAMPLE}:16:5: PL103", "steps[1]: 'user.md' is not a step")),
    C("new-example-variables-a-mapping", lambda c: c.edit(EXAMPLE, "variables: [customer_name, question]", "variables: {a: 1}"),
      "new order-status", 2, (f"{EXAMPLE}:13:12: PL103", "variables: {'a': 1} is not a list of names")),
    C("new-example-variables-missing", lambda c: c.edit(EXAMPLE, "variables: [customer_name, question]", "# no variables"),
      "new order-status", 2, (f"{EXAMPLE}:3:1: PL106", "missing required key 'variables'")),
    C("new-example-steps-empty", lambda c: (c.edit(EXAMPLE, "  - {name: system, role: system, file: system.md}\n"
                                                            "  - {name: user, role: user, file: user.md}\n", ""),
                                            c.edit(EXAMPLE, "steps:", "steps: []", 1)),
      "new order-status", 2, (f"{EXAMPLE}:14:8: PL103", "steps: must be a non-empty list")),
    C("new-evals-tests-is-a-file", lambda c: (shutil.rmtree(c.root / "evals/tests"), c.write("evals/tests", "x\n")),
      "new order-status", 2, ("evals/tests:1:1: PL191", "is in the way")),
    C("card-version-with-newline", lambda c: c.edit(CARD, "version: 1.0.0", 'version: "1.0.0\\n"'),
      "check", 1, (f"{CARD}:20:10: PL103", "is not a version MAJOR.MINOR.PATCH")),
    C("prompt-folder-with-newline", folder_with_newline,
      "check", 1, ("prompts/b\\x0a/card.yml:4:5: PL121", "must equal the folder name")),
    C("lock-is-a-folder", path_becomes_folder(LOCK),
      "check", 1, (f"{LOCK}:1:1: PL156", "cannot be read")),
    C("lock-nested-too-deep", lambda c: c.write(LOCK, "[" * 100_000 + "]" * 100_000),
      "check", 1, (f"{LOCK}:1:1: PL156", "nested too deeply")),
    C("snapshot-is-a-list", lambda c: c.write(SNAP, "[]\n"),
      "audit verify --full", 1, (f"{SNAP}:1:1: PL210", "is not a snapshot (no payload)")),
    C("reviewers-is-a-folder", path_becomes_folder(REVIEWERS),
      "check", 1, (f"{REVIEWERS}:1:1: PL700", "cannot be read")),
    C("form-dangling-symlink", dangling_form,
      "check", 1, (f"reviews/{PID}/1.0.0/pm-pm.md:1:1: PL500", "cannot be read")),
    # ---- requirements.txt: the one pin of promptlane
    C("requirements-pin-newer-check", lambda c: c.edit("requirements.txt", "promptlane==0.1.0", "promptlane==0.2.0"),
      "check", 2, ("requirements.txt:6:13: PL706", "pins promptlane 0.2.0, but promptlane 0.1.0 is running")),
    C("requirements-pin-newer-sync", lambda c: (c.edit(f"prompts/{PID}/system.md", "\n", "\nKeep replies short.\n", 1),
                                                c.edit("requirements.txt", "promptlane==0.1.0", "promptlane>=1.0")),
      "sync", 2, ("requirements.txt:6:13: PL706", "an older promptlane must not judge this repository")),
    C("requirements-not-utf8", lambda c: c.append("requirements.txt", b"\xff\xfe\n"),
      "check --all", 1, ("requirements.txt:1:1: PL700", "is not valid UTF-8")),
    C("lock-dangling-symlink-verify", dangling_lock,
      "audit verify --full", 1, (f"{LOCK}:1:1: PL156", "is a link to nothing")),
    C("lock-dangling-symlink-export", dangling_lock,
      "registry export json out.json", 1, (f"{LOCK}:1:1: PL156", "is a link to nothing")),
    C("diff-pointer-never-issued", pointer_never_issued,
      f"diff {PID} 1.0.0 staging", 1, (f"{LOCK}:1:1: PL213", "which was never issued")),
    C("promptlane-folder-is-a-file", promptlane_folder_is_a_file,
      "sync", 1, (f"{JOURNAL}:1:1: PL191", "is in the way")),
    C("audit-record-damaged", lambda c: c.write(".promptlane/cache/audit.json", '{"format": 3, "locks": [], "sealed": 5}'),
      "audit verify", 0, ("audit log: ", "chain intact")),
    C("check-a-folder-argument", lambda c: c.edit(CARD, "risk: high", "risk: extreme"),
      "check .", 1, (f"{CARD}:", "PL103")),
    C("log-schema-broken-ref", lambda c: c.edit("logs/prompt-log-schema.json", '"type": "object",', '"type": "object", "allOf": [{"$ref": "#/$defs/nowhere"}],', 1),
      "check", 1, ("logs/prompt-log-schema.json:1:1: PL701", "resolves to nothing")),
    C("merge-driver-outside-git", plain_folder,
      "merge-driver --install", 2, ("promptlane merge-driver: ", "run it inside your clone")),

    # ---- sealed segments (promptlane audit seal)
    C("sealed-row-edited", sealed_then(lambda c: c.edit(f"{SEALED_1}/artifact-audit-log.md", "| first version |", "| first version, reviewed |")),
      "audit verify", 1, (f"{SEALED_1}/artifact-audit-log.md:5:1: PL204", "row 1: its cells do not match its hash")),
    C("sealed-segment-removed", sealed_then(lambda c: shutil.rmtree(c.root / SEALED_1)),
      "audit verify", 1, (f"{SEALED_1}:1:1: PL217", "sealed segment 0001 is missing")),
    C("sealed-stray-folder", sealed_then(lambda c: c.write("audit/archive/old-logs/notes.md", "x\n")),
      "audit verify", 1, ("audit/archive/old-logs:1:1: PL216", "is not a sealed segment")),
    C("sealed-folder-misnumbered", sealed_then(lambda c: (c.root / SEALED_2).rename(c.root / "audit/archive/00002")),
      "audit verify", 1, ("audit/archive/00002:1:1: PL216", "is not a sealed segment (folders 0001, 0002, ... only)")),
    C("sealed-folder-extra-file", sealed_then(lambda c: c.write(f"{SEALED_1}/notes.md", "reviewed\n")),
      "audit verify", 1, (f"{SEALED_1}/notes.md:1:1: PL216", "is not part of a sealed segment")),
    C("sealed-folder-symlink", sealed_then(lambda c: (c.root / "audit/archive/0003").symlink_to(c.root / SEALED_1)),
      "audit verify", 1, ("audit/archive/0003:1:1: PL216", "is not a sealed segment")),
    C("archive-is-a-file", lambda c: c.write("audit/archive", "notes\n"),
      "audit verify", 1, ("audit/archive:1:1: PL216", "is not a folder")),
    C("sealed-file-symlink", sealed_then(lambda c: ((c.root / f"{SEALED_1}/prompt-change-log.yml").unlink(),
                                                   (c.root / f"{SEALED_1}/prompt-change-log.yml").symlink_to(c.root / CHANGELOG))),
      "audit verify --base HEAD", 1, (f"{SEALED_1}/prompt-change-log.yml:1:1: PL216", "is not a plain file")),
    C("sealed-file-is-a-folder", sealed_then(lambda c: ((c.root / f"{SEALED_2}/artifact-audit-log.md").unlink(),
                                                       (c.root / f"{SEALED_2}/artifact-audit-log.md").mkdir())),
      "audit verify", 1, (f"{SEALED_2}/artifact-audit-log.md:1:1: PL216", "is not a plain file")),
    C("current-log-deleted-after-seal", sealed_then(lambda c: (c.root / AUDIT).unlink()),
      "audit verify", 1, (f"{AUDIT}:1:1: PL219", "is missing: after a seal the logs go on in this file")),
    C("current-changelog-deleted-after-seal", sealed_then(lambda c: (c.root / CHANGELOG).unlink()),
      "audit verify", 1, (f"{CHANGELOG}:1:1: PL219", "is missing")),
    C("continuation-line-removed", sealed_then(lambda c: c.write(AUDIT, "".join(
        line for line in (c.root / AUDIT).read_text(encoding="utf-8").splitlines(keepends=True) if "continues the chain" not in line))),
      "audit verify", 1, (f"{AUDIT}:1:1: PL219", "does not say which row the chain continues from")),
    C("seal-interrupted-then-verify", interrupted_seal,
      "audit verify", 1, (f"{JOURNAL}:1:1: PL190", "run `promptlane sync` to put every file back"), interrupted=True),
    C("seal-folder-read-only", lambda c: c.read_only("audit"),
      "audit seal", 1, ("audit/archive/0001/artifact-audit-log.md:1:1: PL191", "its folder (audit) is read-only")),
    C("sealed-changelog-removed", sealed_then(lambda c: (c.root / f"{SEALED_2}/prompt-change-log.yml").unlink()),
      "audit verify", 1, (f"{SEALED_2}/prompt-change-log.yml:1:1: PL218", "is missing from its sealed segment")),
    C("archive-removed", sealed_then(lambda c: shutil.rmtree(c.root / "audit/archive")),
      "audit verify", 1, (f"{AUDIT}:4:1: PL219",  # 0002 sealed 1.0.2's row, the last: the header continues from it
                          f"the chain continues from row {SCAFFOLD_ROWS + 2}, but the segments before it end at row 0")),
    C("sealed-not-utf8", sealed_then(lambda c: c.append(f"{SEALED_2}/artifact-audit-log.md", b"| 4 | caf\xe9 |\n")),
      "audit verify", 1, (f"{SEALED_2}/artifact-audit-log.md:9:1: PL200", "is not valid UTF-8")),
    C("sealed-changelog-edited-base", sealed_then(lambda c: c.edit(f"{SEALED_1}/prompt-change-log.yml", '"patch change"', '"typo fix"')),
      "audit verify --base HEAD", 1, (f"{SEALED_1}/prompt-change-log.yml:", "PL206 was sealed in HEAD and has changed since")),
    C("seal-uncommitted-rows", lambda c: c.new_version(),
      "audit seal", 2, ("promptlane audit: ", "has uncommitted changes")),
    C("seal-broken-chain", lambda c: (edited_audit_row(c), commit(c.root, "tampered")),
      "audit seal", 1, (f"{AUDIT}:5:1: PL204", "row 1: its cells do not match its hash")),

    # ---- rollback refusals
    C("rollback-no-earlier-version", staging_served,
      f"rollback {PID} --env staging --reason x", 2, ("promptlane rollback: ", "staging has served no earlier version of support-reply")),
    C("rollback-to-unknown-version", two_versions,
      f"rollback {PID} --env dev --to 3.1.4 --reason x", 2, ("promptlane rollback: ", "support-reply 3.1.4 never served dev (it served: 1.0.0, 1.0.1)")),
    C("rollback-id-escapes-registry", lambda c: None,
      "rollback ../../etc --env dev --reason x", 2, ("promptlane rollback: ", "'../../etc' is not a prompt id")),

    # ---- trace logs and the repository itself
    C("log-record-missing-field", log_record_without_hash,
      "log validate trace.jsonl", 1, ("trace.jsonl:1:1: PL582", "record 1: hash: is required")),
    C("log-not-json", lambda c: c.write("trace.jsonl", '{"trace_id": "a",}\n'),
      "log validate trace.jsonl", 1, ("trace.jsonl:1:18: PL580", "record 1: not valid JSON")),
    # did-you-mean: a misspelt variable, prompt id, environment, role or version is answered with the closest
    C("did-you-mean-variable", lambda c: c.edit(f"prompts/{PID}/user.md", "{{ question }}", "{{ questoin }}"),
      "check", 1, (f"prompts/{PID}/user.md:4:1: PL141", "did you mean 'question'?"),
      (f"prompts/{PID}/card.yml:", "PL140 variables[1]: 'question' is declared but no step text uses {{ question }}; "
       "did you mean {{ question }} where a text has {{ questoin }}?")),
    C("did-you-mean-variable-column", lambda c: c.edit(f"prompts/{PID}/system.md", "writing to {{ customer_name }}",
                                                       "writing to {{ customer_nme }}"),
      "check", 1, (f"prompts/{PID}/system.md:1:60: PL141", "did you mean 'customer_name'?")),
    C("did-you-mean-prompt-id-promote", lambda c: None, "promote supprt-reply --to staging", 2,
      ("promptlane promote: no prompt 'supprt-reply'", "(did you mean 'support-reply'?)")),
    C("did-you-mean-prompt-id-eval-run", lambda c: None, "eval run supprt-reply", 2,
      ("prompts/supprt-reply/card.yml:1:1: PL120", "no such prompt (did you mean 'support-reply'?)")),
    C("did-you-mean-prompt-id-diff", lambda c: None, "diff supprt-reply", 2,
      ("promptlane diff: no prompt 'supprt-reply'", "(did you mean 'support-reply'?)")),
    C("did-you-mean-prompt-id-rollback", lambda c: None, "rollback supprt-reply --env staging --reason x", 2,
      ("promptlane rollback: no prompt 'supprt-reply'", "(did you mean 'support-reply'?)")),
    C("did-you-mean-prompt-id-retire", lambda c: None, "retire supprt-reply --reason x", 2,
      ("promptlane retire: no prompt 'supprt-reply'", "(did you mean 'support-reply'?)")),
    C("did-you-mean-environment-promote", lambda c: None, f"promote {PID} --to stagin", 2,
      ("promptlane promote: 'stagin' is not an environment", "(did you mean 'staging'?)")),
    C("did-you-mean-environment-rollback", lambda c: None, f"rollback {PID} --env prd --reason x", 2,
      ("promptlane rollback: 'prd' is not an environment", "(did you mean 'prod'?)")),
    C("did-you-mean-role-approve", lambda c: None, f"approve {PID} --role Goverance", 2,
      ("promptlane approve: role 'Goverance' is not in reviews/reviewers.yml", "(did you mean 'Governance'?)")),
    C("did-you-mean-version-or-environment-diff", lambda c: None, f"diff {PID} 1.0.0 prd", 2,
      (f"promptlane diff: {PID}: 'prd' is neither an issued version", "(did you mean 'prod'?)")),
    # ---- import and export of other tools' prompt files (docs/interop.md): refused at the construct, nothing written
    C("import-prompty-loop", lambda c: c.write("loop.prompty", "---\nmodel: {id: gpt-4o, provider: openai}\n---\n"
                                                "user:\n{% for item in items %}- {{ item }}\n{% endfor %}\n"),
      "import loop.prompty", 1, ("loop.prompty:5:1: PL804", "template logic (for) has no place in a card")),
    C("import-prompty-filter", lambda c: c.write("f.prompty", "---\nmodel: {id: gpt-4o, provider: openai}\n"
                                                  "inputs: {name: {kind: string}}\n---\nuser:\nHi {{ name | upper }}\n"),
      "import f.prompty", 1, ("f.prompty:6:4: PL805", "not a plain variable")),
    C("import-dotprompt-partial", lambda c: c.write("p.prompt", "---\nmodel: openai/gpt-4o\n---\n{{role \"system\"}}\n"
                                                     "{{> house_rules}}\n"),
      "import p.prompt", 1, ("p.prompt:5:1: PL806", "a partial has no place in a card")),
    C("import-dotprompt-conditional", lambda c: c.write("c.prompt", "---\nmodel: openai/gpt-4o\n---\nHello{{#if vip}} VIP{{/if}}\n"),
      "import c.prompt", 1, ("c.prompt:4:6: PL804", "template logic (blocks such as #if and #each)")),
    C("import-dotprompt-helper", lambda c: c.write("h.prompt", "---\nmodel: openai/gpt-4o\n---\nData: {{json order}}\n"),
      "import h.prompt", 1, ("h.prompt:4:7: PL804", "helpers have no place")),
    C("import-dotprompt-media", lambda c: c.write("m.prompt", "---\nmodel: openai/gpt-4o\n---\nSee {{media url=photo}}\n"),
      "import m.prompt", 1, ("m.prompt:4:5: PL808", "media, history and sections")),
    C("import-prompty-1-model", lambda c: c.write("v1.prompty", "---\nmodel:\n  api: chat\n  configuration:\n    type: openai\n"
                                                "    name: gpt-4o-mini\n  parameters:\n    max_tokens: 300\n---\nuser:\nhi\n"),
      "import v1.prompty", 1, ("v1.prompty:5:5: PL811", "Prompty 1's spelling, which Prompty 2 no longer reads; write "
                               "model: {id: gpt-4o-mini, provider: openai, options: {maxOutputTokens: 300}}")),
    C("import-prompty-tools", lambda c: c.write("t.prompty", "---\nmodel: {id: gpt-4o, provider: openai}\ntools:\n"
                                                 "  - {name: lookup, kind: function}\n---\nuser:\nhi\n"),
      "import t.prompty", 1, ("t.prompty:4:3: PL803", "a card has no tools")),
    C("import-github-spaced-variable", lambda c: c.write("s.prompt.yml", "model: openai/gpt-4o\nmessages:\n"
                                                          "  - {role: user, content: 'Hi {{ name }}'}\n"),
      "import s.prompt.yml", 1, ("s.prompt.yml:3:31: PL805", "gh-models fills only that exact text")),
    C("import-github-llm-evaluator", lambda c: c.write("j.prompt.yml", "model: openai/gpt-4o\nmessages:\n"
                                                        "  - {role: user, content: 'Say {{w}}'}\ntestData:\n  - w: hi\n"
                                                        "evaluators:\n  - {name: polite, uses: github/coherence}\n"),
      "import j.prompt.yml", 1, ("j.prompt.yml:7:5: PL813", "the built-in 'github/coherence' cannot run offline")),
    C("import-id-taken", lambda c: c.write("x.prompty", "---\nmodel: {id: gpt-4o, provider: openai}\n---\nuser:\nhi\n"),
      f"import x.prompty --id {PID}", 2, ("promptlane import: ", f"prompts/{PID} already exists")),
    C("import-unknown-ending", lambda c: c.write("notes.txt", "hi\n"),
      "import notes.txt", 2, ("promptlane import: ", "not a file promptlane imports")),
    C("export-prod-serves-nothing", lambda c: None, f"export {PID} --format prompty", 1,
      (f"{LOCK}:1:1: PL820", "prod serves no version of support-reply; promote one first")),
    C("did-you-mean-environment-export", lambda c: None, f"export {PID} --format dotprompt --env prd", 2,
      ("promptlane export: 'prd' is not an environment", "(did you mean 'prod'?)")),
    C("export-prompty-role-line", lambda c: (c.write(f"prompts/{PID}/system.md", "Rules follow.\nuser:\nBe kind.\n"),
                                             c.cli("sync")),
      f"export {PID} --format prompty --env dev -o {{tmp}}/x.prompty", 1,
      (f"registry/store/{PID}/1.0.1.json:", "PL821 steps[0] (system) line 2: 'user:' would start a new message")),
    C("export-github-parameter", lambda c: (c.edit(CARD, "max_tokens: 400}", "max_tokens: 400, seed: 7}"), c.cli("sync")),
      f"export {PID} --format github-models --env dev", 1,
      (f"registry/store/{PID}/1.1.0.json:", "PL822 model.params.seed: a .prompt.yml carries maxTokens, temperature and topP")),
    # ---- report --comment: the report and GitHub Actions' event are read before GitHub is asked
    C("report-comment-no-report", comment_run(report=None), "report --comment pr-report.md", 2,
      ("pr-report.md:1:1: PL720", "cannot be read (No such file or directory); write it first: promptlane report --markdown")),
    C("report-comment-report-not-utf8", comment_run(report=b"## \xff\n"), "report --comment pr-report.md", 2,
      ("pr-report.md:1:1: PL720", "is not valid UTF-8")),
    C("report-comment-empty-report", comment_run(report="\n"), "report --comment pr-report.md", 2,
      ("pr-report.md:1:1: PL720", "is empty")),
    C("report-comment-event-not-json", comment_run(event='{"pull_request": }'), "report --comment pr-report.md", 2,
      ("event.json:1:18: PL721", "is not valid JSON; GITHUB_EVENT_PATH must name the run's event file")),
    C("report-comment-push-event", comment_run(event='{"ref": "refs/heads/main"}'), "report --comment pr-report.md", 2,
      ("event.json:1:1: PL721", "has no pull_request.number")),
    C("report-comment-no-token", comment_run(token=False), "report --comment pr-report.md", 2,
      ("promptlane report: ", "GITHUB_TOKEN is not set; give the step env: GITHUB_TOKEN: ${{ github.token }}")),
    C("not-a-governed-repository", not_governed,
      "check", 2, ("promptlane check: ", "no prompts/ folder here")),
]


def test_catalogue_is_big_and_distinct():
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)
    commands = {case.argv[0] for case in CASES}
    assert {"check", "sync", "audit", "promote", "rollback", "approve", "eval", "registry", "log"} <= commands


PROBLEM_LINE = re.compile(r"^[^\s:][^:]*:\d+:\d+: PL\d{3} \S")


def assert_one_problem_per_line(lines: list[str]) -> None:
    """DESIGN: problems print one per line as path:line:col: CODE message, then one summary line."""
    for index, line in enumerate(lines):
        found = re.match(r"^Found (\d+) problems? in \d+ files?\.$", line)
        if found:
            block = lines[index - int(found[1]):index]
            assert len(block) == int(found[1]) and all(PROBLEM_LINE.match(p) for p in block), "\n".join(lines)


def _run(case: Case, root: Path, ctx: Ctx) -> tuple[int, str]:
    argv = [arg.replace("{root}", str(root)).replace("{tmp}", str(ctx.tmp)) for arg in case.argv]
    if case.own_process:
        env = {**os.environ, **ctx.env}
        done = subprocess.run([sys.executable, "-m", "promptlane.cli", "-C", str(root), *argv],
                              cwd=root, env=env, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout + done.stderr
    ctx.monkeypatch.chdir(root)
    return pl(root, ctx.capsys, *argv)


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        yield pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input_is_reported_and_changes_nothing(case: Case, gov, tmp_path, monkeypatch, capsys):
    ctx = Ctx(gov, tmp_path, monkeypatch, capsys)
    where = case.setup(ctx)
    root = where.path if isinstance(where, RunIn) else gov
    capsys.readouterr()
    before = snapshot_tree(root)

    code, out = _run(case, root, ctx)

    lines = out.splitlines()
    assert "Traceback" not in out, out
    assert_one_problem_per_line(lines)
    assert code == case.code, out
    for prefix, phrase in case.expect:
        assert any(line.startswith(prefix) and phrase in line for line in lines), f"no line {prefix!r}...{phrase!r} in:\n{out}"
    if case.code == 0:
        assert not any(line.startswith("Found ") for line in lines), out
    assert snapshot_tree(root) == before, "the command changed files"
    if not case.interrupted:  # an interrupted run's temp files stay until sync puts them back
        assert not any(p.endswith((".promptlane-tmp", ".promptlane-bak")) for p in snapshot_tree(root))
    if case.after:
        case.after(root)


@pytest.mark.slow
def test_a_yaml_alias_bomb_in_a_card_is_refused_quickly(gov):
    anchors = "a0: &a0 [" + ", ".join(["lol"] * 10) + "]\n"
    anchors += "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    path = gov / CARD
    path.write_text(anchors + path.read_text(encoding="utf-8").replace("tags: [support, email]", "tags: *a8"))
    before = snapshot_tree(gov)
    # Its own process, so the timeout can stop it (and its memory) after 5 s.
    done = subprocess.run([sys.executable, "-m", "promptlane.cli", "-C", str(gov), "check"],
                          capture_output=True, text=True, timeout=5)
    assert done.returncode == 1 and done.stdout.startswith(f"{CARD}:"), done.stdout + done.stderr
    assert " PL107 YAML aliases (*name) are not allowed" in done.stdout
    assert snapshot_tree(gov) == before
