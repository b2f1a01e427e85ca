"""Running the pinned promptfoo for one prompt: offline, in a temp folder, under a timeout.

promptfoo is an npm package; the PyPI wrapper refuses Node 20, so the CLI is called directly
(an argument list, no shell). Where it is looked for, in order: $PROMPTLANE_PROMPTFOO, the
governed repository's evals/promptfoo (its package-lock.json, installed with `npm ci`), its
.tools/promptfoo, this promptlane checkout's .tools/promptfoo (what `make promptfoo` installs),
then `promptfoo` on PATH.

Exit codes of promptfoo 0.121: 0 all passed, 100 some test failed or errored (results were
written), 1 a configuration error (no results). Anything else, or no results file, is an error.
A promptfoo that cannot start at all (a native binding missing, a broken install) exits 1 too:
after any run without results, `promptfoo --version` tells the two apart.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from promptlane.core.problems import PromptlaneError
from promptlane.evals import DEFAULT_TIMEOUT
from promptlane.evals import config as eval_config
from promptlane.evals.summary import failure_details, result_rows, summarise
from promptlane.store.evalinputs import InputsError, current_inputs
from promptlane.store.results import write_results

PROMPTFOO_VERSION = "0.121.20"
LOCK_BIN = Path("evals/promptfoo/node_modules/.bin/promptfoo")  # the governed repository's lock
TOOLS_BIN = Path(".tools/promptfoo/node_modules/.bin/promptfoo")
LOCK_INSTALL = "npm ci --prefix evals/promptfoo --omit=optional --ignore-scripts"
INSTALL = (
    f"install the pinned promptfoo with `{LOCK_INSTALL}` (a governed repository's "
    "evals/promptfoo/package-lock.json), `make promptfoo` (a promptlane checkout) or "
    f"`npm install --prefix .tools/promptfoo promptfoo@{PROMPTFOO_VERSION} --omit=optional "
    "--ignore-scripts @libsql/linux-x64-gnu@0.5.29`, or point PROMPTLANE_PROMPTFOO at its binary"
)
TAIL_LINES = 15
HEAD_LINES = 8
STARTUP_TIMEOUT = 60.0  # seconds for `promptfoo --version`
# Lines promptfoo prints on every run that say nothing about the failure.
_NOISE = ("Node.js 20 support", "ExperimentalWarning", "node --trace-warnings", "Error log:", "Debug log:")


class EvalRunError(PromptlaneError):
    """promptfoo ran but produced no usable results (timeout, crash): exit 1."""


class PromptfooCannotStart(eval_config.EvalSetupError):
    """promptfoo does not even start (`--version` fails too): a setup error, exit 2. Every
    further prompt would fail the same way."""


class EvalTerminated(PromptlaneError):
    """SIGTERM (a cancelled CI job) stopped the run: promptfoo was stopped, its temp folder removed."""

    exit_code = 128 + signal.SIGTERM


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While inside: SIGTERM raises EvalTerminated, so the cleanup that a timeout gets (stop
    promptfoo's process group, remove the temp folder) runs too. A second SIGTERM acts as usual."""
    def terminated(signum, frame):
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        raise EvalTerminated("stopped by SIGTERM; promptfoo was stopped and the prompt being evaluated got no results")

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def find_promptfoo(repo_root: Path) -> Path:
    """The promptfoo binary, or EvalSetupError naming the install command."""
    override = os.environ.get("PROMPTLANE_PROMPTFOO")
    if override:
        path = Path(override)
        if path.is_dir():
            raise eval_config.EvalSetupError(f"PROMPTLANE_PROMPTFOO={override} is a folder, not the promptfoo binary; {INSTALL}")
        if not path.is_file():
            raise eval_config.EvalSetupError(f"PROMPTLANE_PROMPTFOO={override} does not exist; {INSTALL}")
        if not os.access(path, os.X_OK):
            raise eval_config.EvalSetupError(f"PROMPTLANE_PROMPTFOO={override} is not executable (chmod +x it); {INSTALL}")
        return path
    checkout = Path(__file__).resolve().parents[3]  # a source checkout: src/promptlane/evals/
    for candidate in (repo_root / LOCK_BIN, repo_root / TOOLS_BIN, checkout / TOOLS_BIN):
        if candidate.is_file():
            return candidate
    found = shutil.which("promptfoo")
    if found:
        return Path(found)
    raise eval_config.EvalSetupError("promptfoo was not found (PROMPTLANE_PROMPTFOO, evals/promptfoo, .tools/promptfoo, "
                                     f"PATH); {INSTALL}")


