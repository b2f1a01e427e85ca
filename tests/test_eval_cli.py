"""`promptlane eval run | import | plan` against a fake promptfoo: the config promptlane builds,
exit-code handling, pre-checks that refuse before anything runs, and the plan. Fast: the real
promptfoo runs in test_eval_run.py."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import run_cli, write_prompt
from promptlane.store.cards import read_card
from promptlane.core.results import FORMAT, results_rel
from promptlane.store.results import load_results, write_results
from promptlane.store.repo import Repo

TESTS = """\
- description: answers the question
  metadata: {category: accuracy}
  vars: {customer_name: Ana, question: Where is my invoice?}
  assert: [{type: icontains, value: invoice}]
- description: no pii
  metadata: {category: safety}
  vars: {customer_name: Ben, question: Refund please}
  assert: [{type: not-contains, value: "4111"}]
"""

FAKE = """#!{python}
# A stand-in for promptfoo: records its arguments, config and environment, writes the canned
# results named by FAKE_RESULTS, prints FAKE_STDERR and exits FAKE_EXIT.
import json, os, sys
args = sys.argv[1:]
if args == ["--version"]:  # it starts: the failure is the eval's (promptlane asks after a run without results)
    print("0.121.20")
    sys.exit(0)
record = os.environ["FAKE_RECORD"]
config = json.load(open(args[args.index("-c") + 1]))
env = {{k: v for k, v in os.environ.items() if k.startswith(("PROMPTFOO", "PROMPTLANE", "NODE_NO"))}}
json.dump({{"args": args, "config": config, "env": env}}, open(record, "w"))
if os.environ.get("FAKE_RESULTS"):
    open(args[args.index("-o") + 1], "w").write(open(os.environ["FAKE_RESULTS"]).read())
sys.stderr.write(os.environ.get("FAKE_STDERR", ""))
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


def canned(rows: list[dict]) -> dict:
    return {"results": {"version": 3, "timestamp": "2026-01-02T03:04:05.678Z", "results": rows,
                        "stats": {"successes": 0, "failures": 0, "errors": 0}},
            "metadata": {"promptfooVersion": "0.121.20"}}


