"""The checklist each role answers is HITL_Approval_Template.md's, as the rules being judged
have it: the base branch's on a pull request (`--base`, `$PROMPTLANE_BASE`), the one a
promotion's evidence names when `audit verify --full` judges it again.

First the pure rules (core/checklist.py): what an item is, however its markdown is written;
ticking and emptying boxes; a form's items compared with the template's (PL531) and answered
(PL532). Then real repositories (real git, real ssh-keygen keys, the CLI in-process): `approve`
renders the base's checklist with every box empty; a change to the template's checklists is a
governed change (PL413) that counts once a Governance reviewer signs it and it is merged; the
template is part of a promotion's evidence, and the audit judges with it.
"""
from __future__ import annotations

import pytest

from conftest import git
from governed import PID, commit, lock, pl
from signing import BASE, REVIEWER_OF, V1, approve, ci_check, open_branch, release, run
from test_attacks import base, keys  # noqa: F401  the honest main and its reviewers' keys
from test_attacks import audit_rows, entries_of, rechain_from
from promptlane.core.checklist import checklist_problem, checklist_text, items_of, tick, unticked
from promptlane.core.reviews import parse_review

TEMPLATE = "HITL_Approval_Template.md"
PM = REVIEWER_OF["PM"]
GOVERNANCE = REVIEWER_OF["Governance"]
FORM = f"reviews/{PID}/{V1}/pm-pm.md"
PM_ITEMS = ("The prompt does what the product needs, for the users it serves.",
            "Tone, language and length suit the audience.",
            "The eval cases cover the situations that matter to users.")
NEW_ITEM = "The note says which user research the change rests on."


# ---------------------------------------------------------------- pure: items, boxes, judgement


def _template(*pm_lines: str) -> str:
    lines = pm_lines or tuple(f"- [ ] {item}" for item in PM_ITEMS)
    return ("---\nprompt: \"\"\n---\n\n# Prompt approval\n\n## Checklist: PM\n\n" + "\n".join(lines)
            + "\n\n## Checklist: QA\n\n- [ ] The eval results belong to this hash.\n")


def _form(*pm_lines: str):
    front = (f'prompt: "{PID}"\nversion: "{V1}"\nhash: "sha256:{"a" * 64}"\nreviewer: "{PM}"\nrole: "PM"\n'
             'decision: "approved"\ndate: "2026-12-01T10:00:00Z"\nnote: ""\n')
    body = "\n## Checklist: PM\n\n" + "\n".join(pm_lines) + "\n"
    review = parse_review(FORM, ("---\n" + front + "---\n" + body).encode("utf-8"))
    assert review.ok, review.problems
    return review


@pytest.mark.parametrize("line,answered", [
    ("- [ ] {}", False), ("- [x] {}", True), ("- [X] {}", True), ("* [ ] {}", False), ("+ [x] {}", True),
    ("  - [ ] {}", False), ("\t* [X] {}", True), ("1. [ ] {}", False), ("2) [x] {}", True), ("> - [ ] {}", False),
    ("- [x ] {}", False), ("- [*] {}", False), ("- [✓] {}", False), ("- [ ]{}", False), ("-  [ ] {}", False),
])
def test_every_task_list_line_of_a_checklist_section_is_an_item(line, answered):
    text = _template(line.format(PM_ITEMS[0]), f"- [ ] {PM_ITEMS[1]}")
    items = items_of(text, "PM")
    assert [(item.text, item.answered) for item in items] == [(PM_ITEMS[0], answered), (PM_ITEMS[1], False)]
    assert text.splitlines()[items[0].line - 1] == line.format(PM_ITEMS[0])
    ticked = tick(text, {items[0].line})
    assert items_of(ticked, "PM")[0].answered  # tick() answers it, whatever its markdown ...
    before, after = text.splitlines(), ticked.splitlines()
    assert [n for n, (a, b) in enumerate(zip(before, after), 1) if a != b] in ([], [items[0].line])
    assert after[items[0].line - 1].endswith(PM_ITEMS[0]) and "[x]" in after[items[0].line - 1]  # ... on its line only
    emptied = unticked(ticked)
    assert not any(item.answered for item in items_of(emptied, "PM"))


def test_lines_that_are_no_task_list_items_are_not_items():
    text = _template(f"- [ ] {PM_ITEMS[0]}", "- [docs](https://example.com/checklist)", "- [a](b) a link",
                     "Read the card first.", "- a plain bullet")
    assert [item.text for item in items_of(text, "PM")] == [PM_ITEMS[0]]
    assert [item.text for item in items_of(text, "Security")] == []  # no such section


def test_unticked_empties_every_checklist_box_and_keeps_every_other_byte():
    text = _template(f"- [x] {PM_ITEMS[0]}", f"* [X] {PM_ITEMS[1]}", f"  - [✓] {PM_ITEMS[2]}")
    text = "- [x] outside any checklist stays\n" + text
    emptied = unticked(text)
    assert emptied.splitlines()[0] == "- [x] outside any checklist stays"
    assert [line for line in emptied.splitlines() if PM_ITEMS[1] in line] == [f"* [ ] {PM_ITEMS[1]}"]
    assert not any(item.answered for item in items_of(emptied, "PM"))
    assert len(emptied) == len(text)  # one character per box, replaced in place


