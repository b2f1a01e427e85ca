"""The promptlane demo: prompts from edit to prod and back, offline, with no API keys.

    make demo                 (or: .venv/bin/python demo/run_demo.py [--keep DIR])

Every step runs the real command a team would run: `promptlane init` renders the template,
git commits go through the real pre-commit hooks (the installed promptlane), evals run the
pinned promptfoo against the template's local provider, five reviewers sign their approvals
with throwaway SSH keys of their own (ssh-keygen, registered in reviews/allowed_signers), a
forged approval (the right name, the wrong key) is refused, and the prompt is promoted,
changed, and rolled back. Then the template's second example, triage-reply, a chain of two
model calls, goes the same way from an edit to prod, and an application (demo/triage_app.py)
runs it from the exported bundle with the runtime SDK. It stops at the first command that
does not do what the step says.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROMPT = "support-reply"
CHAIN = "triage-reply"
AUTHOR = "dana@example.com"
REVIEWERS = {"PM": "pm@example.com", "Tech Lead": "tech-lead@example.com", "QA": "qa@example.com",
             "Security": "security@example.com", "Governance": "governance@example.com"}


class Demo:
    def __init__(self, work: Path):
        self.work = work
        self.repo = work / "prompts-repo"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PROMPTLANE_"))}
        self.env.update({
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "GIT_AUTHOR_NAME": "Dana Dev", "GIT_AUTHOR_EMAIL": AUTHOR,
            "GIT_COMMITTER_NAME": "Dana Dev", "GIT_COMMITTER_EMAIL": AUTHOR,
            "PRE_COMMIT_HOME": str(work / ".pre-commit-cache"), "PRE_COMMIT_COLOR": "never",
        })
        promptfoo = ROOT / ".tools/promptfoo/node_modules/.bin/promptfoo"
        if promptfoo.exists():
            self.env.setdefault("PROMPTLANE_PROMPTFOO", str(promptfoo))
        self.step_no = 0

    def step(self, title: str, why: str) -> None:
        self.step_no += 1
        print(f"\n=== {self.step_no}. {title}")
        print(textwrap.fill(why, 92, initial_indent="    ", subsequent_indent="    "))

    def run(self, *args: str, expect: int | tuple = 0, actor: str | None = None, show: bool = True) -> str:
        env = dict(self.env)
        if actor:
            env["PROMPTLANE_ACTOR"] = actor
        print(f"$ {' '.join(args)}" + (f"    (as {actor})" if actor else ""))
        done = subprocess.run(list(args), cwd=self.repo if self.repo.exists() else self.work, env=env,
                              capture_output=True, text=True)
        output = (done.stdout + done.stderr).rstrip()
        if show and output:
            print(textwrap.indent(output, "  "))
        allowed = expect if isinstance(expect, tuple) else (expect,)
        if done.returncode not in allowed:
            raise SystemExit(f"demo: `{' '.join(args)}` exited {done.returncode}, expected {allowed}")
        return output

    def card(self, prompt: str = PROMPT) -> dict:
        import yaml

        return yaml.safe_load((self.repo / f"prompts/{prompt}/card.yml").read_text())

    def serving(self, prompt: str = PROMPT) -> dict:
        return json.loads((self.repo / f"registry/{prompt}.lock.json").read_text())["environments"]

    def edit_text(self, line: str) -> None:
        path = self.repo / f"prompts/{PROMPT}/system.md"
        path.write_text(path.read_text() + line + "\n")
        print(f"(edit) appended to prompts/{PROMPT}/system.md: {line!r}")

    def commit(self, message: str) -> None:
        """A developer's commit: the sync hook fixes files and fails it once, then it lands."""
        self.run("git", "add", "-A")
        said = self.run("git", "commit", "-m", message, expect=(0, 1))
        if "Fixing" in said:
            print("(the fixer changed files: review them, add them, commit again)")
            self.run("git", "add", "-A")
            self.run("git", "commit", "-m", message, show=False)
        print(f"committed: {message}")

    def key(self, email: str) -> Path:
        """A throwaway ed25519 key of the demo's own (ssh-keygen), made on first use."""
        path = self.work / "keys" / email.split("@")[0]
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", str(path)], check=True)
        return path

    def approve_all(self, roles, prompt: str = PROMPT) -> None:
        for role in roles:
            email = REVIEWERS[role]
            self.run("promptlane", "approve", prompt, "--role", role, "--note", "reviewed in the demo",
                     "--all-confirmed", "--key", str(self.key(email)), actor=email)


