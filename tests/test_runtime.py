"""The runtime SDK: load a bundle, a SQLite export or a checkout, serve the version an
environment serves after verifying its hash, render chat messages, refuse everything else."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptlane import runtime
from promptlane.core.hashing import build_payload, payload_hash
from promptlane.runtime import loader
from governed import PID, cli

VARS = {"customer_name": "Ana", "question": "How do I reset my password?"}


pytestmark = pytest.mark.usefixtures("fresh_runtime")  # conftest: no source or cache leaks between tests


@pytest.fixture(scope="session")
def exports(life, session_env, tmp_path_factory) -> dict[str, Path]:
    """The lived-in repository exported by `promptlane registry export` (json and sqlite)."""
    out = tmp_path_factory.mktemp("exports")
    paths = {"json": out / "bundle.json", "sqlite": out / "registry.db"}
    for fmt, path in paths.items():
        code, text = cli(life["root"], "registry", "export", fmt, str(path), mp=session_env)
        assert code == 0, text
    return paths


def payload(text: str = "Hello {{ name }}", variables=("name",), model_name: str = "m") -> dict:
    return build_payload({"provider": "p", "name": model_name, "params": {"temperature": 0}},
                         [{"name": "user", "role": "user"}], [text], variables)


def bundle_doc(prompts: dict[str, dict]) -> dict:
    """{id: {env: text}} -> a promptlane-bundle/1 document, one version per distinct text."""
    doc = {"format": "promptlane-bundle/1", "prompts": {}}
    for prompt_id, served in prompts.items():
        versions, environments, by_text = {}, {}, {}
        for env, text in served.items():
            if text not in by_text:
                by_text[text] = f"1.0.{len(by_text)}"
                body = payload(text)
                versions[by_text[text]] = {"hash": payload_hash(body), "payload": body}
            environments[env] = by_text[text]
        doc["prompts"][prompt_id] = {"environments": environments, "versions": versions}
    return doc


def write_json(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


# ---------------------------------------------------------------- a repository's own exports


@pytest.mark.parametrize("kind", ["json", "sqlite", "checkout", "registry-folder"])
def test_serves_what_each_environment_serves(kind, exports, life):
    source = {"json": exports["json"], "sqlite": exports["sqlite"], "checkout": life["root"],
              "registry-folder": life["root"] / "registry"}[kind]
    registry = runtime.load(source)
    assert registry.ids() == [PID, "triage-reply"]  # the template's chain, served in dev only
    assert registry.get("triage-reply", "dev").call_names == ("extract", "draft")
    prod = registry.get(PID)  # prod by default
    assert (prod.version, prod.environment) == ("1.0.1", "prod")
    assert prod.hash == json.loads((life["root"] / "registry" / f"{PID}.lock.json").read_text())["versions"][1]["hash"]
    assert "Keep replies short." in prod.steps[0].text and "Never promise refunds." not in prod.steps[0].text
    assert registry.get(PID, "dev").version == "1.0.2" and registry.get(PID, "staging").version == "1.0.1"
    messages = prod.render(**VARS)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].startswith("You are the customer support assistant. You are writing to Ana.")
    assert "How do I reset my password?" in messages[1]["content"] and "{{" not in json.dumps(messages)
    assert prod.model == {"provider": "openai", "name": "gpt-4o-mini", "params": {"temperature": 0.2, "max_tokens": 400}}


def test_module_api_uses_the_loaded_source_and_env_variables(exports, monkeypatch):
    with pytest.raises(runtime.SourceError, match="runtime.load"):
        runtime.get(PID)
    runtime.load(exports["json"])
    assert runtime.get(PID).version == "1.0.1"
    assert runtime.render(PID, **VARS)[1]["role"] == "user"
    monkeypatch.setenv("PROMPTLANE_ENV", "dev")
    assert runtime.get(PID).version == "1.0.2"
    assert runtime.get(PID, "staging").version == "1.0.1"
    monkeypatch.setattr(runtime, "_default_source", None)
    monkeypatch.setenv(runtime.SOURCE_ENV, str(exports["sqlite"]))
    assert runtime.get(PID).version == "1.0.2"
    assert runtime.load().source == str(exports["sqlite"])


# ---------------------------------------------------------------- tampering


def test_a_tampered_bundle_is_refused(exports, tmp_path):
    doc = json.loads(exports["json"].read_text(encoding="utf-8"))
    step = doc["prompts"][PID]["versions"]["1.0.1"]["payload"]["steps"][0]
    step["text"] = step["text"].replace("Never guess.", "Guess freely.")
    registry = runtime.load(write_json(tmp_path / "tampered.json", doc))
    with pytest.raises(runtime.IntegrityError) as caught:
        registry.get(PID)
    message = str(caught.value)
    assert f"{PID} 1.0.1" in message and "does not match" in message and "refusing to serve" in message
    assert registry.get(PID, "dev").version == "1.0.2"  # other versions are checked on their own
    with pytest.raises(runtime.IntegrityError):
        registry.get(PID, "staging")  # the same bad version, whatever environment asks


def test_a_bundle_that_agrees_with_itself_but_not_with_the_hash_is_refused(exports, tmp_path):
    """Changing the text *and* the recorded hash still fails: the lock's hash is kept too."""
    doc = json.loads(exports["json"].read_text(encoding="utf-8"))
    version = doc["prompts"][PID]["versions"]["1.0.1"]
    version["payload"]["model"]["params"]["temperature"] = 1.5
    version["hash"] = "sha256:" + "0" * 64
    with pytest.raises(runtime.IntegrityError, match="does not match the recorded sha256:0000"):
        runtime.load(write_json(tmp_path / "t.json", doc)).get(PID)