def test_checklist_text_is_the_checklist_sections_only():
    text = _template()
    assert checklist_text(text) == checklist_text(text.replace("# Prompt approval", "# An approval"))
    assert checklist_text(text) != checklist_text(text.replace(f"- [ ] {PM_ITEMS[1]}", f"* [ ] {PM_ITEMS[1]}"))
    assert checklist_text(text).startswith("## Checklist: PM\n- [ ] ")


ALL = tuple(f"- [x] {item}" for item in PM_ITEMS)


@pytest.mark.parametrize("lines,code,says", [
    (ALL, None, None),
    (ALL[:1], "PL531", f"2 missing after line 14: '{PM_ITEMS[1]}' ({TEMPLATE}:10)"),
    ((ALL[0], ALL[2]), "PL531", f"item 2 of the template, '{PM_ITEMS[1]}' ({TEMPLATE}:10), is missing"),
    ((ALL[1], ALL[0], ALL[2]), "PL531", f"'{PM_ITEMS[1]}' (line 14) is out of order: item 1 of the template is '{PM_ITEMS[0]}'"),
    ((*ALL, ALL[2]), "PL531", f"'{PM_ITEMS[2]}' (line 17) is there twice"),
    ((*ALL, "- [x] Something else."), "PL531", "'Something else.' (line 17) is one more than the template's 3"),
    ((ALL[0], "- [x] Tone suits the audience.", ALL[2]), "PL531",
     f"'Tone suits the audience.' (line 15) is not an item of the template (item 2 there is '{PM_ITEMS[1]}', {TEMPLATE}:10)"),
    ((), "PL531", "has no '## Checklist: PM' items, and HITL_Approval_Template.md (base main) has 3"),
    ((ALL[0], f"* [ ] {PM_ITEMS[1]}", ALL[2]), "PL532", f"1 of 3 checklist items unanswered: '{PM_ITEMS[1]}' (line 15)"),
])
def test_a_form_answers_exactly_the_templates_items(lines, code, says):
    problem = checklist_problem(_form(*lines), PID, _template(), "base main")
    if code is None:
        assert problem is None
        return
    assert problem is not None and problem.code == code, problem
    assert says in problem.message, problem.message
    if code == "PL531" and lines:
        assert f"its '## Checklist: PM' items are not those of {TEMPLATE} (base main)" in problem.message
        assert "`promptlane approve support-reply --role PM --all-confirmed`" in problem.message


def test_a_template_without_the_roles_checklist_or_none_at_all():
    problem = checklist_problem(_form(*ALL), PID, "", "base main")
    assert problem is not None and problem.code == "PL531"
    assert f"{TEMPLATE} (base main) has no '## Checklist: PM' items" in problem.message and "PL413" in problem.message
    # None: no template is known (a promotion whose evidence names none): the form's own items
    assert checklist_problem(_form(*ALL[:1]), PID, None) is None
    assert checklist_problem(_form(ALL[0], f"- [ ] {PM_ITEMS[1]}"), PID, None).code == "PL532"


# ---------------------------------------------------------------- real repositories


def _edit(root, old: str, new: str) -> None:
    path = root / TEMPLATE
    text = path.read_text(encoding="utf-8")
    assert old in text, text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _add_pm_item(root) -> None:
    _edit(root, f"- [ ] {PM_ITEMS[2]}\n", f"- [ ] {PM_ITEMS[2]}\n- [ ] {NEW_ITEM}\n")


def _governance_approves(root, capsys, keys) -> tuple[int, str]:
    return run(root, capsys, "approve", "--governance", TEMPLATE, "--role", "Governance", "--key",
               str(keys.private(GOVERNANCE)), actor=GOVERNANCE)


@pytest.fixture
def branch(base, monkeypatch):
    return open_branch(base, monkeypatch)


def test_approve_under_a_base_renders_the_bases_checklist_every_box_empty(branch, capsys, keys):
    """The pull request's template drops two PM items and pre-ticks the first: with the base set,
    `approve` renders the base's three items, all unanswered until the PM answers them."""
    root = branch
    _edit(root, f"- [ ] {PM_ITEMS[0]}", f"- [x] {PM_ITEMS[0]}")
    for item in PM_ITEMS[1:]:
        _edit(root, f"- [ ] {item}\n", "")
    commit(root, "a shorter, pre-ticked checklist")
    code, out = approve(root, capsys, "PM", PM, keys.private(PM), "--confirm", "2", env={"PROMPTLANE_BASE": BASE})
    assert code == 0 and "2 of 3 checklist items unanswered" in out, out
    form = (root / FORM).read_text(encoding="utf-8")
    assert [(i.text, i.answered) for i in items_of(form, "PM")] == [
        (PM_ITEMS[0], False), (PM_ITEMS[1], True), (PM_ITEMS[2], False)]


