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


def test_generated_validator_is_up_to_date():
    generated = _generator().generate()
    committed = (ROOT / "src/promptlane/core/_card_validator.py").read_text(encoding="utf-8")
    assert committed == generated, "run: python scripts/gen_card_validator.py"


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