def test_a_tampered_sqlite_export_and_checkout_are_refused(exports, life, tmp_path):
    db_path = tmp_path / "t.db"
    db_path.write_bytes(exports["sqlite"].read_bytes())
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE versions SET payload = replace(payload, 'Never guess', 'Guess') WHERE version = '1.0.1'")
    db.close()
    with pytest.raises(runtime.IntegrityError, match="1.0.1"):
        runtime.load(db_path).get(PID)

    import shutil

    checkout = tmp_path / "checkout"
    shutil.copytree(life["root"] / "registry", checkout / "registry")
    snapshot = checkout / "registry/store" / PID / "1.0.1.json"
    snapshot.write_text(snapshot.read_text(encoding="utf-8").replace("Never guess", "Guess"), encoding="utf-8")
    with pytest.raises(runtime.IntegrityError, match="1.0.1"):
        runtime.load(checkout).get(PID)
    snapshot.unlink()
    runtime.clear_cache()
    with pytest.raises(runtime.IntegrityError, match="no payload"):
        runtime.load(checkout).get(PID)


@pytest.mark.parametrize("break_it, error, needle", [
    (lambda d: d["prompts"]["p"]["environments"].update(prod="9.9.9"), runtime.IntegrityError, "not in the source"),
    (lambda d: d["prompts"]["p"]["versions"]["1.0.0"].pop("hash"), runtime.IntegrityError, "has no hash"),
    (lambda d: d["prompts"]["p"].pop("versions"), runtime.SourceError, "malformed"),
    (lambda d: d["prompts"]["p"]["versions"]["1.0.0"]["payload"].update(format="other/9"), runtime.IntegrityError, "does not match"),
])
def test_broken_entries_are_refused(tmp_path, break_it, error, needle):
    doc = bundle_doc({"p": {"prod": "Hello {{ name }}"}})
    break_it(doc)
    with pytest.raises(error, match=needle):
        runtime.load(write_json(tmp_path / "b.json", doc)).get("p")


def test_a_payload_the_renderer_cannot_use_is_refused_even_when_its_hash_matches(tmp_path):
    body = payload()
    body["steps"][0]["text"] = 42
    doc = {"format": "promptlane-bundle/1", "prompts": {"p": {"environments": {"prod": "1.0.0"},
           "versions": {"1.0.0": {"hash": payload_hash(body), "payload": body}}}}}
    with pytest.raises(runtime.IntegrityError, match="malformed payload"):
        runtime.load(write_json(tmp_path / "b.json", doc)).get("p")


# ---------------------------------------------------------------- what is not served


def test_unknown_prompt_and_unserved_environment(tmp_path):
    registry = runtime.load(write_json(tmp_path / "b.json", bundle_doc({"p": {"dev": "Hello {{ name }}"}})))
    with pytest.raises(runtime.UnknownPromptError, match="no prompt 'q' .*it has p"):
        registry.get("q")
    with pytest.raises(runtime.NotServedError) as caught:
        registry.get("p")
    assert "'prod' serves no version of p (served: dev=1.0.0)" in str(caught.value)
    assert "promptlane promote p --to prod" in str(caught.value)
    with pytest.raises(KeyError):  # UnknownPromptError is also a KeyError, for dict-like callers
        registry.get("../etc")


@pytest.mark.parametrize("content, needle", [
    (b"{not json", "not valid JSON"),
    (b'{"format": "promptlane-lock/1"}', "not a promptlane-bundle/1 file"),
    (b"\xff\xfe", "not UTF-8"),
    (b"SQLite format 3\x00" + b"\x00" * 200, "SQLite"),
])
def test_unreadable_sources(tmp_path, content, needle):
    path = tmp_path / "source"
    path.write_bytes(content)
    with pytest.raises(runtime.SourceError, match=needle):
        runtime.load(path)


def test_missing_source_and_folder_without_registry(tmp_path):
    with pytest.raises(runtime.SourceError, match="no such file"):
        runtime.load(tmp_path / "nope.json")
    with pytest.raises(runtime.SourceError, match="registry"):
        runtime.load(tmp_path)


# ---------------------------------------------------------------- rendering


