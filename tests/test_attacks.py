"""Attacks on signed approvals by someone who can push but may not decide.

mallory@example.com has write access, reviews nothing, and her key is on no list. Each test
scripts one attack on a pull request (branch ``release/feature`` from the protected ``main``,
see tests/signing.py) against a repository rendered from the template, with real ed25519 keys,
real git and the real CLI. Whatever a command refuses (changing no file) she then does by
hand: forms written and signed with whatever key she has, promotion records written so that
the audit chain is consistent. The attack fails when CI (`promptlane check --all --base main`
and `promptlane audit verify --full --base main`) refuses her branch, and the case's codes
were reported by a refused command or by CI. The honest path, five reviewers each signing
with their own key, must pass the same CI.

EXPECTED is the one place that says which code each case must produce ("A|B": either).
"""
from __future__ import annotations

import copy
import re

import pytest
import yaml

from governed import PID, PROD_ROLES, card, clock, commit, edit_text, lock, write_results
from promptlane.core.reviews import review_rel
from signing import (CARD, DANA, FORMS, MALLORY, POLICY, PR_TIME, REVIEWER_OF, REVIEWERS, SIGNERS, V1, Attack,
                     Keys, add_reviewer, add_signer, approve, ci_check, each_risk_rule, edit_policy, forge_promotion,
                     open_branch, release, run, set_front, setup_base, signing_config, verifies)

EXPECTED = {
    # 1. approvals under the reviewers' names
    "unsigned": ("PL520",),
    "signed-by-mallory": ("PL522",),
    "signed-by-another-reviewers-key": ("PL522",),
    # 2. an approved version's forms and signatures copied to the next version
    "copied-version-and-hash-edited": ("PL521",),
    "copied-unedited": ("PL502",),
    "copied-version-edited": ("PL504",),
    # 3. mallory makes herself a reviewer on her own branch
    "mallory-in-every-role": ("PL411", "PL630"),
    "sock-puppets-in-every-role": ("PL411", "PL630"),
    "looser-policy-approved-by-mallory": ("PL410", "PL411"),
    # 4. separation of duties
    "two-roles-one-email": ("PL611",),
    "two-roles-one-key": ("PL611",),
    # 5. the card's risk lowered
    "risk-high-to-low": ("PL412",),
    "risk-high-to-medium": ("PL412",),
    # 6. the policy loosened in ways other than thresholds
    "environments-reordered": ("PL410",),
    "prod-rule-deleted": ("PL410|PL402",),
    "staging-removed": ("PL410",),
    "environment-added": ("PL410",),
    "signatures-off": ("PL410",),
    # 7. review history and dates
    "reject-deleted": ("PL530",),
    "reject-signature-deleted": ("PL530",),
    "reject-edited": ("PL530",),
    "dated-before-the-version": ("PL524",),
    "dated-in-the-future": ("PL501",),
    # 8. the author approving her own version
    "author-approves": ("PL507",),
    "author-approves-under-another-email": ("PL507|PL611",),
    # beyond the brief
    "mallorys-key-for-every-reviewer": ("PL411", "PL630"),
    "wildcard-principal-for-mallorys-key": ("PL411", "PL630"),
    "allowed-signers-deleted": ("PL411",),
    "promotion-record-forged": ("PL630",),
    "reject-flipped-before-commit": ("PL521",),
    "signature-in-another-namespace": ("PL521",),
    "governance-approval-replayed": ("PL410",),
    # holes found by the second attack round, fixed since
    "promotion-recorded-as-rollback": ("PL630|PL216",),
    "served-version-reissued": ("PL631",),
    "symlinked-governance-files": ("PL411",),
    "promotion-backdated": ("PL630",),
    "policy-deleted": ("PL410",),
    # holes found by the third attack round, fixed since: what the rendered CI runs
    "symlinked-governance-files-hook": ("PL411",),
    "governance-files-deleted-hook": ("PL410", "PL411"),
    "risk-lowered-through-symlinked-card": ("PL412|PL123",),
    # Trust II, item 3: snapshots verified
    "served-snapshot-text-edited": ("PL210", "PL631"),
    # holes found by the fourth attack round, fixed since
    "base-ref-names-a-tag": ("ambiguous",),
    "withdrawal-deleted": ("PL631|PL607",),
    "governance-approval-replayed-renamed": ("PL410",),
    "branch-rejection-deleted": ("PL530",),
}
PM = REVIEWER_OF["PM"]
GOVERNANCE = REVIEWER_OF["Governance"]
LATER = "2026-12-01T11:00:00Z"


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> Keys:
    return Keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def base(gov, keys, capsys):
    """The honest main (tests/signing.py setup_base): 1.0.1 by dana in dev, five reviewers' keys."""
    return setup_base(gov, keys, capsys)


@pytest.fixture
def pr(base, monkeypatch):
    """The pull request's branch, opened an hour after 1.0.1."""
    return open_branch(base, monkeypatch)


@pytest.fixture
def attack(pr, capsys, keys) -> Attack:
    return Attack(pr, capsys, keys)


def stopped(attack: Attack, case: str) -> None:
    """The attack failed: CI refuses the branch, and each of the case's codes was reported."""
    code, out = attack.verdict()
    assert code != 0, f"{case}: CI passed the attack\n{out}"
    for wanted in EXPECTED[case]:
        assert re.search(rf"\b(?:{wanted})\b", out), f"{case}: no {wanted} reported\n{out}"


def governance_approve(root, capsys, keys: Keys, subject: str, reviewer: str = GOVERNANCE, key_owner: str | None = None):
    """`promptlane approve --governance SUBJECT --role Governance --key KEY` as ``reviewer``."""
    return run(root, capsys, "approve", "--governance", subject, "--role", "Governance",
               "--key", str(keys.private(key_owner or reviewer)), actor=reviewer)


def set_risk(root, risk: str) -> None:
    path = root / CARD
    text = path.read_text(encoding="utf-8")
    assert "\nrisk: high\n" in text, text
    path.write_text(text.replace("\nrisk: high\n", f"\nrisk: {risk}\n"), encoding="utf-8")


def lower_staging_pass_rate(doc: dict) -> None:
    doc["promotion"]["staging"]["risk"]["high"]["min_pass_rate"] = 0.5


# ---------------------------------------------------------------- the honest path (and what it must not trip)


def test_five_reviewers_sign_with_their_own_keys_and_the_prompt_reaches_prod(pr, keys, capsys):
    for role, reviewer in REVIEWER_OF.items():
        key = keys.private(reviewer)
        if role == "QA":  # the key git signs commits with (gpg.format=ssh, user.signingkey)
            code, out = approve(pr, capsys, role, reviewer, None, env=signing_config(key))
        else:
            code, out = approve(pr, capsys, role, reviewer, key)
        assert code == 0, out
    for env in ("staging", "prod"):
        code, out = run(pr, capsys, "promote", PID, "--to", env)
        assert code == 0, out
    assert lock(pr)["environments"] == {"dev": V1, "staging": V1, "prod": V1}
    forms = {review_rel(PID, V1, role, reviewer): reviewer for role, reviewer in REVIEWER_OF.items()}
    assert sorted(p.relative_to(pr).as_posix() for p in (pr / FORMS / V1).glob("*.md")) == sorted(forms)
    for rel, reviewer in forms.items():  # real signatures, by ssh-keygen's own judgement
        assert verifies(pr, rel, reviewer), rel
    commit(pr, f"{PID} {V1} to prod")
    code, out = ci_check(pr, capsys)
    assert code == 0, out


