"""The published JSON schemas are self-contained: standard tools use them offline, as shipped.

check-jsonschema (what a team would wire up beside promptlane) runs on a rendered repository's
files exactly as `promptlane init` writes them, with --no-cache and every proxy pointed at a
closed local port, so a $ref that needs the network fails here instead of fetching. The
jsonschema library resolves every $ref of every shipped schema through a registry that holds
only the files shipped beside it and refuses any retrieval. Cards name the schema beside them
for editors (a yaml-language-server line), and `promptlane sync` keeps that line.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from conftest import BIN, ROOT
from governed import CARD, card, edit_text, lock, pl

PACKAGE_SCHEMAS = ROOT / "src/promptlane/schemas"
CHECK_JSONSCHEMA = str(BIN / "check-jsonschema")
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, a fetch fails at once, locally
OFFLINE = {**os.environ, "HTTP_PROXY": CLOSED, "HTTPS_PROXY": CLOSED, "ALL_PROXY": CLOSED,
           "http_proxy": CLOSED, "https_proxy": CLOSED, "all_proxy": CLOSED, "NO_PROXY": "", "no_proxy": ""}

# Every schema a rendered repository ships, and the package's own (promptlane reads these).
RENDERED_SCHEMAS = ["schemas/prompt-card.schema.json", "schemas/prompt-version-schema.yml", "logs/prompt-log-schema.json"]
BUNDLED_SCHEMAS = ["prompt-card.schema.json", "prompt-version-schema.yml", "policy.schema.json", "review.schema.json"]
MODELINE = re.compile(r"# yaml-language-server: \$schema=(\S+)\n")
MANAGED = ["version", "hash", "author", "environment"]


def test_the_lists_name_every_shipped_schema():
    assert sorted(BUNDLED_SCHEMAS) == sorted(p.name for p in PACKAGE_SCHEMAS.iterdir()
                                             if p.suffix == ".json" or p.name.endswith("-schema.yml"))


def check_jsonschema(*args: str, cwd: Path) -> tuple[int, str]:
    done = subprocess.run([CHECK_JSONSCHEMA, "--no-cache", *args], cwd=cwd, env=OFFLINE,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def load(path: Path):
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


# ---------------------------------------------------------------- check-jsonschema, as a user runs it


def test_every_shipped_schema_passes_check_metaschema(scaffold):
    code, out = check_jsonschema("--check-metaschema", *RENDERED_SCHEMAS,
                                 *(str(PACKAGE_SCHEMAS / name) for name in BUNDLED_SCHEMAS), cwd=scaffold)
    assert code == 0 and "ok -- validation done" in out, out


def test_the_example_cards_pass_check_jsonschema_with_the_shipped_schema(scaffold):
    code, out = check_jsonschema("--schemafile", "schemas/prompt-card.schema.json",
                                 "prompts/support-reply/card.yml", "schemas/prompt-card.example.yml", cwd=scaffold)
    assert code == 0 and "ok -- validation done" in out, out


def test_a_bad_card_fails_check_jsonschema_naming_each_field(scaffold, tmp_path):
    text = (scaffold / CARD).read_text(encoding="utf-8")
    for old, new in (("tags: [support, email]\n", "tags: support\n"),    # wrong type
                     ("owner: ", "# owner: "),                             # a required field missing
                     ("version: 1.0.0\n", "version: 1.0\n")):              # a managed field ($defs.versionBlock): a float
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    bad = tmp_path / "prompts/support-reply/card.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(text, encoding="utf-8")
    code, out = check_jsonschema("--schemafile", str(scaffold / "schemas/prompt-card.schema.json"), str(bad), cwd=scaffold)
    assert code == 1, out
    assert "Failure resolving" not in out and "Unresolvable" not in out, out
    assert "$.tags: 'support' is not of type 'array'" in out, out
    assert "'owner' is a required property" in out, out
    assert "$.version: 1.0 is not of type 'string'" in out, out


def test_the_log_sample_passes_check_jsonschema_as_it_is(scaffold):
    code, out = check_jsonschema("--schemafile", "logs/prompt-log-schema.json", "logs/log-sample.output.json", cwd=scaffold)
    assert code == 0 and "ok -- validation done" in out, out


def test_a_bad_record_in_a_log_array_fails_check_jsonschema(scaffold, tmp_path):
    records = json.loads((scaffold / "logs/log-sample.output.json").read_text(encoding="utf-8"))
    records[1]["status"] = "fine"
    del records[0]["hash"]
    bad = tmp_path / "log.json"
    bad.write_text(json.dumps(records, indent=2), encoding="utf-8")
    code, out = check_jsonschema("--schemafile", str(scaffold / "logs/prompt-log-schema.json"), str(bad), cwd=scaffold)
    assert code == 1, out
    assert "$[1].status: 'fine' is not one of ['ok', 'error']" in out, out
    assert "$[0]: 'hash' is a required property" in out, out


# ---------------------------------------------------------------- the jsonschema library, no network


def refs(node, where: str = "#"):
    """(JSON pointer, $ref) of every reference in a schema document; also every nested $id."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield where, value
            elif key == "$id" and where != "#":
                yield where, f"(nested $id {value})"
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from refs(item, f"{where}/{index}")


