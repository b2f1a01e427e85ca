"""Build a governed repository of N prompts with H rows of history, fast and consistent.

Files are written directly with promptlane's own hashing and audit-row code (running sync
10,000 times would measure sync, not the repository). The result passes
`promptlane check --all` and `promptlane audit verify`.

    python bench/generate.py OUT --prompts 10000 --history 100000 [--seal-every 1000]

With --seal-every N the history is laid out as `promptlane audit seal` leaves it when run every N
rows: full segments in audit/archive/NNNN/, and the last N rows still in the current files (the
worst case a commit meets, just before the next seal).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from promptlane.core import hashing
from promptlane.core.chain import AUDIT_HEADER, audit_row, continued_audit_header
from promptlane.core.changelog import CHANGELOG_HEADER, CONTINUED_CHANGELOG_HEADER, changelog_entry
from promptlane.core.events import Event
from promptlane.store.segments import CURRENT, sealed_segment
from promptlane.core.registry import Lock, snapshot_json

TIME = "2026-01-01T00:00:00Z"
ACTOR = "bench@example.com"
CARD = """\
# Benchmark card {n}
id: {id}
title: Support reply {n}
description: Answers a customer question politely, citing the help centre article {n}.
owner: team-{team}
tags: [support, email, bench]
risk: {risk}
model:
  provider: openai
  name: gpt-4o-mini
  params: {{temperature: 0.2, max_tokens: 400}}
variables: [customer_name, question]
steps:
  - {{name: system, role: system, file: system.md}}
  - {{name: user, role: user, file: user.md}}
budget: {{max_input_tokens: 1200, max_cost_per_call_usd: 0.002}}
# ---- managed block (schemas/prompt-version-schema.yml); promptlane writes it ----
version: 1.0.0
hash: {hash}
author: {actor}
environment: dev
"""
SYSTEM = "You are a polite support agent for product line {n}. Cite the help centre; never promise refunds.\n" * 3
USER = "Customer {{{{ customer_name }}}} asks about topic {n}:\n{{{{ question }}}}\n"
TEMPLATE_POLICY = Path(__file__).resolve().parents[1] / "{{cookiecutter.project}}/workflows/policy-as-code-example.yml"


def policy_text() -> str:
    """The template's policy, rendered for the default environments and roles."""
    from jinja2 import Template

    return Template(TEMPLATE_POLICY.read_text(encoding="utf-8")).render(
        cookiecutter={"environments": "dev,staging,prod", "reviewer_roles": "PM,Tech Lead,QA,Security,Governance"})


def prompt_files(n: int) -> tuple[str, dict, dict, str]:
    prompt_id = f"prompt-{n:05d}"
    texts = {"system.md": SYSTEM.format(n=n), "user.md": USER.format(n=n)}
    model = {"provider": "openai", "name": "gpt-4o-mini", "params": {"temperature": 0.2, "max_tokens": 400}}
    steps = [{"name": "system", "role": "system", "file": "system.md"}, {"name": "user", "role": "user", "file": "user.md"}]
    payload = hashing.build_payload(model, steps, [texts["system.md"], texts["user.md"]], ["customer_name", "question"])
    card = {"title": f"Support reply {n}", "risk": "low", "model": model, "variables": ["customer_name", "question"], "steps": steps}
    return prompt_id, texts, {"card": card, "payload": payload}, hashing.payload_hash(payload)


# The schemas a rendered repository ships in schemas/ (the template's copies are these bytes).
SHIPPED_SCHEMAS = ("prompt-card.schema.json", "prompt-version-schema.yml")


