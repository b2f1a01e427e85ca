"""Policy-as-code: the schema (errors at file:line), the rules the gates apply, allow_skip,
and `promptlane check` refusing a loosened policy without a Governance approval.
"""
from __future__ import annotations

import copy

import pytest
import yaml

from promptlane.core.policy import RISKS, loosened, policy_problems
from governed import PID, as_user, commit, lock, new_version, pl, ready_for, write_results
from keys import key_for

POLICY = "workflows/policy-as-code-example.yml"

RISK = """\
        min_pass_rate: 0.9
        min_category_pass_rate: {accuracy: 0.9}
        max_eval_age_days: 14
        policy_only: false
        required_roles: [QA]
"""


def policy_text(risk: str = RISK, extra_env: str = "", envs: str = "[dev, prod]") -> str:
    risks = "".join(f"      {name}:\n{risk}" for name in RISKS)
    return f"environments: {envs}\npromotion:\n  prod:\n{extra_env}    risk:\n{risks}"


def test_the_template_policy_is_valid(rendered_template):
    text = (rendered_template / POLICY).read_text()
    assert policy_problems(yaml.safe_load(text), text, POLICY) == []
    assert policy_problems(yaml.safe_load(policy_text()), policy_text(), POLICY) == []


@pytest.mark.parametrize("text,code,line,needle", [
    (policy_text(RISK.replace("0.9\n", "1.5\n", 1)), "PL400", 6, "1.5 is greater than the maximum of 1"),
    (policy_text(RISK.replace("[QA]", "[]")), "PL400", 10, "name at least one role when policy_only is false"),
    (policy_text(RISK.replace("policy_only: false", "policy_only: 'no'")), "PL400", 9, "is not of type 'boolean'"),
    (policy_text(RISK.replace("        max_eval_age_days: 14\n", "")), "PL400", 6, "'max_eval_age_days' is required"),
    (policy_text(extra_env="    allow_skip: true\n    notifyy: x\n"), "PL400", 5, "unknown key 'notifyy'"),
    (policy_text(extra_env="    allowed_branches: []\n"), "PL400", 4, "should be non-empty"),
    (policy_text(envs="[dev, staging, prod]"), "PL402", 2, "promotion.staging: missing"),
    (policy_text().replace("  prod:", "  dev:", 1).replace("[dev, prod]", "[dev, prod]"), "PL401", 3, "first environment"),
])
def test_invalid_policies_are_reported_at_their_line(text, code, line, needle):
    problems = policy_problems(yaml.safe_load(text), text, POLICY)
    assert any(p.code == code and p.line == line and needle in p.message for p in problems), problems


def _template_policy(rendered_template) -> dict:
    return yaml.safe_load((rendered_template / POLICY).read_text())


def _set(doc: dict, path: str, value) -> dict:
    doc = copy.deepcopy(doc)
    *head, last = path.split(".")
    node = doc
    for part in head:
        node = node[part]
    node[last] = value
    return doc


@pytest.mark.parametrize("path,value,what", [
    ("promotion.prod.risk.high.min_pass_rate", 0.5, "min_pass_rate lowered 1.0 -> 0.5"),
    ("promotion.prod.risk.high.min_category_pass_rate", {"accuracy": 1.0}, "hallucination removed"),
    ("promotion.prod.risk.low.max_eval_age_days", 99, "max_eval_age_days raised 14 -> 99"),
    ("promotion.prod.risk.medium.policy_only", True, "policy_only turned on"),
    ("promotion.prod.risk.high.required_roles", ["PM"], "required_roles drops Tech Lead, QA, Security, Governance"),
    ("promotion.prod.allow_skip", True, "allow_skip turned on"),
    ("promotion.prod.allowed_branches", ["main", "release/*", "*"], "allowed_branches adds *"),
    ("environments", ["dev", "prod"], "environment staging removed"),
    ("promotion.prod.require_checklist", False, "promotion.prod.require_checklist turned off"),
])
def test_loosening_is_detected(rendered_template, path, value, what):
    old = _template_policy(rendered_template)
    changes = loosened(old, _set(old, path, value))
    assert [w for _, w in changes if what in w], changes


@pytest.mark.parametrize("path,value", [
    ("promotion.prod.risk.high.max_eval_age_days", 3),
    ("promotion.prod.risk.low.min_pass_rate", 0.99),
    ("promotion.staging.risk.low.policy_only", False),
    ("promotion.prod.allowed_branches", ["main"]),
    ("promotion.prod.notify", "true"),
    ("promotion.staging.require_checklist", True),
])
def test_tightening_is_not_loosening(rendered_template, path, value):
    old = _template_policy(rendered_template)
    assert loosened(old, _set(old, path, value)) == []