def register_keys(demo: Demo) -> None:
    demo.step("Reviewers register their SSH keys",
              "An approval counts only when it is signed with the reviewer's own key (ssh-keygen -Y sign, the "
              "way git signs commits). Each reviewer makes a throwaway key here and adds the public half to "
              "reviews/allowed_signers. Who may sign is itself governed: the change needs a signed Governance "
              "approval, and on a pull request it is judged under the base branch's signers. These first keys "
              "land on main directly, the root of trust.")
    lines = []
    for email in REVIEWERS.values():
        public = Path(str(demo.key(email)) + ".pub").read_text().split()[:2]
        lines.append(f'{email} namespaces="promptlane" {" ".join(public)}\n')
    signers = demo.repo / "reviews/allowed_signers"
    signers.write_text(signers.read_text() + "".join(lines))
    print(f"(edit) added {len(lines)} keys to reviews/allowed_signers")
    demo.run("promptlane", "check", "reviews/allowed_signers", expect=1)
    demo.run("promptlane", "approve", "--governance", "reviews/allowed_signers", "--role", "Governance",
             "--note", "the team's first keys", "--key", str(demo.key(REVIEWERS["Governance"])), actor=REVIEWERS["Governance"])
    demo.commit("Register the reviewers' signing keys")


def forged_approval(demo: Demo) -> None:
    demo.step("A forged approval is refused",
              "Mallory can write to the repository and knows the PM's e-mail. Signing an approval as "
              "pm@example.com with her own key gets her nothing: allowed_signers does not list her key for "
              "that reviewer, so `approve` refuses and writes nothing (and a form forged by hand fails "
              "`promptlane check` and every promotion with the same PL522).")
    demo.run("promptlane", "approve", PROMPT, "--role", "PM", "--all-confirmed", "--key", str(demo.key("mallory@example.com")),
             expect=1, actor=REVIEWERS["PM"])


def scaffold(demo: Demo) -> None:
    demo.step("Scaffold a governed prompt repository",
              "`promptlane init` renders the bundled cookiecutter template. Its .pre-commit-config.yaml runs the "
              "promptlane installed here (requirements.txt pins it, in one place) as one hook, `promptlane`: sync, "
              "check and audit verify in one process. It is the real one, run by pre-commit, and nothing is downloaded.")
    demo.run("promptlane", "init", str(demo.repo), "--no-input", "--owner", "team-support", show=False)
    print(f"created {demo.repo}")
    demo.run("git", "add", "-A")
    demo.run("git", "commit", "-q", "-m", "Scaffold governed prompt repository")
    demo.run("pre-commit", "install")
    demo.run("pre-commit", "run", "--all-files", show=False)
    print("pre-commit run --all-files: the hook passes on the fresh scaffold, nothing changed")
    demo.run("promptlane", "status")


def edit_and_version(demo: Demo) -> None:
    demo.step("Edit the prompt and commit",
              "The hook's sync part hashes the changed prompt, bumps a text-only change to a patch version, "
              "keeps it in dev, writes the registry and appends the changelog and the audit log.")
    demo.edit_text("Never promise a refund; link the refund policy instead.")
    demo.commit("Support reply: do not promise refunds")
    card = demo.card()
    print(f"card: version {card['version']}, {card['hash'][:23]}..., environment {card['environment']}")