def generate(root: Path, prompts: int, history: int, seal_every: int | None = None, promoted: bool = False) -> None:
    """With ``promoted``, every low-risk prompt is also in staging by a logged promotion whose
    evidence (results, policy) is in audit/evidence/, as `promptlane promote` leaves it: what
    `audit verify --full` derives."""
    from importlib import resources

    if root.exists():
        shutil.rmtree(root)
    for folder in ("prompts", "registry/store", "schemas", "audit", "workflows"):
        (root / folder).mkdir(parents=True)
    (root / "workflows/policy-as-code-example.yml").write_text(policy_text())
    for name in SHIPPED_SCHEMAS:
        (root / "schemas" / name).write_bytes(resources.files("promptlane.schemas").joinpath(name).read_bytes())
    events, promotions = [], []
    for n in range(prompts):
        prompt_id, texts, parts, payload_hash = prompt_files(n)
        folder = root / "prompts" / prompt_id
        folder.mkdir()
        risk = ("low", "medium", "high")[n % 3]
        (folder / "card.yml").write_text(CARD.format(n=n, id=prompt_id, team=n % 17, risk=risk, hash=payload_hash, actor=ACTOR))
        for name, text in texts.items():
            (folder / name).write_text(text)
        lock = Lock(prompt_id, [{"version": "1.0.0", "hash": payload_hash, "author": ACTOR, "created": TIME, "bump": "initial"}],
                    {"dev": "1.0.0", "staging": None, "prod": None})
        (root / f"registry/{prompt_id}.lock.json").write_text(lock.to_json())
        (root / "registry/store" / prompt_id).mkdir()
        (root / f"registry/store/{prompt_id}/1.0.0.json").write_text(
            snapshot_json(prompt_id, "1.0.0", payload_hash, parts["card"], parts["payload"]))
        events.append(Event("version", TIME, ACTOR, prompt_id, "1.0.0", payload_hash, {"dev": "1.0.0"}, "first version", "initial"))
        if promoted and risk == "low":
            promotions.append(promote_with_evidence(root, lock, parts["payload"], payload_hash))
    events += promotions
    # Older history (prompts since retired) fills the logs up to H rows.
    for n in range(max(0, history - prompts)):
        events.insert(0, Event("version", TIME, ACTOR, f"retired-{n:06d}", "1.0.0", "sha256:" + f"{n:064x}", {"dev": "1.0.0"}, "first version", "initial"))
    write_logs(root, events, seal_every)


PROMOTED = "2026-01-02T00:00:00Z"


def promote_with_evidence(root: Path, lock: Lock, payload: dict, payload_hash: str) -> Event:
    """Serve 1.0.0 in staging: its results (promptlane-eval/2, from the card's own model) and
    the policy kept in the evidence store, the lock and card raised, the promotion's event."""
    from promptlane.core.evalinputs import card_provider
    from promptlane.core.evidence import Collected, blob_rel
    from promptlane.core.results import FORMAT, to_json
    from promptlane.core.results import results_rel

    class _Card:  # card_provider reads the payload's model only
        pass

    shaped = _Card()
    shaped.payload = payload  # type: ignore[attr-defined]
    digest = "sha256:" + "0" * 64
    results = {"format": FORMAT, "prompt": lock.prompt_id, "hash": payload_hash, "version": "1.0.0", "time": TIME,
               "promptfoo_version": "0.121.20", "provider": card_provider(shaped)["id"], "tests": 4, "passed": 4,
               "failed": 0, "errors": 0, "pass_rate": 1.0,
               "categories": {c: {"tests": 1, "passed": 1, "pass_rate": 1.0} for c in ("accuracy", "hallucination", "cost", "safety")}, "tokens": {"prompt": 0, "completion": 0, "total": 0},
               "cost_usd": 0.0, "failures": [],
               "inputs": {"config": digest, "tests": digest, "providers": digest,
                          "provider_ids": [card_provider(shaped)["id"]], "bound": "eval run"}}
    text = to_json(results)
    rel = root / results_rel(lock.prompt_id, payload_hash)
    rel.parent.mkdir(parents=True, exist_ok=True)
    rel.write_text(text)
    collected = Collected()
    collected.results(text.encode())
    collected.rules("policy", (root / "workflows/policy-as-code-example.yml").read_bytes())
    collected.rules("reviewers", None)
    collected.rules("allowed_signers", None)
    for digest_name, raw in collected.blobs.items():
        blob = root / blob_rel(digest_name)
        if not blob.exists():
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(raw)
    lock.environments["staging"] = "1.0.0"
    (root / f"registry/{lock.prompt_id}.lock.json").write_text(lock.to_json())
    card = root / "prompts" / lock.prompt_id / "card.yml"
    card.write_text(card.read_text().replace("environment: dev\n", "environment: staging\n"))
    return Event("promote", PROMOTED, ACTOR, lock.prompt_id, "1.0.0", payload_hash, {"dev": "1.0.0", "staging": "1.0.0"},
                 "promoted to staging [gates: bench]", evidence=collected.mapping)


