"""Fifth attack round: the record of what is served (audit verify --full, and CI).

Each test builds an honest history on main (tests/signing.py, tests/test_attacks.py's
``served``), then mallory (write access, no reviewer's key) edits the record by hand with
promptlane's own writers. A hole is kept as a test that asserts the check SHOULD fail,
marked xfail(strict=True) until it is fixed; an attack already refused is a normal test
asserting its code.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from governed import PID, card, clock, commit, lock, write_results
from signing import MALLORY, approve, ci_check, open_branch, release, run
from test_attacks import (LATER, PM, append_events, base, entries_of, keys, new_version_as_dana,  # noqa: F401
                          served, set_lock)

V2_TIME = "2026-12-01T10:30:00Z"
ROLLED = "2026-12-01T10:45:00Z"
ATTACK_TIME = "2026-12-01T12:00:00Z"


def verify_full(root, capsys, *extra):
    return run(root, capsys, "audit", "verify", "--full", *extra)


def honest_then_branch(root, capsys, monkeypatch):
    """The base as set up verifies in full; mallory's branch starts from it at ATTACK_TIME."""
    code, out = verify_full(root, capsys)
    assert code == 0, out
    return open_branch(root, monkeypatch, ATTACK_TIME)


def fails_with(code_out, *codes):
    code, out = code_out
    assert "Traceback" not in out, out
    assert code == 1, f"passed:\n{out}"
    for wanted in codes:
        assert re.search(rf"\b(?:{wanted})\b", out), f"no {wanted}:\n{out}"


@pytest.fixture
def withdrawn_v2(served, keys, capsys, monkeypatch):
    """main: 1.0.1 in prod; 1.0.2 made, released honestly to staging and prod with five
    signed approvals, then rolled back in prod (1.0.2 withdrawn, prod serves 1.0.1 again)."""
    clock(monkeypatch, V2_TIME)
    two = new_version_as_dana(served, capsys)
    write_results(served, V2_TIME)
    release(served, capsys, keys)
    commit(served, f"{PID} {two} in prod")
    clock(monkeypatch, ROLLED)
    code, out = run(served, capsys, "rollback", PID, "--env", "prod", "--reason", "bad answers")
    assert code == 0, out
    commit(served, f"{PID} {two} rolled back")
    assert lock(served)["environments"]["prod"] == "1.0.1"
    assert two in lock(served)["withdrawn"]
    return honest_then_branch(served, capsys, monkeypatch), two


# ---------------------------------------------------------------- A1. rollback "forward" to a withdrawn version


def test_a_rollback_entry_returns_prod_to_the_withdrawn_version(withdrawn_v2, capsys):
    root, two = withdrawn_v2
    # the command refuses it:
    code, out = run(root, capsys, "rollback", PID, "--env", "prod", "--to", two, "--reason", "x", actor=MALLORY)
    assert code != 0 and "withdrawn" in out, out
    state = {**lock(root)["environments"], "prod": two}
    snapshot_hash = [v for v in lock(root)["versions"] if v["version"] == two][0]["hash"]
    append_events(root, _event("rollback", ATTACK_TIME, MALLORY, two, snapshot_hash, state,
                               f"prod: 1.0.1 -> {two}, 1.0.1 withdrawn: x"))
    set_lock(root, lambda doc: (doc["environments"].update(prod=two),
                                doc["withdrawn"].update({"1.0.1": {"env": "prod", "time": ATTACK_TIME, "reason": "x"}})))
    restore_card_files(root, "HEAD~1")  # the card as it was when 1.0.2 served prod (what `rollback` writes)
    commit(root, "prod back to 1.0.2")
    assert lock(root)["environments"]["prod"] == two and two in lock(root)["withdrawn"]
    ci = ci_check(root, capsys)
    clone = verify_full(root, capsys)
    # both must refuse: prod serves a version withdrawn from prod, without newer eval results
    assert ci[0] != 0, f"CI passed:\n{ci[1]}"
    fails_with(clone)


def restore_card_files(root, rev):
    for name in ("card.yml", "system.md", "user.md"):
        rel = f"prompts/{PID}/{name}"
        done = subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=root, capture_output=True, check=True)
        (root / rel).write_bytes(done.stdout)