def result_row(description, category, success, reason="All assertions passed"):
    return {"success": success, "failureReason": 0 if success else 1, "cost": 0.0005,
            "gradingResult": {"pass": success, "reason": reason},
            "testCase": {"description": description, "metadata": {"category": category}},
            "tokenUsage": {"prompt": 100, "completion": 20, "total": 120},
            "provider": {"id": "openai:chat:gpt-4o-mini", "label": "openai:chat:gpt-4o-mini"}}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake promptfoo on PROMPTLANE_PROMPTFOO; returns (record path, set_results(rows, exit))."""
    script = tmp_path / "fake-promptfoo"
    script.write_text(FAKE.format(python=sys.executable))
    script.chmod(0o755)
    record = tmp_path / "record.json"
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", str(script))
    monkeypatch.setenv("FAKE_RECORD", str(record))
    monkeypatch.setattr("promptlane.evals.runner.require_node", lambda: None)  # no Node.js needed here

    def set_results(rows, exit_code=0):
        path = tmp_path / "canned.json"
        path.write_text(json.dumps(canned(rows)))
        monkeypatch.setenv("FAKE_RESULTS", str(path))
        monkeypatch.setenv("FAKE_EXIT", str(exit_code))

    return record, set_results


@pytest.fixture
def evals_repo(repo) -> Path:
    (repo / "evals/tests").mkdir(parents=True)
    (repo / "evals/tests/support-reply.yml").write_text(TESTS, encoding="utf-8")
    return repo


def current(root: Path, prompt_id: str = "support-reply"):
    card = read_card(Repo(root), prompt_id)
    assert card.ok
    return card


def test_run_builds_the_config_and_writes_results(evals_repo, fake, capsys):
    record, set_results = fake
    set_results([result_row("answers the question", "accuracy", True),
                 result_row("no pii", "safety", False, 'Expected output to not contain "4111"')], exit_code=100)
    code, out = run_cli(evals_repo, "eval", "run", capsys=capsys)
    card = current(evals_repo)
    rel = results_rel("support-reply", card.hash)
    assert code == 1
    # The failing test under its prompt: its name and category, why, and (no row output here) "(empty)".
    assert out == (f"support-reply ... 1/2 passed, 1 failed -> {rel}\n  FAILED no pii (safety)\n"
                   '    reason: Expected output to not contain "4111"\n    output: (empty)\n')
    doc = load_results(evals_repo, "support-reply", card.hash)
    assert (doc["format"], doc["version"], doc["time"], doc["provider"]) == (FORMAT, "1.0.0", "2026-01-02T03:04:05Z", "openai:chat:gpt-4o-mini")
    assert doc["failures"] == [{"test": "no pii", "category": "safety", "reason": 'Expected output to not contain "4111"'}]
    assert (doc["tokens"]["total"], doc["cost_usd"]) == (240, 0.001)
    seen = json.loads(record.read_text())
    assert seen["args"][:3] == ["eval", "-c", seen["args"][2]]
    assert seen["args"][3] == "-o" and seen["args"][5:] == ["--no-cache", "--no-share", "--no-progress-bar", "--no-table"]
    env = seen["env"]
    assert (env["PROMPTFOO_DISABLE_TELEMETRY"], env["PROMPTFOO_DISABLE_UPDATE"], env["PROMPTLANE_PROMPT"]) == ("1", "1", "support-reply")
    assert env["PROMPTFOO_CONFIG_DIR"].startswith(str(Path(seen["args"][2]).parent))
    config = seen["config"]
    assert config["prompts"][0]["config"] == {"promptlane_prompt": "support-reply", "promptlane_hash": card.hash}
    # No eval-config.promptfoo.yml: the card's model is the provider, with its params.
    assert config["providers"] == [{"id": "openai:chat:gpt-4o-mini", "label": "openai:chat:gpt-4o-mini",
                                    "config": {"temperature": 0.2, "max_tokens": 400}}]
    assert [t["description"] for t in config["tests"]] == ["answers the question", "no pii"]
    assert not Path(seen["args"][2]).exists()  # the temp folder is gone


def test_repo_providers_override_with_absolute_file_paths(evals_repo, fake, capsys):
    record, set_results = fake
    set_results([result_row("answers the question", "accuracy", True)])
    (evals_repo / "evals/providers").mkdir()
    (evals_repo / "evals/providers/local.py").write_text("def call_api(p, o, c):\n    return {'output': 'x'}\n")
    (evals_repo / "evals/eval-config.promptfoo.yml").write_text(
        "providers:\n  - file://providers/local.py\ndefaultTest:\n  options: {provider: file://providers/local.py}\n"
        "evaluateOptions: {maxConcurrency: 1}\n", encoding="utf-8")
    code, _ = run_cli(evals_repo, "eval", "run", capsys=capsys)
    assert code == 0
    config = json.loads(record.read_text())["config"]
    absolute = f"file://{evals_repo / 'evals/providers/local.py'}"
    assert config["providers"] == [{"id": absolute, "label": "file://providers/local.py"}]
    assert config["defaultTest"] == {"options": {"provider": absolute}}
    assert config["evaluateOptions"] == {"maxConcurrency": 1}


def test_missing_provider_file_is_refused_before_promptfoo_starts(evals_repo, fake, capsys):
    record, set_results = fake
    set_results([])
    (evals_repo / "evals/eval-config.promptfoo.yml").write_text(
        "providers:\n  - id: file://providers/missing.py\n    label: local\n", encoding="utf-8")
    code, out = run_cli(evals_repo, "eval", "run", capsys=capsys)
    assert code == 2
    assert "evals/eval-config.promptfoo.yml:2:9: PL323 file://providers/missing.py does not exist" in out
    assert not record.exists()


@pytest.mark.parametrize("tests,code,where", [
    (None, "PL320", "evals/tests/support-reply.yml:1:1"),
    ("[]\n", "PL320", "evals/tests/support-reply.yml:1:1"),
    (TESTS.replace("metadata: {category: accuracy}", "metadata: {category: vibes}"), "PL321", "evals/tests/support-reply.yml:2:24"),
    (TESTS.replace("  metadata: {category: safety}\n", ""), "PL321", "evals/tests/support-reply.yml:5:3"),
    (TESTS.replace("customer_name: Ana, ", ""), "PL322", "evals/tests/support-reply.yml:3:3"),
    (TESTS + "- just a string\n", "PL320", "evals/tests/support-reply.yml:9:3"),
    (TESTS + "- {metadata: {category: cost}, vars: file://vars.yml}\n", "PL347", "evals/tests/support-reply.yml:9:38"),
    (TESTS + "- {metadata: {category: cost}, vars: {question: file://q.py}}\n", "PL347", "evals/tests/support-reply.yml:9:39"),
    (TESTS + "- {metadata: {category: cost}, providerOutput: Hi}\n", "PL346", "evals/tests/support-reply.yml:9:32"),
])
def test_bad_tests_are_refused_before_promptfoo_starts(evals_repo, fake, capsys, tests, code, where):
    record, set_results = fake
    set_results([])
    path = evals_repo / "evals/tests/support-reply.yml"
    if tests is None:
        path.unlink()
    else:
        path.write_text(tests, encoding="utf-8")
    status, out = run_cli(evals_repo, "eval", "run", capsys=capsys)
    assert status == 2
    assert f"{where}: {code} " in out
    assert not record.exists()


def test_config_error_shows_promptfoos_message(evals_repo, fake, capsys, monkeypatch):
    _, set_results = fake
    set_results([], exit_code=1)
    monkeypatch.delenv("FAKE_RESULTS")  # promptfoo refused the config: no results at all
    monkeypatch.setenv("FAKE_STDERR", "Node.js 20 support in promptfoo ended\nError: Invalid assertion type: contians\n")
    code, _ = run_cli(evals_repo, "eval", "run")
    err = capsys.readouterr().err
    assert code == 2
    assert "refused the config (exit 1):\nError: Invalid assertion type: contians" in err
    assert "Node.js 20" not in err
    assert not (evals_repo / "evals/results").exists()


def test_crash_without_results_is_an_error(evals_repo, fake, capsys, monkeypatch):
    _, set_results = fake
    set_results([], exit_code=3)
    monkeypatch.delenv("FAKE_RESULTS")
    code, out = run_cli(evals_repo, "eval", "run")
    assert code == 1
    assert "exited 3 without results" in capsys.readouterr().err


def test_promptfoo_missing_exits_2_with_the_install_command(evals_repo, monkeypatch, capsys):
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", str(evals_repo / "no-such-promptfoo"))
    code, _ = run_cli(evals_repo, "eval", "run")
    err = capsys.readouterr().err
    assert code == 2
    assert "make promptfoo" in err and "npm install --prefix .tools/promptfoo promptfoo@0.121.20" in err


def test_unsynced_or_broken_cards_are_setup_errors(evals_repo, fake, capsys):
    _, set_results = fake
    set_results([])
    (evals_repo / "prompts/support-reply/user.md").write_text("Changed {{ customer_name }} {{ question }}\n")
    code, out = run_cli(evals_repo, "eval", "run", "support-reply", capsys=capsys)
    assert code == 2
    assert "prompts/support-reply/card.yml:19:7: PL325 hash: the card is not synced" in out
    code, out = run_cli(evals_repo, "eval", "run", "no-such-prompt", capsys=capsys)
    assert code == 2 and "PL120" in out


def summary_for(card, passed=True, root=None) -> dict:
    """Results for the card's hash, bound to the current inputs of the repository at ``root``."""
    from promptlane.store.evalinputs import current_inputs

    inputs = current_inputs(Repo(root), card)
    return {"inputs": inputs, "format": FORMAT, "prompt": card.prompt_id, "hash": card.hash, "version": card.version,
            "time": "2026-01-01T00:00:00Z", "promptfoo_version": "0.121.20", "provider": "local",
            "tests": 1, "passed": int(passed), "failed": int(not passed), "errors": 0, "pass_rate": float(passed),
            "categories": {"accuracy": {"tests": 1, "passed": int(passed), "pass_rate": float(passed)}},
            "tokens": {"prompt": 1, "completion": 1, "total": 2}, "cost_usd": 0.0,
            "failures": [] if passed else [{"test": "t", "category": "accuracy", "reason": "no"}]}


