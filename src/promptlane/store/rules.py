"""The rules in force: the policy, reviewers, allowed signers and HITL template (whose
checklists an approval answers) that judge approvals, promotions and governance changes.

With a base (``--base REF`` or ``$PROMPTLANE_BASE``, what the rendered CI passes on a pull
request) they are REF's files, as git has them: a branch cannot make itself a reviewer, or
loosen the policy, and be judged by that in the same change. Without one they are the working
tree's files, and ``source`` says so. Each is read once per run (memoised on the Repo).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptlane.core.layout import ALLOWED_SIGNERS, DEFAULT_ENVIRONMENTS, POLICY, REVIEWERS, TEMPLATE
from promptlane.core.problems import UsageError

if TYPE_CHECKING:
    from promptlane.core.decisions import Panel
    from promptlane.core.policy import Policy
    from promptlane.core.reviews import Reviewers
    from promptlane.core.signatures import Signers
    from promptlane.store.repo import Repo

# What the rules say is parsed by the function asking for it (a commit of a card asks only
# compared_with: which commit is the base).

WORKING_TREE = "the working tree's files (no --base or $PROMPTLANE_BASE)"


def _memo(repo: "Repo", key: str, make: Any) -> Any:
    memo = repo.__dict__.setdefault("_rules_memo", {})
    if key not in memo:
        memo[key] = make()
    return memo[key]


def base_commit(repo: "Repo") -> str | None:
    """The commit ``repo.base`` names; UsageError (exit 2) when it cannot be resolved."""
    if not repo.base:
        return None

    def resolve() -> str:
        from promptlane.store.git import GitError, resolve as git_resolve

        try:
            return git_resolve(repo.root, repo.base or "")
        except GitError as exc:
            raise UsageError(f"--base / PROMPTLANE_BASE: {exc}") from None

    return str(_memo(repo, "commit", resolve))


def compared_with(repo: "Repo") -> str:
    """What governance changes and review history are compared with: the base, else HEAD."""
    return base_commit(repo) or "HEAD"


def compared_name(repo: "Repo") -> str:
    """``compared_with`` in words, for a problem: the base's ``source``, or git HEAD."""
    return source(repo) if base_commit(repo) else "git HEAD"


def source(repo: "Repo") -> str:
    """Whose files judge, for the output: "base origin/main (1a2b3c4)" or the working tree."""
    commit = base_commit(repo)
    return f"base {repo.base} ({commit[:7]})" if commit else WORKING_TREE


def file_bytes(repo: "Repo", rel: str) -> bytes | None:
    """A governance file as the rules in force have it (the base's, or the working tree's); None when absent."""
    commit = base_commit(repo)
    if commit:
        from promptlane.store.git import is_link_at, show_bytes

        if is_link_at(repo.root, commit, rel):  # its bytes would be the link's target, not a file's content
            raise UsageError(f"{rel} is a symbolic link in {source(repo)}; governance files are regular files: "
                             "restore it on the base branch")
        return show_bytes(repo.root, commit, rel)
    path = repo.root / rel
    if path.is_symlink():
        raise UsageError(f"{rel} is a symbolic link; governance files are regular files (git would store the link's target)")
    return path.read_bytes() if path.is_file() else None


def _text(repo: "Repo", rel: str) -> str | None:
    from promptlane.core.yamltext import decode

    raw = file_bytes(repo, rel)
    if raw is None:
        return None
    text, problem = decode(raw, rel)
    if text is None:
        raise UsageError(f"{rel} ({source(repo)}) cannot be read", [problem] if problem else [])
    return text


def policy(repo: "Repo") -> Policy:
    """The validated policy in force; UsageError (exit 2) when it is invalid."""
    from promptlane.core.policy import Policy, policy_problems, rules_of
    from promptlane.core.yamltext import load

    if not base_commit(repo):
        return repo.rules

    def read() -> Policy:
        text = _text(repo, POLICY)
        if text is None:
            return Policy(DEFAULT_ENVIRONMENTS, {})
        loaded = load(text, POLICY)
        problems = loaded.problems or (policy_problems(loaded.data, text, POLICY) if isinstance(loaded.data, dict) else [])
        if problems or not isinstance(loaded.data, dict):
            raise UsageError(f"the policy of {source(repo)} is invalid; nothing new can be judged under it", problems)
        return rules_of(loaded.data, text)

    return _memo(repo, "policy", read)


def reviewers(repo: "Repo") -> Reviewers:
    """reviews/reviewers.yml in force; UsageError (exit 2) when it is missing or malformed."""
    from promptlane.core.reviews import parse_reviewers
    from promptlane.core.yamltext import load

    def read() -> Reviewers:
        text = _text(repo, REVIEWERS)
        if text is None:
            raise UsageError(f"{REVIEWERS} is missing from {source(repo)}; list who holds which role there (see the template)")
        return parse_reviewers(load(text, REVIEWERS))

    return _memo(repo, "reviewers", read)


def signers(repo: "Repo") -> Signers:
    """reviews/allowed_signers in force (no keys when the file is absent: no signature then counts)."""
    from promptlane.core.signatures import parse_allowed_signers

    def read() -> Signers:
        found = parse_allowed_signers(_text(repo, ALLOWED_SIGNERS) or "")
        if base_commit(repo):
            found.source = f"{ALLOWED_SIGNERS} of {source(repo)}"
        return found

    return _memo(repo, "signers", read)


def template(repo: "Repo") -> str | None:
    """HITL_Approval_Template.md in force (None when absent): the form ``approve`` renders, and
    the checklist items each role's approval must answer where a rule requires the checklist."""
    return _memo(repo, "template", lambda: _text(repo, TEMPLATE))


def panel(repo: "Repo", require_signatures: bool | None = None) -> "Panel":
    """Who decides under the rules in force; signatures required as the rule says, or (for
    governance approvals) when any environment's rule requires them."""
    from promptlane.core.decisions import Panel

    if require_signatures is None:
        require_signatures = signatures_required(repo)
    return Panel(reviewers(repo), signers(repo), require_signatures, source(repo))


def checklist_required(repo: "Repo") -> bool:
    """Any environment's rule in force requires approvals to answer their whole checklist."""
    return any(rule.require_checklist for rule in policy(repo).rules.values())


def signatures_required(repo: "Repo") -> bool:
    """Any environment's rule in force requires signed forms (a policy without rules: yes)."""
    env_rules = policy(repo).rules.values()
    return any(rule.require_signatures for rule in env_rules) if env_rules else True
