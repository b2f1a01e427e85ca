"""The repository's policy file (workflows/policy-as-code-example.yml).

``load_environments`` reads only the ordered environments (every command needs them);
``load_rules`` validates the whole file against schemas/policy.schema.json and returns the
promotion rules the gates evaluate; ``loosened`` compares two versions of the file so that
``promptlane check`` can refuse a policy made weaker without a Governance approval.
The rule language is documented in docs/promotion.md.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from promptlane.core.problems import Problem, UsageError

if TYPE_CHECKING:
    from promptlane.store.repo import Repo

_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*\Z")
RISKS = ("low", "medium", "high")
NOTIFY_TIMEOUT = 60  # seconds; a hung notifier must not hang a promotion
POLICY_REVIEW_ROLE = "Governance"


def load_policy(repo: "Repo") -> tuple[dict, str]:
    """The policy document and its text ({} when the file does not exist)."""
    from promptlane.store import repo as layout
    from promptlane.core.yamltext import load_file

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
    from promptlane.store import repo as layout
    from promptlane.core.yamltext import locate

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


# ---------------------------------------------------------------- promotion rules


@dataclass(frozen=True)
class RiskRule:
    min_pass_rate: float
    min_category_pass_rate: dict[str, float]
    max_eval_age_days: int
    policy_only: bool
    required_roles: tuple[str, ...]


@dataclass(frozen=True)
class EnvRule:
    env: str
    risk: dict[str, RiskRule]
    allowed_branches: tuple[str, ...] = ("*",)
    notify: str | None = None
    notify_timeout: int = NOTIFY_TIMEOUT
    allow_skip: bool = False


@dataclass(frozen=True)
class Policy:
    environments: tuple[str, ...]
    rules: dict[str, EnvRule]
    text: str = ""

    def rule(self, env: str) -> EnvRule | None:
        return self.rules.get(env)


@lru_cache(maxsize=None)
def _validator():
    from jsonschema import Draft202012Validator

    from promptlane.core.schema import read_schema

    return Draft202012Validator(read_schema("policy.schema.json"))


def _dotted(path: list) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(policy)"


def _schema_problem(error, text: str, shown_as: str) -> Problem:
    from promptlane.core.yamltext import locate

    path = list(error.absolute_path)
    where = _dotted(path)
    key = None
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})), key=str)
        key = str(extra[0]) if extra else None
        known = ", ".join(sorted(error.schema.get("properties", {}))) or "environment names"
        message = f"{where}: unknown key {', '.join(map(repr, extra))}; known keys: {known}"
    elif error.validator == "required":
        message = f"{where}: {error.message.replace('is a required property', 'is required')}"
    elif error.validator == "minItems" and path and path[-1] == "required_roles":
        message = f"{where}: name at least one role when policy_only is false (someone must approve)"
    else:
        message = f"{where}: {error.message}"
    loc = locate(text, path, key)
    return Problem(shown_as, loc.line, loc.col, "PL400", message)


def policy_problems(data: Any, text: str, shown_as: str) -> list[Problem]:
    """Schema violations plus the cross-checks a schema cannot express, each at its line."""
    from promptlane.core.yamltext import locate

    errors = sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    found = [_schema_problem(error, text, shown_as) for error in errors]
    if found:
        return found
    envs = data["environments"]
    for env in data["promotion"]:
        if env not in envs[1:]:
            loc = locate(text, ["promotion"], env)
            why = "the first environment is where every version starts" if env == envs[0] else "it is not in environments:"
            found.append(Problem(shown_as, loc.line, loc.col, "PL401", f"promotion.{env}: no rule may name it: {why}"))
    for env in envs[1:]:
        if env not in data["promotion"]:
            loc = locate(text, [], "promotion")
            found.append(Problem(shown_as, loc.line, loc.col, "PL402",
                                 f"promotion.{env}: missing; without a rule nothing can be promoted to {env}"))
    return found


def _risk_rule(doc: dict) -> RiskRule:
    return RiskRule(float(doc["min_pass_rate"]), {k: float(v) for k, v in doc["min_category_pass_rate"].items()},
                    int(doc["max_eval_age_days"]), bool(doc["policy_only"]), tuple(doc["required_roles"]))


def _env_rule(env: str, doc: dict) -> EnvRule:
    return EnvRule(
        env=env,
        risk={name: _risk_rule(doc["risk"][name]) for name in RISKS},
        allowed_branches=tuple(doc.get("allowed_branches", ["*"])),
        notify=doc.get("notify") or None,
        notify_timeout=int(doc.get("notify_timeout_seconds", NOTIFY_TIMEOUT)),
        allow_skip=bool(doc.get("allow_skip", False)),
    )


def read_rules(repo: "Repo") -> tuple[Policy | None, list[Problem]]:
    """The validated policy, or None and the problems that make it unusable."""
    from promptlane.store import repo as layout

    if not (repo.root / layout.POLICY).is_file():
        return Policy(repo.environments, {}), []
    try:
        data, text = load_policy(repo)
    except UsageError as exc:
        return None, exc.problems
    problems = policy_problems(data, text, layout.POLICY)
    if problems:
        return None, problems
    rules = {env: _env_rule(env, doc) for env, doc in data["promotion"].items()}
    return Policy(tuple(data["environments"]), rules, text), []


def load_rules(repo: "Repo") -> Policy:
    """The validated policy (cached per repository); UsageError (exit 2) when it is invalid."""
    cached = repo._cache.get("policy")
    if cached is None:
        policy, problems = read_rules(repo)
        if policy is None:
            raise UsageError("the policy file is invalid; fix it first", problems)
        repo._cache["policy"] = cached = policy
    return cached


def policy_hash(text: str) -> str:
    """What a Governance approval of a policy change is bound to: the file's normalised text."""
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    return "sha256:" + hashlib.sha256(normal.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- loosening


def _rate_changes(path: list, old: dict, new: dict) -> list[tuple[list, str]]:
    found = []
    for cat, rate in old.items():
        if cat not in new:
            found.append((path, f"{_dotted(path)}.{cat} removed (was {rate})"))
        elif new[cat] < rate:
            found.append((path + [cat], f"{_dotted(path + [cat])} lowered {rate} -> {new[cat]}"))
    return found


def _risk_changes(path: list, old: dict, new: dict) -> list[tuple[list, str]]:
    found = []
    if new["min_pass_rate"] < old["min_pass_rate"]:
        found.append((path + ["min_pass_rate"], f"{_dotted(path)}.min_pass_rate lowered {old['min_pass_rate']} -> {new['min_pass_rate']}"))
    found += _rate_changes(path + ["min_category_pass_rate"], old["min_category_pass_rate"], new["min_category_pass_rate"])
    if new["max_eval_age_days"] > old["max_eval_age_days"]:
        found.append((path + ["max_eval_age_days"], f"{_dotted(path)}.max_eval_age_days raised {old['max_eval_age_days']} -> {new['max_eval_age_days']}"))
    if new["policy_only"] and not old["policy_only"]:
        found.append((path + ["policy_only"], f"{_dotted(path)}.policy_only turned on (approvals no longer needed)"))
    dropped = [role for role in old["required_roles"] if role not in new["required_roles"]]
    if dropped and not (new["policy_only"] and not old["policy_only"]):
        found.append((path + ["required_roles"], f"{_dotted(path)}.required_roles drops {', '.join(dropped)}"))
    return found


def _env_changes(env: str, old: dict, new: dict) -> list[tuple[list, str]]:
    path = ["promotion", env]
    found = []
    if new.get("allow_skip") and not old.get("allow_skip"):
        found.append((path + ["allow_skip"], f"promotion.{env}.allow_skip turned on"))
    old_branches = old.get("allowed_branches", ["*"])
    wider = [b for b in new.get("allowed_branches", ["*"]) if b not in old_branches]
    if wider:
        found.append((path + ["allowed_branches"], f"promotion.{env}.allowed_branches adds {', '.join(wider)}"))
    for risk in RISKS:
        if risk in old.get("risk", {}) and risk in new.get("risk", {}):
            found += _risk_changes(path + ["risk", risk], old["risk"][risk], new["risk"][risk])
    return found


def loosened(old: dict, new: dict) -> list[tuple[list, str]]:
    """(YAML path, what) for every way ``new`` asks less than ``old``; both must be valid."""
    found = [(["environments"], f"environment {env} removed (promotions no longer pass through it)")
             for env in old["environments"] if env not in new["environments"]]
    for env, rule in new["promotion"].items():
        if env in old["promotion"]:
            found += _env_changes(env, old["promotion"][env], rule)
    return found


def _head_policy(repo: "Repo") -> dict | None:
    from promptlane.store import repo as layout
    from promptlane.store.git import show
    from promptlane.core.yamltext import load

    base = os.environ.get("PROMPTLANE_BASE")
    if base:
        # CI on a pull request compares with the target branch: HEAD there is the PR itself.
        from promptlane.store.git import GitError, resolve

        try:
            commit = resolve(repo.root, base)
        except GitError as exc:
            raise UsageError(f"PROMPTLANE_BASE: {exc}") from None
    else:
        commit = "HEAD"
    text = show(repo.root, commit, layout.POLICY)
    if text is None:
        return None
    loaded = load(text, layout.POLICY)
    if loaded.problems or not isinstance(loaded.data, dict) or policy_problems(loaded.data, text, layout.POLICY):
        return None  # an unreadable old policy gives no baseline to compare with
    return loaded.data


def loosening_problems(repo: "Repo") -> list[Problem]:
    """PL410 per loosened rule against git HEAD (or $PROMPTLANE_BASE), unless a Governance
    approval covers this text."""
    from promptlane.store import repo as layout
    from promptlane.store.reviews import policy_approval
    from promptlane.core.yamltext import locate

    try:
        data, text = load_policy(repo)
    except UsageError:
        return []  # reported by check_policy
    old = _head_policy(repo)
    if old is None or not data:
        return []
    changes = loosened(old, data)
    if not changes or policy_approval(repo, policy_hash(text)):
        return []
    digest = policy_hash(text)
    found = []
    for path, what in changes:
        loc = locate(text, path)
        found.append(Problem(layout.POLICY, loc.line, loc.col, "PL410",
                             f"policy loosened: {what}; needs an approval file reviews/policy/<date>-governance-<reviewer>.md "
                             f"for {digest[:19]}...: run `promptlane approve --policy --role {POLICY_REVIEW_ROLE}`"))
    return found


def check_policy(repo: "Repo") -> list[Problem]:
    """What ``promptlane check`` reports about the policy file itself."""
    _, problems = read_rules(repo)
    return problems or loosening_problems(repo)