def _event(kind, time, actor, version, payload_hash, state, reason, evidence=None):
    from promptlane.core.events import Event

    return Event(kind, time, actor, PID, version, payload_hash, state, reason, None, evidence)


# ---------------------------------------------------------------- A2. the withdrawn version's promotion replayed, backdated


def _last_promotion(root, env):
    return [e for e in entries_of(root) if e["event"] == "promote" and e["environments"].get(env) == e["version"]][-1]


def test_the_withdrawn_versions_promotion_replayed_with_its_old_time(withdrawn_v2, capsys):
    root, two = withdrawn_v2
    old = [e for e in entries_of(root) if e["event"] == "promote" and e["version"] == two][-1]  # its prod promotion
    state = {**lock(root)["environments"], "prod": two}
    append_events(root, _event("promote", old["time"], MALLORY, two, old["hash"], state, old["reason"], old["evidence"]))
    set_lock(root, lambda doc: doc["environments"].update(prod=two))
    commit(root, "replayed")
    fails_with(verify_full(root, capsys))


def test_the_replayed_backdated_promotion_is_refused_by_ci(withdrawn_v2, capsys):
    root, two = withdrawn_v2
    old = [e for e in entries_of(root) if e["event"] == "promote" and e["version"] == two][-1]
    state = {**lock(root)["environments"], "prod": two}
    append_events(root, _event("promote", old["time"], MALLORY, two, old["hash"], state, old["reason"], old["evidence"]))
    set_lock(root, lambda doc: doc["environments"].update(prod=two))
    commit(root, "replayed")
    code, out = ci_check(root, capsys)
    assert code != 0 and re.search(r"\bPL630\b", out), out


# ---------------------------------------------------------------- A3. a forged risk event lowers the risk judged


@pytest.fixture
def staged_v2(served, keys, capsys, monkeypatch):
    """main: 1.0.1 in prod; 1.0.2 (high risk) approved by the PM (signed) and promoted to
    staging honestly: all staging needs at high risk. No other role has seen it."""
    clock(monkeypatch, V2_TIME)
    two = new_version_as_dana(served, capsys)
    write_results(served, V2_TIME)
    code, out = approve(served, capsys, "PM", PM, keys.private(PM))
    assert code == 0, out
    code, out = run(served, capsys, "promote", PID, "--to", "staging")
    assert code == 0, out
    commit(served, f"{PID} {two} in staging")
    return honest_then_branch(served, capsys, monkeypatch), two


def test_a_forged_risk_event_lets_the_pm_alone_promote_to_prod(staged_v2, capsys):
    root, two = staged_v2
    staging = _last_promotion(root, "staging")
    now = dict(lock(root)["environments"])
    append_events(root, _event("risk", ATTACK_TIME, MALLORY, two, staging["hash"], now, "risk high -> low"))
    state = {**now, "prod": two}
    append_events(root, _event("promote", ATTACK_TIME, MALLORY, two, staging["hash"], state,
                               staging["reason"].replace("staging", "prod"), staging["evidence"]))
    set_lock(root, lambda doc: doc["environments"].update(prod=two))
    commit(root, "prod, at low risk")
    assert card(root)["risk"] == "high"
    fails_with(verify_full(root, capsys))


def test_the_forged_risk_event_is_refused_by_ci(staged_v2, capsys):
    root, two = staged_v2
    staging = _last_promotion(root, "staging")
    now = dict(lock(root)["environments"])
    append_events(root, _event("risk", ATTACK_TIME, MALLORY, two, staging["hash"], now, "risk high -> low"))
    append_events(root, _event("promote", ATTACK_TIME, MALLORY, two, staging["hash"], {**now, "prod": two},
                               staging["reason"], staging["evidence"]))
    set_lock(root, lambda doc: doc["environments"].update(prod=two))
    commit(root, "prod, at low risk")
    code, out = ci_check(root, capsys)
    assert code != 0 and re.search(r"\bPL630\b", out), out