def require_node() -> None:
    if shutil.which("node") is None:
        raise eval_config.EvalSetupError("Node.js was not found on PATH; promptfoo needs Node.js 20 or newer (https://nodejs.org)")


@dataclass
class Run:
    summary: dict
    rel: str  # where the results were written
    failures: list = field(default_factory=list)  # summary.failure_details: what each failing test did


def promptfoo_env(workdir: Path, prompt_id: str) -> dict:
    env = dict(os.environ)
    for key in ("PROMPTFOO_PASS_RATE_THRESHOLD", "PROMPTFOO_FAILED_TEST_EXIT_CODE"):
        env.pop(key, None)  # they change the exit codes this module relies on
    env.update({
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CONFIG_DIR": str(workdir / "promptfoo-home"),  # no shared eval DB or cache
        "PROMPTLANE_PROMPT": prompt_id,  # for configs that use the template's render_chain.py
        "NODE_NO_WARNINGS": "1",
    })
    # The Python that runs promptlane has PyYAML for evals/*.py; an explicit choice is kept.
    env.setdefault("PROMPTFOO_PYTHON", sys.executable)
    # promptfoo retries a 429 on its own but a 500 only when asked: a model API's passing 500
    # would otherwise turn a test into an error. An explicit choice (false) is kept.
    env.setdefault("PROMPTFOO_RETRY_5XX", "true")
    return env


def _lines(text: str) -> list[str]:
    return [line for line in text.strip().splitlines() if line.strip() and not any(n in line for n in _NOISE)]


def _tail(text: str) -> str:
    return "\n".join(_lines(text)[-TAIL_LINES:])


def _head(text: str) -> str:
    """The first lines of a crash, without its stack frames: what went wrong and where."""
    return "\n".join([line for line in _lines(text) if not line.lstrip().startswith("at ")][:HEAD_LINES])


def _cannot_start(prompt_id: str, promptfoo: Path, env: dict, cwd: Path, failed: subprocess.CompletedProcess) -> PromptfooCannotStart | None:
    """After a run without results: None when `promptfoo --version` works (promptfoo itself ran
    and refused or crashed on this config), else the error that says it cannot start at all."""
    try:
        probe = run_process([str(promptfoo), "--version"], env, cwd, STARTUP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return PromptfooCannotStart(f"{prompt_id}: promptfoo ({promptfoo}) cannot start: `promptfoo --version` did not "
                                    f"answer within {STARTUP_TIMEOUT:g} s; {INSTALL}")
    if probe.returncode == 0 and probe.stdout.strip():
        return None
    stderr = failed.stderr if failed.stderr.strip() else probe.stderr
    hint = INSTALL
    if "@libsql/" in stderr:
        hint = ("its libsql native binding is missing (`npm install --omit=optional` leaves it out); "
                f"`{LOCK_INSTALL}` installs the lock, which names the Linux x64 one as a direct dependency "
                "(on another platform, leave out --omit=optional to get yours)")
    return PromptfooCannotStart(
        f"{prompt_id}: promptfoo ({promptfoo}) cannot start (exit {failed.returncode}; `promptfoo --version` exits "
        f"{probe.returncode} too); {hint}. The first lines of its stderr:\n{_head(stderr) or '(nothing)'}")


class Stopped(PromptlaneError):
    """The whole run is being stopped (SIGTERM, or promptfoo cannot start): start no promptfoo."""


_live: set[subprocess.Popen] = set()  # every promptfoo running now, in any thread (stop_all ends them)
_live_lock = threading.Lock()
_stopping = threading.Event()


def stop_all() -> None:
    """From now on no promptfoo starts, and every one running (another thread's too) is stopped:
    its group gets SIGTERM, then SIGKILL; the thread waiting for it then cleans up as on a timeout."""
    _stopping.set()
    with _live_lock:
        running = list(_live)
    for process in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)


