"""Attacks on what changed in the first week: the approval checklist prod requires, sync's
refusal of hand-edited managed fields, and `promptlane report --comment`.

mallory (write access, no key on any list, reviews nothing) works on her pull request branch.
An attack that CI (`check --all --base main`, `audit verify --full --base main`) refuses is a
passing test; a hole is a strict xfail (it passes while the hole is open, and fails the day it
is closed, so the marker is dropped then).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import snapshot_tree
from governed import PID, card, commit, lock, pl
from signing import CARD, MALLORY, REVIEWER_OF, V1, Attack, approve, open_branch, refused, run, sign
from test_attacks import base, keys  # noqa: F401  the honest main and its reviewers' keys
from promptlane.core.prcomment import MARKER

PM = REVIEWER_OF["PM"]
FORM = f"reviews/{PID}/{V1}/pm-pm.md"
TEMPLATE = "HITL_Approval_Template.md"
PM_ITEMS = ("The prompt does what the product needs, for the users it serves.",
            "Tone, language and length suit the audience.",
            "The eval cases cover the situations that matter to users.")


def _others_approve(root, capsys, keys) -> None:
    for role, reviewer in REVIEWER_OF.items():
        if role != "PM":
            code, out = approve(root, capsys, role, reviewer, keys.private(reviewer))
            assert code == 0, out


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ---------------------------------------------------------------- 1. the checklist


@pytest.fixture
def branch(base, monkeypatch):
    return open_branch(base, monkeypatch)


# was a hole: the form was rendered with the PR's pre-ticked boxes, and judged by its own items.
# Closed: approve renders every item unanswered; the base's template decides the items (PL53x),
# and a change to the template's checklists is a governed change (PL413).
def test_a_template_with_pre_ticked_items_makes_a_half_answered_form_count(branch, capsys, keys):
    root = branch
    for item in PM_ITEMS[1:]:
        _edit(root, TEMPLATE, f"- [ ] {item}", f"- [x] {item}")
    commit(root, "template wording")  # mallory's commit; the PM then reviews on her branch
    _others_approve(root, capsys, keys)
    code, out = approve(root, capsys, "PM", PM, keys.private(PM), "--confirm", "1")  # the PM answers one item
    assert code == 0, out
    assert "2 of 3 checklist items unanswered" in out, out  # the template's ticks answered nothing
    assert f"- [ ] {PM_ITEMS[1]}" in (root / FORM).read_text(encoding="utf-8")
    attack = Attack(root, capsys, keys)
    attack.promote("staging", "prod")
    assert attack.refusals and "PL532" in attack.refusals[-1]  # the command refuses prod ...
    out = refused(attack, "PL532", "PL630", "PL413")  # ... and CI refuses her hand-written record and template
    assert f"{TEMPLATE}:" in out


# was a hole: nothing compared a form's items with the base's template. Closed: PL531 in CI.
def test_a_template_with_items_removed_asks_fewer_answers(branch, capsys, keys):
    root = branch
    for item in PM_ITEMS[1:]:
        _edit(root, TEMPLATE, f"- [ ] {item}\n", "")
    commit(root, "a shorter checklist")
    _others_approve(root, capsys, keys)
    code, out = approve(root, capsys, "PM", PM, keys.private(PM))  # --all-confirmed: of one item
    assert code == 0, out
    attack = Attack(root, capsys, keys)
    attack.promote("staging", "prod")  # her working tree's template asks one item: the command lets it through
    out = refused(attack, "PL531", "PL630", "PL413")
    assert "2 missing after line" in out and f"'{PM_ITEMS[1]}' ({TEMPLATE}:" in out, out  # the base's items


# was a hole: an item written in other list markdown ('* [ ]', indented) renders as a checkbox but
# was no item (only '- [ ] ' was). Closed: every task-list line of a checklist section is an item.
def test_a_template_item_in_other_markdown_is_not_counted(branch, capsys, keys):
    root = branch
    for item in PM_ITEMS[1:]:
        _edit(root, TEMPLATE, f"- [ ] {item}", f"* [ ] {item}")
    commit(root, "list style")
    _others_approve(root, capsys, keys)
    code, out = approve(root, capsys, "PM", PM, keys.private(PM), "--confirm", "1")
    assert code == 0, out
    assert "2 of 3 checklist items unanswered" in out, out  # the command itself sees all three items
    attack = Attack(root, capsys, keys)
    attack.promote("staging", "prod")
    assert attack.refusals and "PL532" in attack.refusals[-1]
    refused(attack, "PL53\\d", "PL630", "PL413")


@pytest.fixture
def half_answered(branch, capsys, keys) -> Attack:
    """Honest template; the PM confirms item 1 of 3 (signed); staging reached; prod refused."""
    root = branch
    _others_approve(root, capsys, keys)
    code, out = approve(root, capsys, "PM", PM, keys.private(PM), "--confirm", "1")
    assert code == 0, out
    code, out = run(root, capsys, "promote", PID, "--to", "staging")
    assert code == 0, out
    return Attack(root, capsys, keys)


@pytest.mark.parametrize("box", ["[X]", "[x ]", "[*]", "[✓]"])
def test_other_tick_markdown_in_a_signed_form_breaks_its_signature(half_answered, box):
    attack = half_answered
    path = attack.root / FORM
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f"- [ ] {PM_ITEMS[1]}", f"- {box} {PM_ITEMS[1]}").replace(
        f"- [ ] {PM_ITEMS[2]}", f"- {box} {PM_ITEMS[2]}"), encoding="utf-8")
    attack.promote("prod")
    refused(attack, "PL521|PL532")


@pytest.mark.parametrize("change", ["drop", "duplicate", "reword", "heading"])
def test_a_signed_form_edited_to_need_fewer_answers_is_refused(half_answered, change):
    attack = half_answered
    path = attack.root / FORM
    text = path.read_text(encoding="utf-8")
    ticked = f"- [x] {PM_ITEMS[0]}"
    assert ticked in text, text
    if change == "drop":
        text = text.replace(f"- [ ] {PM_ITEMS[1]}\n", "").replace(f"- [ ] {PM_ITEMS[2]}\n", "")
    elif change == "duplicate":
        text = text.replace(f"- [ ] {PM_ITEMS[1]}", ticked).replace(f"- [ ] {PM_ITEMS[2]}", ticked)
    elif change == "reword":
        text = text.replace(f"- [ ] {PM_ITEMS[1]}", f"- [ ]{PM_ITEMS[1]}").replace(f"- [ ] {PM_ITEMS[2]}", f"-  [ ] {PM_ITEMS[2]}")
    else:
        text = text.replace("## Checklist: PM", "## Checklist: P M (notes)")
    path.write_text(text, encoding="utf-8")
    attack.promote("prod")
    refused(attack, "PL521|PL531|PL532")


def test_a_hand_edited_form_re_signed_with_her_own_key_is_refused(half_answered):
    attack = half_answered
    path = attack.root / FORM
    path.write_text(path.read_text(encoding="utf-8").replace("- [ ] ", "- [x] "), encoding="utf-8")
    sign(path, attack.keys.private(MALLORY))
    attack.promote("prod")
    refused(attack, "PL52\\d")


def test_a_half_answered_form_is_not_counted_by_syncs_hand_promotion(half_answered, capsys):
    """environment: raised to prod in the card and committed; sync (or CI) judges the promotion."""
    attack = half_answered
    _edit(attack.root, CARD, "environment: staging", "environment: prod")
    assert not attack.attempt("sync", PID)  # a bare id is that prompt: the hand promotion is judged, and refused
    assert lock(attack.root)["environments"].get("prod") != V1
    refused(attack, "PL532|PL6\\d\\d|PL160")


# ---------------------------------------------------------------- 2. managed fields edited by hand


@pytest.fixture
def two_versions(base, monkeypatch, capsys, keys):
    """1.0.1 (dev) and a second issued version 1.0.2 of new texts, both by dana; card at 1.0.2."""
    from governed import new_version

    root = open_branch(base, monkeypatch)
    second = new_version(root, capsys)
    assert second != V1
    commit(root, f"{PID} {second}")
    return root, second


def _set_managed(root: Path, **fields: str) -> None:
    import re

    path = root / CARD
    text = path.read_text(encoding="utf-8")
    for name, value in fields.items():
        text, found = re.subn(rf"(?m)^{name}: .*$", f"{name}: {value}", text, count=1)
        assert found == 1, text
    path.write_text(text, encoding="utf-8")


def _logs(root: Path) -> tuple[bytes, ...]:
    return tuple((root / rel).read_bytes() for rel in ("schemas/prompt-change-log.yml", f"registry/{PID}.lock.json"))


def test_version_hash_and_author_of_another_issued_version_write_no_false_log(two_versions, capsys, keys):
    """The card (1.0.2's texts) claims 1.0.1 with 1.0.1's hash and author: sync logs no
    'return' to 1.0.1, and CI refuses the card."""
    root, second = two_versions
    entry = next(v for v in lock(root)["versions"] if v["version"] == V1)
    before = _logs(root)
    _set_managed(root, version=V1, hash=entry["hash"], author=entry["author"])
    attack = Attack(root, capsys, keys)
    assert not attack.attempt("sync", CARD)  # the card's path, as the hook passes it (an id is no path)
    assert _logs(root) == before
    assert lock(root)["environments"]["dev"] == second
    refused(attack, "PL164")


# was a hole (consistency): sync exited 0 while check said PL150 'run promptlane sync'; with the
# card's path, sync logged a 'return' to 1.0.2 that never happened. Fixed: core.managed's PL164.
@pytest.mark.parametrize("environment", [None, "staging"])
def test_sync_and_check_refuse_another_versions_managed_block_and_name_the_values(two_versions, capsys, keys, environment):
    """version+hash+author set to 1.0.1's (and, the second time, environment: staging, which
    serves nothing): check and sync both refuse it at the card's version line, naming every
    value to put back; sync writes and logs nothing; once they are put back, both pass."""
    root, second = two_versions
    entry = next(v for v in lock(root)["versions"] if v["version"] == V1)
    issued = next(v for v in lock(root)["versions"] if v["version"] == second)
    edits = {"version": V1, "hash": entry["hash"], "author": entry["author"]}
    if environment:
        edits["environment"] = environment
    _set_managed(root, **edits)
    before = snapshot_tree(root)
    fix = f"set version back to {second}, hash to {issued['hash']}, author to {issued['author']}"
    if environment:
        fix += ", environment to dev"
    line = next(i for i, text in enumerate((root / CARD).read_text(encoding="utf-8").splitlines(), 1)
                if text.startswith("version: "))
    for command in (("sync", CARD), ("sync",), ("check", "--all"), ("promote", PID, "--to", "staging")):
        code, out = run(root, capsys, *command)
        assert code == 1, out
        assert f"{CARD}:{line}:10: PL164 version: {V1} and hash: are {V1}'s" in out, out
        assert fix in out, out
        assert "PL150" not in out and "run `promptlane sync`" not in out, out
        assert snapshot_tree(root) == before, f"`promptlane {' '.join(command)}` refused but changed files"
    _set_managed(root, version=second, hash=issued["hash"], author=issued["author"], environment="dev")
    for command in (("sync", CARD), ("check", "--all")):
        code, out = run(root, capsys, *command)
        assert code == 0, out
    assert snapshot_tree(root) == before | {CARD: snapshot_tree(root)[CARD]}


def test_texts_set_back_to_an_earlier_version_are_still_a_return_sync_records(two_versions, capsys):
    """Not a hand edit: the card at 1.0.2 (dev serves it), its texts set back to 1.0.1's
    (the block left as sync wrote it): sync returns it to 1.0.1 and logs so; check then passes."""
    root, second = two_versions
    code, out = run(root, capsys, "sync", CARD)
    assert code == 0, out
    system = root / f"prompts/{PID}/system.md"
    text = system.read_text(encoding="utf-8")
    assert text.endswith("Keep replies short.\n"), text  # governed.new_version's edit made 1.0.2
    system.write_text(text[: -len("Keep replies short.\n")], encoding="utf-8")
    assert card(root)["version"] == second
    code, out = run(root, capsys, "check", "--all")
    assert code == 1 and "PL150" in out and "PL164" not in out, out
    code, out = run(root, capsys, "sync", CARD)
    assert code == 1 and f"returned -> {V1}" in out, out
    assert card(root)["version"] == V1 and lock(root)["environments"]["dev"] == V1
    code, out = run(root, capsys, "check", "--all")
    assert code == 0, out


def test_version_set_back_to_an_earlier_issued_version_writes_no_false_log(two_versions, capsys, keys):
    """The card at 1.0.2 (served in dev) edited to say version: 1.0.1 (hash left): no demotion logged."""
    root, second = two_versions
    before = _logs(root)
    _set_managed(root, version=V1)
    attack = Attack(root, capsys, keys)
    assert not attack.attempt("sync", CARD)
    assert _logs(root) == before
    refused(attack, "PL15\\d|PL16\\d")


def test_environment_raised_to_a_level_a_withdrawn_or_unserved_version_never_reached(two_versions, capsys, keys):
    """environment: prod for 1.0.2 (no approvals): sync's hand promotion goes through the gates."""
    root, second = two_versions
    before = _logs(root)
    _set_managed(root, environment="prod")
    attack = Attack(root, capsys, keys)
    assert not attack.attempt("sync", CARD)
    assert _logs(root) == before
    refused(attack, "PL16\\d|PL6\\d\\d")