# ---------------------------------------------------------------- A4. one promote entry moves staging AND prod


def _verify_in_subprocess(root, seed: int) -> tuple[int, str]:
    exe = Path(os.environ.get("VIRTUAL_ENV", "/work/main/.venv")) / "bin" / "promptlane"
    if not exe.exists():
        exe = Path("/work/main/.venv/bin/promptlane")
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    done = subprocess.run([str(exe), "audit", "verify", "--full"], cwd=root, env=env, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def test_one_promote_entry_moving_staging_and_prod_is_judged_once(served, keys, capsys, monkeypatch):
    """1.0.2 approved by the PM only; mallory promotes to staging honestly, then adds
    `prod: 1.0.2` to that entry's environments (not chained: no rechain needed) and the lock."""
    root = served
    clock(monkeypatch, V2_TIME)
    two = new_version_as_dana(root, capsys)
    write_results(root, V2_TIME)
    code, out = approve(root, capsys, "PM", PM, keys.private(PM))
    assert code == 0, out
    code, out = run(root, capsys, "promote", PID, "--to", "staging", actor=MALLORY)
    assert code == 0, out
    path = root / "schemas/prompt-change-log.yml"
    text = path.read_text(encoding="utf-8")
    head, last = text[: text.rindex("- event:")], text[text.rindex("- event:"):]
    want = f'"staging": "{two}", "prod": "1.0.1"'
    assert want in last, last
    path.write_text(head + last.replace(want, f'"staging": "{two}", "prod": "{two}"'), encoding="utf-8")
    set_lock(root, lambda doc: doc["environments"].update(prod=two))
    commit(root, "prod too")
    verdicts = {seed: _verify_in_subprocess(root, seed) for seed in range(8)}
    passed = [seed for seed, (code, _) in verdicts.items() if code == 0]
    assert all("Traceback" not in out for _, out in verdicts.values())
    assert not passed, f"audit verify --full passed with PYTHONHASHSEED in {passed}"


def test_the_double_pointer_entry_is_refused_by_ci(served, keys, capsys, monkeypatch):
    root = served
    clock(monkeypatch, V2_TIME)
    two = new_version_as_dana(root, capsys)
    write_results(root, V2_TIME)
    commit(root, f"{PID} {two}")
    open_branch(root, monkeypatch, ATTACK_TIME)
    write_results(root, ATTACK_TIME)
    code, out = approve(root, capsys, "PM", PM, keys.private(PM))
    assert code == 0, out
    code, out = run(root, capsys, "promote", PID, "--to", "staging", actor=MALLORY)
    assert code == 0, out
    path = root / "schemas/prompt-change-log.yml"
    text = path.read_text(encoding="utf-8")
    head, last = text[: text.rindex("- event:")], text[text.rindex("- event:"):]
    want = f'"staging": "{two}", "prod": "1.0.1"'
    path.write_text(head + last.replace(want, f'"staging": "{two}", "prod": "{two}"'), encoding="utf-8")
    set_lock(root, lambda doc: doc["environments"].update(prod=two))
    commit(root, "prod too")
    code, out = ci_check(root, capsys)
    assert code != 0 and re.search(r"\bPL630\b", out), out


# ---------------------------------------------------------------- A5. rules "held by the repository": any commit of HEAD


@pytest.mark.xfail(strict=True, reason="known limit, not fixed: PL228 accepts a policy held by ANY commit of HEAD's history, "
                   "including the attacker's own branch commits: she commits her do-nothing policy, reverts it in "
                   "the next commit, and her forged promotions naming it pass audit verify --full on the clone")
def test_a_forged_policy_committed_and_reverted_on_the_branch_counts_as_held(served, capsys, monkeypatch):
    from signing import POLICY, forge_promotion
    from promptlane.core.evidence import blob_rel

    root = served
    clock(monkeypatch, V2_TIME)
    two = new_version_as_dana(root, capsys)
    write_results(root, V2_TIME)
    commit(root, f"{PID} {two}")
    open_branch(root, monkeypatch, ATTACK_TIME)
    for env in ("staging", "prod"):
        forge_promotion(root, capsys, env)
    assert lock(root)["environments"]["prod"] == two
    fails_with(verify_full(root, capsys), "PL228")  # as is: her policy was never held
    honest = (root / POLICY).read_bytes()
    (root / POLICY).write_bytes((root / blob_rel(entries_of(root)[-1]["evidence"]["policy"])).read_bytes())
    commit(root, "try a policy")
    (root / POLICY).write_bytes(honest)
    commit(root, "revert it")
    fails_with(verify_full(root, capsys))


# ---------------------------------------------------------------- A6. malformed evidence: refused, never a traceback

MALFORMED = {
    "results-a-list": ("results", b"[]"),
    "results-null": ("results", b"null"),
    "results-not-utf8": ("results", b"\xff\xfe{}"),
    "results-wrong-types": ("results", b'{"format": "promptlane-eval/2", "inputs": 5, "hash": 7, "tests": "x"}'),
    "policy-a-list": ("policy", b"[]\n"),
    "policy-bad-shape": ("policy", b"environments: 5\npromotion: []\n"),
    "reviewers-a-list": ("reviewers", b"- a\n- b\n"),
    "reviewers-bad-values": ("reviewers", b'"PM": 5\n"QA": {x: 1}\n'),
    "signers-garbage": ("allowed_signers", b"\x00\x01 garbage line\n* namespaces=\"\" ssh-ed25519 !!!\n"),
    "form-garbage": ("form", b"---\n: : :\n---\n"),
    "form-not-utf8": ("form", b"\xff\xfe\x00"),
    "form-no-front-matter": ("form", b"just text\n"),
    "sig-garbage": ("sig", b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_evidence_is_refused_without_a_traceback(served, capsys, case):
    from promptlane.core.evidence import blob_rel
    from promptlane.core.hashing import digest_of
    from test_attacks import audit_rows, rechain_from

    root = served
    what, raw = MALFORMED[case]
    entry = entries_of(root)[-1]
    assert entry["event"] == "promote" and entry["environments"]["prod"] == entry["version"]
    old = entry["evidence"]["forms"][0][what] if what in ("form", "sig") else entry["evidence"][what]
    new = digest_of(raw)
    (root / blob_rel(new)).parent.mkdir(parents=True, exist_ok=True)
    (root / blob_rel(new)).write_bytes(raw)
    path = root / "schemas/prompt-change-log.yml"
    text = path.read_text(encoding="utf-8")
    at = text.rindex("- event:")
    assert old in text[at:]
    path.write_text(text[:at] + text[at:].replace(old, new), encoding="utf-8")
    rechain_from(root, audit_rows(root))
    code, out = verify_full(root, capsys)
    assert "Traceback" not in out, out
    assert code == 1, out
    assert re.search(r"\bPL22[5-8]\b", out), out


# ---------------------------------------------------------------- A7. a rollback entry that withdraws nothing


def test_a_rollback_entry_that_withdraws_nothing(served, keys, capsys, monkeypatch):
    root = served
    clock(monkeypatch, V2_TIME)
    two = new_version_as_dana(root, capsys)
    write_results(root, V2_TIME)
    release(root, capsys, keys)
    commit(root, f"{PID} {two} in prod")
    open_branch(root, monkeypatch, ATTACK_TIME)
    one_hash = [v for v in lock(root)["versions"] if v["version"] == "1.0.1"][0]["hash"]
    state = {**lock(root)["environments"], "prod": "1.0.1"}
    append_events(root, _event("rollback", ATTACK_TIME, MALLORY, "1.0.1", one_hash, state,
                               f"prod: {two} -> 1.0.1 (temporarily; nothing withdrawn)"))
    set_lock(root, lambda doc: doc["environments"].update(prod="1.0.1"))
    restore_card_files(root, "HEAD~1")  # the card at 1.0.1, as `rollback` restores it
    commit(root, "prod back, quietly")
    assert two not in lock(root)["withdrawn"]
    ci = ci_check(root, capsys)
    clone = verify_full(root, capsys)
    assert ci[0] != 0 or clone[0] != 0, f"both passed:\n{ci[1]}\n{clone[1]}"