def test_wording_outside_the_checklists_is_no_governed_change(branch, capsys):
    root = branch
    _edit(root, "# Prompt approval", "# Prompt approval (read the card first)")
    commit(root, "the form's wording")
    code, out = ci_check(root, capsys)
    assert code == 0, out


def test_a_checklist_change_needs_a_governance_approval_at_commit_time(base, capsys, keys):
    """On a laptop (no base: compared with HEAD), the hook's `check` of the template says PL413 at
    the changed line; a signed Governance approval of the new checklists lets it through, and
    another change needs another approval."""
    root = base
    _add_pm_item(root)
    line = (root / TEMPLATE).read_text(encoding="utf-8").splitlines().index(f"- [ ] {NEW_ITEM}") + 1
    code, out = pl(root, capsys, "check", TEMPLATE)
    assert code == 1 and f"{TEMPLATE}:{line}:1: PL413 checklists changed since git HEAD (PM's checklist: " \
        f"'{NEW_ITEM}' added (3 -> 4 items))" in out, out
    assert f"`promptlane approve --governance {TEMPLATE} --role Governance`" in out
    code, out = _governance_approves(root, capsys, keys)
    assert code == 0 and "-checklists-governance-governance.md" in out, out
    assert pl(root, capsys, "check", TEMPLATE)[0] == 0
    _edit(root, f"- [ ] {NEW_ITEM}", f"- [ ] {NEW_ITEM} (and its date)")
    code, out = pl(root, capsys, "check", TEMPLATE)
    assert code == 1 and "PL413" in out, out


def test_a_new_checklist_counts_once_governance_approved_it_and_it_is_merged(branch, capsys, keys):
    """Pull request 1 adds a PM item with a Governance approval: CI passes it. Forms of the new
    checklist count only under rules that have it: on that same branch CI still judges with the
    base's three items (PL531); once merged, a PM approval of four items counts for prod."""
    root = branch
    _add_pm_item(root)
    code, out = ci_check(root, capsys)
    assert code == 1 and "PL413" in out, out
    code, out = _governance_approves(root, capsys, keys)
    assert code == 0, out
    commit(root, "a fourth PM item, approved by Governance")
    code, out = ci_check(root, capsys)
    assert code == 0, out

    scratch_branch = "release/use-it-at-once"
    git(root, "switch", "-q", "-c", scratch_branch)
    release(root, capsys, keys)  # the working tree's template (four PM items) lets the commands through
    commit(root, "released on the same branch")
    code, out = ci_check(root, capsys)
    assert code == 1 and "PL630" in out and "PL531" in out and "is one more than the template's 3" in out, out

    git(root, "switch", "-q", BASE)
    git(root, "merge", "-q", "--ff-only", "release/feature")  # pull request 1 merged
    git(root, "switch", "-q", "-c", "release/second")
    release(root, capsys, keys)
    form = (root / FORM).read_text(encoding="utf-8")
    assert [i.text for i in items_of(form, "PM")] == [*PM_ITEMS, NEW_ITEM]
    commit(root, "released under the merged checklist")
    code, out = ci_check(root, capsys)
    assert code == 0, out
    assert lock(root)["environments"]["prod"] == V1


def test_a_promotion_records_the_template_and_the_audit_judges_with_it(branch, capsys, keys):
    """The honest prod promotion names the template's digest in its evidence (its bytes kept in
    audit/evidence/). A later, approved change of the checklists does not touch it: the audit
    judges it with the template it names. Its record edited to name the new template instead
    (the blob stored, the rows chained again) no longer passes: the PM answered three items of four."""
    from promptlane.core.evidence import blob_rel
    from promptlane.core.hashing import digest_of

    root = branch
    release(root, capsys, keys)
    commit(root, "released 1.0.1")
    entry = entries_of(root)[-1]
    assert entry["event"] == "promote" and entry["environments"]["prod"] == V1
    named = entry["evidence"]["template"]
    assert named == digest_of((root / TEMPLATE).read_bytes())
    assert (root / blob_rel(named)).read_bytes() == (root / TEMPLATE).read_bytes()

    rows = audit_rows(root)
    _add_pm_item(root)
    assert _governance_approves(root, capsys, keys)[0] == 0
    commit(root, "a fourth PM item, approved by Governance")
    code, out = run(root, capsys, "audit", "verify", "--full")
    assert code == 0, out  # judged with the three-item template it names

    new = (root / TEMPLATE).read_bytes()
    (root / blob_rel(digest_of(new))).parent.mkdir(parents=True, exist_ok=True)
    (root / blob_rel(digest_of(new))).write_bytes(new)
    path = root / "schemas/prompt-change-log.yml"
    text = path.read_text(encoding="utf-8")
    cut = text.rindex("- event:")
    path.write_text(text[:cut] + text[cut:].replace(named, digest_of(new)), encoding="utf-8")
    rechain_from(root, rows)
    code, out = run(root, capsys, "audit", "verify", "--full")
    assert code == 1 and "PL227" in out and "PL531" in out and "is one more than" not in out, out
    assert "1 missing after line" in out and f"'{NEW_ITEM}'" in out, out