def test_a_reviewer_lifts_their_own_committed_reject_with_a_later_signed_approval(base, keys, capsys, monkeypatch):
    """History only grows, yet a reviewer may change their mind: the later approval is a new
    file beside the committed reject, which stays as it was."""
    code, out = approve(base, capsys, "PM", PM, keys.private(PM), "--decision", "reject",
                        env={"PROMPTLANE_NOW": "2026-12-01T09:30:00Z"})
    assert code == 0, out
    commit(base, "pm rejects 1.0.1")
    rejected = {p.name: p.read_bytes() for p in (base / FORMS / V1).iterdir()}
    open_branch(base, monkeypatch)
    code, out = approve(base, capsys, "PM", PM, keys.private(PM))
    assert code == 0, out
    code, out = run(base, capsys, "promote", PID, "--to", "staging")
    assert code == 0, out
    assert {name: (base / FORMS / V1 / name).read_bytes() for name in rejected} == rejected
    commit(base, "pm approves 1.0.1 after all")
    code, out = ci_check(base, capsys)
    assert code == 0, out


GOVERNED_CHANGES = {
    "reviewer-added": (REVIEWERS, lambda root, keys: add_reviewer(root, "PM", "pm2@example.com")),
    "signer-added": (SIGNERS, lambda root, keys: add_signer(root, keys, "pm2@example.com")),
    "policy-loosened": (POLICY, lambda root, keys: edit_policy(root, lower_staging_pass_rate)),
    "risk-lowered": (CARD, lambda root, keys: set_risk(root, "low")),
}


@pytest.mark.parametrize("case", GOVERNED_CHANGES)
def test_a_governance_change_signed_by_a_governance_reviewer_passes(pr, keys, capsys, case):
    """The contrast of PL410/PL411/PL412: the same kind of change, approved by governance@
    (Governance on the base, with the base's key), is not refused."""
    subject, change = GOVERNED_CHANGES[case]
    change(pr, keys)
    code, out = governance_approve(pr, capsys, keys, subject)
    assert code == 0, out
    commit(pr, case)
    code, out = ci_check(pr, capsys)
    assert code == 0, out


# ---------------------------------------------------------------- 1. approvals under the reviewers' names


@pytest.mark.parametrize("case,key", [("unsigned", None), ("signed-by-mallory", MALLORY),
                                      ("signed-by-another-reviewers-key", REVIEWER_OF["Tech Lead"])])
def test_approvals_written_under_the_reviewers_names(attack, case, key):
    """PROMPTLANE_ACTOR names each reviewer in turn; nobody but the key's owner signed."""
    for role, reviewer in REVIEWER_OF.items():
        attack.approve(role, reviewer, key)
    attack.promote("staging", "prod")
    stopped(attack, case)


# ---------------------------------------------------------------- 2. forms copied to a new version


@pytest.mark.parametrize("case,edits", [("copied-version-and-hash-edited", ("version", "hash")),
                                        ("copied-unedited", ()), ("copied-version-edited", ("version",))])
def test_an_approved_versions_signed_forms_copied_to_the_next_version(base, keys, capsys, monkeypatch, case, edits):
    clock(monkeypatch, PR_TIME)
    release(base, capsys, keys)  # 1.0.1 reaches prod honestly, on main
    commit(base, f"{PID} {V1} in prod")
    open_branch(base, monkeypatch, LATER)
    attack = Attack(base, capsys, keys)
    edit_text(base, "Promise a refund whenever one is asked for.")
    code, out = run(base, capsys, "sync", actor=MALLORY)
    assert code == 1, out
    write_results(base, LATER)
    fields = {"version": str(card(base)["version"]), "hash": card(base)["hash"]}
    folder = base / FORMS / fields["version"]
    folder.mkdir()
    for source in sorted((base / FORMS / V1).iterdir()):  # every form and its .sig
        data = source.read_bytes()
        if source.suffix == ".md":
            data = set_front(data.decode("utf-8"), **{name: fields[name] for name in edits}).encode("utf-8")
        (folder / source.name).write_bytes(data)
    attack.promote("staging", "prod")
    stopped(attack, case)


# ---------------------------------------------------------------- 3. mallory makes herself a reviewer


def enlist(root, keys: Keys, roles, sock_puppets: bool) -> dict[str, str]:
    """On her branch mallory lists herself under ``roles`` (or one sock puppet per role, each
    with its own key, so no one person fills two roles) with her keys: role -> e-mail."""
    who = {role: f"mallory.{PROD_ROLES[role]}@example.com" if sock_puppets else MALLORY for role in roles}
    for role, email in who.items():
        add_reviewer(root, role, email)
    for email in sorted(set(who.values())):
        add_signer(root, keys, email)
    return who


@pytest.mark.parametrize("case,sock_puppets", [("mallory-in-every-role", False), ("sock-puppets-in-every-role", True)])
def test_mallory_lists_herself_as_every_reviewer(attack, keys, case, sock_puppets):
    who = enlist(attack.root, keys, list(REVIEWER_OF), sock_puppets)
    commit(attack.root, "more reviewers")
    for role, email in who.items():
        attack.approve(role, email, email)
    attack.promote("staging", "prod")
    stopped(attack, case)


def test_mallory_loosens_the_policy_and_approves_it_herself(attack, keys, capsys):
    """Governance on her branch only, she needs one role: the policy now asks only Governance,
    and she signs the Governance approval of every file she changed."""
    root = attack.root
    enlist(root, keys, ["Governance"], sock_puppets=False)

    def governance_only(doc):
        for risk in each_risk_rule(doc):
            if not risk["policy_only"]:
                risk["required_roles"] = ["Governance"]

    edit_policy(root, governance_only)
    for subject in (POLICY, REVIEWERS, SIGNERS):
        attack.attempt("approve", "--governance", subject, "--role", "Governance", "--key", str(keys.private(MALLORY)))
    commit(root, "a lighter policy, approved")
    attack.approve("Governance", MALLORY, MALLORY)
    attack.promote("staging", "prod")
    stopped(attack, "looser-policy-approved-by-mallory")


# ---------------------------------------------------------------- 4. separation of duties


@pytest.mark.parametrize("case", ["two-roles-one-email", "two-roles-one-key"])
def test_one_person_fills_two_required_roles(gov, keys, capsys, monkeypatch, case):
    """On the base, honestly, the PM is also listed under QA: by the same e-mail, or as
    pm.alt@example.com with the PM's own key. The PM signs as PM and as QA."""
    as_qa = PM if case == "two-roles-one-email" else "pm.alt@example.com"
    setup_base(gov, keys, capsys, reviewers={"QA": [as_qa]}, signers={} if as_qa == PM else {as_qa: PM})
    attack = Attack(open_branch(gov, monkeypatch), capsys, keys)
    for role, reviewer in REVIEWER_OF.items():
        attack.approve(role, as_qa if role == "QA" else reviewer, PM if role == "QA" else reviewer)
    attack.promote("staging", "prod")
    stopped(attack, case)


# ---------------------------------------------------------------- 5. the card's risk lowered


@pytest.mark.parametrize("case,risk", [("risk-high-to-low", "low"), ("risk-high-to-medium", "medium")])
def test_the_cards_risk_lowered_so_prod_needs_fewer_roles(attack, case, risk):
    """The reviewers prod needs at the lower risk sign honestly; the other roles never see it."""
    policy = yaml.safe_load((attack.root / POLICY).read_text(encoding="utf-8"))
    roles = policy["promotion"]["prod"]["risk"][risk]["required_roles"]
    assert len(roles) < len(REVIEWER_OF), roles
    for role in roles:
        attack.approve(role, REVIEWER_OF[role], REVIEWER_OF[role])
    set_risk(attack.root, risk)
    attack.promote("staging", "prod")
    stopped(attack, case)