def eval_and_promote(demo: Demo, env: str, roles, prompt: str = PROMPT) -> None:
    demo.step(f"Evaluate, approve and promote {prompt} to {env}",
              "Eval results and approvals belong to the payload hash. promptfoo runs offline against the "
              "template's local provider; reviewers sign their approvals with their own keys; `promote` checks every "
              "gate of the policy for this hash, then updates card, registry, changelog and audit in one step.")
    demo.run("promptlane", "eval", "run", prompt, expect=(0, 1))
    demo.approve_all(roles, prompt)
    demo.run("promptlane", "promote", prompt, "--to", env, "--reason", f"demo: ready for {env}")
    demo.commit(f"Promote {prompt} to {env}")


def refused_promotion(demo: Demo) -> None:
    demo.step("A promotion without its gates is refused",
              "Raising environment: to prod by hand, or asking `promote` for it, fails and names each missing "
              "gate and the command that satisfies it.")
    demo.run("promptlane", "promote", PROMPT, "--to", "prod", expect=1)


def change_demotes(demo: Demo) -> None:
    demo.step("A new edit demotes; prod keeps serving the approved version",
              "The changed hash is back in dev; its evals and approvals start over. The registry still says "
              "what prod serves.")
    demo.edit_text("Answer in at most five sentences.")
    demo.commit("Support reply: shorter answers")
    print(f"card: version {demo.card()['version']} in {demo.card()['environment']}; serving: {demo.serving()}")


def rollback(demo: Demo, previous: str) -> None:
    demo.step("Roll prod back",
              "The new version reached prod and misbehaves. `rollback` serves the last version that passed "
              "there, restoring its texts from the registry store (no git history needed), withdraws the bad "
              "version, and logs it. Version numbers never go down: the next edit bumps above all of them.")
    demo.run("promptlane", "rollback", PROMPT, "--env", "prod", "--reason", "complaints about curt answers")
    demo.commit(f"Roll back {PROMPT} in prod")
    print(f"serving: {demo.serving()}")
    assert demo.serving()["prod"] == previous, "prod should serve the previous version again"


def chain_edit(demo: Demo) -> None:
    demo.step("The second example, a chain: edit its draft call and commit",
              f"prompts/{CHAIN} is two model calls in one card: `extract` reads the customer's message into "
              "triage notes (JSON), `draft` writes the reply from them, its user text using extract's output. "
              "The whole chain has one hash over both calls; changing one call's text is a patch of the chain, "
              "and the same sync hook versions it.")
    card = demo.card(CHAIN)
    for call in card["calls"]:
        print(f"  call {call['name']}: " + ", ".join(step["file"] for step in call["steps"]))
    draft_user = (demo.repo / f"prompts/{CHAIN}/draft-user.md").read_text()
    print(f"  prompts/{CHAIN}/draft-user.md:\n" + textwrap.indent(draft_user.rstrip(), "    | "))
    line = "- Thank the customer for their patience when the request is urgent."
    path = demo.repo / f"prompts/{CHAIN}/draft-system.md"
    path.write_text(path.read_text() + line + "\n")
    print(f"(edit) appended to prompts/{CHAIN}/draft-system.md: {line!r}")
    demo.commit("Triage reply: thank urgent customers for their patience")
    card = demo.card(CHAIN)
    print(f"card: version {card['version']}, {card['hash'][:23]}..., environment {card['environment']}")


def chain_eval_and_promote(demo: Demo) -> None:
    demo.step(f"Evaluate the whole chain, then promote {CHAIN} to staging and prod",
              "`eval run` runs every test through both calls with promptfoo (the chain provider sends extract, "
              "then draft with extract's output in it); assertions judge the reply and, through "
              "context.metadata.outputs.extract, the notes. The results bind to the chain's hash, and the "
              "same gates as for any prompt decide each promotion.")
    out = demo.run("promptlane", "eval", "run", CHAIN)
    if f"{CHAIN} ... 5/5 passed" not in out:
        raise SystemExit(f"demo: every test of {CHAIN} should pass")
    demo.approve_all(["PM"], CHAIN)
    demo.run("promptlane", "promote", CHAIN, "--to", "staging", "--reason", "demo: the chain is ready for staging")
    demo.commit(f"Promote {CHAIN} to staging")
    demo.approve_all(list(REVIEWERS), CHAIN)
    demo.run("promptlane", "promote", CHAIN, "--to", "prod", "--reason", "demo: the chain is ready for prod")
    demo.commit(f"Promote {CHAIN} to prod")
    print(f"serving {CHAIN}: {demo.serving(CHAIN)}")


