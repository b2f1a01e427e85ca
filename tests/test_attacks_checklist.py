"""Attacks on the checklist prod requires (require_checklist: true in the template's policy).

The PM signs an honest approval that confirms one item of three (`--confirm 1`): it counts for
staging, not for prod. mallory (write access, no key) tries to make it count for prod: ticking
the boxes by hand, turning the rule off, and forging a promotion record that names the real
policy. Each is refused by a command or by CI (`check --all --base main`, `audit verify --full`),
which re-judges every promotion from the forms and rules its evidence names.
"""
from __future__ import annotations

import re
import shutil

import pytest

from governed import PID, commit, lock
from signing import (MALLORY, POLICY, REVIEWER_OF, V1, Attack, approve, changed_files, edit_policy, open_branch, refused, run,
                     scratch_copy)
from conftest import snapshot_tree
from test_attacks import base, keys  # noqa: F401  the honest main and its reviewers' keys
from test_attacks import audit_rows, entries_of, rechain_from

PM = REVIEWER_OF["PM"]
FORM = f"reviews/{PID}/{V1}/pm-pm.md"
PM_ITEMS = ("The prompt does what the product needs, for the users it serves.",
            "Tone, language and length suit the audience.",
            "The eval cases cover the situations that matter to users.")


@pytest.fixture
def answered_in_part(base, monkeypatch, capsys, keys) -> Attack:
    """The pull request: every role approves in full but the PM, who confirms item 1 only
    (honestly signed); staging is reached by the command, prod is not."""
    root = open_branch(base, monkeypatch)
    for role, reviewer in REVIEWER_OF.items():
        extra = ("--confirm", "1") if role == "PM" else ()
        code, out = approve(root, capsys, role, reviewer, keys.private(reviewer), *extra)
        assert code == 0, out
    code, out = run(root, capsys, "promote", PID, "--to", "staging")
    assert code == 0, out
    code, out = run(root, capsys, "promote", PID, "--to", "prod")
    assert code == 1 and f"{FORM}:" in out and "PL532 2 of 3 checklist items unanswered" in out, out
    assert PM_ITEMS[1] in out and PM_ITEMS[2] in out
    return Attack(root, capsys, keys)



def test_the_boxes_ticked_by_hand_in_a_signed_form_break_its_signature(answered_in_part):
    attack = answered_in_part
    path = attack.root / FORM
    path.write_text(path.read_text(encoding="utf-8").replace("- [ ] ", "- [x] "), encoding="utf-8")
    attack.promote("prod")  # refused (PL521): she writes the promotion record by hand
    out = refused(attack, "PL521")
    assert f"{FORM}:" in out


def test_a_form_with_unanswered_items_does_not_count_for_prod(answered_in_part):
    """The command refuses; her hand-written promotion record is refused by CI."""
    attack = answered_in_part
    attack.promote("prod")
    refused(attack, "PL532")


def test_turning_the_checklist_off_is_a_loosening(answered_in_part):
    attack = answered_in_part
    edit_policy(attack.root, lambda doc: doc["promotion"]["prod"].update(require_checklist=False))
    assert attack.attempt("promote", PID, "--to", "prod")  # her working tree's policy asks no answers ...
    refused(attack, "PL410")  # ... and CI judges her policy change: a loosening no Governance approval covers


def test_a_promotion_naming_the_real_policy_is_re_judged_with_its_checklist(answered_in_part, capsys):
    """The record made under a copy of the policy with only require_checklist off, then edited to
    name the real policy (its bytes in the evidence store, the rows chained again): re-judged
    under it, from the PM's form in the evidence, the promotion does not pass its gates."""
    from promptlane.core.evidence import blob_rel
    from promptlane.core.hashing import digest_of

    attack = answered_in_part
    root = attack.root
    rows = audit_rows(root)
    scratch = scratch_copy(root)
    edit_policy(scratch, lambda doc: doc["promotion"]["prod"].update(require_checklist=False))
    commit(scratch, "the checklist off")
    before = snapshot_tree(scratch)
    code, out = run(scratch, capsys, "promote", PID, "--to", "prod", actor=MALLORY)
    assert code == 0, out
    after = snapshot_tree(scratch)
    for rel in changed_files(before, after):
        if rel != POLICY:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(after[rel])
    shutil.rmtree(scratch)
    real = digest_of((root / POLICY).read_bytes())
    (root / blob_rel(real)).write_bytes((root / POLICY).read_bytes())
    path = root / "schemas/prompt-change-log.yml"
    text = path.read_text(encoding="utf-8")
    forged = entries_of(root)[-1]["evidence"]["policy"]
    cut = text.rindex("- event:")
    path.write_text(text[:cut] + text[cut:].replace(forged, real), encoding="utf-8")
    rechain_from(root, rows + 1)
    assert lock(root)["environments"]["prod"] == V1
    code, out = run(root, capsys, "audit", "verify", "--full")
    assert code == 1 and "PL227" in out and "prod serves 1.0.1 by this promotion" in out, out
    assert "PL532 2 of 3 checklist items unanswered" in out  # the reason: the PM's form, from the evidence
    refused(attack, "PL227")
