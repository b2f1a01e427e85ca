"""Trace logging: records match logs/prompt-log-schema.json, PII is redacted in what is
written, failures are recorded and re-raised; `promptlane log validate`; and the template's
logs/log-sample.output.json is what this code writes (regenerate it with
``PROMPTLANE_REGEN_SAMPLE=1 pytest tests/test_tracing.py -k sample``)."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from promptlane import runtime
from promptlane.runtime import Clock, trace
from governed import PID, cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "{{cookiecutter.project}}" / "logs" / "log-sample.output.json"
SAMPLE_HEADER = "{%- set envs = cookiecutter.environments.split(',') | map('trim') | list -%}\n"
PII = {"email": "ana.lopez@example.com", "card": "4111 1111 1111 1111", "phone": "+44 20 7946 0958"}


@pytest.fixture(scope="session")
def validator(scaffold) -> Draft202012Validator:
    schema = json.loads((scaffold / "logs/prompt-log-schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.fixture
def prompt(scaffold) -> runtime.Prompt:
    runtime.clear_cache()
    return runtime.get(PID, "dev", source=scaffold)


def fixed_clock(starts: list[str], perf: list[float], ids: list[str]) -> Clock:
    moments = iter(datetime.fromisoformat(s.replace("Z", "+00:00")) for s in starts)
    return Clock(now=moments.__next__, perf=iter(perf).__next__, new_id=iter(ids).__next__)


def assert_valid(validator, record: dict) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(record)]
    assert errors == []


# ---------------------------------------------------------------- records


def test_context_manager_records_one_valid_record(prompt, validator):
    records = []
    clock = fixed_clock(["2026-03-01T12:00:00.250+01:00"], [10.0, 10.5], ["t-1"])
    with trace(prompt, inputs={"customer_name": "Ana", "question": "Hi?"}, sink=records.append, clock=clock) as call:
        messages = call.render()
        call.finish("Hello Ana", input_tokens=120, output_tokens=30, cost_usd=0.0004)
    assert [m["role"] for m in messages] == ["system", "user"] and "Hi?" in messages[1]["content"]
    (record,) = records
    assert_valid(validator, record)
    assert record == {
        "trace_id": "t-1", "timestamp": "2026-03-01T11:00:00.250Z", "prompt_id": PID, "version": "1.0.0",
        "hash": prompt.hash, "environment": "dev",
        "model": {"provider": "openai", "name": "gpt-4o-mini", "params": {"temperature": 0.2, "max_tokens": 400}},
        "inputs": {"customer_name": "Ana", "question": "Hi?"}, "output": "Hello Ana",
        "usage": {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150}, "cost_usd": 0.0004,
        "latency_ms": 500.0, "status": "ok", "error": None,
    }


def test_an_exception_is_recorded_and_re_raised(prompt, validator):
    records = []
    with pytest.raises(TimeoutError):
        with trace(prompt, inputs={"customer_name": "Ana", "question": "q"}, sink=records.append) as call:
            call.finish("partial")
            raise TimeoutError("no answer in 30 s")
    (record,) = records
    assert_valid(validator, record)
    assert (record["status"], record["error"], record["output"]) == ("error", "TimeoutError: no answer in 30 s", None)
    assert record["latency_ms"] >= 0 and record["usage"]["total_tokens"] == 0


def test_decorator_takes_the_prompt_argument_and_the_variables(prompt, validator):
    records = []

    @trace(sink=records.append, model={"name": "gpt-4o"})
    def answer(p: runtime.Prompt, **variables) -> dict:
        assert p.render(**variables)
        return {"output": f"Dear {variables['customer_name']}", "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.01}

    result = answer(prompt, customer_name="Ben", question="Where is my parcel?")
    assert result["output"] == "Dear Ben"  # the function's return value is untouched
    (record,) = records
    assert_valid(validator, record)
    assert record["inputs"] == {"customer_name": "Ben", "question": "Where is my parcel?"}
    assert record["output"] == "Dear Ben" and record["usage"]["total_tokens"] == 15
    assert record["model"]["name"] == "gpt-4o" and record["model"]["provider"] == "openai"


def test_decorator_on_a_coroutine_and_on_failures(prompt, validator):
    records = []

    @trace(prompt, sink=records.append)
    async def ask(question: str, customer_name: str = "Ana") -> str:
        return "ok: " + question

    @trace(sink=records.append)
    def broken(p, **variables):
        raise RuntimeError("provider said 500")

    assert asyncio.run(ask("Refund?")) == "ok: Refund?"
    with pytest.raises(RuntimeError):
        broken(prompt, customer_name="Ana", question="q")
    assert [r["status"] for r in records] == ["ok", "error"]
    assert records[0]["inputs"] == {"question": "Refund?"} and records[0]["output"] == "ok: Refund?"
    assert records[1]["error"] == "RuntimeError: provider said 500"
    for record in records:
        assert_valid(validator, record)


def test_structured_output_is_logged_as_json_text(prompt, validator):
    records = []
    with trace(prompt, inputs={}, sink=records.append) as call:
        call.finish({"answer": "yes", "confidence": 0.9})
    assert json.loads(records[0]["output"]) == {"answer": "yes", "confidence": 0.9}
    assert_valid(validator, records[0])


def test_trace_refuses_what_it_cannot_record(prompt, scaffold, monkeypatch):
    monkeypatch.delenv("PROMPTLANE_TRACE_LOG", raising=False)
    with pytest.raises(ValueError, match="no sink"):
        trace(prompt)
    with pytest.raises(ValueError, match="no prompt"):
        with trace(sink=print):
            pass
    unserved = runtime.load(scaffold).version(PID, "1.0.0")
    with pytest.raises(ValueError, match="get\\(id, env\\)"):
        with trace(unserved, sink=print):
            pass


# ---------------------------------------------------------------- PII and the written file


def test_pii_is_redacted_in_the_written_log(prompt, tmp_path, validator, monkeypatch):
    log = tmp_path / "logs" / "trace.jsonl"
    monkeypatch.setenv("PROMPTLANE_TRACE_LOG", str(log))  # the default sink
    question = f"My card {PII['card']} was charged twice, mail me at {PII['email']} or call {PII['phone']}"
    with trace(prompt, inputs={"customer_name": "Ana", "question": question, "meta": {"emails": [PII["email"]]}}) as call:
        call.finish(f"We wrote to {PII['email']}.")
    with pytest.raises(ValueError):
        with trace(prompt, inputs={"customer_name": "Ana", "question": "q"}):
            raise ValueError(f"bad address {PII['email']}")
    text = log.read_text(encoding="utf-8")
    for value in PII.values():
        assert value not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["inputs"]["question"] == ("My card [REDACTED:credit-card] was charged twice, mail me at "
                                           "[REDACTED:email] or call [REDACTED:phone]")
    assert first["inputs"]["meta"] == {"emails": ["[REDACTED:email]"]}
    assert first["output"] == "We wrote to [REDACTED:email]." and first["inputs"]["customer_name"] == "Ana"
    assert second["error"] == "ValueError: bad address [REDACTED:email]"
    for record in (first, second):
        assert_valid(validator, record)


def test_redaction_can_be_turned_off_or_replaced(prompt):
    records = []
    with trace(prompt, inputs={"question": PII["email"]}, sink=records.append, redact=False) as call:
        call.finish(PII["email"])
    with trace(prompt, inputs={"question": PII["email"]}, sink=records.append, redact=lambda s: "***") as call:
        call.finish("x")
    assert records[0]["inputs"]["question"] == records[0]["output"] == PII["email"]
    assert records[1]["inputs"]["question"] == records[1]["output"] == "***"


def test_minimal_redaction_when_the_pii_module_is_absent(prompt, monkeypatch):
    monkeypatch.setitem(sys.modules, "promptlane.core.pii", None)  # import raises ImportError
    records = []
    with trace(prompt, inputs={"question": f"{PII['email']} / {PII['card']}"}, sink=records.append) as call:
        call.finish("ok")
    assert records[0]["inputs"]["question"] == "[REDACTED:email] / [REDACTED:number]"


def test_concurrent_calls_write_whole_lines(prompt, tmp_path):
    log = tmp_path / "trace.jsonl"
    traced = trace(sink=log)

    @traced
    def answer(p, **variables):
        return "x" * 2000

    threads = [threading.Thread(target=lambda: [answer(prompt, customer_name="A", question=str(i)) for i in range(25)])
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200 and len({json.loads(line)["trace_id"] for line in lines}) == 200


# ---------------------------------------------------------------- promptlane log validate


def test_log_validate_accepts_what_trace_writes(life, tmp_path, session_env):
    log = tmp_path / "trace.jsonl"
    served = runtime.load(life["root"]).get(PID)  # prod
    for question in ("a", "b"):
        with trace(served, inputs={"customer_name": "Ana", "question": question}, sink=log) as call:
            call.finish("answer", input_tokens=1, output_tokens=2)
    code, out = cli(life["root"], "log", "validate", str(log), "logs/log-sample.output.json", mp=session_env)
    assert code == 0, out
    assert out.strip() == "4 trace record(s) in 2 file(s) match the trace schema"


def test_log_validate_reports_file_line_record_and_field(life, tmp_path, session_env):
    good = json.loads((life["root"] / "logs/log-sample.output.json").read_text(encoding="utf-8"))
    bad = dict(good[1], error=None, extra=1)
    bad["usage"] = dict(bad["usage"], output_tokens=-1)
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("\n".join([json.dumps(good[0]), "{torn", json.dumps(bad), "[1]"]) + "\n", encoding="utf-8")
    array = tmp_path / "t.json"
    array.write_text(json.dumps([good[0], {k: v for k, v in good[0].items() if k != "hash"}], indent=2), encoding="utf-8")
    code, out = cli(life["root"], "log", "validate", str(jsonl), str(array), mp=session_env)
    assert code == 1
    lines = out.splitlines()
    hash_line = [n for n, line in enumerate(array.read_text().splitlines(), 1) if line == "  {"][1]  # record 2 starts
    record_3 = jsonl.read_text(encoding="utf-8").splitlines()[2]

    def col(key: str) -> int:  # each problem points at its field's key, as an editor counts columns
        return record_3.index(f'"{key}":') + 1

    assert lines == sorted([
        f"{jsonl}:2:2: PL580 record 2: not valid JSON (Expecting property name enclosed in double quotes)",
        f"{jsonl}:3:{col('error')}: PL582 record 3: error: null is not of type 'string'",
        f"{jsonl}:3:{col('extra')}: PL582 record 3: extra: is not a field of the trace schema",
        f"{jsonl}:3:{col('output_tokens')}: PL582 record 3: usage.output_tokens: -1 is less than the minimum of 0",
        f"{jsonl}:4:1: PL581 record 4: is not a JSON object",
        f"{array}:{hash_line}:3: PL582 record 2: hash: is required",
    ]) + ["Found 6 problems in 2 files."]


def test_log_validate_points_at_the_field_line_in_a_pretty_array(life, tmp_path, session_env):
    records = json.loads((life["root"] / "logs/log-sample.output.json").read_text(encoding="utf-8"))
    records[1]["usage"]["input_tokens"] = "many"
    path = tmp_path / "pretty.json"
    text = json.dumps(records, indent=2)
    path.write_text(text, encoding="utf-8")
    expected = next(n for n, line in enumerate(text.splitlines(), 1) if '"input_tokens": "many"' in line)
    code, out = cli(life["root"], "log", "validate", str(path), mp=session_env)
    assert code == 1 and out.startswith(f"{path}:{expected}:7: PL582 record 2: usage.input_tokens: 'many' is not of type 'integer'")


def test_log_validate_usage_errors(life, tmp_path, session_env):
    code, out = cli(life["root"], "log", "validate", str(tmp_path / "none.jsonl"), mp=session_env)
    assert code == 2 and "no such file" in out
    (tmp_path / "empty.jsonl").write_text("")
    code, out = cli(tmp_path, "log", "validate", str(tmp_path / "empty.jsonl"), mp=session_env)
    assert code == 2 and "--schema" in out
    schema = life["root"] / "logs/prompt-log-schema.json"
    code, out = cli(tmp_path, "log", "validate", "--schema", str(schema), str(tmp_path / "empty.jsonl"), mp=session_env)
    assert code == 0 and out.startswith("0 trace record(s)")


# ---------------------------------------------------------------- the template's sample


def sample_records(scaffold: Path) -> list[dict]:
    """Two calls of the scaffold's example prompt, as an application would trace them."""
    served = runtime.load(scaffold).get(PID, "dev")  # a fresh scaffold serves 1.0.0 in dev
    records: list[dict] = []
    clock = fixed_clock(["2025-01-15T09:30:12.481Z", "2025-01-15T09:31:02.007Z"], [0.0, 0.842, 100.0, 130.0],
                        ["4f6c1d2e-8a3b-4c5d-9e7f-0a1b2c3d4e5f", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"])
    inputs = {"customer_name": "Ana", "question": "I forgot my password and cannot log in. What should I do?"}
    with trace(served, inputs=inputs, sink=records.append, clock=clock) as call:
        call.render()
        call.finish("Hi Ana,\n\nThank you for getting in touch. To reset your password, choose \"Forgot password\" "
                    "on the sign-in page and follow the link we e-mail you; the link is valid for 24 hours.\n\n"
                    "More help: https://help.example.com/articles/reset-password\n\nBest regards,\nCustomer Support",
                    input_tokens=214, output_tokens=63, cost_usd=0.0000699)

    @trace(sink=records.append, clock=clock)
    def answer(prompt: runtime.Prompt, **variables: str) -> str:
        prompt.render(**variables)
        raise TimeoutError("model call timed out after 30000 ms")

    with pytest.raises(TimeoutError):
        answer(served, customer_name="Ben", question=f"My card {PII['card']} was charged twice. Reply to ben@example.com")
    return records


def sample_text(records: list[dict]) -> str:
    """The template file: one field a line; the environment follows the template's list."""
    blocks = []
    for record in records:
        fields = [f"    {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" for key, value in record.items()]
        blocks.append("  {\n" + ",\n".join(fields) + "\n  }")
    text = "[\n" + ",\n".join(blocks) + "\n]\n"
    assert text.count('"environment": "dev"') == len(records)
    return SAMPLE_HEADER + text.replace('"environment": "dev"', '"environment": "{{ envs[0] }}"')


def test_template_log_sample_is_generated_by_the_runtime(scaffold, validator):
    records = sample_records(scaffold)
    for record in records:
        assert_valid(validator, record)
    assert records[1]["inputs"]["question"] == "My card [REDACTED:credit-card] was charged twice. Reply to [REDACTED:email]"
    text = sample_text(records)
    if os.environ.get("PROMPTLANE_REGEN_SAMPLE") == "1":
        SAMPLE.write_text(text, encoding="utf-8")
    assert SAMPLE.read_text(encoding="utf-8") == text, \
        "the template's log sample is stale: PROMPTLANE_REGEN_SAMPLE=1 pytest tests/test_tracing.py -k sample"
    # ... and the rendered copy is the same records, with the scaffold's first environment.
    rendered = json.loads((scaffold / "logs/log-sample.output.json").read_text(encoding="utf-8"))
    assert rendered == records