def chain_runtime(demo: Demo) -> None:
    demo.step("An application runs the chain prod serves",
              "`registry export json` writes the bundle an application ships with. demo/triage_app.py loads it "
              "with promptlane.runtime, gets the version prod serves (hash verified), and runs it with "
              "prompt.run(call_model, **inputs): one call_model per call, in order, extract's output put into "
              "draft's text. Its call_model is local and deterministic (the repository's offline stand-in). "
              "Each call and the chain are traced, linked and PII-redacted; `log validate` checks the records.")
    demo.run("promptlane", "registry", "export", "json", "registry.json")
    trace_log = demo.work / "trace.jsonl"
    demo.run(sys.executable, str(ROOT / "demo/triage_app.py"), "registry.json", str(trace_log))
    text = trace_log.read_text()
    for record in map(json.loads, text.splitlines()):
        kind = f"call {record['call']} (parent {record['parent_id'][:8]})" if record.get("call") else \
            f"chain of {', '.join(record['calls'])} (id {record['trace_id'][:8]})"
        print(f"  trace: {record['prompt_id']} {record['version']} {record['environment']}, {kind}, {record['status']}")
    if "ben@example.com" in text:
        raise SystemExit("demo: the customer's e-mail address reached the trace log")
    print("  the customer's e-mail address is redacted in every record")
    demo.run("promptlane", "log", "validate", str(trace_log))


def audit(demo: Demo) -> None:
    demo.step("Audit from the repository alone",
              "The audit log is a hash chain; the registry export answers what each environment serves.")
    demo.run("promptlane", "audit", "verify")
    demo.run("promptlane", "status")
    demo.run("promptlane", "registry", "export", "sqlite", "registry.sqlite")
    import sqlite3

    with sqlite3.connect(demo.repo / "registry.sqlite") as db:
        rows = db.execute("SELECT prompt, environment, version, hash FROM served ORDER BY prompt, environment").fetchall()
    for row in rows:
        print(f"  sqlite served: {row[0]} {row[1]} -> {row[2]} {row[3][:23]}...")
    tail = (demo.repo / "audit/artifact-audit-log.md").read_text().splitlines()[-4:]
    print("  last audit rows:")
    for line in tail:
        cells = [c.strip() for c in line.strip("|").split("|")]
        print(f"    #{cells[0]} {cells[2]:<9} {cells[3]} {cells[4]:<6} by {cells[6]}: {cells[7]}")


def seal(demo: Demo) -> None:
    demo.step("Seal the logs (on main, now and then)",
              "Every commit appends to the audit log and the changelog, and pre-commit compares each file a hook "
              "changed. `audit seal` moves both files, unchanged, into audit/archive/0001/ and starts them again "
              "from their headers; the chain continues across, so commits stay fast however long history grows.")
    demo.run("promptlane", "audit", "seal")
    demo.commit("Seal the audit log")
    demo.run("promptlane", "audit", "verify", "--full")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, default=ROOT / "demo-output", help="where to build the demo repository")
    args = parser.parse_args(argv)
    work = args.keep.resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    demo = Demo(work)
    scaffold(demo)
    register_keys(demo)
    edit_and_version(demo)
    refused_promotion(demo)
    forged_approval(demo)
    eval_and_promote(demo, "staging", ["PM"])
    eval_and_promote(demo, "prod", list(REVIEWERS))
    first_prod = demo.serving()["prod"]
    change_demotes(demo)
    eval_and_promote(demo, "staging", ["PM"])
    eval_and_promote(demo, "prod", list(REVIEWERS))
    rollback(demo, first_prod)
    chain_edit(demo)
    chain_eval_and_promote(demo)
    chain_runtime(demo)
    audit(demo)
    seal(demo)
    print(f"\nDone. The governed repository is in {demo.repo}; explore it with `promptlane status`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
