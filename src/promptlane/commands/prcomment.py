"""``promptlane report --comment FILE``: post FILE (a ``report --markdown``) as the one promptlane
comment of the pull request this GitHub Actions run is for, or update it when it is there.

Everything comes from the environment GitHub Actions sets: ``GITHUB_TOKEN`` (given to the step),
``GITHUB_REPOSITORY``, ``GITHUB_EVENT_PATH`` (the pull request's number), ``GITHUB_API_URL``
(default https://api.github.com) and, for a link to the whole report, ``GITHUB_SERVER_URL`` and
``GITHUB_RUN_ID``. The repository is not opened: the job that posts needs no checkout.
Exit 0 posted, updated or already the same, 1 GitHub refused or could not be reached, 2 bad usage (a variable
missing, FILE or the event unreadable, not a pull request's event).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import quote

from promptlane.core.prcomment import comment_body, marked_comment, pull_request_number
from promptlane.core.problems import EXIT_OK, Problem, PromptlaneError, UsageError
from promptlane.store.githubapi import GitHubAPI

REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
PAGE = 100  # comments per page, GitHub's maximum
MAX_PAGES = 100  # 10,000 comments: far more than any pull request the marker could hide in


def post_comment(file: Path, shown: str) -> int:
    """Post ``file`` (``shown``: its name as given, for problem lines)."""
    report = _report(file, shown)
    token, repository, number = _required("GITHUB_TOKEN"), _repository(), _pull_request()
    api = GitHubAPI(os.environ.get("GITHUB_API_URL") or "https://api.github.com", token)
    body = comment_body(report, _run_url(repository))
    found = _find_ours(api, repository, number)
    if found is None:
        made = api.call("POST", f"{_repo_path(repository)}/issues/{number}/comments", f"comment on pull request #{number}",
                        {"body": body})
        print(f"Posted the report on pull request #{number}: {_url(made)}")
    elif found[1] == body:  # a run that changed nothing the report shows (a re-run, an edited title)
        print(f"The report on pull request #{number} is unchanged (comment {found[0]})")
    else:
        made = api.call("PATCH", f"{_repo_path(repository)}/issues/comments/{found[0]}",
                        f"update the report comment {found[0]} of pull request #{number}", {"body": body})
        print(f"Updated the report on pull request #{number}: {_url(made)}")
    return EXIT_OK


def _find_ours(api: GitHubAPI, repository: str, number: int) -> tuple[int, str] | None:
    """The comment an earlier run posted (its marker), page by page."""
    for page in range(1, MAX_PAGES + 1):
        comments = api.call("GET", f"{_repo_path(repository)}/issues/{number}/comments?per_page={PAGE}&page={page}",
                            f"list the comments of pull request #{number}")
        if not isinstance(comments, list):
            raise PromptlaneError(f"GitHub's list of comments of pull request #{number} is not a list; "
                             "is GITHUB_API_URL GitHub's API?")
        found = marked_comment(comments)
        if found is not None or len(comments) < PAGE:
            return found
    return None


def _report(file: Path, rel: str) -> str:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError("the report to post is not UTF-8", [Problem(rel, 1, 1, "PL720", "is not valid UTF-8; "
                         "post what `promptlane report --markdown OUT` wrote")]) from None
    except OSError as exc:
        raise UsageError("the report to post cannot be read", [Problem(rel, 1, 1, "PL720", f"cannot be read "
                         f"({exc.strerror or exc}); write it first: promptlane report --markdown {rel}")]) from None
    if not text.strip():
        raise UsageError("the report to post is empty", [Problem(rel, 1, 1, "PL720", "is empty; an empty comment "
                         "says nothing: write it with promptlane report --markdown OUT")])
    return text


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        hint = {"GITHUB_TOKEN": "give the step env: GITHUB_TOKEN: ${{ github.token }}"}.get(
            name, "GitHub Actions sets it; outside Actions, set it yourself")
        raise UsageError(f"{name} is not set; {hint}")
    return value


def _repository() -> str:
    """GITHUB_REPOSITORY, refused unless it is OWNER/NAME: two parts, neither only dots (``..``
    would walk out of /repos/OWNER/NAME/ in the API path and the run's link)."""
    repository = _required("GITHUB_REPOSITORY")
    if not REPOSITORY.match(repository) or any(set(part) == {"."} for part in repository.split("/")):
        raise UsageError(f"GITHUB_REPOSITORY {repository!r} is not OWNER/NAME (GitHub Actions sets it to the "
                         "repository the run is for, e.g. team-prompts/governed: letters, digits, '-', '_' and '.', "
                         "neither part only dots); outside Actions, set it to your repository's OWNER/NAME")
    return repository


def _repo_path(repository: str) -> str:
    return f"/repos/{_encoded(repository)}"


def _encoded(repository: str) -> str:
    """OWNER/NAME with each part percent-encoded (``quote(part, safe="")``): one path segment each."""
    return "/".join(quote(part, safe="") for part in repository.split("/"))


def _pull_request() -> int:
    path = _required("GITHUB_EVENT_PATH")
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError("the event cannot be read", [Problem(path, 1, 1, "PL721", f"cannot be read "
                         f"({exc.strerror or exc}); GITHUB_EVENT_PATH must name the run's event file")]) from None
    except ValueError as exc:
        line, col = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise UsageError("the event is not JSON", [Problem(path, line, col, "PL721", "is not valid JSON; "
                         "GITHUB_EVENT_PATH must name the run's event file")]) from None
    number = pull_request_number(event)
    if number is None:
        raise UsageError("not a pull request's run", [Problem(path, 1, 1, "PL721", "has no pull_request.number: "
                         "only a run for a pull request has a pull request to comment on (if: github.event_name == "
                         "'pull_request')")])
    return number


def _run_url(repository: str) -> str | None:
    server, run = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_RUN_ID")
    if not (server and run):
        return None
    return f"{server.rstrip('/')}/{_encoded(repository)}/actions/runs/{quote(run, safe='')}"


def _url(comment: object) -> str:
    return str(comment.get("html_url") or comment.get("id")) if isinstance(comment, dict) else "(no address in GitHub's answer)"
