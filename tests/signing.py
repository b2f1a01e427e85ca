"""Helpers for tests of signed approvals (tests/test_attacks.py).

Real ed25519 keys made by ssh-keygen, reviews/allowed_signers lines, SSH signatures over a
file's exact bytes, the honest protected base every attack starts from, the CI check of a pull
request, and ``Attack``: an attacker's script, run with the real CLI in-process (governed.pl).

The base (``setup_base``, on ``main``): the template's five reviewers, one per role
(``REVIEWER_OF``), and dana, each with their own key in reviews/allowed_signers; then
support-reply 1.0.1 by dana in dev with passing eval results. A pull request works on
``BRANCH`` an hour later (``open_branch``) and CI judges it against ``main`` (``ci_check``).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import git, snapshot_tree
from keys import key_for
from governed import PID, PROD_ROLES, answered, card, clock, commit, new_version, pl, write_results
from promptlane.core.reviews import review_rel

NAMESPACE = "promptlane"
SIGNERS = "reviews/allowed_signers"
REVIEWERS = "reviews/reviewers.yml"
POLICY = "workflows/policy-as-code-example.yml"
CARD = f"prompts/{PID}/card.yml"
FORMS = f"reviews/{PID}"
DANA = "dana@example.com"        # conftest's git identity: the author of every version it syncs
MALLORY = "mallory@example.com"  # may push to any branch; reviews nothing; her key is on no list
REVIEWER_OF = {role: f"{user}@example.com" for role, user in PROD_ROLES.items()}
BASE = "main"
# prod's allowed_branches in the template is [main, "release/*"]: a pull request that promotes
# to prod comes from a release branch, so the branch gate is never the reason a case fails.
BRANCH = "release/feature"
V1 = "1.0.1"
BASE_TIME = "2026-12-01T09:00:00Z"  # the `gov` fixture's clock: 1.0.1 and its eval results are made then
PR_TIME = "2026-12-01T10:00:00Z"    # the pull request's approvals and promotions


class Keys:
    """Each owner's (an e-mail's) ed25519 key pair, the one tests/keys.py makes once per test
    run with ssh-keygen: the same owner signs with the same key in every test."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder  # kept for callers that pass one; the keys live in tests/keys.py's folder

    def private(self, owner: str) -> Path:
        return key_for(owner)

    def public(self, owner: str) -> str:
        """``ssh-ed25519 AAAA... owner``, as the .pub file has it."""
        return Path(f"{self.private(owner)}.pub").read_text(encoding="utf-8").strip()


# ---------------------------------------------------------------- the CLI, git and signatures


def run(root: Path, capsys, *args: str, actor: str | None = None, env: dict[str, str] | None = None) -> tuple[int, str]:
    """The CLI in-process as ``actor`` (None: the git identity, dana), with ``env`` set only for
    this run: (exit code, output). Every CLI call of these tests goes through here."""
    with pytest.MonkeyPatch.context() as mp:
        if actor:
            mp.setenv("PROMPTLANE_ACTOR", actor)
        else:
            mp.delenv("PROMPTLANE_ACTOR", raising=False)
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        return pl(root, capsys, *args)


def approve(root: Path, capsys, role: str, reviewer: str, key: Path | None, *extra: str,
            env: dict[str, str] | None = None) -> tuple[int, str]:
    """`promptlane approve support-reply --role ROLE [--key KEY]` as ``reviewer``, its checklist
    answered in full unless ``extra`` answers it or rejects (governed.answered)."""
    signing = ["--key", str(key)] if key else []
    return run(root, capsys, "approve", PID, "--role", role, *signing, *answered(extra), actor=reviewer, env=env)


def signing_config(key: Path) -> dict[str, str]:
    """git config that names an SSH signing key (gpg.format=ssh, user.signingkey), given as
    GIT_CONFIG_COUNT/KEY_n/VALUE_n: what a reviewer who signs commits already has, no file written."""
    return {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "gpg.format", "GIT_CONFIG_VALUE_0": "ssh",
            "GIT_CONFIG_KEY_1": "user.signingkey", "GIT_CONFIG_VALUE_1": str(key)}


