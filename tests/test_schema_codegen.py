"""The generated card validator is current and agrees with jsonschema."""
from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest
import yaml

from promptlane.core import _card_validator
from promptlane.core.schema import card_validator

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts/gen_card_validator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("module", ["_card_validator.py", "_review_validator.py", "_governance_validator.py",
                                    "_policy_validator.py"])
def test_generated_validators_are_up_to_date(module):
    generated = _generator().generate(module)
    committed = (ROOT / "src/promptlane/core" / module).read_text(encoding="utf-8")
    assert committed == generated, "run: python scripts/gen_card_validator.py"


FORM = {"prompt": "support-reply", "version": "1.0.1", "hash": "sha256:" + "a" * 64, "reviewer": "pm@example.com",
        "role": "PM", "decision": "approved", "date": "2026-12-01T10:00:00Z", "note": ""}
GOVERNANCE = {"policy": "reviews/allowed_signers", "hash": "sha256:" + "a" * 64, "reviewer": "g@example.com",
              "role": "Governance", "decision": "approved", "date": "2026-12-01", "note": "x"}
FORM_MUTATIONS = [("decision", "maybe"), ("date", "2026-1-1"), ("hash", "md5:x"), ("version", "1.0"), ("extra", "x"),
                  ("reviewer", ""), ("note", 3), ("date", "2026-12-01"), ("decision", "rejected"), ("policy", "README.md"),
                  ("policy", "prompts/x/card.yml"), ("risk", "low"), ("risk", "extreme")]


@pytest.mark.parametrize("key,value", FORM_MUTATIONS)
@pytest.mark.parametrize("policy", [False, True])
def test_generated_and_reference_form_validators_agree(key, value, policy):
    from promptlane.core import _governance_validator, _review_validator
    from promptlane.core.reviews import _validators

    doc = dict(GOVERNANCE if policy else FORM)
    doc[key] = value
    reference_ok = not list(_validators()[1 if policy else 0].iter_errors(doc))
    fast = _governance_validator if policy else _review_validator
    try:
        fast.validate(doc)
        fast_ok = True
    except fast.JsonSchemaValueException:
        fast_ok = False
    assert fast_ok == reference_ok


EXAMPLE = yaml.safe_load((ROOT / "src/promptlane/schemas/prompt-card.example.yml").read_text())
MUTATIONS = [
    ("risk", "extreme"), ("id", "Bad Id"), ("steps", []), ("variables", ["ok", "ok"]), ("tags", "x"),
    ("version", "1.0"), ("hash", "sha256:xyz"), ("environment", "Prod"), ("bump", "huge"), ("extra", 1),
    ("budget", {"max_input_tokens": 0}), ("model", {"provider": "openai"}), ("title", ""),
    ("version", "1.2.3"), ("hash", "sha256:" + "a" * 64), ("environment", "prod"), ("bump", "minor"),
]


@pytest.mark.parametrize("key,value", MUTATIONS)
def test_generated_and_reference_validators_agree(key, value):
    card = copy.deepcopy(EXAMPLE)
    card[key] = value
    reference_ok = not list(card_validator().iter_errors(card))
    try:
        _card_validator.validate(card)
        fast_ok = True
    except _card_validator.JsonSchemaValueException:
        fast_ok = False
    assert fast_ok == reference_ok


def test_the_bundled_schema_stays_ecma_and_check_jsonschema_accepts_it(tmp_path):
    """The published schema keeps JSON Schema's ECMA-262 patterns ("$" ends the string); only
    promptlane's own Python validators read "$" as "\\Z". check-jsonschema, the peer a team would
    wire up (and the benchmark's baseline), must accept the bundled schema as it is."""
    import json
    import subprocess
    import sys

    schema = tmp_path / "card.json"
    schema.write_text(json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", **_generator().bundled_schema()}))
    assert "\\\\Z" not in schema.read_text()
    card = tmp_path / "card.yml"
    card.write_text(yaml.safe_dump(EXAMPLE))
    done = subprocess.run([str(Path(sys.executable).parent / "check-jsonschema"), "--schemafile", str(schema), str(card)],
                          capture_output=True, text=True, timeout=120)
    assert "schemafile was not valid" not in done.stdout + done.stderr, done.stdout + done.stderr


# The template's policy, as `promptlane init` renders it, and edits of it: each at a dotted path.
def _template_policy() -> dict:
    from jinja2 import Template

    text = (ROOT / "{{cookiecutter.project}}/workflows/policy-as-code-example.yml").read_text(encoding="utf-8")
    return yaml.safe_load(Template(text).render(cookiecutter={"environments": "dev,staging,prod",
                                                              "reviewer_roles": "PM,Tech Lead,QA,Security,Governance"}))


POLICY = _template_policy()
RULE = "promotion.staging.risk.low"
POLICY_MUTATIONS = [
    ("environments", ["dev"]), ("environments", ["dev", "dev"]), ("environments", ["Dev", "prod"]), ("environments", "dev"),
    ("promotion.staging.allowed_branches", []), ("promotion.staging.allowed_branches", [""]),
    ("promotion.staging.notify", 3), ("promotion.staging.allow_skip", "no"), ("promotion.staging.require_signatures", 1),
    ("promotion.staging.accept_providers", []), ("promotion.staging.accept_providers", ["card", "card"]),
    ("promotion.staging.extra", True), ("promotion.staging.risk.extreme", {}), ("promotion.staging.require_checklist", None),
    (f"{RULE}.min_pass_rate", 1.5), (f"{RULE}.min_pass_rate", -0.1), (f"{RULE}.min_pass_rate", "0.9"),
    (f"{RULE}.min_pass_rate", 1), (f"{RULE}.min_pass_rate", True), (f"{RULE}.max_eval_age_days", 0),
    (f"{RULE}.max_eval_age_days", 2.5), (f"{RULE}.max_eval_age_days", 2.0), (f"{RULE}.policy_only", False),
    (f"{RULE}.required_roles", ["PM", "PM"]), (f"{RULE}.required_roles", [""]), (f"{RULE}.min_reviewers", -1),
    (f"{RULE}.min_category_pass_rate", {"accuracy": 2}), (f"{RULE}.min_category_pass_rate", {"": 0.5}),
    ("retire", {"required_roles": ["Governance"], "min_reviewers": 1}), ("retire", {"required_roles": []}),
    ("retire", {"unknown": 1}), ("retire", "x"), ("promotion", {}), ("promotion", None), ("extra", 1),
]


@pytest.mark.parametrize("dotted,value", POLICY_MUTATIONS)
def test_generated_and_reference_policy_validators_agree(dotted, value):
    from promptlane.core import _policy_validator
    from promptlane.core.policy import _validator

    policy = copy.deepcopy(POLICY)
    *parents, last = dotted.split(".")
    node = policy
    for part in parents:
        node = node[part]
    node[last] = value
    reference_ok = not list(_validator().iter_errors(policy))
    try:
        _policy_validator.validate(policy)
        fast_ok = True
    except _policy_validator.JsonSchemaValueException:
        fast_ok = False
    assert fast_ok == reference_ok


def test_the_template_policy_is_valid_to_both():
    from promptlane.core import _policy_validator
    from promptlane.core.policy import _validator

    assert not list(_validator().iter_errors(POLICY))
    _policy_validator.validate(copy.deepcopy(POLICY))