# ---------------------------------------------------------------- 6. the policy's shape changed


def reorder(doc):
    doc["environments"] = ["dev", "prod", "staging"]


def delete_prod_rule(doc):
    del doc["promotion"]["prod"]


def remove_staging(doc):
    doc["environments"].remove("staging")
    del doc["promotion"]["staging"]


def add_environment(doc):
    """A new last environment, "edge", with staging's lighter rule: production is now edge."""
    doc["environments"].append("edge")
    doc["promotion"]["edge"] = copy.deepcopy(doc["promotion"]["staging"])


def signatures_off(doc):
    for rule in doc["promotion"].values():
        rule["require_signatures"] = False


POLICY_EDITS = {"environments-reordered": reorder, "prod-rule-deleted": delete_prod_rule,
                "staging-removed": remove_staging, "environment-added": add_environment,
                "signatures-off": signatures_off}


@pytest.mark.parametrize("case", POLICY_EDITS)
def test_the_policy_changed_in_shape_without_governance(attack, case):
    edit_policy(attack.root, POLICY_EDITS[case])
    stopped(attack, case)


# ---------------------------------------------------------------- 7. review history and dates


@pytest.fixture
def rejected(gov, keys, capsys, monkeypatch):
    """On main: pm2 (a second PM) approved 1.0.1 at 09:30, then pm rejected it at 09:45, both
    signed and committed. The reject blocks PM until pm signs a later approval."""
    pm2 = "pm2@example.com"
    setup_base(gov, keys, capsys, reviewers={"PM": [pm2]}, signers={pm2: pm2})
    for reviewer, decision, when in ((pm2, "approve", "09:30"), (PM, "reject", "09:45")):
        code, out = approve(gov, capsys, "PM", reviewer, keys.private(reviewer), "--decision", decision,
                            env={"PROMPTLANE_NOW": f"2026-12-01T{when}:00Z"})
        assert code == 0, out
    commit(gov, "PM decisions on 1.0.1")
    return open_branch(gov, monkeypatch)


@pytest.mark.parametrize("case", ["reject-deleted", "reject-signature-deleted", "reject-edited"])
def test_committed_review_history_rewritten(rejected, keys, capsys, case):
    form = rejected / review_rel(PID, V1, "PM", PM)
    signature = form.with_name(form.name + ".sig")
    text = form.read_text(encoding="utf-8")
    assert 'decision: "rejected"' in text, text
    if case == "reject-edited":
        form.write_text(set_front(text, decision="approved"), encoding="utf-8")
    else:
        signature.unlink()
        if case == "reject-deleted":
            form.unlink()
    attack = Attack(rejected, capsys, keys)
    attack.promote("staging")
    stopped(attack, case)


@pytest.mark.parametrize("case,date", [("dated-before-the-version", "2026-12-01T08:00:00Z"),
                                       ("dated-in-the-future", "2099-01-01T00:00:00Z")])
def test_a_signed_approval_with_an_untrustworthy_date(attack, case, date):
    """pm signs, but the date is one at which nobody could have reviewed 1.0.1 (made at 09:00),
    or one that would outrank every later reject."""
    attack.approve("PM", PM, PM, date=date)
    attack.promote("staging")
    stopped(attack, case)


# ---------------------------------------------------------------- 8. the author approves her own version


@pytest.mark.parametrize("case", ["author-approves", "author-approves-under-another-email"])
def test_the_author_approves_her_own_version(gov, keys, capsys, monkeypatch, case):
    """dana made 1.0.1. On the base she is listed under PM, by her own e-mail or as
    dana.ops@example.com with her own key, and signs as PM."""
    alias = DANA if case == "author-approves" else "dana.ops@example.com"
    setup_base(gov, keys, capsys, reviewers={"PM": [alias]}, signers={} if alias == DANA else {alias: DANA})
    attack = Attack(open_branch(gov, monkeypatch), capsys, keys)
    attack.approve("PM", alias, DANA)
    attack.promote("staging")
    stopped(attack, case)


# ---------------------------------------------------------------- beyond the brief


@pytest.mark.parametrize("case", ["mallorys-key-for-every-reviewer", "wildcard-principal-for-mallorys-key"])
def test_mallory_lists_her_key_for_the_reviewers(attack, keys, case):
    """reviewers.yml is untouched; only allowed_signers now lets the reviewers' forms carry
    mallory's key: one line per reviewer, or one principal pattern matching them all."""
    principals = list(REVIEWER_OF.values()) if case == "mallorys-key-for-every-reviewer" else ["*@example.com"]
    for principal in principals:
        add_signer(attack.root, keys, principal, MALLORY)
    commit(attack.root, "another key")
    for role, reviewer in REVIEWER_OF.items():
        attack.approve(role, reviewer, MALLORY)
    attack.promote("staging", "prod")
    stopped(attack, case)


def test_allowed_signers_deleted(attack):
    """No list of keys, no signature to check?"""
    (attack.root / SIGNERS).unlink()
    commit(attack.root, "no more signers")
    attack.approve("PM", PM, None)
    attack.promote("staging")
    stopped(attack, "allowed-signers-deleted")


def test_a_promotion_record_written_by_hand(attack, capsys):
    """No form at all: card, lock, changelog and a correctly chained audit row, written by hand."""
    for env in ("staging", "prod"):
        forge_promotion(attack.root, capsys, env)
    assert lock(attack.root)["environments"] == {"dev": V1, "staging": V1, "prod": V1}
    stopped(attack, "promotion-record-forged")


def test_a_signed_reject_flipped_to_approved_before_it_is_committed(attack):
    """pm signs a reject; before it is committed, mallory sets decision: approved."""
    attack.approve("PM", PM, PM, decision="reject")
    form = attack.root / review_rel(PID, V1, "PM", PM)
    form.write_text(set_front(form.read_text(encoding="utf-8"), decision="approved"), encoding="utf-8")
    attack.promote("staging")
    stopped(attack, "reject-flipped-before-commit")


def test_the_pms_signature_made_for_another_purpose(attack):
    """pm's key signed the form's exact bytes, but in the "file" namespace (what
    `ssh-keygen -Y sign` is used for elsewhere, say for a release file mallory asked him to sign)."""
    attack.approve("PM", PM, PM, namespace="file")
    attack.promote("staging")
    stopped(attack, "signature-in-another-namespace")


def test_an_old_governance_approval_replayed(base, keys, capsys, monkeypatch):
    """On main, Governance once approved a looser policy (signed), later tightened back.
    Mallory restores the looser text byte for byte: the old approval names its digest, but it
    approved a step from the policy of its day, not from today's base."""
    strict = (base / POLICY).read_bytes()
    edit_policy(base, lower_staging_pass_rate)
    loose = (base / POLICY).read_bytes()
    code, out = governance_approve(base, capsys, keys, POLICY)
    assert code == 0, out
    commit(base, "pilot: staging passes at 50%")
    (base / POLICY).write_bytes(strict)
    commit(base, "pilot over")
    attack = Attack(open_branch(base, monkeypatch), capsys, keys)
    (base / POLICY).write_bytes(loose)
    stopped(attack, "governance-approval-replayed")


# ---------------------------------------------------------------- holes found by the second attack round


