"""The repository's policy file (workflows/policy-as-code-example.yml): environment order.

Promotion rules in the same file are evaluated by the gates; this module only reads what
every command needs, the ordered list of environments.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .problems import Problem, UsageError

if TYPE_CHECKING:
    from .repo import Repo

_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def load_policy(repo: "Repo") -> tuple[dict, str]:
    """The policy document and its text ({} when the file does not exist)."""
    from . import repo as layout
    from .yamlio import load_file

    path = repo.root / layout.POLICY
    if not path.is_file():
        return {}, ""
    loaded = load_file(str(path), layout.POLICY)
    if loaded.problems:
        raise UsageError("the policy file cannot be read", loaded.problems)
    if loaded.data is None:
        return {}, loaded.text
    if not isinstance(loaded.data, dict):
        raise UsageError("the policy file must be a mapping", [Problem(layout.POLICY, 1, 1, "PL170", "must be a YAML mapping")])
    return loaded.data, loaded.text


def load_environments(repo: "Repo") -> tuple[str, ...]:
    from . import repo as layout
    from .yamlio import locate

    policy, text = load_policy(repo)
    envs = policy.get("environments", list(layout.DEFAULT_ENVIRONMENTS))
    ok = (
        isinstance(envs, list)
        and len(envs) >= 2
        and all(isinstance(e, str) and _ENV_NAME.match(e) for e in envs)
        and len(set(envs)) == len(envs)
    )
    if not ok:
        where = locate(text, ["environments"])
        raise UsageError(
            "bad environments list",
            [Problem(layout.POLICY, where.line, where.col, "PL171",
                     "environments: must list at least two unique names like [dev, staging, prod]")],
        )
    return tuple(envs)