# ---------------------------------------------------------------- 3. report --comment




# was a hole (fixed: core.prcomment.POSTER / store.githubapi's unredirected token)
def test_a_marked_comment_by_mallory_is_not_taken_for_ours(gov, github, report, capsys):
    github.add(7, f"{MARKER}\nall green, ship it", login="mallory")
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 0, out
    assert not any(r.method == "PATCH" for r in github.requests), "her comment was edited as ours"


# was a hole (fixed: core.prcomment.POSTER / store.githubapi's unredirected token)
def test_a_redirect_does_not_carry_the_token_to_another_host(gov, github, report, capsys, monkeypatch):
    seen: list[dict] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append({k.lower(): v for k, v in self.headers.items()})
            data = b"[]"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    target = f"http://localhost:{other.server_address[1]}/list"

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args):
            pass

    api = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{api.server_address[1]}")
    try:
        pl(gov, capsys, "report", "--comment", str(report))
    finally:
        api.shutdown()
        other.shutdown()
        api.server_close()
        other.server_close()
    assert seen, "the redirect was not followed at all"
    assert all("authorization" not in headers for headers in seen), seen


# was hardening (GITHUB_REPOSITORY is the runner's, not mallory's): dot segments passed the
# OWNER/NAME check and reached the API path. Now refused; each part is percent-encoded too.
@pytest.mark.parametrize("repository", ["../..", "a/..", "../b", "./x", "a/.", "a/...", "team-prompts/governed/../../other/repo",
                                        "a/b?x=1", "a/b#c", "a%2e%2e/b", "a/%2F", "a", "a/", "/b", "a b/c"])
