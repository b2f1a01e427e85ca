"""The promotion policy (pure): its schema and cross-checks, the rules the gates evaluate, and
``loosened``, which compares two versions of it so that ``promptlane check`` can refuse a
policy made weaker without a Governance approval. The rule language is in docs/promotion.md;
reading the file is store/policyfile.py.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from promptlane.core.layout import DEFAULT_ENVIRONMENTS
from promptlane.core.problems import Problem, UsageError
from promptlane.core.record import record
from promptlane.core.yamltext import locate

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*\Z")
RISKS = ("low", "medium", "high")
NOTIFY_TIMEOUT = 60  # seconds; a hung notifier must not hang a promotion
POLICY_REVIEW_ROLE = "Governance"


@record(frozen=True)
class RiskRule:
    min_pass_rate: float
    min_category_pass_rate: dict[str, float]
    max_eval_age_days: int
    policy_only: bool
    required_roles: tuple[str, ...]
    min_reviewers: int = 0   # distinct people who must approve; 0: one per required role


@record(frozen=True)
class EnvRule:
    env: str
    risk: dict[str, RiskRule]
    allowed_branches: tuple[str, ...] = ("*",)
    notify: str | None = None
    notify_timeout: int = NOTIFY_TIMEOUT
    allow_skip: bool = False
    require_signatures: bool = True   # a form counts only with its reviewer's SSH signature
    accept_providers: tuple[str, ...] = ("card",)   # whose eval results count: "card" is the card's own model
    require_checklist: bool = False   # an approval counts only with its role's checklist answered in full


@record(frozen=True)
class RetireRule:
    """What ``promptlane retire`` needs (the policy's ``retire:``; without one, ``retire_of``'s default)."""
    required_roles: tuple[str, ...] = (POLICY_REVIEW_ROLE,)
    min_reviewers: int = 0
    allowed_branches: tuple[str, ...] = ("*",)
    require_signatures: bool = True
    notify: str | None = None
    notify_timeout: int = NOTIFY_TIMEOUT
    explicit: bool = False   # the policy has a retire: rule (else this is the default)


@record(frozen=True)
class Policy:
    environments: tuple[str, ...]
    rules: dict[str, EnvRule]
    text: str = ""
    retire: RetireRule | None = None

    def rule(self, env: str) -> EnvRule | None:
        return self.rules.get(env)

    def retire_rule(self) -> RetireRule:
        return self.retire or retire_of({}, self.rules.get(self.environments[-1]) if self.environments else None)


@lru_cache(maxsize=None)
def _validator() -> Draft202012Validator:
    from promptlane.core.schema import offline_validator, read_schema

    return offline_validator(read_schema("policy.schema.json"))


def _valid_fast(data: Any) -> bool:
    """The generated validator (scripts/gen_card_validator.py)."""
    from promptlane.core._policy_validator import JsonSchemaValueException, validate

    try:
        validate(data)  # type: ignore[no-untyped-call]  # generated without annotations
    except JsonSchemaValueException:
        return False
    return True


def _dotted(path: list[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(policy)"


# ``error``: a jsonschema ValidationError (Any: see schema._to_problem).
def _schema_problem(error: Any, text: str, shown_as: str) -> Problem:
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

    # A valid policy is told so by the validator generated from the schema (no jsonschema import,
    # ~50 ms); jsonschema only explains an invalid one, every error at its line.
    errors = [] if _valid_fast(data) else sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
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


def environments_of(data: dict[str, Any], text: str, shown_as: str) -> tuple[str, ...]:
    """The ordered environments a policy names (the template's three when it names none);
    UsageError (exit 2) with the line when the list is not usable."""
    envs = data.get("environments", list(DEFAULT_ENVIRONMENTS))
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
            [Problem(shown_as, where.line, where.col, "PL171",
                     "environments: must list at least two unique names like [dev, staging, prod]")],
        )
    return tuple(envs)


def rules_of(data: dict[str, Any], text: str) -> Policy:
    """The promotion rules of a policy that ``policy_problems`` found valid."""
    rules = {env: _env_rule(env, doc) for env, doc in data["promotion"].items()}
    return Policy(tuple(data["environments"]), rules, text, retire_of(data.get("retire"), rules.get(data["environments"][-1])))


def retire_of(doc: Any, last: EnvRule | None) -> RetireRule:
    """The retire rule a policy says (``retire:``), else the default: one signed approval by a
    Governance reviewer, on the branches and with the signatures the last environment's rule
    asks for (retiring withdraws the prompt from production)."""
    branches = last.allowed_branches if last else ("*",)
    signatures = last.require_signatures if last else True
    if not isinstance(doc, dict):
        return RetireRule(allowed_branches=branches, require_signatures=signatures)
    return RetireRule(tuple(doc.get("required_roles", [POLICY_REVIEW_ROLE])), int(doc.get("min_reviewers", 0)),
                      tuple(doc.get("allowed_branches", branches)), bool(doc.get("require_signatures", signatures)),
                      doc.get("notify") or None, int(doc.get("notify_timeout_seconds", NOTIFY_TIMEOUT)), True)


def _risk_rule(doc: dict[str, Any]) -> RiskRule:
    return RiskRule(float(doc["min_pass_rate"]), {k: float(v) for k, v in doc["min_category_pass_rate"].items()},
                    int(doc["max_eval_age_days"]), bool(doc["policy_only"]), tuple(doc["required_roles"]),
                    int(doc.get("min_reviewers", 0)))


def _env_rule(env: str, doc: dict[str, Any]) -> EnvRule:
    return EnvRule(
        env=env,
        risk={name: _risk_rule(doc["risk"][name]) for name in RISKS},
        allowed_branches=tuple(doc.get("allowed_branches", ["*"])),
        notify=doc.get("notify") or None,
        notify_timeout=int(doc.get("notify_timeout_seconds", NOTIFY_TIMEOUT)),
        allow_skip=bool(doc.get("allow_skip", False)),
        require_signatures=bool(doc.get("require_signatures", True)),
        accept_providers=tuple(doc.get("accept_providers", ["card"])),
        require_checklist=bool(doc.get("require_checklist", False)),
    )


def policy_hash(text: str) -> str:
    """What a Governance approval of a policy change is bound to: the file's normalised text."""
    from promptlane.core.hashing import digest_of

    return digest_of(text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8"))


def _rate_changes(path: list[Any], old: dict[str, Any], new: dict[str, Any]) -> list[tuple[list[Any], str]]:
    found: list[tuple[list[Any], str]] = []
    for cat, rate in old.items():
        if cat not in new:
            found.append((path, f"{_dotted(path)}.{cat} removed (was {rate})"))
        elif new[cat] < rate:
            found.append((path + [cat], f"{_dotted(path + [cat])} lowered {rate} -> {new[cat]}"))
    return found


def _risk_changes(path: list[Any], old: dict[str, Any], new: dict[str, Any]) -> list[tuple[list[Any], str]]:
    found: list[tuple[list[Any], str]] = []
    if new["min_pass_rate"] < old["min_pass_rate"]:
        found.append((path + ["min_pass_rate"], f"{_dotted(path)}.min_pass_rate lowered {old['min_pass_rate']} -> {new['min_pass_rate']}"))
    found += _rate_changes(path + ["min_category_pass_rate"], old["min_category_pass_rate"], new["min_category_pass_rate"])
    if new["max_eval_age_days"] > old["max_eval_age_days"]:
        found.append((path + ["max_eval_age_days"], f"{_dotted(path)}.max_eval_age_days raised {old['max_eval_age_days']} -> {new['max_eval_age_days']}"))
    if new["policy_only"] and not old["policy_only"]:
        found.append((path + ["policy_only"], f"{_dotted(path)}.policy_only turned on (approvals no longer needed)"))
    if new.get("min_reviewers", 0) < old.get("min_reviewers", 0):
        found.append((path + ["min_reviewers"], f"{_dotted(path)}.min_reviewers lowered {old['min_reviewers']} -> {new.get('min_reviewers', 0)}"))
    dropped = [role for role in old["required_roles"] if role not in new["required_roles"]]
    if dropped and not (new["policy_only"] and not old["policy_only"]):
        found.append((path + ["required_roles"], f"{_dotted(path)}.required_roles drops {', '.join(dropped)}"))
    return found


def _env_changes(env: str, old: dict[str, Any], new: dict[str, Any]) -> list[tuple[list[Any], str]]:
    path: list[Any] = ["promotion", env]
    found: list[tuple[list[Any], str]] = []
    if new.get("allow_skip") and not old.get("allow_skip"):
        found.append((path + ["allow_skip"], f"promotion.{env}.allow_skip turned on"))
    if not new.get("require_signatures", True) and old.get("require_signatures", True):
        found.append((path + ["require_signatures"], f"promotion.{env}.require_signatures turned off (unsigned approvals would count)"))
    if old.get("require_checklist", False) and not new.get("require_checklist", False):
        found.append((path + (["require_checklist"] if "require_checklist" in new else []),
                      f"promotion.{env}.require_checklist turned off (approvals with unanswered checklist items would count)"))
    old_branches = old.get("allowed_branches", ["*"])
    wider = [b for b in new.get("allowed_branches", ["*"]) if b not in old_branches]
    if wider:
        found.append((path + ["allowed_branches"], f"promotion.{env}.allowed_branches adds {', '.join(wider)}"))
    accepted = old.get("accept_providers", ["card"])
    more = [p for p in new.get("accept_providers", ["card"]) if p not in accepted]
    if more:  # results of more providers count (a stand-in, a cheaper model)
        found.append((path + ["accept_providers"], f"promotion.{env}.accept_providers adds {', '.join(more)}"))
    for risk in RISKS:
        if risk in old.get("risk", {}) and risk in new.get("risk", {}):
            found += _risk_changes(path + ["risk", risk], old["risk"][risk], new["risk"][risk])
    return found


def loosened(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[list[Any], str]]:
    """(YAML path, what) for every way ``new`` asks less than ``old``; both must be valid.
    Any change to the environments is one: a removed one is no longer passed through, an
    added one or a new order changes which gates a version meets on its way, and a new first
    or last environment changes where versions start and what production is."""
    found = _environment_changes(old["environments"], new["environments"])
    for env, rule in new["promotion"].items():
        if env in old["promotion"]:
            found += _env_changes(env, old["promotion"][env], rule)
    found += [(["promotion"], f"promotion.{env} removed (its gates no longer apply)")
              for env in old["promotion"] if env not in new["promotion"] and env in new["environments"][1:]]
    return found + _retire_changes(old, new)


def _retire_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[list[Any], str]]:
    """The retire rule asks less: a role dropped, fewer reviewers, more branches, signatures off
    (compared as each policy has it in effect, its default included)."""
    def effective(doc: dict[str, Any]) -> RetireRule:
        last = doc["environments"][-1]
        rule = _env_rule(last, doc["promotion"][last]) if last in doc["promotion"] else None
        return retire_of(doc.get("retire"), rule)

    was, now = effective(old), effective(new)
    where: list[Any] = ["retire"] if "retire" in new else []
    found: list[tuple[list[Any], str]] = []
    dropped = [role for role in was.required_roles if role not in now.required_roles]
    if dropped:
        found.append((where + (["required_roles"] if where else []), f"retire.required_roles drops {', '.join(dropped)}"))
    if now.min_reviewers < was.min_reviewers:
        found.append((where, f"retire.min_reviewers lowered {was.min_reviewers} -> {now.min_reviewers}"))
    wider = [b for b in now.allowed_branches if b not in was.allowed_branches]
    if wider:
        found.append((where, f"retire.allowed_branches adds {', '.join(wider)}"))
    if was.require_signatures and not now.require_signatures:
        found.append((where, "retire.require_signatures turned off (unsigned approvals would count)"))
    return found


def _environment_changes(old: list[str], new: list[str]) -> list[tuple[list[Any], str]]:
    where: list[Any] = ["environments"]
    found = [(where, f"environment {env} removed (promotions no longer pass through it)") for env in old if env not in new]
    found += [(where, f"environment {env} added (it has no history of gates passed)") for env in new if env not in old]
    kept_old, kept_new = [e for e in old if e in new], [e for e in new if e in old]
    if kept_old != kept_new:
        found.append((where, f"environments reordered {' -> '.join(kept_old)} to {' -> '.join(kept_new)}"))
    if old and new and old[0] != new[0]:
        found.append((where, f"first environment changed {old[0]} -> {new[0]} (where every version starts)"))
    if old and new and old[-1] != new[-1]:
        found.append((where, f"last environment changed {old[-1]} -> {new[-1]} (what production is)"))
    return found
