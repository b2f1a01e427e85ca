"""The one pull-request comment that carries ``promptlane report --markdown``: pure rules.

The comment is found again by a hidden marker on its first line, so each run of CI edits the
same comment instead of adding one more. GitHub refuses a comment body longer than
``COMMENT_LIMIT`` characters: a longer report is cut at a line, with a note saying where the
whole report is.
"""
from __future__ import annotations

from typing import Any

MARKER = "<!-- promptlane-report -->"
# Who posts with a GitHub Actions job's token. Only a marked comment by this login is ours: anyone
# may write a comment that starts with the marker, and editing theirs would put the report under
# their name, theirs to change afterwards.
POSTER = "github-actions[bot]"
COMMENT_LIMIT = 65536  # GitHub's maximum for an issue comment's body, in characters


def comment_body(report: str, run_url: str | None = None) -> str:
    """The marker, the report and, when the report is too long for one comment, the part that
    fits and a note pointing at the job summary (``run_url``: this CI run's page)."""
    where = f" [this run's job summary]({run_url})" if run_url else " this run's job summary"
    body = f"{MARKER}\n{report}"
    if len(body) <= COMMENT_LIMIT:
        return body
    note = (f"\n\n---\n✂️ Cut: the report has {len(report)} characters and a comment holds "
            f"{COMMENT_LIMIT}; the whole report is in{where}.\n")
    room = COMMENT_LIMIT - len(note)
    kept = body[:room]
    line_end = kept.rfind("\n")
    if line_end > len(MARKER):  # cut after the last whole line, never inside the marker
        kept = kept[:line_end]
    return kept + note


def marked_comment(comments: list[Any], poster: str = POSTER) -> tuple[int, str] | None:
    """The id and body of the first comment by ``poster`` whose body starts with the marker (None:
    there is none yet). Starts with, not contains: a reviewer quoting the report (``> <!-- ...``)
    is not ours; nor is a marked comment someone else wrote."""
    for comment in comments:
        if isinstance(comment, dict) and _login(comment) == poster and str(comment.get("body") or "").startswith(MARKER):
            found = comment.get("id")
            if isinstance(found, int) and not isinstance(found, bool):
                return found, str(comment["body"])
    return None


def _login(comment: dict[str, Any]) -> str | None:
    user = comment.get("user")
    return user.get("login") if isinstance(user, dict) else None


def pull_request_number(event: Any) -> int | None:
    """``pull_request.number`` of a GitHub Actions event payload (None: not a pull request's event)."""
    pull = event.get("pull_request") if isinstance(event, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else None