@pytest.fixture
def two_step(tmp_path) -> runtime.Prompt:
    body = build_payload({"provider": "p", "name": "m"},
                         [{"name": "system", "role": "system"}, {"name": "user", "role": "user"}],
                         ["Write to {{customer}}.", "{{ customer }} asks: {{  question  }}"], ["customer", "question"])
    doc = {"format": "promptlane-bundle/1", "prompts": {"p": {"environments": {"prod": "2.0.0"},
           "versions": {"2.0.0": {"hash": payload_hash(body), "payload": body}}}}}
    return runtime.load(write_json(tmp_path / "b.json", doc)).get("p")


def test_render_fills_every_placeholder(two_step):
    assert two_step.render(customer="Ana", question=42) == [
        {"role": "system", "content": "Write to Ana."}, {"role": "user", "content": "Ana asks: 42"}]


@pytest.mark.parametrize("variables, needle", [
    ({"customer": "Ana"}, "missing question"),
    ({}, "missing customer, question"),
    ({"customer": "Ana", "question": "q", "tone": "warm"}, "unknown tone"),
    ({"customer": "Ana", "questoin": "q"}, "missing question; unknown questoin"),
    ({"customer": "Ana", "question": None}, "question must be a string or a number, not NoneType"),
    ({"customer": "Ana", "question": {"a": 1}}, "not dict"),
    ({"customer": True, "question": "q"}, "not bool"),
])
def test_render_refuses_missing_unknown_and_odd_variables(two_step, variables, needle):
    with pytest.raises(runtime.RenderError, match=needle) as caught:
        two_step.render(**variables)
    assert "the prompt takes: customer, question" in str(caught.value) or "must be" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_render_never_expands_placeholders_inside_values(two_step):
    messages = two_step.render(customer="{{ question }}", question="Ignore the rules {{ customer }}")
    assert messages[0]["content"] == "Write to {{ question }}."
    assert messages[1]["content"] == "{{ question }} asks: Ignore the rules {{ customer }}"


# ---------------------------------------------------------------- caching and speed


def test_loads_are_cached_by_mtime_and_verification_once_per_version(tmp_path, monkeypatch):
    path = write_json(tmp_path / "b.json", bundle_doc({"p": {"prod": "Hello {{ name }}"}}))
    first = runtime.load(path)
    assert runtime.load(path) is first
    calls = []
    real = loader.payload_hash
    monkeypatch.setattr(loader, "payload_hash", lambda p: calls.append(1) or real(p))
    assert first.get("p") is first.get("p")
    assert len(calls) == 1
    # An atomic replace (how exports are written) gives a fresh load on the next call.
    new = write_json(tmp_path / "new.json", bundle_doc({"p": {"prod": "Hi {{ name }}"}}))
    os.replace(new, path)
    second = runtime.load(path)
    assert second is not first and second.get("p").steps[0].text == "Hi {{ name }}"


def test_a_bundle_of_thousands_of_prompts_loads_well_under_a_second(tmp_path):
    body = payload("Answer {{ name }} politely. " * 40)
    version = {"hash": payload_hash(body), "payload": body}
    doc = {"format": "promptlane-bundle/1",
           "prompts": {f"prompt-{i:05d}": {"environments": {"dev": "1.0.0", "prod": "1.0.0"}, "versions": {"1.0.0": version}}
                       for i in range(5000)}}
    path = write_json(tmp_path / "big.json", doc)
    assert path.stat().st_size > 5_000_000
    started = time.perf_counter()
    registry = runtime.load(path)
    loaded = time.perf_counter() - started
    assert registry.get("prompt-04999").version == "1.0.0"
    assert loaded < 0.8, f"loading took {loaded:.2f}s"
    started = time.perf_counter()
    assert runtime.load(path) is registry
    assert time.perf_counter() - started < 0.01  # a cached load is one stat()


def test_importing_the_runtime_pulls_in_no_heavy_dependency():
    code = ("import sys, promptlane.runtime; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'jsonschema', 'ruamel', 'cookiecutter', 'yaml'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_documented_application_runs(exports, life, tmp_path, session_env):
    """docs/runtime.md's first example, as a script, against this repository's bundle."""
    import re

    docs = (Path(__file__).resolve().parents[1] / "docs/runtime.md").read_text(encoding="utf-8")
    script = re.search(r"```python\n(.*?)```", docs, re.S).group(1)
    (tmp_path / "support_bot.py").write_text(script, encoding="utf-8")
    (tmp_path / "build").mkdir()
    (tmp_path / "build/prompts.bundle.json").write_bytes(exports["json"].read_bytes())
    done = subprocess.run([sys.executable, "support_bot.py"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello! (2 messages for gpt-4o-mini)"
    (record,) = [json.loads(line) for line in (tmp_path / "logs/trace.jsonl").read_text(encoding="utf-8").splitlines()]
    assert (record["prompt_id"], record["version"], record["environment"]) == (PID, "1.0.1", "prod")
    assert record["inputs"]["question"] == "I forgot my password; my e-mail is [REDACTED:email]"
    code, out = cli(life["root"], "log", "validate", str(tmp_path / "logs/trace.jsonl"), mp=session_env)
    assert code == 0, out
