"""The repository's policy file (workflows/policy-as-code-example.yml) on disk.

``load_environments`` reads only the ordered environments (every command needs them);
``read_rules`` validates the whole file against schemas/policy.schema.json and returns the
promotion rules the gates evaluate (core/policy.py); ``base_policy`` is the file as the base
commit has it, for ``promptlane check`` to refuse a policy made weaker without a Governance
approval. The rule language is documented in docs/promotion.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from promptlane.core.layout import DEFAULT_ENVIRONMENTS, POLICY
from promptlane.core.policy import Policy, environments_of, policy_problems, rules_of
from promptlane.core.problems import Problem, UsageError
from promptlane.core.yamltext import load
from promptlane.store.yamlfile import load_file


def load_policy(root: Path) -> tuple[dict[str, Any], str]:
    """The policy document and its text ({} when the file does not exist)."""
    path = root / POLICY
    if not path.is_file():
        return {}, ""
    loaded = load_file(str(path), POLICY)
    if loaded.problems:
        raise UsageError("the policy file cannot be read", loaded.problems)
    if loaded.data is None:
        return {}, loaded.text
    if not isinstance(loaded.data, dict):
        raise UsageError("the policy file must be a mapping", [Problem(POLICY, 1, 1, "PL170", "must be a YAML mapping")])
    return loaded.data, loaded.text


def load_environments(root: Path) -> tuple[str, ...]:
    policy, text = load_policy(root)
    return environments_of(policy, text, POLICY)


def read_rules(root: Path) -> tuple[Policy | None, list[Problem]]:
    """The validated policy, or None and the problems that make it unusable."""
    if not (root / POLICY).is_file():
        return Policy(DEFAULT_ENVIRONMENTS, {}), []
    try:
        data, text = load_policy(root)
    except UsageError as exc:
        return None, exc.problems
    problems = policy_problems(data, text, POLICY)
    if problems:
        return None, problems
    return rules_of(data, text), []


def load_rules(root: Path) -> Policy:
    """The validated policy; UsageError (exit 2) when it is invalid."""
    policy, problems = read_rules(root)
    if policy is None:
        raise UsageError("the policy file is invalid; fix it first", problems)
    return policy


def base_policy(root: Path, commit: str = "HEAD") -> dict[str, Any] | None:
    """The policy at ``commit`` (HEAD, or the base a pull request is judged against); None when
    there is no usable one there."""
    from promptlane.store.git import show  # git only when the policy is judged

    text = show(root, commit, POLICY)
    if text is None:
        return None
    loaded = load(text, POLICY)
    if loaded.problems or not isinstance(loaded.data, dict) or policy_problems(loaded.data, text, POLICY):
        return None  # an unreadable old policy gives no baseline to compare with
    return loaded.data
