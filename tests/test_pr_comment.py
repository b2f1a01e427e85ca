"""`promptlane report --comment FILE`: the report posted as ONE comment on the pull request.

Real HTTP against a recording stand-in for GitHub's API on 127.0.0.1 (tests/github_stub.py):
the first run POSTs a comment that starts with the hidden marker, a second run finds it (on
any page of the list) and PATCHes it, a run with the same report writes nothing; GitHub's refusals and an unreachable API are clear
messages with exit 1; a missing variable, an unreadable report or a run that is not for a
pull request is exit 2 and posts nothing. The workflow's own comment job runs in
test_workflows.py.
"""
from __future__ import annotations

import json
import socket

import pytest

from governed import pl
from promptlane.core.prcomment import COMMENT_LIMIT, MARKER, comment_body, marked_comment, pull_request_number

REPOSITORY = "team-prompts/governed"




def test_the_first_run_posts_one_comment_and_the_next_updates_it(gov, github, report, capsys):
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 0, out
    assert "Posted the report on pull request #7: https://github.example/pull/7#issuecomment-1000" in out
    listed, posted = github.requests
    assert (listed.method, listed.path) == ("GET", f"/repos/{REPOSITORY}/issues/7/comments?per_page=100&page=1")
    assert (posted.method, posted.path) == ("POST", f"/repos/{REPOSITORY}/issues/7/comments")
    for request in github.requests:
        assert request.headers["authorization"] == "Bearer ghs_job-token"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
    text = report.read_text(encoding="utf-8")
    # The scaffold's two prompts: support-reply and the chain triage-reply, named by its calls.
    assert text.startswith("## promptlane: 2 prompt(s)") and "| support-reply |" in text
    assert "| triage-reply (chain: extract openai/gpt-4o-mini → draft openai/gpt-4o-mini) |" in text
    assert posted.body == {"body": f"{MARKER}\n{text}"}

    report.write_text(text + "\nOne more line.\n", encoding="utf-8")  # the next push: the report changed
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 0, out
    assert "Updated the report on pull request #7: https://github.example/pull/7#issuecomment-1000" in out
    relisted, patched = github.requests[2:]
    assert relisted.method == "GET"
    assert (patched.method, patched.path) == ("PATCH", f"/repos/{REPOSITORY}/issues/comments/1000")
    assert patched.body["body"].endswith("One more line.\n")
    assert [c["body"] for c in github.comments[7]] == [patched.body["body"]]  # still one comment

    code, out = pl(gov, capsys, "report", "--comment", str(report))  # a re-run: the same report
    assert code == 0 and "The report on pull request #7 is unchanged (comment 1000)" in out, out
    assert [r.method for r in github.requests[4:]] == ["GET"]  # nothing written


def test_the_marked_comment_is_found_on_a_later_page(gov, github, report, capsys):
    for n in range(130):
        github.add(7, f"review remark {n}")
    ours = github.add(7, f"{MARKER}\nan older report", login="github-actions[bot]")  # what the job's token posted
    github.add(7, f"> {MARKER}\n> quoted by a reviewer: not ours")
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 0, out
    pages = [r.path.rsplit("page=", 1)[1] for r in github.requests if r.method == "GET"]
    assert pages == ["1", "2"]
    assert github.requests[-1].path == f"/repos/{REPOSITORY}/issues/comments/{ours['id']}"
    assert len(github.comments[7]) == 132


@pytest.mark.parametrize(("status", "message", "says"), [
    (401, "Bad credentials", "GITHUB_TOKEN must be the job's token"),
    (403, "Resource not accessible by integration", "the job needs `permissions: pull-requests: write`, and a pull request from a fork"),
    (404, "Not Found", "check GITHUB_REPOSITORY"),
    (422, "Validation Failed", "GitHub refused to list the comments of pull request #7: 422 Validation Failed"),
])
def test_a_refusal_says_what_github_said_and_what_to_do(gov, github, report, capsys, status, message, says):
    github.refuse = (status, message)
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 1, out
    assert f"{status} {message}" in out and says in out, out
    assert [r.method for r in github.requests] == ["GET"]  # nothing posted after a refusal
    assert "Traceback" not in out


