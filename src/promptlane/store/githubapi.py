"""GitHub's REST API, for the one call CI makes outside the repository: the report comment.

Plain urllib (no dependency): JSON in, JSON out, the job's token as a bearer token. Every
failure is a PromptlaneError (exit 1) that says what GitHub answered and what to do.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from promptlane import __version__
from promptlane.core.problems import PromptlaneError

TIMEOUT = 30.0  # seconds for one call: a CI job waits no longer for GitHub
API_VERSION = "2022-11-28"


class GitHubAPI:
    def __init__(self, api_url: str, token: str, timeout: float = TIMEOUT):
        if not api_url.startswith(("https://", "http://")):
            raise PromptlaneError(f"GITHUB_API_URL {api_url!r} is not an http(s) address; unset it to use https://api.github.com")
        self.api_url, self.token, self.timeout = api_url.rstrip("/"), token, timeout

    def call(self, method: str, path: str, what: str, body: dict | None = None) -> Any:
        """``method`` ``path`` (below the API URL); its JSON answer. ``what`` names the call in errors."""
        request = urllib.request.Request(self.api_url + path, method=method,  # noqa: S310 (scheme checked in __init__)
                                         data=None if body is None else json.dumps(body).encode("utf-8"),
                                         headers=self._headers(body is not None))
        # Unredirected: urllib copies plain headers onto a redirect, which may lead to another host.
        request.add_unredirected_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 (http(s) only)
                text = answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            raise PromptlaneError(refusal(exc.code, _message(exc), what)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise PromptlaneError(f"cannot reach GitHub at {self.api_url} to {what} ({reason}); "
                                  "check GITHUB_API_URL and the runner's network") from None
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            raise PromptlaneError(f"GitHub's answer to {method} {path} is not JSON; is GITHUB_API_URL "
                                  f"({self.api_url}) GitHub's API?") from None

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": API_VERSION, "User-Agent": f"promptlane/{__version__}"}
        return {**headers, "Content-Type": "application/json"} if has_body else headers


def _message(error: urllib.error.HTTPError) -> str:
    """GitHub's own words for a refusal (its JSON ``message``), else the HTTP reason."""
    try:
        found = json.loads(error.read().decode("utf-8", "replace")).get("message")
    except (ValueError, AttributeError, OSError):
        found = None
    return str(found or error.reason or "no reason given")


def refusal(status: int, message: str, what: str) -> str:
    """What a refused call means for the report comment, and what to do about it."""
    said = f"GitHub refused to {what}: {status} {message}"
    if status == 401:
        return f"{said}; GITHUB_TOKEN must be the job's token (env: GITHUB_TOKEN: ${{{{ github.token }}}})"
    if status == 403:
        return (f"{said}; the job needs `permissions: pull-requests: write`, and a pull request from a fork "
                "gets a read-only token (its report stays in the gate job's summary)")
    if status == 404:
        return (f"{said}; check GITHUB_REPOSITORY and that the event is this repository's pull request "
                "(a token without access to a private repository gets 404 too)")
    return said