def test_a_repository_that_walks_out_of_its_path_is_refused(gov, github, report, capsys, monkeypatch, repository):
    monkeypatch.setenv("GITHUB_REPOSITORY", repository)
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 2 and not github.requests, out
    assert f"GITHUB_REPOSITORY {repository!r} is not OWNER/NAME (GitHub Actions sets it" in out, out
    assert "e.g. team-prompts/governed" in out and "neither part only dots" in out, out


@pytest.mark.parametrize("repository", ["team-prompts/.github", "a.b/c..d", "a_b/-c.", "o/...x"])
def test_a_repository_with_dots_inside_its_parts_is_posted_to_as_one_segment_each(gov, github, report, capsys,
                                                                                  monkeypatch, repository):
    monkeypatch.setenv("GITHUB_REPOSITORY", repository)
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 0, out
    assert {r.path.split("/issues/")[0] for r in github.requests} == {f"/repos/{repository}"}


def test_each_part_of_the_repository_is_percent_encoded_in_the_api_path():
    from promptlane.commands.prcomment import _repo_path

    assert _repo_path("team-prompts/governed") == "/repos/team-prompts/governed"
    assert _repo_path("a b/c?d#e%") == "/repos/a%20b/c%3Fd%23e%25"  # were one to pass the check


@pytest.mark.parametrize("number", ["7/../../8", "\"8\"", "true", "-1", "7.5"])
def test_a_pull_request_number_that_is_not_an_integer_posts_nothing(gov, github, report, capsys, tmp_path, monkeypatch, number):
    event = tmp_path / "bad-event.json"
    event.write_text('{"pull_request": {"number": %s}}' % json.dumps(number) if "/" in number else
                     '{"pull_request": {"number": %s}}' % number, encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 2 and not github.requests, out


# ---------------------------------------------------------------- 2b. a withdrawn version


@pytest.fixture
def rolled_back(gov, capsys, monkeypatch):
    """1.0.1 then 1.0.2 promoted to staging and prod (tests/test_withdrawn_marks.py's story);
    prod rolled back to 1.0.1: 1.0.2 is withdrawn from prod, dev and staging still serve it."""
    from governed import clock, new_version, ready_for

    root = gov
    for day, text in (("01", "Keep replies short."), ("02", "Never promise refunds.")):
        clock(monkeypatch, f"2026-12-{day}T09:00:00Z")
        new_version(root, capsys, text)
        clock(monkeypatch, f"2026-12-{day}T10:00:00Z")
        ready_for(root, capsys, monkeypatch, "staging", f"2026-12-{day}T09:30:00Z")
        assert pl(root, capsys, "promote", PID, "--to", "staging")[0] == 0
        ready_for(root, capsys, monkeypatch, "prod", f"2026-12-{day}T09:40:00Z")
        assert pl(root, capsys, "promote", PID, "--to", "prod")[0] == 0
        commit(root, f"day {day}")
    clock(monkeypatch, "2026-12-03T08:00:00Z")
    code, out = pl(root, capsys, "rollback", PID, "--env", "prod", "--reason", "INC-1")
    assert code == 0, out
    commit(root, "rollback")
    assert lock(root)["environments"] == {"dev": "1.0.2", "staging": "1.0.2", "prod": "1.0.1"}
    clock(monkeypatch, "2026-12-03T09:00:00Z")
    return root


@pytest.mark.parametrize("edit", ["staging", "dev", "withdrawn-block"])
def test_a_hand_edit_toward_the_withdrawn_version_logs_nothing(rolled_back, capsys, keys, edit):
    """The card (1.0.1, prod) edited by hand: environment: staging or dev (where the withdrawn
    1.0.2 is served), or the whole block set to 1.0.2's version, hash and author at staging.
    sync writes no changelog or audit line, and CI refuses the card."""
    from conftest import git

    root = rolled_back
    git(root, "switch", "-q", "-c", "release/feature")
    assert card(root)["version"] == V1 and card(root)["environment"] == "prod"
    before = _logs(root)
    if edit == "withdrawn-block":
        entry = next(v for v in lock(root)["versions"] if v["version"] == "1.0.2")
        _set_managed(root, version="1.0.2", hash=entry["hash"], author=entry["author"], environment="staging")
    else:
        _set_managed(root, environment=edit)
    attack = Attack(root, capsys, keys)
    assert not attack.attempt("sync", PID)  # the prompt, by its id
    assert not attack.attempt("sync", CARD)  # and by the card's path, as the hook passes it
    assert _logs(root) == before
    assert lock(root)["environments"] == {"dev": "1.0.2", "staging": "1.0.2", "prod": "1.0.1"}
    refused(attack, "PL1[56]\\d")


# was a hole (a false log): the card (1.0.1, prod) with its block set by hand to the withdrawn
# 1.0.2's version, hash and author at staging (which still serves 1.0.2), the texts left at
# 1.0.1's. Given the card's path, sync took it for texts set back to 1.0.1 and logged a return
# to 1.0.1 in dev and a demotion "from staging", where the card never was. Closed: a withdrawn
# version's block above the first environment, the texts another served version's, is PL164
# (core.managed): a withdrawn version comes back to a card only through sync, in dev.
def test_the_withdrawn_versions_block_at_staging_is_refused_by_sync_and_check_alike(rolled_back, capsys):
    from conftest import git

    root = rolled_back
    git(root, "switch", "-q", "-c", "release/feature")
    withdrawn = next(v for v in lock(root)["versions"] if v["version"] == "1.0.2")
    served = next(v for v in lock(root)["versions"] if v["version"] == V1)
    _set_managed(root, version="1.0.2", hash=withdrawn["hash"], author=withdrawn["author"], environment="staging")
    before = snapshot_tree(root)
    fix = f"set version back to {V1}, hash to {served['hash']}, author to {served['author']}, environment to prod"
    for command in (("sync", CARD), ("sync", PID), ("check", "--all")):
        code, out = run(root, capsys, *command)
        assert code == 1, out
        assert "PL164" in out and "1.0.2 was withdrawn from prod" in out and fix in out, out
        assert "PL150" not in out and "demote" not in out and "returned" not in out, out
        assert snapshot_tree(root) == before, f"`promptlane {' '.join(command)}` refused but changed files"
    _set_managed(root, version=V1, hash=served["hash"], author=served["author"], environment="prod")
    for command in (("sync", CARD), ("check", "--all")):
        code, out = run(root, capsys, *command)
        assert code == 0, out
    assert lock(root)["environments"] == {"dev": "1.0.2", "staging": "1.0.2", "prod": V1}