def reset_stop() -> None:
    _stopping.clear()


def run_process(args: list[str], env: dict, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run in its own process group, so a timeout also ends promptfoo's Python workers. Whatever
    stops the wait (the timeout, Ctrl-C, SIGTERM under ``stop_on_sigterm``, ``stop_all`` from
    another thread) stops the group too."""
    with _live_lock:
        if _stopping.is_set():
            raise Stopped("the run is being stopped")
        try:
            # An argument list (the pinned promptfoo and its options), never a shell.
            process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # noqa: S603
                                       stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
        except OSError as exc:  # not executable, a bad #! line, not a program at all
            raise eval_config.EvalSetupError(f"{args[0]} cannot be started ({exc.strerror or exc}); {INSTALL}") from None
        _live.add(process)
    try:
        out, err = process.communicate(timeout=timeout)
    except BaseException:
        _kill_group(process)
        raise
    finally:
        with _live_lock:
            _live.discard(process)
    if _stopping.is_set():
        _kill_group(process)  # its workers too
        raise Stopped("the run is being stopped")
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def _kill_group(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.communicate(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_prompt(repo, card, promptfoo: Path, timeout: float = DEFAULT_TIMEOUT, results_dir: Path | None = None) -> Run:
    """Evaluate one sound, synced card; write and return its results (in evals/results/, or in
    ``results_dir``: CI's own, kept apart from the committed ones).

    Raises EvalSetupError (nothing ran) or EvalRunError (no results); in both cases no
    results file is written or changed.
    """
    with tempfile.TemporaryDirectory(prefix="promptlane-eval-") as tmp:
        workdir = Path(tmp)
        config_path = eval_config.build(repo, card, workdir)
        try:  # what this run is bound to, read from the same files build() just checked
            inputs = current_inputs(repo, card)
        except InputsError as exc:
            raise eval_config.EvalSetupError(str(exc), exc.problems) from None
        output = workdir / "results.json"
        args = [str(promptfoo), "eval", "-c", str(config_path), "-o", str(output),
                "--no-cache", "--no-share", "--no-progress-bar", "--no-table"]
        env = promptfoo_env(workdir, card.prompt_id)
        try:
            # In the temp folder, not the checkout: promptfoo loads a .env from its working folder,
            # and a committed .env (PYTHONPATH, a base URL) would change what runs without
            # changing any eval input; every path in the config is absolute.
            done = run_process(args, env, workdir, timeout)
        except subprocess.TimeoutExpired:
            raise EvalRunError(f"{card.prompt_id}: promptfoo did not finish within {timeout:g} s and was stopped; "
                               "no results were written (a slow or hanging provider? raise --timeout)") from None
        if done.returncode not in (0, 100) or not output.is_file():
            broken = _cannot_start(card.prompt_id, promptfoo, env, workdir, done)
            if broken is not None:
                raise broken
        if done.returncode == 1:
            raise eval_config.EvalSetupError(
                f"{card.prompt_id}: promptfoo refused the config (exit 1):\n{_tail(done.stderr + done.stdout)}")
        if done.returncode not in (0, 100) or not output.is_file():
            raise EvalRunError(f"{card.prompt_id}: promptfoo exited {done.returncode} without results:\n{_tail(done.stderr + done.stdout)}")
        try:
            doc = json.loads(output.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EvalRunError(f"{card.prompt_id}: promptfoo wrote unreadable results ({exc})") from None
    rows = result_rows(doc)
    if rows is None:
        raise EvalRunError(f"{card.prompt_id}: promptfoo wrote results in a format promptlane does not know (promptfoo {PROMPTFOO_VERSION} is the pinned version)")
    summary = summarise(doc, rows, card.prompt_id, card.hash, str(card.version), inputs)
    return Run(summary, write_results(repo, summary, results_dir), failure_details(rows))