def ci_check(root: Path, capsys) -> tuple[int, str]:
    """What CI runs on the checked-out pull request: every prompt checked and the audit trail
    verified in full, both against the protected base. (worst exit code, both outputs)."""
    worst, outputs = 0, []
    for args in (("check", "--all", "--base", BASE), ("audit", "verify", "--full", "--base", BASE)):
        code, out = run(root, capsys, *args)
        worst = max(worst, code)
        outputs.append(f"$ promptlane {' '.join(args)}  -> {code}\n{out}")
    return worst, "\n".join(outputs)


def sign(path: Path, key: Path, namespace: str = NAMESPACE) -> Path:
    """``ssh-keygen -Y sign`` over the file's exact bytes, written beside it as FILE.sig."""
    done = subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(key), "-n", namespace],
                          input=path.read_bytes(), capture_output=True, check=True)
    signature = path.with_name(path.name + ".sig")
    signature.write_bytes(done.stdout)
    return signature


def verifies(root: Path, rel: str, principal: str) -> bool:
    """ssh-keygen's own verdict: ``rel``.sig is ``principal``'s signature of ``rel`` under the
    repository's allowed_signers (independent of promptlane's reading of it)."""
    done = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(root / SIGNERS), "-I", principal, "-n", NAMESPACE,
                           "-s", str(root / f"{rel}.sig")], input=(root / rel).read_bytes(), capture_output=True)
    return done.returncode == 0


def signer_line(principal: str, public: str) -> str:
    return f'{principal} namespaces="{NAMESPACE}" {public}\n'


def add_signer(root: Path, keys: Keys, principal: str, owner: str | None = None) -> None:
    """Let ``principal`` sign with ``owner``'s key (default: their own)."""
    path = root / SIGNERS
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(text + signer_line(principal, keys.public(owner or principal)), encoding="utf-8")


def add_reviewer(root: Path, role: str, email: str) -> None:
    """List ``email`` under ``role`` in reviews/reviewers.yml (the template's layout)."""
    path = root / REVIEWERS
    text = path.read_text(encoding="utf-8")
    head = f'"{role}":\n'
    assert head in text, text
    path.write_text(text.replace(head, f"{head}  - {email}\n"), encoding="utf-8")


# ---------------------------------------------------------------- the honest base


def setup_base(root: Path, keys: Keys, capsys, reviewers: dict[str, list[str]] | None = None,
               signers: dict[str, str] | None = None) -> Path:
    """Make ``main`` the honest, protected base: REVIEWER_OF and dana sign with their own keys;
    ``reviewers`` (role -> more e-mails) and ``signers`` (principal -> whose key) are added.
    allowed_signers is written whole: the base's list of keys is exactly this one."""
    for role, emails in (reviewers or {}).items():
        for email in emails:
            add_reviewer(root, role, email)
    (root / SIGNERS).write_text("# who signs with which key (git's allowed_signers format)\n", encoding="utf-8")
    for principal in (*REVIEWER_OF.values(), DANA):
        add_signer(root, keys, principal)
    for principal, owner in (signers or {}).items():
        add_signer(root, keys, principal, owner)
    commit(root, "reviewers and their signing keys")
    assert new_version(root, capsys) == V1
    write_results(root, BASE_TIME)
    commit(root, f"{PID} {V1}")
    return root


def open_branch(root: Path, monkeypatch, when: str = PR_TIME) -> Path:
    """Start the pull request: BRANCH from the base, the clock at ``when``."""
    git(root, "switch", "-q", "-c", BRANCH)
    clock(monkeypatch, when)
    return root


def release(root: Path, capsys, keys: Keys, envs: tuple[str, ...] = ("staging", "prod")) -> None:
    """The honest way to prod: each role's own reviewer signs with their own key, dana promotes."""
    for role, reviewer in REVIEWER_OF.items():
        code, out = approve(root, capsys, role, reviewer, keys.private(reviewer))
        assert code == 0, out
    for env in envs:
        code, out = run(root, capsys, "promote", PID, "--to", env)
        assert code == 0, out


