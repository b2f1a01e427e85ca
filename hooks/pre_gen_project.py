"""Refuse bad template input before anything is rendered.

Cookiecutter renders this file with Jinja, then runs it inside the (still empty) project
folder; exiting non-zero makes cookiecutter raise FailedHookException and delete that folder.
The values arrive as one JSON document rather than one Jinja expression per variable, so a
quote or backslash in a value cannot break this script's own syntax.
"""
from __future__ import annotations

import json
import re
import sys

CONTEXT = json.loads(r'''{{ cookiecutter | tojson }}''')

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SLUG_MAX = 64  # the same limit as a prompt id: the slug may become a package or folder name
ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
ROLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]*$")
ENV_COUNT = (2, 6)
# The role that approves governance changes (promptlane.core.policy.POLICY_REVIEW_ROLE); the
# hook runs without promptlane installed, so it keeps its own copy (tests/test_template.py
# checks that the two agree).
POLICY_APPROVER = "Governance"
VERSION = re.compile(r"^[0-9]+(\.[0-9]+){1,2}([a-z]+[0-9]*)?$")
# Characters that would need escaping in the YAML files these values are written into.
UNSAFE_TEXT = re.compile(r'["\\\x00-\x1f\x7f]')
# The hook repository and rev are written as JSON strings (quotes and backslashes escaped), so
# only control characters, and what a YAML "\\u" escape cannot carry (a character beyond
# U+FFFF, a lone surrogate), are refused.
UNSAFE_HOOKS_TEXT = re.compile("[\x00-\x1f\x7f\ud800-\udfff\U00010000-\U0010ffff]")


def split_list(text: str) -> list[str]:
    """A comma-separated answer as a list; the templates trim each item the same way."""
    return [item.strip() for item in text.split(",")]


def check_slug(value: str) -> list[str]:
    if not SLUG.match(value):
        return [f"{value!r} is not a valid slug; use lower-case letters, digits and '-', "
                "starting with a letter or digit (e.g. prompt-repo)"]
    if len(value) > SLUG_MAX:
        return [f"{len(value)} characters is too long; use at most {SLUG_MAX}"]
    return []


def check_text(value: str, what: str) -> list[str]:
    if not value.strip():
        return [f"must not be empty; give the {what}"]
    if UNSAFE_TEXT.search(value):
        return ["must not contain double quotes, backslashes or control characters"]
    return []


def check_environments(value: str) -> list[str]:
    names = split_list(value)
    low, high = ENV_COUNT
    if not low <= len(names) <= high:
        return [f"{len(names)} given ({value!r}); list {low} to {high} names separated by commas, "
                "first = development, last = production (e.g. dev,staging,prod)"]
    errors = [f"{name!r} is not a valid name; use lower-case letters, digits, '_' or '-', "
              "starting with a letter" for name in names if not ENV_NAME.match(name)]
    dupes = sorted({name for name in names if names.count(name) > 1})
    if dupes:
        errors.append(f"{', '.join(dupes)} listed more than once; each environment must be unique")
    return errors


def check_roles(value: str) -> list[str]:
    roles = split_list(value)
    if not any(roles):
        return ["must name at least one role (e.g. PM,Tech Lead,QA,Security,Governance)"]
    errors = [f"{role!r} is not a valid role; use letters, digits, spaces, '_' or '-', "
              "starting with a letter, separated by commas" for role in roles if not ROLE_NAME.match(role)]
    dupes = sorted({role for role in roles if roles.count(role) > 1})
    if dupes:
        errors.append(f"{', '.join(dupes)} listed more than once; each role must be unique")
    return errors + check_policy_approver(roles)


def check_policy_approver(roles: list[str]) -> list[str]:
    """The rendered policy (and promptlane) has the Governance role approve every change to the
    policy, reviews/reviewers.yml, reviews/allowed_signers, a lowered card risk and a
    retirement: without it, none of these could ever be approved."""
    if POLICY_APPROVER in roles:
        return []
    near = [role for role in roles if role.lower().replace(" ", "").replace("_", "").replace("-", "")
            == POLICY_APPROVER.lower()]
    if near:
        return [f"{near[0]!r} must be spelled {POLICY_APPROVER!r}: that is the role promptlane's commands and "
                "the rendered policy name as the approver of policy changes"]
    return [f"policy changes are approved by {POLICY_APPROVER!r}, which is not among the roles "
            f"({', '.join(roles)}): without it no policy, reviewer, signer or risk change and no "
            f"retirement could ever be approved; add it (e.g. {','.join(roles + [POLICY_APPROVER])})"]


def check_version(value: str) -> list[str]:
    if not VERSION.match(value):
        return [f"{value!r} is not a promptlane version such as 0.1.0"]
    return []


def check_hooks_text(value: str) -> list[str]:
    if value and not value.strip():
        return ["must not be blank; give a value or leave it empty"]
    if UNSAFE_HOOKS_TEXT.search(value):
        return ["must not contain control characters or characters beyond U+FFFF (such as emoji)"]
    return []


def check_hooks_rev(repo: str, rev: str) -> list[str]:
    """A hook repository needs the tag or commit to pin; without one, the local hooks need none
    and a rev would be silently unused."""
    if repo and not rev.strip():
        return ["must not be empty with a hook repository; give the tag or commit to pin (e.g. v0.1.0)"]
    if rev and not repo:
        return ["is only used with a hook repository (hooks_repo, --hooks-repo); give that too, or leave "
                "hooks_rev empty: the local hooks run the promptlane pinned in requirements.txt"]
    return check_hooks_text(rev)


def check_choice(value: str) -> list[str]:
    return [] if value in ("yes", "no") else [f"{value!r} must be 'yes' or 'no'"]


def problems(ctx: dict) -> list[tuple[str, str]]:
    """(variable, message) for every invalid answer, so one run reports all of them."""
    checks = [
        ("project", check_slug(ctx["project"])),
        ("project_name", check_text(ctx["project_name"], "repository's title")),
        ("owner", check_text(ctx["owner"], "owning team or person")),
        ("owner_email", check_text(ctx["owner_email"], "owner's e-mail address")),
        ("environments", check_environments(ctx["environments"])),
        ("reviewer_roles", check_roles(ctx["reviewer_roles"])),
        ("promptlane_version", check_version(ctx["promptlane_version"])),
        ("hooks_repo", check_hooks_text(ctx["hooks_repo"])),
        ("hooks_rev", check_hooks_rev(ctx["hooks_repo"], ctx["hooks_rev"])),
        ("make_initial_commit", check_choice(ctx["make_initial_commit"])),
    ]
    return [(name, message) for name, messages in checks for message in messages]


def main() -> int:
    found = problems(CONTEXT)
    for name, message in found:
        print(f"ERROR: {name}: {message}", file=sys.stderr)
    if found:
        print("Nothing was generated; run again with corrected values (`promptlane init --help` lists them).", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