def refuse(uri: str):
    raise NoSuchResource(ref=uri)  # never the network, never a file the folder does not ship


def offline_registry(path: Path, schema: dict) -> tuple[Registry, str]:
    """The schema, and every schema file shipped beside it under the URI a relative $ref by its
    exact file name reaches; nothing else, and no retrieval. A sibling is known by its file name
    only (its own $id dropped): a tool finds a file by the name the ref uses, never by an $id
    written inside a file it has not read."""
    base = schema.get("$id") or path.as_uri()
    registry = Registry(retrieve=refuse)
    for sibling in sorted(path.parent.iterdir()):
        if sibling.suffix in (".json", ".yml", ".yaml") and sibling != path:
            contents = load(sibling)
            if isinstance(contents, dict):
                contents = {k: v for k, v in contents.items() if k != "$id"}
                registry = registry.with_resource(urljoin(base, sibling.name),
                                                  Resource.from_contents(contents, default_specification=DRAFT202012))
    return registry.with_resource(base, Resource.from_contents(schema, default_specification=DRAFT202012)).crawl(), base


def shipped(scaffold: Path) -> list[Path]:
    return [scaffold / rel for rel in RENDERED_SCHEMAS] + [PACKAGE_SCHEMAS / name for name in BUNDLED_SCHEMAS]


def test_every_ref_of_every_shipped_schema_resolves_offline(scaffold):
    checked = unresolved = 0
    problems = []
    for path in shipped(scaffold):
        schema = load(path)
        Draft202012Validator.check_schema(schema)
        registry, base = offline_registry(path, schema)
        resolver = registry.resolver(base_uri=base)
        for where, ref in refs(schema):
            checked += 1
            if ref.startswith("(nested $id"):
                problems.append(f"{path.name} {where}: {ref} (a ref beneath it would resolve elsewhere)")
                continue
            try:
                target = resolver.lookup(ref).contents
            except Exception as exc:  # Unresolvable: the ref reaches nothing shipped
                unresolved += 1
                problems.append(f"{path.name} {where}: $ref {ref!r} does not resolve offline ({type(exc).__name__})")
                continue
            if not isinstance(target, (dict, bool)):
                problems.append(f"{path.name} {where}: $ref {ref!r} reaches {target!r}, not a schema")
    assert problems == [] and unresolved == 0
    assert checked >= 20  # the card's four managed fields, the policy's and the review's $defs


def test_the_shipped_files_validate_with_a_registry_that_fetches_nothing(scaffold):
    def validator(path: Path) -> Draft202012Validator:
        schema = load(path)
        return Draft202012Validator(schema, registry=offline_registry(path, schema)[0], format_checker=FormatChecker())

    cards = validator(scaffold / "schemas/prompt-card.schema.json")
    for rel in (CARD, "schemas/prompt-card.example.yml"):
        assert list(cards.iter_errors(load(scaffold / rel))) == [], rel
    bad = dict(load(scaffold / CARD), version="1.0", environment="Prod")
    assert sorted(e.json_path for e in cards.iter_errors(bad)) == ["$.environment", "$.version"]
    logs = validator(scaffold / "logs/prompt-log-schema.json")
    sample = load(scaffold / "logs/log-sample.output.json")
    assert list(logs.iter_errors(sample)) == []  # the file as it is: an array of records
    assert [list(logs.iter_errors(record)) for record in sample] == [[], []]  # and each record alone
    policy = validator(PACKAGE_SCHEMAS / "policy.schema.json")
    assert list(policy.iter_errors(load(scaffold / "workflows/policy-as-code-example.yml"))) == []