def test_plan_lists_only_prompts_without_results_for_their_hash(evals_repo, capsys):
    write_prompt(evals_repo, "billing-reply")
    run_cli(evals_repo, "sync", capsys=capsys)
    support, billing = current(evals_repo), current(evals_repo, "billing-reply")
    code, out = run_cli(evals_repo, "eval", "plan", capsys=capsys)
    assert code == 0
    assert json.loads(out) == {"include": [{"prompt": "billing-reply", "hash": billing.hash},
                                           {"prompt": "support-reply", "hash": support.hash}]}
    write_results(evals_repo, summary_for(billing, root=evals_repo))
    code, out = run_cli(evals_repo, "eval", "plan", capsys=capsys)
    assert out == json.dumps({"include": [{"prompt": "support-reply", "hash": support.hash}]}) + "\n"
    # A changed prompt owes results again: the old ones belong to the old hash.
    (evals_repo / "prompts/billing-reply/system.md").write_text("You are terse.\n")
    run_cli(evals_repo, "sync", capsys=capsys)
    changed = current(evals_repo, "billing-reply")
    assert changed.hash != billing.hash and load_results(evals_repo, "billing-reply", changed.hash) is None
    code, out = run_cli(evals_repo, "eval", "plan", capsys=capsys)
    assert [e["prompt"] for e in json.loads(out)["include"]] == ["billing-reply", "support-reply"]