def released_base(root: Path, keys: Keys, capsys) -> Path:
    """The honest main with 1.0.1 served in dev, staging and prod: setup_base, eval results
    bound to the current inputs, the five roles' own signed approvals, both promotions, committed."""
    setup_base(root, keys, capsys)
    write_results(root, BASE_TIME)
    release(root, capsys, keys)
    commit(root, "released 1.0.1")
    return root


def edit_policy(root: Path, change) -> None:
    """Rewrite the policy file with ``change(doc)`` applied (comments are lost; rules are not)."""
    path = root / POLICY
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def each_risk_rule(doc: dict):
    for rule in doc["promotion"].values():
        yield from rule["risk"].values()


def set_front(text: str, **fields: str) -> str:
    """A form with front-matter ``fields`` set (a JSON string is a YAML scalar), comments kept."""
    for name, value in fields.items():
        text, found = re.subn(rf'(?m)^{name}: ("(?:[^"\\]|\\.)*"|\S*)', lambda _: f"{name}: {json.dumps(value)}", text, count=1)
        assert found == 1, f"no {name}: in\n{text}"
    return text


# ---------------------------------------------------------------- doing by hand what a command refuses


def scratch_copy(root: Path) -> Path:
    """A throwaway copy of the clone, .git included, beside it."""
    dest = root.parent / f"scratch-{len(list(root.parent.glob('scratch-*')))}"
    shutil.copytree(root, dest, symlinks=True)
    return dest