REVIEWER = "pm@bench.example"
FORM = """---
prompt: "{id}"
version: "1.0.0"
hash: "{hash}"
reviewer: "{reviewer}"
role: "PM"
decision: "approved"
date: "2026-01-02T00:00:00Z"
note: "bench"
---

# Prompt approval

## Checklist: PM

- [x] The change does what the ticket asks.
"""


def add_signed_forms(root: Path, key: Path) -> None:
    """One PM approval per prompt, signed with ``key`` (ssh-keygen -Y sign, as `promptlane
    approve` does), the key in reviews/allowed_signers and the PM in reviews/reviewers.yml."""
    (root / "reviews").mkdir(exist_ok=True)
    (root / "reviews/reviewers.yml").write_text(f'"PM": ["{REVIEWER}"]\n"Governance": ["gov@bench.example"]\n')
    public = " ".join(Path(str(key) + ".pub").read_text().split()[:2])
    (root / "reviews/allowed_signers").write_text(f'{REVIEWER} namespaces="promptlane" {public}\n')
    forms = []
    for lock in sorted((root / "registry").glob("*.lock.json")):
        prompt_id = lock.name[: -len(".lock.json")]
        entry = json.loads(lock.read_text())["versions"][0]
        form = root / f"reviews/{prompt_id}/1.0.0/pm-pm.md"
        form.parent.mkdir(parents=True)
        form.write_text(FORM.format(id=prompt_id, hash=entry["hash"], reviewer=REVIEWER))
        forms.append(str(form))
    for start in range(0, len(forms), 500):  # ssh-keygen signs each file it is given
        subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-f", str(key), "-n", "promptlane", *forms[start:start + 500]],
                       check=True, capture_output=True)


def write_logs(root: Path, events: list[Event], seal_every: int | None = None) -> None:
    size = seal_every or max(1, len(events))
    chunks = [events[i:i + size] for i in range(0, len(events), size)] or [[]]
    segments = [sealed_segment(n) for n in range(1, len(chunks))] + [CURRENT]
    prev, seq = "0" * 64, 0
    for number, (segment, chunk) in enumerate(zip(segments, chunks)):
        (root / segment.audit_rel).parent.mkdir(parents=True, exist_ok=True)
        with open(root / segment.changelog_rel, "w", encoding="utf-8") as log:
            log.write(CONTINUED_CHANGELOG_HEADER if number else CHANGELOG_HEADER)
            for event in chunk:
                log.write(changelog_entry(event))
        with open(root / segment.audit_rel, "w", encoding="utf-8") as audit:
            audit.write(continued_audit_header(seq, prev) if number else AUDIT_HEADER)
            for event in chunk:
                seq += 1
                row, prev = audit_row(prev, seq, event)
                audit.write(row)


def git_commit(root: Path) -> None:
    """Commit everything, then pack it as a clone would be. Automatic gc is switched off in the
    repository: a background `git gc --auto` after a large commit would compete for the cores
    with the commands being timed."""
    env_args = ["-c", "user.email=bench@example.com", "-c", "user.name=bench"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    for key, value in (("gc.auto", "0"), ("maintenance.auto", "false")):
        subprocess.run(["git", "config", key, value], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", *env_args, "commit", "-q", "-m", "bench repo"], cwd=root, check=True)
    subprocess.run(["git", "gc", "-q"], cwd=root, check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--history", type=int, default=100)
    parser.add_argument("--seal-every", type=int, default=None, metavar="N", help="lay the history out in sealed segments of N rows")
    parser.add_argument("--git", action="store_true", help="also git init and commit")
    args = parser.parse_args(argv)
    generate(args.out, args.prompts, args.history, args.seal_every)
    if args.git:
        git_commit(args.out)
    print(f"{args.out}: {args.prompts} prompts, {max(args.history, args.prompts)} history rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
