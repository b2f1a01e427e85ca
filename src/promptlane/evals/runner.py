"""Running the pinned promptfoo for one prompt: offline, in a temp folder, under a timeout.

promptfoo is an npm package; the PyPI wrapper refuses Node 20, so the CLI is called directly
(an argument list, no shell). Where it is looked for, in order: $PROMPTLANE_PROMPTFOO, the
governed repository's .tools/promptfoo, this promptlane checkout's .tools/promptfoo (what
`make promptfoo` installs), then `promptfoo` on PATH.

Exit codes of promptfoo 0.121: 0 all passed, 100 some test failed or errored (results were
written), 1 a configuration error (no results). Anything else, or no results file, is an error.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from promptlane.core.problems import PromptlaneError
from promptlane.evals import DEFAULT_TIMEOUT
from promptlane.evals import config as eval_config
from promptlane.evals.summary import result_rows, summarise
from promptlane.store.results import write_results

PROMPTFOO_VERSION = "0.121.20"
TOOLS_BIN = Path(".tools/promptfoo/node_modules/.bin/promptfoo")
INSTALL = (
    "install the pinned promptfoo with `make promptfoo` (in a promptlane checkout) or "
    f"`npm install --prefix .tools/promptfoo promptfoo@{PROMPTFOO_VERSION} --omit=optional "
    "--ignore-scripts @libsql/linux-x64-gnu@0.5.29`, or point PROMPTLANE_PROMPTFOO at its binary"
)
TAIL_LINES = 15
# Lines promptfoo prints on every run that say nothing about the failure.
_NOISE = ("Node.js 20 support", "ExperimentalWarning", "node --trace-warnings", "Error log:", "Debug log:")


class EvalRunError(PromptlaneError):
    """promptfoo ran but produced no usable results (timeout, crash): exit 1."""


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
    for candidate in (repo_root / TOOLS_BIN, checkout / TOOLS_BIN):
        if candidate.is_file():
            return candidate
    found = shutil.which("promptfoo")
    if found:
        return Path(found)
    raise eval_config.EvalSetupError(f"promptfoo was not found (PROMPTLANE_PROMPTFOO, .tools/promptfoo, PATH); {INSTALL}")


def require_node() -> None:
    if shutil.which("node") is None:
        raise eval_config.EvalSetupError("Node.js was not found on PATH; promptfoo needs Node.js 20 or newer (https://nodejs.org)")


@dataclass
class Run:
    summary: dict
    rel: str  # where the results were written


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
    return env


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip() and not any(n in line for n in _NOISE)]
    return "\n".join(lines[-TAIL_LINES:])


def _run_process(args: list[str], env: dict, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run in its own process group, so a timeout also ends promptfoo's Python workers. Whatever
    stops the wait (the timeout, Ctrl-C, SIGTERM under ``stop_on_sigterm``) stops the group too."""
    try:
        # An argument list (the pinned promptfoo and its options), never a shell.
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # noqa: S603
                                   stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
    except OSError as exc:  # not executable, a bad #! line, not a program at all
        raise eval_config.EvalSetupError(f"{args[0]} cannot be started ({exc.strerror or exc}); {INSTALL}") from None
    try:
        out, err = process.communicate(timeout=timeout)
    except BaseException:
        _kill_group(process)
        raise
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


def run_prompt(repo, card, promptfoo: Path, timeout: float = DEFAULT_TIMEOUT) -> Run:
    """Evaluate one sound, synced card; write and return its results.

    Raises EvalSetupError (nothing ran) or EvalRunError (no results); in both cases no
    results file is written or changed.
    """
    with tempfile.TemporaryDirectory(prefix="promptlane-eval-") as tmp:
        workdir = Path(tmp)
        config_path = eval_config.build(repo, card, workdir)
        output = workdir / "results.json"
        args = [str(promptfoo), "eval", "-c", str(config_path), "-o", str(output),
                "--no-cache", "--no-share", "--no-progress-bar", "--no-table"]
        try:
            done = _run_process(args, promptfoo_env(workdir, card.prompt_id), repo.root, timeout)
        except subprocess.TimeoutExpired:
            raise EvalRunError(f"{card.prompt_id}: promptfoo did not finish within {timeout:g} s and was stopped; "
                               "no results were written (a slow or hanging provider? raise --timeout)") from None
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
    summary = summarise(doc, rows, card.prompt_id, card.hash, str(card.version))
    return Run(summary, write_results(repo, summary))