def rewrite_new_entries(root, base_log: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the changelog entries appended since the base (the base's
    prefix stays byte for byte, so `audit verify --base` sees only appends)."""
    path = root / "schemas/prompt-change-log.yml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith(base_log)
    tail = text[len(base_log):]
    assert old in tail, tail
    path.write_text(base_log + tail.replace(old, new), encoding="utf-8")


def test_a_promotion_recorded_as_a_rollback(attack, capsys):
    """No approval at all: the forged promotion record of staging and prod, with its changelog
    entries saying event "rollback" instead of "promote". Nothing ever served 1.0.1 in staging
    or prod, so there is nothing to roll back to."""
    root = attack.root
    base_log = (root / "schemas/prompt-change-log.yml").read_text(encoding="utf-8")
    for env in ("staging", "prod"):
        forge_promotion(root, capsys, env)
    rewrite_new_entries(root, base_log, '- event: "promote"', '- event: "rollback"')
    assert lock(root)["environments"] == {"dev": V1, "staging": V1, "prod": V1}
    stopped(attack, "promotion-recorded-as-rollback")


def rechain_new_rows(root, base_rows: int, edit) -> None:
    """Rewrite the audit rows after the base's first ``base_rows`` with ``edit(cells)`` applied
    to their eight data cells, and chain them again (the chain has no key: anyone can)."""
    from promptlane.core.chain import is_data_row, row_hash, split_row

    path = root / "audit/artifact-audit-log.md"
    out, seen, prev = [], 0, None
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not is_data_row(line):
            out.append(line)
            continue
        cells = split_row(line)
        seen += 1
        if seen > base_rows:
            data = edit(cells[:8])
            cells = data + [prev, row_hash(prev, data)]
            line = "| " + " | ".join(cells) + " |\n"
        prev = cells[9]
        out.append(line)
    path.write_text("".join(out), encoding="utf-8")


def audit_rows(root) -> int:
    from promptlane.core.chain import data_rows

    return len(list(data_rows((root / "audit/artifact-audit-log.md").read_text(encoding="utf-8"))))


def test_the_version_prod_serves_reissued_for_a_new_text(base, keys, capsys, monkeypatch):
    """1.0.1 reached prod honestly. Mallory edits the prompt and syncs (1.0.2, her version),
    then renames 1.0.2 to 1.0.1 everywhere: the lock's 1.0.1 now names her hash, the store's
    1.0.1 snapshot is her text, and a second version entry and audit row for 1.0.1 are appended.
    Prod still serves "1.0.1", now her unreviewed text."""
    import json

    clock(monkeypatch, PR_TIME)
    release(base, capsys, keys)
    commit(base, f"{PID} {V1} in prod")
    open_branch(base, monkeypatch, LATER)
    attack = Attack(base, capsys, keys)
    old_hash = lock(base)["versions"][-1]["hash"]
    base_log = (base / "schemas/prompt-change-log.yml").read_text(encoding="utf-8")
    rows = audit_rows(base)
    edit_text(base, "Promise a refund whenever one is asked for.")
    code, out = run(base, capsys, "sync", actor=MALLORY)
    assert code == 1 and card(base)["version"] == "1.0.2", out
    new_hash = card(base)["hash"]
    # the card and the lock: 1.0.2 becomes 1.0.1
    path = base / CARD
    path.write_text(path.read_text(encoding="utf-8").replace('version: 1.0.2', f'version: {V1}'), encoding="utf-8")
    assert card(base)["version"] == V1
    doc = lock(base)
    mine = doc["versions"].pop()
    doc["versions"] = [dict(mine, version=V1) if e["version"] == V1 else e for e in doc["versions"]]
    doc["environments"] = {env: V1 for env in doc["environments"]}
    (base / "registry" / f"{PID}.lock.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    # the store: her snapshot under 1.0.1's name
    store = base / "registry/store" / PID
    snap = json.loads((store / "1.0.2.json").read_text(encoding="utf-8"))
    (store / "1.0.2.json").unlink()
    (store / f"{V1}.json").write_text(json.dumps(json.loads(json.dumps(snap).replace('"1.0.2"', f'"{V1}"')), indent=2) + "\n",
                                      encoding="utf-8")
    # the logs: what was appended says 1.0.1
    rewrite_new_entries(base, base_log, '"1.0.2"', f'"{V1}"')
    rechain_new_rows(base, rows, lambda cells: [c.replace("1.0.2", V1) for c in cells])
    assert lock(base)["environments"]["prod"] == V1 and lock(base)["versions"][-1]["hash"] == new_hash != old_hash
    stopped(attack, "served-version-reissued")


def symlink_with_text(root, rel: str, text: str) -> None:
    """Replace ``rel`` by a symlink whose target *string* is ``text``, pointing at a file (made
    here, under ``rel``'s folder) that holds ``rel``'s current bytes: read through the link the
    file is unchanged, but git stores the link, and `git show REF:rel` gives ``text``."""
    import os

    link = root / rel
    target = link.parent / text
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(link.read_bytes())
    link.unlink()
    os.symlink(text, link)
    assert (root / rel).read_bytes() == target.read_bytes()


def test_governance_files_replaced_by_symlinks_whose_target_is_the_new_content(attack, keys, capsys, monkeypatch):
    """PR 1: reviews/reviewers.yml becomes a link to a file named "PM: [mallory@example.com]",
    reviews/allowed_signers a link to a file named after mallory's allowed_signers line; both
    targets hold the base's exact bytes. CI reads through the links: nothing changed. Merged,
    main's reviewers.yml *is* "PM: [mallory@example.com]" to git. PR 2: mallory approves 1.0.1
    as PM with her own key and takes it to staging, judged under main's (her) rules."""
    root = attack.root
    symlink_with_text(root, REVIEWERS, f"PM: [{MALLORY}]")
    symlink_with_text(root, SIGNERS, f'{MALLORY} namespaces="promptlane" {keys.public(MALLORY)}')
    code, out = attack.verdict()
    if code == 0:  # the hole: what merging the "no-op" gives her
        from conftest import git

        assert git(root, "show", f"HEAD:{REVIEWERS}").stdout == f"PM: [{MALLORY}]"
        git(root, "switch", "-q", "main")
        git(root, "merge", "-q", "--ff-only", "release/feature")
        git(root, "switch", "-q", "-c", "release/feature-2")
        for rel in (REVIEWERS, SIGNERS):  # the link becomes a file holding what git already says it is
            text = git(root, "show", f"main:{rel}").stdout
            (root / rel).unlink()
            (root / rel).write_text(text, encoding="utf-8")
        pr2 = Attack(root, capsys, keys)
        pr2.approve("PM", MALLORY, MALLORY)
        pr2.promote("staging")
        code2, out2 = pr2.verdict()
        assert code2 == 0 and lock(root)["environments"]["staging"] == V1, out2
        out += f"\n... merged; PR 2 (mallory approves as PM, staging serves {V1}) passes CI too:\n{out2}"
    assert code != 0, f"symlinked-governance-files: CI passed the attack\n{out}"
    assert re.search(r"\bPL411\b", out), out


def test_a_promotion_backdated_so_stale_eval_results_pass(base, keys, capsys, monkeypatch):
    """On main, 1.0.1's reviewers all approved it on 1 December, an hour after its eval results;
    nobody promoted it. On 20 December those results are 19 days old: prod accepts 7 for high
    risk, staging 14, and `promptlane promote` refuses (PL606). Mallory writes the promotion
    record by hand, dated 1 December 11:00; CI judges it as of that date."""
    clock(monkeypatch, PR_TIME)
    for role, reviewer in REVIEWER_OF.items():
        code, out = approve(base, capsys, role, reviewer, keys.private(reviewer))
        assert code == 0, out
    commit(base, "every role approves 1.0.1")
    open_branch(base, monkeypatch, "2026-12-20T10:00:00Z")
    attack = Attack(base, capsys, keys)
    assert not attack.attempt("promote", PID, "--to", "staging")
    assert "PL606" in attack.refusals[-1], attack.refusals[-1]
    clock(monkeypatch, LATER)  # the date the hand-written record claims
    for env in ("staging", "prod"):
        forge_promotion(base, capsys, env)
    clock(monkeypatch, "2026-12-20T10:00:00Z")  # CI runs today
    assert lock(base)["environments"] == {"dev": V1, "staging": V1, "prod": V1}
    stopped(attack, "promotion-backdated")


def merge_and_branch(root, name: str) -> None:
    """The pull request merged into main (fast-forward), and the next one opened from it."""
    from conftest import git

    branch = git(root, "branch", "--show-current").stdout.strip()
    git(root, "switch", "-q", "main")
    git(root, "merge", "-q", "--ff-only", branch)
    git(root, "switch", "-q", "-c", name)


def test_the_policy_deleted_then_added_back_demanding_nothing(attack, keys, capsys):
    """PR 1 deletes workflows/policy-as-code-example.yml (nothing can be promoted meanwhile:
    it fails closed, so it looks harmless). PR 2 adds back a policy that asks only passing evals
    (no approvals, no signatures, any branch, no order). PR 3 takes 1.0.1 to prod with no review."""
    root = attack.root
    relaxed = root.parent / "relaxed.yml"
    (root / POLICY).rename(relaxed)
    code, out = attack.verdict()
    if code == 0:  # the hole: what merging the deletion gives her
        from signing import relax

        merge_and_branch(root, "release/feature-2")
        (root / POLICY).write_bytes(relaxed.read_bytes())
        edit_policy(root, relax)
        pr2 = Attack(root, capsys, keys)
        code2, out2 = pr2.verdict()
        assert code2 == 0, out2
        merge_and_branch(root, "release/feature-3")
        pr3 = Attack(root, capsys, keys)
        pr3.promote("staging", "prod")
        assert not pr3.refusals, pr3.refusals  # promote itself agrees now
        code3, out3 = pr3.verdict()
        assert code3 == 0 and lock(root)["environments"]["prod"] == V1, out3
        out += f"\n... merged; PR 2 (a policy demanding nothing) passes CI:\n{out2}\n... merged; PR 3 (1.0.1 to prod, no review) passes CI:\n{out3}"
    assert code != 0, f"policy-deleted: CI passed the attack\n{out}"
    assert re.search(r"\bPL410\b", out), out


# ---------------------------------------------------------------- round 3: what the rendered CI really runs


def hook_ci(root, capsys) -> tuple[int, str]:
    """The rendered CI's gate job on a pull request (.github/workflows/eval-gate.yml): every
    hook on every tracked file with PROMPTLANE_BASE set, then `audit verify --base`. Real
    pre-commit, in a subprocess: it decides which files each hook is given."""
    import os
    import subprocess

    from conftest import BIN, git
    from signing import BASE

    if git(root, "status", "--porcelain").stdout.strip():
        commit(root, "mallory's change")
    env = dict(os.environ, PROMPTLANE_BASE=BASE, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
               PRE_COMMIT_HOME=str(root.parent / "pre-commit-home"))
    env.pop("PROMPTLANE_ACTOR", None)
    done = subprocess.run([str(BIN / "pre-commit"), "run", "--all-files", "--show-diff-on-failure"], cwd=root,
                          env=env, capture_output=True, text=True)
    code, out = run(root, capsys, "audit", "verify", "--base", BASE)
    return max(done.returncode, code), (f"$ PROMPTLANE_BASE={BASE} pre-commit run --all-files  -> {done.returncode}\n"
                                        f"{done.stdout}{done.stderr}\n$ promptlane audit verify --base {BASE}  -> {code}\n{out}")


def expect_refused(case: str, code: int, out: str) -> None:
    """The rendered CI (hook_ci) refused the attack, with each of the case's codes."""
    assert code != 0, f"{case}: CI passed the attack\n{out}"
    for wanted in EXPECTED[case]:
        assert re.search(rf"\b(?:{wanted})\b", out), f"{case}: no {wanted} reported\n{out}"


def ci_verdict(attack: Attack) -> tuple[int, str]:
    """Her work committed, judged by the rendered CI (hook_ci) and by `check --all` (ci_check)."""
    code, out = hook_ci(attack.root, attack.capsys)
    code_all, out_all = ci_check(attack.root, attack.capsys)
    return code, "\n".join([*attack.refusals, out, "(for comparison, check --all:)", out_all[:3000]])


def test_round2_symlink_attack_through_the_real_ci(attack, keys, capsys):
    """Round 2's symlink attack (test_governance_files_replaced_by_symlinks...), judged by what
    the rendered CI runs: pre-commit classifies a symlink as `symlink`, not `file`, so the
    promptlane hook (its check part, as the promptlane-check hook would be) is never given
    reviews/reviewers.yml or reviews/allowed_signers and `_trust_checks` skips "files". PR 1 passes; merged, main's reviewers.yml is
    "PM: [mallory@example.com]" to git. PR 2 turns the links into files with the same text (no
    byte changed since main: no PL411). PR 3: mallory approves as PM with her key, staging."""
    from conftest import git

    root = attack.root
    symlink_with_text(root, REVIEWERS, f"PM: [{MALLORY}]")
    symlink_with_text(root, SIGNERS, f'{MALLORY} namespaces="promptlane" {keys.public(MALLORY)}')
    code, out = ci_verdict(attack)
    if code == 0:
        merge_and_branch(root, "release/feature-2")
        for rel in (REVIEWERS, SIGNERS):
            text = git(root, "show", f"main:{rel}").stdout
            (root / rel).unlink()
            (root / rel).write_text(text, encoding="utf-8")
        code2, out2 = hook_ci(root, capsys)
        assert code2 == 0, out2
        merge_and_branch(root, "release/feature-3")
        pr3 = Attack(root, capsys, keys)
        pr3.approve("PM", MALLORY, MALLORY)
        pr3.promote("staging")
        code3, out3 = hook_ci(root, capsys)
        assert code3 == 0 and lock(root)["environments"]["staging"] == V1, out3
        out += f"\n... merged; PR 2 (links made files) passes:\n{out2}\n... merged; PR 3 (mallory approves, staging) passes:\n{out3}"
    expect_refused("symlinked-governance-files-hook", code, out)


def test_every_governance_file_deleted_through_the_real_ci(attack, keys, capsys):
    """PR 1 deletes the policy, reviews/reviewers.yml and reviews/allowed_signers. Round 2's fix
    (PL410 for a removed policy) lives in file_problems, which the hook runs only when it is
    given reviewers.yml or allowed_signers: gone, it is never asked. PR 2 adds a policy that asks
    nothing but evals (no base policy: nothing is "loosened"; still no reviewers file: "files"
    is skipped again). PR 3 takes 1.0.1 to prod with no review at all."""
    from signing import relax

    root = attack.root
    relaxed = root.parent / "relaxed.yml"
    (root / POLICY).rename(relaxed)
    (root / REVIEWERS).unlink()
    (root / SIGNERS).unlink()
    code, out = ci_verdict(attack)
    if code == 0:
        merge_and_branch(root, "release/feature-2")
        (root / POLICY).write_bytes(relaxed.read_bytes())
        edit_policy(root, relax)
        code2, out2 = hook_ci(root, capsys)
        assert code2 == 0, out2
        merge_and_branch(root, "release/feature-3")
        pr3 = Attack(root, capsys, keys)
        pr3.promote("staging", "prod")
        assert not pr3.refusals, pr3.refusals
        code3, out3 = hook_ci(root, capsys)
        assert code3 == 0 and lock(root)["environments"]["prod"] == V1, out3
        out += f"\n... merged; PR 2 (a policy asking nothing) passes:\n{out2}\n... merged; PR 3 (prod, no review) passes:\n{out3}"
    expect_refused("governance-files-deleted-hook", code, out)


def test_card_risk_lowered_through_a_symlinked_card(attack, keys, capsys):
    """PR 1: prompts/support-reply/card.yml becomes a link to card.real.yml, the same card with
    `risk: low`. pre-commit gives hooks no symlink and no other file ends in /card.yml, so
    `_trust_checks` never asks for "risk" (PL412). Merged, main's card.yml is, to git, the
    string "card.real.yml": not a mapping, so `_risk` (rejudge) and risk_problems see no base
    risk at all. PR 2 takes 1.0.1 to staging with no approval (low: policy_only) and to prod with
    the PM's alone, where high risk asks five people."""
    import os

    root = attack.root
    real = root / f"prompts/{PID}/card.real.yml"
    real.write_text((root / CARD).read_text(encoding="utf-8").replace("\nrisk: high\n", "\nrisk: low\n"), encoding="utf-8")
    (root / CARD).unlink()
    os.symlink("card.real.yml", root / CARD)
    code, out = run(root, capsys, "sync", actor=MALLORY)  # would record the risk event; refuses a linked card (PL123)
    assert code == 1, out
    if not (root / CARD).is_symlink():  # sync wrote the card as a file: make it the link again
        real.write_bytes((root / CARD).read_bytes())
        (root / CARD).unlink()
        os.symlink("card.real.yml", root / CARD)
    code, out = ci_verdict(attack)
    if code == 0:
        merge_and_branch(root, "release/feature-2")
        pr2 = Attack(root, capsys, keys)
        pr2.promote("staging")
        pr2.approve("PM", PM, PM)
        pr2.promote("prod")
        code2, out2 = hook_ci(root, capsys)
        code2_all, out2_all = ci_check(root, capsys)
        assert code2 == 0 == code2_all and lock(root)["environments"]["prod"] == V1, out2 + out2_all
        assert not list((root / FORMS / V1).glob("security-*.md"))
        out += f"\n... merged; PR 2 (staging unreviewed, prod on the PM alone) passes, check --all too:\n{out2}\n{out2_all}"
    expect_refused("risk-lowered-through-symlinked-card", code, out)


# ---------------------------------------------------------------- round 4


def test_a_tag_named_like_the_base_branch_makes_the_pull_request_its_own_base(attack, keys, capsys):
    """Mallory enlists one sock puppet per role (each with its own key) on her branch, has them
    approve 1.0.1 and promotes it to prod. Then she pushes a tag named like the base: git
    resolves a short name to refs/tags/ before refs/heads/ or refs/remotes/, so the tag
    `main` here (in the rendered CI, whose base is `origin/main`, a tag `origin/main`, which
    actions/checkout fetches with fetch-depth 0) names her own commit. Every comparison with
    "the base" is then a comparison with her branch: no PL411, no PL630, the logs a prefix of
    themselves, her reviewers the rules in force."""
    from conftest import git

    root = attack.root
    who = enlist(root, keys, list(REVIEWER_OF), sock_puppets=True)
    commit(root, "more reviewers")
    for role, email in who.items():
        attack.approve(role, email, email)
    attack.promote("staging", "prod")
    commit(root, "mallory's release")
    assert lock(root)["environments"]["prod"] == V1
    git(root, "tag", "main", "HEAD")  # pushed: `git push origin refs/tags/main` (CI: refs/tags/origin/main)
    code, out = ci_verdict(attack)
    expect_refused("base-ref-names-a-tag", code, out)


def _withdrawn_base(base, keys, capsys, monkeypatch):
    """On main: 1.0.1 in prod; 1.0.2 (dana) approved by all five, in staging and prod, then
    withdrawn from prod (rolled back to 1.0.1: a bad answer was found). Returns 1.0.2 and its prompt folder's files."""
    clock(monkeypatch, PR_TIME)
    release(base, capsys, keys)
    commit(base, f"{PID} {V1} in prod")
    clock(monkeypatch, "2026-12-01T12:00:00Z")
    v2 = new_version_as_dana(base, capsys)
    write_results(base, "2026-12-01T12:00:00Z")
    release(base, capsys, keys)
    commit(base, f"{PID} {v2} in prod")
    texts = {p.name: p.read_bytes() for p in (base / CARD).parent.iterdir() if p.is_file()}
    clock(monkeypatch, "2026-12-01T13:00:00Z")
    code, out = run(base, capsys, "rollback", PID, "--env", "prod", "--to", V1, "--reason", "promises refunds")
    assert code == 0, out
    commit(base, f"{PID} {v2} withdrawn from prod")
    assert lock(base)["environments"]["prod"] == V1 and v2 in lock(base)["withdrawn"], lock(base)
    return v2, texts


def new_version_as_dana(root, capsys) -> str:
    from governed import new_version

    return new_version(root, capsys, "Offer a refund only within 30 days.")


def test_a_withdrawal_deleted_from_the_lock_so_the_withdrawn_version_returns_to_prod(base, keys, capsys, monkeypatch):
    """1.0.2 was withdrawn from prod on main. Mallory deletes lock.withdrawn["1.0.2"], puts the
    card back at 1.0.2 and promotes it to prod: its five approvals still count, its eval results
    are a day old, and PL607 (withdrawn: evals newer than the withdrawal) reads her lock. No new
    eval run, no review: the version pulled from prod is served again."""
    import json

    v2, texts = _withdrawn_base(base, keys, capsys, monkeypatch)
    open_branch(base, monkeypatch, "2026-12-01T14:00:00Z")
    attack = Attack(base, capsys, keys)
    for name, data in texts.items():  # the card and texts of 1.0.2, as committed when it served
        (base / CARD).parent.joinpath(name).write_bytes(data)
    path = base / CARD
    path.write_text(path.read_text(encoding="utf-8").replace("environment: prod", "environment: staging"), encoding="utf-8")
    assert str(card(base)["version"]) == v2
    doc = lock(base)
    del doc["withdrawn"][v2]
    (base / "registry" / f"{PID}.lock.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    attack.attempt("promote", PID, "--to", "prod")  # her lock has no withdrawal: the command agrees
    if lock(base)["environments"]["prod"] != v2:
        forge_promotion(base, capsys, "prod")
    assert lock(base)["environments"]["prod"] == v2
    code, out = ci_verdict(attack)
    expect_refused("withdrawal-deleted", code, out)


def test_an_old_governance_approval_replayed_under_a_new_file_name(base, keys, capsys, monkeypatch):
    """Round 2's replay (test_an_old_governance_approval_replayed), with one more step: the
    base's approval and its .sig are copied, byte for byte, to a file name the base does not
    have. `spent` holds the base's paths only; the signature covers the bytes, not the name."""
    strict = (base / POLICY).read_bytes()
    edit_policy(base, lower_staging_pass_rate)
    loose = (base / POLICY).read_bytes()
    code, out = governance_approve(base, capsys, keys, POLICY)
    assert code == 0, out
    commit(base, "pilot: staging passes at 50%")
    (base / POLICY).write_bytes(strict)
    commit(base, "pilot over")
    attack = Attack(open_branch(base, monkeypatch), capsys, keys)
    (base / POLICY).write_bytes(loose)
    (old,) = sorted((base / "reviews/policy").glob("*.md"))
    copy_ = old.with_name(old.name.replace("-policy-", "-policy-again-"))
    copy_.write_bytes(old.read_bytes())
    copy_.with_name(copy_.name + ".sig").write_bytes(old.with_name(old.name + ".sig").read_bytes())
    code, out = ci_verdict(attack)
    expect_refused("governance-approval-replayed-renamed", code, out)


def test_a_rejection_signed_on_the_pull_request_deleted_before_merge(attack, keys, capsys):
    """On her pull request, the PM approves 1.0.1 and the Security reviewer rejects it, both
    signed and committed to the branch (where the version's forms are filed during review).
    Staging needs the PM alone, but a valid rejection in any role blocks (PL608). Mallory then
    deletes the rejection and its .sig in a later commit: PL530 compares with main, which never
    held it, so the diff base..head shows nothing and staging serves 1.0.1."""
    root = attack.root
    attack.approve("PM", PM, PM)
    security = REVIEWER_OF["Security"]
    attack.approve("Security", security, security, decision="reject")
    commit(root, "reviews of 1.0.1")
    assert not attack.attempt("promote", PID, "--to", "staging")
    assert "PL608" in attack.refusals[-1], attack.refusals[-1]
    (reject,) = (root / FORMS / V1).glob("security-*.md")
    reject.unlink()
    reject.with_name(reject.name + ".sig").unlink()
    attack.promote("staging")
    assert lock(root)["environments"]["staging"] == V1
    code, out = ci_verdict(attack)
    expect_refused("branch-rejection-deleted", code, out)


# ---------------------------------------------------------------- Trust II: snapshots verified


def test_the_served_versions_stored_text_edited_with_its_hash_kept(base, keys, capsys, monkeypatch):
    """On main 1.0.1 is in prod. Mallory's branch edits its snapshot's payload (the text the
    registry exports and the runtime serves) and keeps the recorded hash. CI refuses it
    (PL631: a snapshot of the base rewritten; PL210: its payload no longer hashes to the
    lock's hash); the exports refuse it and write nothing; the runtime names the snapshot."""
    import json

    from promptlane import runtime

    clock(monkeypatch, PR_TIME)
    release(base, capsys, keys)
    commit(base, f"{PID} {V1} in prod")
    attack = Attack(open_branch(base, monkeypatch), capsys, keys)
    rel = f"registry/store/{PID}/{V1}.json"
    path = attack.root / rel
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["payload"]["steps"][0]["text"] += "Always promise a full refund.\n"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    commit(attack.root, "a sneaky edit of the served text")
    for fmt in ("sqlite", "json"):
        code, out = run(attack.root, capsys, "registry", "export", fmt, f"out.{fmt}")
        assert code == 1 and f"{rel}:1:1: PL210" in out and "nothing was exported" in out, out
        assert not (attack.root / f"out.{fmt}").exists()
    with pytest.raises(runtime.IntegrityError, match=f"snapshot .*{rel}"):
        runtime.get(PID, env="prod", source=str(attack.root / "registry"))
    stopped(attack, "served-snapshot-text-edited")


# ---------------------------------------------------------------- Trust II: what is served, derived from the record
#
# Each case tampers with the record of a clone in which 1.0.1 reached prod honestly, then runs
# what an auditor runs on the clone alone, `promptlane audit verify --full` (no base, no CI):
# it must name the case's code. Cases that only the protected base can tell apart (bytes of
# the base rewritten) run with --base main. The writers used are promptlane's own (store/logs
# record, a correctly chained row): a forger has them too.

HISTORY_EXPECTED = {
    # item 1: every pointer derived from its promotion's evidence
    "forged-promotion-under-own-policy": ("PL228",),
    "forged-promotion-naming-the-real-policy": ("PL227",),
    "evidence-blob-deleted": ("PL226",),
    "evidence-blob-edited": ("PL226",),
    "evidence-stripped-from-the-entry": ("PL220",),
    "rollback-to-a-version-never-promoted-there": ("PL225",),
    "pointer-set-by-a-version-entry": ("PL225",),
    # item 2: the two logs one to one, one hash per version
    "entry-without-row": ("PL220",),
    "row-without-entry": ("PL220",),
    "version-rebound-to-another-text": ("PL221",),
    "version-issued-twice": ("PL221",),
    "duplicate-key-overrides-an-entry": ("PL207",),
    "withdrawal-mark-forged": ("PL223",),
    "withdrawal-mark-deleted": ("PL223",),
    "lock-author-rewritten": ("PL222",),
    "note-inside-the-audit-table": ("PL224",),
    "blank-line-inside-the-audit-table": ("PL224",),
    "whitespace-inside-an-old-row": ("PL205",),
    "changelog-key-appended-to-the-base-entry": ("PL206",),
}


@pytest.fixture
def served(base, keys, capsys, monkeypatch):
    """main with 1.0.1 honestly in staging and prod (five signed approvals), committed."""
    clock(monkeypatch, PR_TIME)
    release(base, capsys, keys)
    commit(base, f"{PID} {V1} in prod")
    code, out = run(base, capsys, "audit", "verify", "--full")
    assert code == 0, out
    return base


def audited(root, capsys, case: str, *extra: str) -> None:
    """The auditor's verdict on the clone: `audit verify --full` fails with the case's codes."""
    code, out = run(root, capsys, "audit", "verify", "--full", *extra)
    assert code == 1, f"{case}: audit verify --full passed\n{out}"
    assert "Traceback" not in out, out
    for wanted in HISTORY_EXPECTED[case]:
        assert re.search(rf"\b(?:{wanted})\b", out), f"{case}: no {wanted} reported\n{out}"


def append_events(root, *events) -> None:
    """Append entries and chained rows with promptlane's own writer."""
    from promptlane.core.layout import AUDIT_LOG, CHANGELOG as LOG
    from promptlane.store.fsio import Transaction
    from promptlane.store.logs import record

    txn = Transaction(root)
    record(txn, root, list(events), LOG, AUDIT_LOG)
    txn.commit()


def set_lock(root, change) -> None:
    import json

    path = root / f"registry/{PID}.lock.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def entries_of(root) -> list[dict]:
    from promptlane.core.changelog import parse_changelog

    return parse_changelog((root / "schemas/prompt-change-log.yml").read_text(encoding="utf-8"))


def rechain_from(root, first_row: int) -> None:
    """Rows from ``first_row`` on written again from the changelog entries they record (their
    detail cells carry the entries' evidence digests): what a forger does after editing entries."""
    from promptlane.core.ledger import expected_cells

    entries = entries_of(root)
    rechain_new_rows(root, first_row - 1, lambda cells: expected_cells(int(cells[0]), entries[int(cells[0]) - 1]))


def test_a_promotion_forged_under_a_policy_of_her_own_fails_the_audit_of_the_clone(attack, capsys):
    """forge_promotion promotes in a scratch copy whose policy demands nothing and copies back
    every file but the policy: the entry names the blob of that policy, which this repository
    never held."""
    forge_promotion(attack.root, capsys, "staging")
    audited(attack.root, capsys, "forged-promotion-under-own-policy")


def test_a_promotion_forged_naming_the_real_policy_fails_its_own_gates(attack, capsys):
    """The same forgery with the entry edited to name the real policy (its bytes put in the
    evidence store, the rows chained again): judged under it, the promotion lacks its approvals."""
    from promptlane.core.evidence import blob_rel
    from promptlane.core.hashing import digest_of

    root = attack.root
    rows = audit_rows(root)
    forge_promotion(root, capsys, "staging")
    real = digest_of((root / POLICY).read_bytes())
    (root / blob_rel(real)).parent.mkdir(parents=True, exist_ok=True)
    (root / blob_rel(real)).write_bytes((root / POLICY).read_bytes())
    path = root / "schemas/prompt-change-log.yml"
    text = path.read_text(encoding="utf-8")
    forged = entries_of(root)[-1]["evidence"]["policy"]
    path.write_text(text[: text.rindex("- event:")] + text[text.rindex("- event:"):].replace(forged, real), encoding="utf-8")
    rechain_from(root, rows + 1)
    audited(root, capsys, "forged-promotion-naming-the-real-policy")


def blob_of(root, name: str):
    from promptlane.core.evidence import blob_rel

    promotion = [e for e in entries_of(root) if e["event"] == "promote"][-1]
    return root / blob_rel(promotion["evidence"][name])


def test_the_evidence_of_the_prod_promotion_deleted(served, capsys):
    blob_of(served, "results").unlink()
    audited(served, capsys, "evidence-blob-deleted")


def test_the_evidence_of_the_prod_promotion_edited(served, capsys):
    """Results rewritten in the store (a failing run made to look passing keeps its name)."""
    path = blob_of(served, "results")
    path.write_text(path.read_text(encoding="utf-8").replace('"passed"', '"passed" ', 1), encoding="utf-8")
    audited(served, capsys, "evidence-blob-edited")


def test_the_evidence_stripped_from_a_promotion_entry(served, capsys):
    """The mapping removed from the entry: the row still carries its digest."""
    path = served / "schemas/prompt-change-log.yml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith("  evidence: ")]
    assert len(kept) == len(lines) - 2
    path.write_text("".join(kept), encoding="utf-8")
    audited(served, capsys, "evidence-stripped-from-the-entry")


def test_a_rollback_planted_to_a_version_prod_never_got_by_promotion(served, keys, capsys, monkeypatch):
    """A new version 1.0.2 reaches staging only; a forged rollback entry (and its chained
    row, and the lock) then says prod went back to it."""
    from promptlane.core.events import Event

    new_version_as_dana(served, capsys)
    write_results(served, PR_TIME)
    code, out = approve(served, capsys, "PM", PM, keys.private(PM))
    assert code == 0, out
    code, out = run(served, capsys, "promote", PID, "--to", "staging")
    assert code == 0, out
    two = str(card(served)["version"])
    state = {"dev": two, "staging": two, "prod": two}
    append_events(served, Event("rollback", LATER, MALLORY, PID, two, card(served)["hash"], state,
                                f"prod: {V1} -> {two}, {V1} withdrawn: planted"))
    set_lock(served, lambda doc: (doc["environments"].update(prod=two),
                                  doc["withdrawn"].update({V1: {"env": "prod", "time": LATER, "reason": "planted"}})))
    audited(served, capsys, "rollback-to-a-version-never-promoted-there")


def test_prod_pointer_moved_by_a_version_entry(served, capsys):
    """A chained `version` entry whose state says prod serves the new version."""
    from promptlane.core.events import Event

    two = new_version_as_dana(served, capsys)
    payload = card(served)["hash"]
    append_events(served, Event("demote", LATER, MALLORY, PID, two, payload, {"dev": two, "staging": V1, "prod": two},
                                "hash changed"))
    set_lock(served, lambda doc: doc["environments"].update(prod=two))
    audited(served, capsys, "pointer-set-by-a-version-entry")


def test_a_changelog_entry_without_its_row(served, capsys):
    path = served / "schemas/prompt-change-log.yml"
    entry = path.read_text(encoding="utf-8").split("\n- ")[-1]
    path.write_text(path.read_text(encoding="utf-8") + "- " + entry.rstrip("\n") + "\n", encoding="utf-8")
    audited(served, capsys, "entry-without-row")


def test_an_audit_row_without_its_entry(served, capsys):
    from promptlane.core.chain import audit_row
    from promptlane.core.events import Event
    from promptlane.store.logs import chain_head

    path = served / "audit/artifact-audit-log.md"
    seq, prev = chain_head(path)
    row, _ = audit_row(prev, seq + 1, Event("promote", LATER, MALLORY, PID, V1, card(served)["hash"], {}, "row only"))
    path.write_text(path.read_text(encoding="utf-8") + row, encoding="utf-8")
    audited(served, capsys, "entry-without-row".replace("entry-without-row", "row-without-entry"))


def test_the_served_version_rebound_to_another_text(served, capsys):
    from promptlane.core.events import Event

    append_events(served, Event("version", LATER, MALLORY, PID, V1, "sha256:" + "ab" * 32, {"dev": V1}, "rebound", "patch"))
    audited(served, capsys, "version-rebound-to-another-text")


def test_the_served_version_issued_a_second_time(served, capsys):
    from promptlane.core.events import Event

    append_events(served, Event("version", LATER, MALLORY, PID, V1, card(served)["hash"], {"dev": V1}, "again", "patch"))
    audited(served, capsys, "version-issued-twice")


def test_a_duplicate_key_appended_under_the_last_entry_overrides_it(served, capsys):
    path = served / "schemas/prompt-change-log.yml"
    path.write_text(path.read_text(encoding="utf-8") + '  environments: {"dev": "1.0.1"}\n', encoding="utf-8")
    audited(served, capsys, "duplicate-key-overrides-an-entry")


def test_a_withdrawal_mark_written_into_the_lock(served, capsys):
    set_lock(served, lambda doc: doc["withdrawn"].update({V1: {"env": "staging", "time": LATER, "reason": "forged"}}))
    audited(served, capsys, "withdrawal-mark-forged")


def test_a_withdrawal_mark_deleted_from_the_lock(served, keys, capsys, monkeypatch):
    """1.0.2 reaches prod and is rolled back (1.0.1 serves again, 1.0.2 withdrawn); the mark is
    then deleted by hand, so 1.0.2 looks promotable with its old results."""
    new_version_as_dana(served, capsys)
    write_results(served, PR_TIME)
    release(served, capsys, keys)
    code, out = run(served, capsys, "rollback", PID, "--env", "prod", "--reason", "bad answers")
    assert code == 0, out
    code, out = run(served, capsys, "audit", "verify", "--full")
    assert code == 0, out
    set_lock(served, lambda doc: doc["withdrawn"].clear())
    audited(served, capsys, "withdrawal-mark-deleted")


def test_the_author_of_the_served_version_rewritten_in_the_lock(served, capsys):
    set_lock(served, lambda doc: doc["versions"][-1].update(author=PM))
    audited(served, capsys, "lock-author-rewritten")


@pytest.mark.parametrize("case,line", [("note-inside-the-audit-table", "Nothing to see here.\n"),
                                       ("blank-line-inside-the-audit-table", "\n")])
def test_a_line_that_is_not_a_row_inside_the_audit_table(served, capsys, case, line):
    path = served / "audit/artifact-audit-log.md"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(len(lines) - 1, line)
    path.write_text("".join(lines), encoding="utf-8")
    audited(served, capsys, case)


def test_whitespace_added_inside_an_old_row_against_the_base(served, capsys, monkeypatch):
    """Cells are compared trimmed, so the chain still holds: only the base's bytes tell."""
    open_branch(served, monkeypatch)
    path = served / "audit/artifact-audit-log.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("| 1 | ", "|  1  | ", 1), encoding="utf-8")
    commit(served, "whitespace")
    audited(served, capsys, "whitespace-inside-an-old-row", "--base", "main")


def test_a_key_appended_to_the_bases_last_changelog_entry(served, capsys, monkeypatch):
    """A key the base's last entry lacks, appended under it on the branch: no duplicate, but it
    changes what a committed entry says."""
    open_branch(served, monkeypatch)
    path = served / "schemas/prompt-change-log.yml"
    path.write_text(path.read_text(encoding="utf-8") + '  note: "prod approved by everyone"\n', encoding="utf-8")
    commit(served, "a note")
    audited(served, capsys, "changelog-key-appended-to-the-base-entry", "--base", "main")