def changed_files(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    """Repository files that differ (added, changed, removed); promptlane's local state
    (.promptlane/, git-ignored) is not repository content."""
    return sorted(rel for rel in set(before) | set(after)
                  if before.get(rel) != after.get(rel) and not rel.startswith(".promptlane/"))


def specimen(root: Path, capsys, keys: Keys, role: str) -> str:
    """The exact text `promptlane approve` writes for ``role``'s own reviewer now, under the
    base's reviewers, signers and policy (made in a scratch copy, its signature thrown away). A
    hand-made form starts from it, so it differs from a real one only where the attack changes it."""
    scratch = scratch_copy(root)
    git(scratch, "checkout", BASE, "--", REVIEWERS, SIGNERS, POLICY)
    before = snapshot_tree(scratch)
    reviewer = REVIEWER_OF[role]
    code, out = approve(scratch, capsys, role, reviewer, keys.private(reviewer))
    assert code == 0, out
    after = snapshot_tree(scratch)
    (written,) = [rel for rel in changed_files(before, after) if rel.endswith(".md")]
    shutil.rmtree(scratch)
    return after[written].decode("utf-8")


def relax(doc: dict) -> None:
    """A policy that demands nothing but passing evals: any branch, any order, no approvals."""
    for rule in doc["promotion"].values():
        rule["allowed_branches"] = ["*"]
        rule["allow_skip"] = True
        if "require_signatures" in rule:
            rule["require_signatures"] = False
        rule["accept_providers"] = ["card", "file://providers/local_echo.py"]
    for risk in each_risk_rule(doc):
        risk.update(policy_only=True, required_roles=[])
        risk.pop("min_reviewers", None)


def forge_promotion(root: Path, capsys, env: str) -> None:
    """Write by hand what `promptlane promote` writes when every gate passes: card, lock,
    changelog, audit rows, snapshot, all consistent (the audit chain has no key: anyone who can
    push can extend it). Made by promoting in a scratch copy whose committed policy demands
    nothing, then taking back every file that changed except the policy."""
    import os

    scratch = scratch_copy(root)
    # ... and eval results that pass, for the scratch copy only (they are not taken back)
    written = write_results(scratch, os.environ.get("PROMPTLANE_NOW", PR_TIME))
    providers = json.loads(written.read_text(encoding="utf-8"))["inputs"]["provider_ids"]

    def relax_all(doc):
        relax(doc)
        for rule in doc["promotion"].values():
            rule["accept_providers"] = list(dict.fromkeys([*rule["accept_providers"], *providers]))

    edit_policy(scratch, relax_all)
    commit(scratch, "a policy that demands nothing")
    before = snapshot_tree(scratch)
    code, out = run(scratch, capsys, "promote", PID, "--to", env, actor=MALLORY)
    assert code == 0, f"the forgery itself failed:\n{out}"
    after = snapshot_tree(scratch)
    for rel in (rel for rel in changed_files(before, after) if rel != POLICY and not rel.startswith("evals/results/")):
        target = root / rel
        if rel in after:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(after[rel])
        else:
            target.unlink()
    shutil.rmtree(scratch)


class Attack:
    """An attacker's script on her branch. Each command either goes through or is refused; a
    refusal must change no file, and its output is kept (it may name the expected code). She
    then does by hand what was refused: a form written (and signed with whatever key she has),
    a promotion record written. Write access lets her commit any bytes, so what must stop her
    in the end is CI: ``verdict`` commits her work and runs ``ci_check``."""

    def __init__(self, root: Path, capsys, keys: Keys) -> None:
        self.root, self.capsys, self.keys = root, capsys, keys
        self.refusals: list[str] = []

    def attempt(self, *args: str, actor: str | None = MALLORY, env: dict[str, str] | None = None) -> bool:
        """Run one command; False when it refuses (having changed no file)."""
        before = snapshot_tree(self.root)
        code, out = run(self.root, self.capsys, *args, actor=actor, env=env)
        if code == 0:
            return True
        assert "Traceback" not in out, out
        assert snapshot_tree(self.root) == before, f"`promptlane {' '.join(args)}` refused but changed files:\n{out}"
        self.refusals.append(f"$ promptlane {' '.join(args)}  -> {code} (refused)\n{out}")
        return False

    def approve(self, role: str, reviewer: str, key: str | None, date: str | None = None,
                decision: str = "approve", namespace: str = NAMESPACE) -> None:
        """``reviewer``'s ``decision`` for ``role``, signed with ``key`` (its owner's name; None:
        unsigned) in ``namespace``, dated ``date`` (default: now): by the command when it
        agrees, else by hand. Another namespace is never the command's: always by hand."""
        args = ["approve", PID, "--role", role, "--decision", decision, *answered(("--decision", decision))[2:]]
        args += ["--key", str(self.keys.private(key))] if key else []
        if namespace == NAMESPACE and self.attempt(*args, actor=reviewer, env={"PROMPTLANE_NOW": date} if date else None):
            return
        fields = {"reviewer": reviewer, "decision": {"approve": "approved", "reject": "rejected"}[decision]}
        text = set_front(specimen(self.root, self.capsys, self.keys, role), **fields, **({"date": date} if date else {}))
        path = self.root / review_rel(PID, str(card(self.root)["version"]), role, reviewer)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if key:
            sign(path, self.keys.private(key), namespace)

    def promote(self, *envs: str) -> None:
        """Promote to each of ``envs`` in turn: by the command, else by a hand-written record."""
        for env in envs:
            if not self.attempt("promote", PID, "--to", env):
                forge_promotion(self.root, self.capsys, env)

    def verdict(self) -> tuple[int, str]:
        """Commit her work and run CI: (CI's exit code, every refusal's output and CI's)."""
        if git(self.root, "status", "--porcelain").stdout.strip():
            commit(self.root, "mallory's change")
        code, out = ci_check(self.root, self.capsys)
        return code, "\n".join([*self.refusals, out])


def refused(attack: Attack, *codes: str) -> str:
    """CI refuses the attack, naming each of ``codes`` (regular expressions of problem codes)."""
    code, out = attack.verdict()
    assert code != 0, f"CI passed the attack\n{out}"
    for wanted in codes:
        assert re.search(rf"\b(?:{wanted})\b", out), f"no {wanted} reported\n{out}"
    return out