def test_plan_reports_broken_cards_on_stderr(evals_repo, capsys):
    (evals_repo / "prompts/support-reply/user.md").write_text("Changed {{ customer_name }} {{ question }}\n")
    code, out = run_cli(evals_repo, "eval", "plan")
    captured = capsys.readouterr()
    assert code == 1
    assert json.loads(captured.out) == {"include": []}
    assert "PL325" in captured.err


def test_existing_results_are_kept_unless_forced(evals_repo, fake, capsys):
    _, set_results = fake
    set_results([result_row("answers the question", "accuracy", True)])
    card = current(evals_repo)
    write_results(evals_repo, summary_for(card, passed=False, root=evals_repo))
    code, out = run_cli(evals_repo, "eval", "run", capsys=capsys)
    assert (code, out) == (0, "Nothing to run: every prompt has results for its current hash (--force re-runs).\n")
    code, out = run_cli(evals_repo, "eval", "run", "support-reply", capsys=capsys)
    assert code == 1 and "0/1 passed, 1 failed (kept evals/results/support-reply/" in out
    code, out = run_cli(evals_repo, "eval", "run", "--force", capsys=capsys)
    assert code == 0 and "1/1 passed" in out
    assert load_results(evals_repo, "support-reply", card.hash)["passed"] == 1


def test_progress_lines_on_multi_prompt_runs(evals_repo, fake, capsys):
    _, set_results = fake
    set_results([result_row("answers the question", "accuracy", True)])
    write_prompt(evals_repo, "billing-reply")
    (evals_repo / "evals/tests/billing-reply.yml").write_text(TESTS, encoding="utf-8")
    run_cli(evals_repo, "sync", capsys=capsys)
    code, out = run_cli(evals_repo, "eval", "run", capsys=capsys)
    lines = out.splitlines()
    assert code == 0
    # Numbered as they finish: the two run at once (one promptfoo each on two cores, or one batch).
    assert [line[:6] for line in lines[:2]] == ["[1/2] ", "[2/2] "]
    assert sorted(line[6:].split(" -> ")[0] for line in lines[:2]) == ["billing-reply ... 1/1 passed", "support-reply ... 1/1 passed"]
    assert all(f" -> evals/results/{line[6:].split(' ')[0]}/" in line for line in lines[:2])
    assert lines[2] == "2 prompts: 2 passed, 0 failed or errored, 0 not run."


