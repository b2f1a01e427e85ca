"""Bad output paths, schemas, timeouts, promptfoo binaries and imported results: each is refused
with one line (exit 2, or a problem line), no traceback, no temp file left and no file changed.

Output paths of `report` and `registry export`: a folder, an empty path, a device or a pipe
(the output is renamed over the target: as root, `--html /dev/null` would replace /dev/null), a
parent that cannot be made. `log validate`: broken schemas, deep JSON, line numbers in a large torn
log. `eval`: --timeout, PROMPTLANE_PROMPTFOO, malformed results to import, an empty eval config,
and SIGTERM while promptfoo runs (a cancelled CI job).
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import snapshot_tree
from governed import PID, card, pl

EVAL_CONFIG = "evals/eval-config.promptfoo.yml"
TMP_SUFFIXES = (".promptlane-tmp", ".promptlane-bak")


def leftovers(*folders: Path) -> list[str]:
    """Temp files promptlane would leave beside an output."""
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [p.name for p in folder.iterdir() if p.name.endswith(TMP_SUFFIXES)]
    return found


def refused(root: Path, capsys, *args: str, code: int = 2) -> str:
    """Run a command that must be refused: its exit code, no traceback, no file changed."""
    before = snapshot_tree(root)
    got, out = pl(root, capsys, *args)
    assert got == code, out
    assert "Traceback" not in out, out
    assert snapshot_tree(root) == before, "the command changed files"
    assert not any(p.endswith(TMP_SUFFIXES) for p in snapshot_tree(root))
    return out


# ---------------------------------------------------------------- report and registry export: OUT

OUTPUT_CASES = [
    (("report", "--html", "/"), "promptlane report: / is a folder; give a file name inside it"),
    (("report", "--html", "{root}"), "is a folder; give a file name inside it"),
    (("report", "--markdown", ""), "promptlane report: --markdown OUT: the path is empty; give a file name"),
    (("report", "--html", ""), "promptlane report: --html OUT: the path is empty; give a file name"),
    (("report", "--html", "{tmp}/site/"), "site/ names a folder; give a file name inside it"),
    (("report", "--html", "{tmp}/fifo"), "fifo is not a regular file (a device, pipe or socket); --html OUT is written"),
    (("report", "--markdown", "{tmp}/fifo-link"), "fifo-link is not a regular file (a device, pipe or socket)"),
    (("report", "--html", "{root}/README.md/report.html"), "cannot write"),
    (("report", "--html", "/proc/promptlane-report.html"), "cannot write /proc/promptlane-report.html"),
    (("report", "--html", "{tmp}/ok.html", "--markdown", "/"), "promptlane report: / is a folder"),
    (("report", "--html", "{tmp}/same.md", "--markdown", "{tmp}/same.md"), "--html and --markdown name the same file"),
    (("report", "--html", "{tmp}/ok.html", "--markdown", "--base", "no-such-ref"), "no-such-ref"),
    (("registry", "export", "json", "/"), "promptlane registry: / is a folder; give a file name inside it"),
    (("registry", "export", "sqlite", "{root}"), "is a folder; give a file name inside it"),
    (("registry", "export", "json", ""), "promptlane registry: OUT: the path is empty; give a file name"),
    (("registry", "export", "sqlite", "{tmp}/fifo"), "fifo is not a regular file (a device, pipe or socket); OUT is written"),
    (("registry", "export", "json", "{tmp}/fifo-link"), "fifo-link is not a regular file"),
    (("registry", "export", "sqlite", "/proc/promptlane-export.sqlite"), "cannot write /proc/promptlane-export.sqlite"),
    (("registry", "export", "json", "{root}/README.md/bundle.json"), "cannot write"),
]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc (an unwritable place, even for root)")
@pytest.mark.parametrize("argv,message", OUTPUT_CASES, ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_an_output_path_that_cannot_be_a_file_is_refused(gov, tmp_path, capsys, argv, message):
    # A pipe stands for any non-regular file: a device here could be replaced if the check regressed.
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "fifo-link").symlink_to(tmp_path / "fifo")
    args = [a.replace("{root}", str(gov)).replace("{tmp}", str(tmp_path)) for a in argv]
    out = refused(gov, capsys, *args)
    assert any(message.replace("{tmp}", str(tmp_path)) in line for line in out.splitlines()), out
    assert len([line for line in out.splitlines() if line.startswith("promptlane ")]) == 1, out
    assert not (tmp_path / "ok.html").exists() and not (tmp_path / "same.md").exists()  # nothing half done
    assert not (tmp_path / "site").exists()
    assert leftovers(Path("/"), tmp_path, gov, Path("/proc")) == []
    assert stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode) and (tmp_path / "fifo-link").is_symlink()


@pytest.mark.parametrize("path", ["/dev/null", "/dev/zero"])
def test_a_device_is_refused_before_anything_is_written(path):
    """As root, renaming over /dev/null replaces it: the target is checked first (only the check runs here)."""
    from promptlane.commands.output import output_target
    from promptlane.core.problems import UsageError

    with pytest.raises(UsageError, match=f"^{path} is not a regular file \\(a device, pipe or socket\\)"):
        output_target(path, "--html OUT")
    assert stat.S_ISCHR(os.stat(path).st_mode)


def test_markdown_to_dev_stdout_through_a_pipe_is_refused_with_the_way_to_print(gov):
    done = subprocess.run([sys.executable, "-m", "promptlane.cli", "-C", str(gov), "report", "--markdown", "/dev/stdout"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr == ("promptlane report: /dev/stdout is not a regular file (a device, pipe or socket); --markdown OUT "
                           "is written to a new file renamed into place, so give a file path; to print to stdout, use "
                           "--markdown without OUT (or --markdown -)\n")
    assert done.stdout == "" and leftovers(gov) == []


@pytest.mark.parametrize("argv", [("--markdown",), ("--markdown", "-")])
def test_markdown_without_a_file_still_prints_to_stdout(gov, capsys, argv):
    before = snapshot_tree(gov)
    code, out = pl(gov, capsys, "report", *argv)
    assert code == 0 and out.startswith("## ") and PID in out, out
    assert snapshot_tree(gov) == before


def test_outputs_are_written_into_new_folders_and_replace_regular_files(gov, tmp_path, capsys):
    html, bundle = tmp_path / "site/a/report.html", tmp_path / "build/prompts.bundle.json"
    bundle.parent.mkdir()
    bundle.write_text("old\n")
    assert pl(gov, capsys, "report", "--html", str(html))[0] == 0
    assert pl(gov, capsys, "registry", "export", "json", str(bundle))[0] == 0
    assert html.read_text().startswith("<!DOCTYPE html>")
    assert json.loads(bundle.read_text())["format"] == "promptlane-bundle/1"
    assert leftovers(html.parent, bundle.parent) == []


def test_a_link_at_the_temp_path_is_not_written_through(gov, tmp_path, capsys):
    """A symlink where the temp file goes (planted, or left by a killed run) is removed, never followed."""
    victim = tmp_path / "victim.txt"
    victim.write_text("not promptlane's to touch\n")
    out = tmp_path / "report.html"
    (tmp_path / ".report.html.promptlane-tmp").symlink_to(victim)
    (tmp_path / "bundle.json.promptlane-tmp").symlink_to(victim)
    assert pl(gov, capsys, "report", "--html", str(out))[0] == 0
    assert pl(gov, capsys, "registry", "export", "json", str(tmp_path / "bundle.json"))[0] == 0
    assert victim.read_text() == "not promptlane's to touch\n"
    assert out.read_text().startswith("<!DOCTYPE html>") and leftovers(tmp_path) == []


# ---------------------------------------------------------------- log validate: schemas, deep JSON, size


def _sample_record(root: Path) -> dict:
    sample = json.loads((root / "logs/log-sample.output.json").read_text(encoding="utf-8"))
    return sample[0] if isinstance(sample, list) else sample


@pytest.mark.parametrize("schema,message", [
    ("42\n", "not a JSON schema (a schema is a JSON object, this is 42)"),
    ('{"type": 5}\n', "not a valid JSON schema (type: 5 is not valid under any of the given schemas)"),
    ('{"properties": {"trace_id": {"pattern": "("}}}\n', "not a valid JSON schema (properties/trace_id/pattern: '(' is not a 'regex')"),
    ('{"$ref": "https://example.com/trace.json"}\n', "not a usable JSON schema ($ref 'https://example.com/trace.json' resolves to nothing"),
    ("[" * 100_000 + "]" * 100_000, "not a valid JSON schema file (nested too deeply to read)"),
    (None, "is a folder, not a trace schema; pass a JSON schema file"),
])
def test_a_broken_schema_is_refused_naming_it(gov, tmp_path, capsys, schema, message):
    path = tmp_path / "schema.json"
    if schema is None:
        path.mkdir()
    else:
        path.write_text(schema)
    (gov / "trace.jsonl").write_text(json.dumps(_sample_record(gov)) + "\n")
    out = refused(gov, capsys, "log", "validate", "trace.jsonl", "--schema", str(path))
    assert out == f"promptlane log: {path}: {message}" + out.split(message, 1)[1], out
    assert len(out.splitlines()) == 1, out


def test_the_repositorys_own_schema_being_a_number_is_refused(gov, capsys):
    (gov / "logs/prompt-log-schema.json").write_text("42\n")
    out = refused(gov, capsys, "log", "validate", "logs/log-sample.output.json")
    assert out == ("promptlane log: logs/prompt-log-schema.json: not a JSON schema (a schema is a JSON object, "
                   "this is 42); fix it, or pass --schema PATH\n".replace("logs/", f"{gov}/logs/", 1)), out


@pytest.mark.parametrize("as_array", [False, True], ids=["json-lines", "array"])
def test_json_nested_too_deeply_is_that_records_problem(gov, capsys, as_array):
    record = json.dumps(_sample_record(gov))
    deep = "[" * 100_000 + "]" * 100_000
    text = f"[{record},\n{deep}\n]\n" if as_array else f"{record}\n{deep}\n{record}\n"
    (gov / "trace.jsonl").write_text(text)
    out = refused(gov, capsys, "log", "validate", "trace.jsonl", code=1)
    expected = "trace.jsonl:2:1: PL580 not valid JSON (nested too deeply to read)" if as_array else \
        "trace.jsonl:2:1: PL580 record 2: not valid JSON (nested too deeply to read)"
    assert out.splitlines() == [expected, "Found 1 problem in 1 file."], out


@pytest.mark.parametrize("torn,records", [
    ('{"trace_id": "b", "n": [1, 2}', 20_000),   # broken mid-line: that line is the record
    ('{"trace_id": "b", "n": [1, 2', 10_001),    # cut at the end: it runs into the next line
    ('{"trace_id": "b", "n": [1, 2] "x": 1}', 20_000),
], ids=["broken-mid-line", "cut-at-the-end", "text-after-a-value"])
def test_a_large_torn_log_keeps_its_line_numbers(torn, records):
    """20,000 lines, every other one torn: every record and error is placed on its own line (line
    numbers come from one index of newlines; speed is left to benchmarks, not asserted here)."""
    from promptlane.runtime.logfile import LogSyntaxError, read_entries

    good = '{"trace_id": "a", "output": "%s", "n": [1, 2, 3]}' % ("x" * 1000)  # about the size of a real record
    text = "".join(f"{good if i % 2 == 0 else torn}\n" for i in range(20_000))
    entries = read_entries(text)
    assert len(entries) == records
    assert all(isinstance(e.value, LogSyntaxError) == (e.line % 2 == 0) for e in entries)
    if records == 20_000:
        assert [(e.number, e.line) for e in entries[-2:]] == [(19_999, 19_999), (20_000, 20_000)]
    else:  # the error is where the next record starts, and reading resumes after that line
        assert [(e.number, e.line, e.value.line) for e in entries[-2:]] == [(10_000, 19_998, 19_999), (10_001, 20_000, 20_001)]


def test_pretty_printed_records_keep_their_line_numbers(gov, capsys):
    record = _sample_record(gov)
    del record["hash"]
    text = json.dumps(record, indent=2) + "\n" + json.dumps({**record, "extra": 1}, indent=2) + "\n"
    (gov / "trace.json").write_text(text)
    out = refused(gov, capsys, "log", "validate", "trace.json", code=1)
    second = 1 + json.dumps(record, indent=2).count("\n") + 1
    extra_line = second + json.dumps({**record, "extra": 1}, indent=2).splitlines().index('  "extra": 1')
    assert "trace.json:1:1: PL582 record 1: hash: is required" in out
    assert f"trace.json:{extra_line}:3: PL582 record 2: extra: is not a field of the trace schema" in out


# ---------------------------------------------------------------- eval run: --timeout, promptfoo, config

FAKE_PROMPTFOO = """#!{python}
import os, pathlib, subprocess, sys, time
if sys.argv[1:] == ["--version"]:  # it starts: the failure is the eval's (promptlane asks after a run without results)
    print("0.121.20")
    sys.exit(0)