@pytest.mark.parametrize("folder", ["package", "rendered"])
def test_the_version_block_schema_and_the_card_schemas_copy_say_the_same(scaffold, folder):
    schemas = PACKAGE_SCHEMAS if folder == "package" else scaffold / "schemas"
    card_schema = load(schemas / "prompt-card.schema.json")
    block = load(schemas / "prompt-version-schema.yml")
    assert card_schema["$defs"]["versionBlock"] == {k: v for k, v in block.items() if k not in ("$schema", "$id")}, \
        "prompt-card.schema.json $defs.versionBlock and prompt-version-schema.yml must say the same: edit both"
    assert block["required"] == MANAGED
    assert {key: card_schema["properties"][key] for key in MANAGED} == \
        {key: {"$ref": f"#/$defs/versionBlock/properties/{key}"} for key in MANAGED}


# ---------------------------------------------------------------- editors: the yaml-language-server line


def test_cards_name_the_schema_beside_them_for_editors(scaffold):
    for path, schema in ((scaffold / CARD, scaffold / "schemas/prompt-card.schema.json"),
                         (scaffold / "schemas/prompt-card.example.yml", scaffold / "schemas/prompt-card.schema.json"),
                         (PACKAGE_SCHEMAS / "prompt-card.example.yml", PACKAGE_SCHEMAS / "prompt-card.schema.json")):
        first = path.read_text(encoding="utf-8").splitlines(keepends=True)[0]
        match = MODELINE.fullmatch(first)
        assert match, f"{path}: first line {first!r}"
        assert (path.parent / match[1]).resolve() == schema.resolve() and schema.is_file(), path
    assert MODELINE.fullmatch("# yaml-language-server: $schema=../../schemas/prompt-card.schema.json\n")


NEW_CARD = """\
# yaml-language-server: $schema=../../schemas/prompt-card.schema.json
id: order-status
title: Order status
owner: team-support
risk: high
model: {provider: openai, name: gpt-4o-mini}
variables: [order]
steps:
  - {name: user, role: user, file: user.md}
"""


def test_sync_keeps_the_schema_line_and_the_hash(gov, capsys):
    first = (gov / CARD).read_text(encoding="utf-8").splitlines(keepends=True)[:3]
    assert MODELINE.fullmatch(first[0])
    # Comments are not part of the payload: the template's first version is still the one it ships.
    assert card(gov)["hash"] == lock(gov)["versions"][0]["hash"] == \
        "sha256:057d65a56c7e0a173450fab4e025b11cb82990de2b96241a374ca4fb254cfec7"
    assert pl(gov, capsys, "check", "--all")[0] == 0

    edit_text(gov)  # a changed text: sync rewrites the managed block round-trip
    folder = gov / "prompts/order-status"  # and a card with no managed block yet: sync adds it
    folder.mkdir()
    (folder / "card.yml").write_text(NEW_CARD, encoding="utf-8")
    (folder / "user.md").write_text("Where is order {{ order }}?\n", encoding="utf-8")
    code, out = pl(gov, capsys, "sync")
    assert code == 1, out
    text = (gov / CARD).read_text(encoding="utf-8")
    assert text.splitlines(keepends=True)[:3] == first
    assert card(gov)["version"] == "1.0.1" and card(gov)["hash"] == lock(gov)["versions"][-1]["hash"]
    added = (folder / "card.yml").read_text(encoding="utf-8")
    assert added.startswith(NEW_CARD.splitlines(keepends=True)[0]) and "\nversion: 1.0.0\n" in added, added
    assert pl(gov, capsys, "sync")[0] == 0 and pl(gov, capsys, "check", "--all")[0] == 0
    code, out = check_jsonschema("--schemafile", "schemas/prompt-card.schema.json", CARD, "prompts/order-status/card.yml", cwd=gov)
    assert code == 0, out