def test_check_refuses_a_loosened_policy_until_governance_approves_it(gov, capsys, monkeypatch):
    path = gov / POLICY
    path.write_text(path.read_text().replace("min_pass_rate: 1.0", "min_pass_rate: 0.5", 1))
    code, out = pl(gov, capsys, "check")
    assert code == 1 and "PL410 policy loosened: promotion.prod.risk.high.min_pass_rate lowered 1.0 -> 0.5" in out
    assert f"{POLICY}:" in out and f"promptlane approve --governance {POLICY} --role Governance" in out

    as_user(monkeypatch, "pm@example.com")
    code, out = pl(gov, capsys, "approve", "--policy", "--role", "PM")
    assert code == 2 and "Governance" in out
    as_user(monkeypatch, "governance@example.com")
    code, out = pl(gov, capsys, "approve", "--policy", "--role", "Governance", "--note", "pilot",
                   "--key", str(key_for("governance@example.com")))
    assert code == 0 and "reviews/policy/2026-12-01-policy-governance-governance.md" in out
    assert "min_pass_rate lowered" in (gov / "reviews/policy/2026-12-01-policy-governance-governance.md").read_text()
    assert pl(gov, capsys, "check")[0] == 0

    # The approval is bound to the text: loosening further needs a new one.
    path.write_text(path.read_text().replace("min_pass_rate: 0.5", "min_pass_rate: 0.4", 1))
    assert pl(gov, capsys, "check")[0] == 1
    commit(gov, "looser policy")  # once committed, HEAD is the new baseline
    assert pl(gov, capsys, "check")[0] == 0


def test_an_invalid_policy_stops_promotion_with_exit_2_and_fails_check(gov, capsys):
    path = gov / POLICY
    path.write_text(path.read_text().replace("max_eval_age_days: 7", "max_eval_age_days: seven", 1))
    code, out = pl(gov, capsys, "check")
    assert code == 1 and "PL400" in out and f"{POLICY}:" in out
    code, out = pl(gov, capsys, "promote", PID, "--to", "staging")
    assert code == 2 and "PL400" in out


def test_allow_skip_lets_a_version_skip_an_environment(gov, capsys, monkeypatch):
    new_version(gov, capsys)
    ready_for(gov, capsys, monkeypatch, "prod", "2026-12-01T08:00:00Z")
    code, out = pl(gov, capsys, "promote", PID, "--to", "prod")
    assert code == 1 and "PL601" in out and "promptlane promote support-reply --to staging" in out
    path = gov / POLICY
    text = path.read_text()
    prod = text.index("  prod:")
    path.write_text(text[:prod] + text[prod:].replace("allow_skip: false", "allow_skip: true", 1))
    code, out = pl(gov, capsys, "promote", PID, "--to", "prod")
    assert code == 0, out
    assert lock(gov)["environments"] == {"dev": "1.0.1", "staging": None, "prod": "1.0.1"}
    from governed import changelog

    assert "allow_skip: staging skipped" in changelog(gov)[-1]["reason"]


@pytest.mark.parametrize("risk,results,code,needle", [
    ("low", dict(pass_rate=0.8), 0, None),                                   # staging/low: 0.8, policy only
    ("low", dict(pass_rate=0.7), 1, "eval pass rate 70.0% is below 80.0%"),
    ("medium", dict(pass_rate=1.0, categories={"accuracy": 1.0, "hallucination": 0.75, "cost": 1.0, "safety": 1.0}),
     1, "category hallucination passes 75.0%, below 90.0%"),
    ("medium", dict(categories={"accuracy": 1.0, "hallucination": 1.0, "cost": 1.0}), 1, "no eval tests in category safety"),
    ("low", dict(when="2026-10-01T00:00:00Z"), 1, "days old; the policy accepts 30"),
])
def test_eval_thresholds_follow_the_card_risk(gov, capsys, risk, results, code, needle):
    path = gov / f"prompts/{PID}/card.yml"
    path.write_text(path.read_text().replace("risk: high", f"risk: {risk}"))
    new_version(gov, capsys)
    write_results(gov, results.pop("when", "2026-12-01T08:00:00Z"), **results)
    got, out = pl(gov, capsys, "promote", PID, "--to", "staging")
    assert got == code, out
    if needle:
        assert needle in out and "promptlane eval run support-reply" in out


def test_results_of_another_hash_or_malformed_are_refused(gov, capsys):
    new_version(gov, capsys)
    results = write_results(gov, "2026-12-01T08:00:00Z")
    results.write_text("{not json")
    code, out = pl(gov, capsys, "promote", PID, "--to", "staging")
    assert code == 1 and str(results.relative_to(gov)) in out


def test_ci_judges_a_loosened_policy_against_the_base_branch(gov, capsys, monkeypatch):
    path = gov / POLICY
    path.write_text(path.read_text().replace("min_pass_rate: 1.0", "min_pass_rate: 0.5", 1))
    commit(gov, "looser policy, committed without the hooks")
    assert pl(gov, capsys, "check")[0] == 0  # HEAD already holds it
    monkeypatch.setenv("PROMPTLANE_BASE", "HEAD~1")  # what ci/eval-gate.yml sets on a pull request
    code, out = pl(gov, capsys, "check")
    assert code == 1 and "PL410 policy loosened: promotion.prod.risk.high.min_pass_rate lowered 1.0 -> 0.5" in out
    monkeypatch.setenv("PROMPTLANE_BASE", "origin/does-not-exist")
    code, _ = pl(gov, capsys, "check")
    assert code == 2


def test_removing_a_required_checklist_is_loosening_too(rendered_template):
    old = _template_policy(rendered_template)
    new = copy.deepcopy(old)
    del new["promotion"]["prod"]["require_checklist"]
    assert [path for path, what in loosened(old, new) if "require_checklist turned off" in what] == [["promotion", "prod"]]