# Records that it ran; with SLOW set, starts a worker (its own child) and waits like a hung provider.
pathlib.Path(os.environ["FAKE_RAN"]).write_text(str(os.getpid()))
if os.environ.get("SLOW"):
    worker = subprocess.Popen(["sleep", "120"])
    pathlib.Path(os.environ["FAKE_RAN"]).write_text(f"{{os.getpid()}} {{worker.pid}}")
    time.sleep(120)
sys.exit(1)
"""


@pytest.fixture
def fake_promptfoo(tmp_path, monkeypatch) -> Path:
    """A promptfoo stand-in on PROMPTLANE_PROMPTFOO; returns the file it writes when it runs."""
    script = tmp_path / "fake-promptfoo"
    script.write_text(FAKE_PROMPTFOO.format(python=sys.executable))
    script.chmod(0o755)
    ran = tmp_path / "promptfoo-ran"
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", str(script))
    monkeypatch.setenv("FAKE_RAN", str(ran))
    monkeypatch.setattr("promptlane.evals.runner.require_node", lambda: None)
    return ran


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "1e9"])
def test_a_timeout_that_is_not_a_positive_finite_number_is_refused(gov, tmp_path, capsys, monkeypatch, fake_promptfoo, value):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    before = snapshot_tree(gov)
    with pytest.raises(SystemExit) as stop:  # argparse refuses it: exit 2 and usage on stderr
        pl(gov, capsys, "eval", "run", "--force", f"--timeout={value}")
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert f"argument --timeout: '{value}': the timeout must be a number of seconds more than 0 and at most 604800" in err
    assert not fake_promptfoo.exists() and not list(tmp_path.glob("promptlane-eval-*"))
    assert snapshot_tree(gov) == before


@pytest.mark.parametrize("kind,message", [
    ("not-executable", "is not executable (chmod +x it); install the pinned promptfoo"),
    ("folder", "is a folder, not the promptfoo binary; install the pinned promptfoo"),
    ("bad-interpreter", "cannot be started (No such file or directory); install the pinned promptfoo"),
    ("not-a-program", "cannot be started (Exec format error); install the pinned promptfoo"),
])
def test_a_promptfoo_that_cannot_run_is_reported_like_a_missing_one(gov, tmp_path, capsys, monkeypatch, kind, message):
    path = tmp_path / "promptfoo"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes({"not-executable": b"#!/bin/sh\n", "bad-interpreter": b"#!/nonexistent/node\n",
                          "not-a-program": b"\x7fELF garbage"}[kind])
        path.chmod(0o644 if kind == "not-executable" else 0o755)
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", str(path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("promptlane.evals.runner.require_node", lambda: None)
    out = refused(gov, capsys, "eval", "run", "--force")
    assert any(line.startswith("promptlane eval: ") and message in line for line in out.splitlines()), out
    assert not list(tmp_path.glob("promptlane-eval-*"))


@pytest.mark.parametrize("text,problem", [
    ("", "1:1: PL324 is empty; give it `providers:`"),
    ("null\n", "1:1: PL324 is empty; give it `providers:`"),
    ("# providers come later\n", "1:1: PL324 is empty; give it `providers:`"),
    ("- file://providers/local_echo.py\n", "1:1: PL324 must be a promptfoo config (a YAML mapping)"),
    ("description: x\nproviders:\n", "2:11: PL324 providers: must be a non-empty list of promptfoo providers"),
    ("providers: []\n", "1:12: PL324 providers: must be a non-empty list of promptfoo providers"),
])
def test_an_empty_eval_config_is_refused_before_promptfoo_starts(gov, capsys, fake_promptfoo, text, problem):
    (gov / EVAL_CONFIG).write_text(text)
    out = refused(gov, capsys, "eval", "run", "--force")
    assert f"{EVAL_CONFIG}:{problem}" in out, out
    assert not fake_promptfoo.exists()
    out = refused(gov, capsys, "check", "--all", code=1)  # `check` reads the config the same way
    assert f"{EVAL_CONFIG}:{problem}" in out, out


# ---------------------------------------------------------------- eval import: malformed promptfoo results


def _results(gov: Path, change=None) -> dict:
    variables = {"customer_name": "Ana", "question": "Hi?"}
    row = {"success": True, "vars": variables,
           "prompt": {"raw": "[]", "label": PID, "config": {"promptlane_prompt": PID, "promptlane_hash": card(gov)["hash"]}},
           "testCase": {"description": "t", "metadata": {"category": "accuracy"}, "vars": variables},
           "gradingResult": {"pass": True, "reason": "ok"}, "tokenUsage": {"total": 10, "prompt": 8, "completion": 2},
           "provider": {"id": "echo", "label": "echo"}}
    doc = {"results": {"version": 3, "timestamp": "2026-12-01T08:00:00Z", "results": [row]},
           "metadata": {"promptfooVersion": "0.121.20"}}
    if change:
        change(doc, row)
    return doc


IMPORT_CASES = [
    ("vars", lambda d, r: r.update(vars=5), "results.results[0].vars is 5, not an object"),
    ("prompt", lambda d, r: r.update(prompt=3), "results.results[0].prompt is 3, not an object"),
    ("testCase", lambda d, r: r.update(testCase=7), "results.results[0].testCase is 7, not an object"),
    ("testCase.vars", lambda d, r: r["testCase"].update(vars=[1]), "results.results[0].testCase.vars is [1], not an object"),
    ("prompt.config", lambda d, r: r["prompt"].update(config="x"), 'results.results[0].prompt.config is "x", not an object'),
    ("gradingResult", lambda d, r: r.update(gradingResult=True), "results.results[0].gradingResult is true, not an object"),
    ("tokenUsage", lambda d, r: r.update(tokenUsage=[]), "results.results[0].tokenUsage is [], not an object"),
    ("provider", lambda d, r: r.update(provider=5), "results.results[0].provider is 5, not an object or a string"),
    ("metadata", lambda d, r: d.update(metadata=5), "metadata is 5, not an object"),
]


@pytest.mark.parametrize("name,change,message", IMPORT_CASES, ids=[c[0] for c in IMPORT_CASES])
def test_results_with_a_field_of_the_wrong_type_are_refused(gov, tmp_path, capsys, name, change, message):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_results(gov, change)))
    out = refused(gov, capsys, "eval", "import", str(path), "--prompt", PID, "--current-inputs")
    assert out == (f"promptlane eval: {path} is not a promptfoo results file: {message} "
                   "(write one with `promptfoo eval -o results.json`); nothing was imported\n"), out


def test_results_nested_too_deeply_are_refused(gov, tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text('{"results": {"results": [' + "[" * 100_000 + "]" * 100_000 + "]}}")
    out = refused(gov, capsys, "eval", "import", str(path), "--prompt", PID, "--current-inputs")
    assert out == f"promptlane eval: {path} is not a readable JSON file (nested too deeply to read)\n", out


def test_well_formed_results_still_import(gov, tmp_path, capsys):
    """The shape check refuses wrong types only: the row shape promptfoo writes is accepted."""
    from promptlane.store.cards import read_card
    from promptlane.evals.render import messages
    from promptlane.store.repo import Repo

    path = tmp_path / "results.json"
    doc = _results(gov)
    steps = read_card(Repo(gov), PID).payload["steps"]
    row = doc["results"]["results"][0]
    row["prompt"]["raw"] = json.dumps(messages(steps, row["vars"]))
    # --current-inputs: of the current providers (the stand-in), one row per current test (six)
    row["provider"] = {"id": "file://providers/local_echo.py", "label": "local-echo"}
    doc["results"]["results"] = [row] * 6
    path.write_text(json.dumps(doc))
    code, out = pl(gov, capsys, "eval", "import", str(path), "--prompt", PID, "--current-inputs")
    assert code == 0 and f"{PID}: imported 6/6 passed" in out, out


# ---------------------------------------------------------------- eval run: SIGTERM (a cancelled CI job)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"  # a zombie is stopped; only its parent (init here) has not collected it yet


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")
def test_sigterm_stops_promptfoo_and_removes_its_temp_folder(gov, tmp_path):
    script = tmp_path / "fake-promptfoo"
    script.write_text(FAKE_PROMPTFOO.format(python=sys.executable))
    script.chmod(0o755)
    bin_dir, temp = tmp_path / "bin", tmp_path / "tmp"
    bin_dir.mkdir()
    temp.mkdir()
    (bin_dir / "node").write_text("#!/bin/sh\nexit 0\n")  # require_node() looks for it on PATH only
    (bin_dir / "node").chmod(0o755)
    ran = tmp_path / "promptfoo-ran"
    # PROMPTLANE_JOBS=1: the template's two prompts in one batch, one promptfoo process (the fake).
    env = {**os.environ, "PROMPTLANE_PROMPTFOO": str(script), "FAKE_RAN": str(ran), "SLOW": "1", "PROMPTLANE_JOBS": "1",
           "TMPDIR": str(temp), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    before = snapshot_tree(gov)
    process = subprocess.Popen([sys.executable, "-m", "promptlane.cli", "-C", str(gov), "eval", "run", "--force"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (ran.exists() and len(ran.read_text().split()) == 2):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        assert len(list(temp.glob("promptlane-eval-*"))) == 1
        pids = [int(p) for p in ran.read_text().split()]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, out + err
    assert "Traceback" not in err, err
    assert out == "stopped (0/2 prompts done)\n", out  # and the run ends there: nothing is run one by one after it
    assert err == "promptlane eval: stopped by SIGTERM; promptfoo was stopped and the prompt being evaluated got no results\n"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids), "promptfoo or its worker is still running"
    assert list(temp.iterdir()) == []
    assert snapshot_tree(gov) == before


def test_the_sigterm_handler_is_put_back_after_a_run(gov, capsys, fake_promptfoo):
    before = signal.getsignal(signal.SIGTERM)
    code, out = pl(gov, capsys, "eval", "run", "--force")
    assert code == 2 and "promptfoo refused the config (exit 1)" in out, out
    assert signal.getsignal(signal.SIGTERM) == before