def test_timeout_must_be_positive(evals_repo, capsys):
    with pytest.raises(SystemExit) as info:
        run_cli(evals_repo, "eval", "run", "--timeout", "0")
    assert info.value.code == 2


def test_results_of_other_inputs_are_owed_again_and_rerun(evals_repo, fake, capsys):
    _, set_results = fake
    set_results([result_row("answers the question", "accuracy", True)])
    card = current(evals_repo)
    write_results(evals_repo, summary_for(card, passed=False, root=evals_repo))
    assert run_cli(evals_repo, "eval", "plan", capsys=capsys) == (0, '{"include": []}\n')
    tests = evals_repo / "evals/tests/support-reply.yml"
    tests.write_text(tests.read_text() + "  # a comment changes no test\n")
    assert run_cli(evals_repo, "eval", "plan", capsys=capsys) == (0, '{"include": []}\n')
    tests.write_text(tests.read_text().replace("Where is my invoice?", "Where is my receipt?"))
    code, out = run_cli(evals_repo, "eval", "plan", capsys=capsys)
    assert json.loads(out)["include"] == [{"prompt": "support-reply", "hash": card.hash}]
    code, out = run_cli(evals_repo, "eval", "run", "support-reply", capsys=capsys)  # not kept: it no longer counts
    assert code == 0 and "1/1 passed -> evals/results/support-reply/" in out


def test_results_dir_keeps_cis_run_apart_and_needs_force(evals_repo, fake, capsys, tmp_path):
    _, set_results = fake
    set_results([result_row("answers the question", "accuracy", True)])
    card = current(evals_repo)
    write_results(evals_repo, summary_for(card, passed=False, root=evals_repo))
    committed = (evals_repo / results_rel("support-reply", card.hash)).read_bytes()
    code, out = run_cli(evals_repo, "eval", "run", "support-reply", "--results-dir", str(tmp_path / "ci"))
    assert code == 2 and "--results-dir" in capsys.readouterr().err
    code, out = run_cli(evals_repo, "eval", "run", "support-reply", "--force", "--results-dir", str(tmp_path / "ci"), capsys=capsys)
    assert code == 0 and str(tmp_path / "ci" / "support-reply") in out
    assert (evals_repo / results_rel("support-reply", card.hash)).read_bytes() == committed  # never over the committed file
    assert load_results(evals_repo, "support-reply", card.hash, tmp_path / "ci")["passed"] == 1


def test_import_binds_to_the_current_inputs_only_when_told(evals_repo, capsys, tmp_path):
    from promptlane.evals.render import messages

    card = current(evals_repo)
    rows = []
    from promptlane.core.yamltext import load

    for test in load(TESTS, "tests").data:  # this payload's rows, one per current test, of its own model
        row = result_row(test["description"], test["metadata"]["category"], True)
        row.update(vars=test["vars"], prompt={"raw": json.dumps(messages(card.payload["steps"], test["vars"])),
                                             "label": "support-reply", "config": {"promptlane_hash": card.hash}})
        rows.append(row)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(canned(rows)))
    code, _ = run_cli(evals_repo, "eval", "import", str(path), "--prompt", "support-reply")
    err = capsys.readouterr().err
    assert code == 2 and "--current-inputs" in err and "Nothing was imported" in err
    assert load_results(evals_repo, "support-reply", card.hash) is None
    code, out = run_cli(evals_repo, "eval", "import", str(path), "--prompt", "support-reply", "--current-inputs", capsys=capsys)
    assert code == 0 and "imported 2/2 passed" in out, out
    doc = load_results(evals_repo, "support-reply", card.hash)
    assert doc["inputs"]["bound"] == "eval import --current-inputs" and doc["inputs"]["provider_ids"] == ["openai:chat:gpt-4o-mini"]
    path.write_text(json.dumps(canned(rows[:1])))  # fewer rows than the current tests
    code, _ = run_cli(evals_repo, "eval", "import", str(path), "--prompt", "support-reply", "--current-inputs")
    assert code == 1 and "it has 1 result rows, but the current tests and providers give 2 x 1" in capsys.readouterr().err