def test_an_unreachable_api_is_exit_1(gov, github, report, capsys, monkeypatch):
    with socket.socket() as free:  # a port nobody listens on once closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{port}")
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 1 and f"cannot reach GitHub at http://127.0.0.1:{port} to list the comments" in out, out


@pytest.mark.parametrize(("variable", "says"), [
    ("GITHUB_TOKEN", "GITHUB_TOKEN is not set; give the step env: GITHUB_TOKEN: ${{ github.token }}"),
    ("GITHUB_REPOSITORY", "GITHUB_REPOSITORY is not set"),
    ("GITHUB_EVENT_PATH", "GITHUB_EVENT_PATH is not set"),
])
def test_a_missing_variable_is_exit_2_and_posts_nothing(gov, github, report, capsys, monkeypatch, variable, says):
    monkeypatch.delenv(variable)
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 2 and says in out, out
    assert github.requests == []


def test_a_push_event_has_no_pull_request_to_comment_on(gov, github, report, capsys, tmp_path, monkeypatch):
    event = tmp_path / "push.json"
    event.write_text(json.dumps({"ref": "refs/heads/main"}), encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    code, out = pl(gov, capsys, "report", "--comment", str(report))
    assert code == 2 and f"{event}:1:1: PL721 has no pull_request.number" in out, out
    assert github.requests == []


def test_comment_is_used_alone(gov, github, report, capsys):
    code, out = pl(gov, capsys, "report", "--markdown", "--comment", str(report))
    assert code == 2 and "--comment FILE posts a report already written: run it on its own" in out, out
    assert github.requests == []


# ---------------------------------------------------------------- the pure rules


def test_a_report_too_long_for_a_comment_is_cut_at_a_line_with_a_note():
    report = "".join(f"| row {n} | {'x' * 60} |\n" for n in range(2000))
    body = comment_body(report, "https://github.com/o/r/actions/runs/1")
    assert len(report) > COMMENT_LIMIT and len(body) <= COMMENT_LIMIT
    kept, note = body.split("\n\n---\n")
    assert kept.startswith(MARKER + "\n| row 0 |") and kept.endswith(" |")  # whole lines only
    assert report.startswith(kept[len(MARKER) + 1:])
    assert note == (f"✂️ Cut: the report has {len(report)} characters and a comment holds {COMMENT_LIMIT}; the whole "
                    "report is in [this run's job summary](https://github.com/o/r/actions/runs/1).\n")
    short = "## promptlane: 0 prompt(s)\n"
    assert comment_body(short) == f"{MARKER}\n{short}"
    assert len(comment_body("y" * (COMMENT_LIMIT * 2))) <= COMMENT_LIMIT  # one endless line is cut too


def test_only_a_comment_that_starts_with_the_marker_is_ours():
    bot = {"login": "github-actions[bot]"}  # who posts with the job's token
    assert marked_comment([{"id": 1, "body": "hi", "user": bot}, {"id": 2, "body": f"> {MARKER}", "user": bot},
                           {"id": 3, "body": MARKER + "\nx", "user": bot}]) == (3, MARKER + "\nx")
    assert marked_comment([{"id": 4, "body": MARKER + "\nx", "user": {"login": "mallory"}}]) is None  # not ours to edit
    assert marked_comment([{"id": 1, "body": None}, "junk", {"id": True, "body": MARKER}]) is None
    assert pull_request_number({"pull_request": {"number": 12}}) == 12
    for event in ({}, {"pull_request": {"number": "12"}}, {"pull_request": {"number": 0}}, [], {"pull_request": None}):
        assert pull_request_number(event) is None
