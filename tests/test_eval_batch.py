"""`promptlane eval run` batched: several prompts in one promptfoo process, each prompt's results
what a run of it alone writes; a failing or hanging prompt costs no other its results; the
`prompts:` keys that would let one prompt's tests run for another are refused (eval run and
check alike); `eval plan --shards K`.

Real promptfoo (the pinned one, `make promptfoo`), the template's offline provider; a scaffold
rendered from the template plus a few prompts from `promptlane new`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from llm_server import LLMServer

PROMPTLANE = [sys.executable, "-m", "promptlane.cli"]
NEW = ("alpha", "file")  # "file": a prompt id that is also the start of every file:// prompt id


@pytest.fixture
def four(scaffold, tmp_path, monkeypatch) -> Path:
    """The scaffold (support-reply; triage-reply, a chain) and two prompts from `promptlane new`
    (the example card; support-reply's tests, of which they fail three), synced."""
    root = tmp_path / "governed"
    shutil.copytree(scaffold, root, symlinks=True)
    for prompt_id in NEW:
        assert run_cli(root, "new", prompt_id)[0] == 0
        shutil.copy(root / "evals/tests/support-reply.yml", root / f"evals/tests/{prompt_id}.yml")
    assert run_cli(root, "sync")[0] == 1
    return root


def pl(root: Path, *args: str, jobs: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PROMPTLANE_JOBS", None)
    if jobs is not None:
        env["PROMPTLANE_JOBS"] = str(jobs)
    return subprocess.run([*PROMPTLANE, "-C", str(root), *args], env=env, capture_output=True, text=True, timeout=600)


def results_of(root: Path) -> dict[str, dict]:
    """Every results file, by prompt, without `time` (when promptfoo ran: the only thing that may differ)."""
    found = {}
    for path in sorted((root / "evals/results").glob("*/*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        found[f"{path.parent.name}/{path.name}"] = {k: v for k, v in doc.items() if k != "time"}
    return found


def ids_of(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "prompts").iterdir() if (p / "card.yml").is_file())


# ---------------------------------------------------------------- batch == each prompt alone


@pytest.mark.slow
def test_a_batch_writes_what_each_prompt_alone_writes(four, promptfoo, tmp_path):
    alone = tmp_path / "alone"
    shutil.copytree(four, alone, symlinks=True)
    single = {}
    for prompt_id in ids_of(alone):  # one prompt a run: today's single run, one promptfoo each
        done = pl(alone, "eval", "run", prompt_id, "--force", "--json")
        assert done.returncode in (0, 1), done.stderr
        single.update({p["prompt"]: p for p in json.loads(done.stdout)["prompts"]})
    batched = pl(four, "eval", "run", "--force", "--json", jobs=1)  # all four in one promptfoo process
    assert batched.returncode == 1, batched.stderr  # alpha and file fail three tests each
    expected, got = results_of(alone), results_of(four)
    assert got, batched.stdout[:3000] + batched.stderr
    assert sorted(got) == sorted(expected) and len(got) == 4
    assert got == expected
    # What --json shows (every failing test, its assertions and output) is the same too, per prompt.
    shown = {p["prompt"]: p for p in json.loads(batched.stdout)["prompts"]}
    assert shown == single
    # The chain ran whole in the batch: its provider answered each call.
    chain = got[next(k for k in got if k.startswith("triage-reply/"))]
    assert chain["tests"] == chain["passed"] == 5


@pytest.mark.slow
def test_progress_shows_prompts_done_out_of_owed(four, promptfoo):
    done = pl(four, "eval", "run", jobs=1)
    assert done.returncode == 1, done.stderr
    progress = [line for line in done.stderr.splitlines() if line.endswith("prompts done")]
    assert progress == [f"promptlane eval: {n}/4 prompts done" for n in range(1, 5)], done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert [line[:6] for line in lines] == ["[1/4] ", "[2/4] ", "[3/4] ", "[4/4] "]
    assert sorted(line[6:].split(" ... ")[0] for line in lines) == ids_of(four)
    assert done.stdout.splitlines()[-1] == "4 prompts: 2 passed, 2 failed or errored, 0 not run."
    assert pl(four, "eval", "plan").stdout.strip() == '{"include": []}'  # every prompt got its results
    assert pl(four, "eval", "plan", "--shards", "3").stdout.strip() == '{"include": []}'  # no shard of nothing


# ---------------------------------------------------------------- one bad prompt costs no other


SLEEPY = '''\
"""The template's stand-in, except that a prompt holding HANG-HERE never gets an answer."""
import time

from local_echo import call_api as echo


def call_api(prompt, options, context):
    if "HANG-HERE" in prompt:
        time.sleep(600)
    return echo(prompt, options, context)
'''


@pytest.mark.slow
def test_a_hanging_prompt_times_out_alone_and_the_others_keep_their_results(four, promptfoo):
    (four / "evals/providers/sleepy.py").write_text(SLEEPY, encoding="utf-8")
    config = four / "evals/eval-config.promptfoo.yml"
    config.write_text(config.read_text(encoding="utf-8").replace("file://providers/local_echo.py", "file://providers/sleepy.py"))
    system = four / "prompts/file/system.md"
    system.write_text(system.read_text(encoding="utf-8") + "HANG-HERE\n", encoding="utf-8")
    assert run_cli(four, "sync")[0] == 1
    done = pl(four, "eval", "run", "file", "support-reply", "--force", "--timeout", "20", jobs=1)
    assert done.returncode == 1, done.stdout + done.stderr
    # The batch (20 s a prompt: 40 s) timed out; each prompt then ran alone, and only `file` hangs.
    assert "promptlane eval: file: promptfoo did not finish within 20 s and was stopped" in done.stderr
    lines = done.stdout.splitlines()
    assert any(re.fullmatch(r"\[\d/2\] file \.\.\. error", line) for line in lines), lines
    assert any(re.fullmatch(r"\[\d/2\] support-reply \.\.\. 6/6 passed -> evals/results/support-reply/\w+\.json", line) for line in lines), lines
    assert lines[-1] == "2 prompts: 1 passed, 1 failed or errored, 0 not run."
    assert sorted(p.parent.name for p in (four / "evals/results").glob("*/*.json")) == ["support-reply"]
    # (file got none: no results from an incomplete set of its tests)


@pytest.mark.slow
def test_a_prompt_that_cannot_be_built_is_not_run_and_the_batch_goes_on(four, promptfoo):
    (four / "evals/tests/file.yml").write_text("- description: no category\n  vars: {customer_name: A, question: Q}\n",
                                               encoding="utf-8")
    done = pl(four, "eval", "run", "--force", jobs=1)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "evals/tests/file.yml:1:3: PL321" in done.stdout
    assert re.search(r"^\[\d/4\] file \.\.\. not run$", done.stdout, re.M)
    assert "\n4 prompts: 2 passed, 1 failed or errored, 1 not run.\n" in done.stdout
    assert sorted(p.parent.name for p in (four / "evals/results").glob("*/*.json")) == ["alpha", "support-reply", "triage-reply"]


# ---------------------------------------------------------------- each card's own model, shared or not


@pytest.mark.slow
def test_cards_own_models_in_one_batch_as_each_alone(four, promptfoo, tmp_path, monkeypatch):
    """Without `providers:` each card runs its own model: alpha and file name the same provider
    id, file with other params (a provider label of its own in the batch, its own in the results)."""
    config = four / "evals/eval-config.promptfoo.yml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    config.write_text(yaml.safe_dump({"evaluateOptions": data["evaluateOptions"]}), encoding="utf-8")
    card = four / "prompts/file/card.yml"
    card.write_text(card.read_text(encoding="utf-8").replace("temperature: 0.2", "temperature: 0.7"), encoding="utf-8")
    assert run_cli(four, "sync")[0] == 1
    with LLMServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.base_url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        alone = tmp_path / "alone"
        shutil.copytree(four, alone, symlinks=True)
        for prompt_id in ("alpha", "file", "support-reply"):
            assert pl(alone, "eval", "run", prompt_id, "--force").returncode in (0, 1)
        sent_alone = sorted(json.dumps(r.body, sort_keys=True) for r in server.requests)
        server.requests.clear()
        done = pl(four, "eval", "run", "alpha", "file", "support-reply", "--force", jobs=1)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        sent_batched = sorted(json.dumps(r.body, sort_keys=True) for r in server.requests)
    assert len(sent_batched) == 18 and sent_batched == sent_alone  # each test reached its own model once
    got = results_of(four)
    assert got == results_of(alone) and len(got) == 3
    assert {doc["provider"] for doc in got.values()} == {"openai:chat:gpt-4o-mini"}  # as each alone records it
    temperatures = {r.body["temperature"] for r in server.requests}
    assert temperatures == {0.2, 0.7}


# ---------------------------------------------------------------- prompts: is promptlane's to set


def test_a_tests_own_prompts_key_is_refused_by_check_and_eval_run(four, capsys):
    tests = four / "evals/tests/alpha.yml"
    text = tests.read_text(encoding="utf-8")
    tests.write_text(text.replace("- description:", "- prompts: [support-reply]\n  description:", 1), encoding="utf-8")
    code, out = run_cli(four, "check", "evals/tests/alpha.yml", capsys=capsys)
    assert code == 1
    assert re.search(r"^evals/tests/alpha\.yml:\d+:3: PL348 \[0\] prompts: would choose which prompts this test runs against", out, re.M), out
    code, out = run_cli(four, "eval", "run", "alpha", capsys=capsys)
    assert code == 2 and "PL348" in out


@pytest.mark.parametrize("edit, where", [
    ("defaultTest:\n  prompts: [support-reply]\n", "defaultTest.prompts"),
    (None, "providers[0].prompts"),
])
def test_prompt_filters_in_the_eval_config_are_refused(four, capsys, edit, where):
    config = four / "evals/eval-config.promptfoo.yml"
    text = config.read_text(encoding="utf-8")
    if edit is None:
        text = text.replace("    label: local-echo\n", "    label: local-echo\n    prompts: [alpha]\n", 1)
    else:
        text += edit
    config.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip().startswith("prompts: ["))
    code, out = run_cli(four, "check", "--all", capsys=capsys)
    assert code == 1
    assert f"evals/eval-config.promptfoo.yml:{line}:" in out and f"PL348 {where}:" in out, out
    code, out = run_cli(four, "eval", "run", "alpha", capsys=capsys)
    assert code == 2 and f"PL348 {where}:" in out


# ---------------------------------------------------------------- eval plan --shards


def _tests(root: Path, prompt_id: str, count: int) -> None:
    path = root / f"evals/tests/{prompt_id}.yml"
    cases = yaml.safe_load((root / "evals/tests/support-reply.yml").read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump(cases[:count], allow_unicode=True), encoding="utf-8")


def test_shards_balance_the_owed_tests(four, capsys):
    for prompt_id, count in (("bravo", 2), ("charlie", 3)):
        assert run_cli(four, "new", prompt_id)[0] == 0
        _tests(four, prompt_id, count)
    _tests(four, "alpha", 4)
    assert run_cli(four, "sync")[0] == 1
    capsys.readouterr()
    # Owed: alpha 4, bravo 2, charlie 3, file 6, support-reply 6, triage-reply 5 (26 tests).
    code, out = run_cli(four, "eval", "plan", "--shards", "2", capsys=capsys)
    assert code == 0
    shards = json.loads(out)["include"]
    assert [s["shard"] for s in shards] == [1, 2]
    assert sorted(p for s in shards for p in s["prompts"].split()) == sorted(ids_of(four))
    assert sorted(s["tests"] for s in shards) == [13, 13]
    assert run_cli(four, "eval", "plan", "--shards", "2", capsys=capsys)[1] == out  # deterministic
    code, out = run_cli(four, "eval", "plan", "--shards", "3", capsys=capsys)
    assert sorted(s["tests"] for s in json.loads(out)["include"]) == [8, 9, 9]
    code, out = run_cli(four, "eval", "plan", "--shards", "50", capsys=capsys)  # more shards than prompts owed
    assert [(s["shard"], s["prompts"]) for s in json.loads(out)["include"]] == list(enumerate(ids_of(four), 1))
    # Each prompt's own test count, where its tests are.
    assert {s["prompts"]: s["tests"] for s in json.loads(out)["include"]}["charlie"] == 3


def test_bad_shard_counts_are_refused(four, capsys):
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(SystemExit) as info:
            run_cli(four, "eval", "plan", "--shards", bad)
        assert info.value.code == 2
        assert "--shards" in capsys.readouterr().err
