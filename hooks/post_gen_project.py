"""Make the rendered folder a git repository and say what to do next.

Runs inside the new project folder with whatever Python runs cookiecutter, so it uses only
the standard library: promptlane itself need not be installed to scaffold a repository.
A git problem is reported as a warning, never as a failure: failing here would make
cookiecutter delete a scaffold that is otherwise complete.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

CONTEXT = json.loads(r'''{{ cookiecutter | tojson }}''')
BRANCH = "main"
COMMIT_MESSAGE = "Scaffold governed prompt repository (promptlane template)"


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False)


def warn(message: str, result: subprocess.CompletedProcess | None = None) -> None:
    detail = f": {result.stderr.strip()}" if result is not None and result.stderr.strip() else ""
    say(f"WARNING: {message}{detail}", sys.stderr)


def say(text: str, stream=None) -> None:
    """Print; a reader that is gone (`promptlane init ... | head -1`) must not undo the render,
    which a traceback here would (cookiecutter deletes the folder when a hook fails)."""
    stream = stream or sys.stdout
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # so the interpreter's last flush is quiet too
        os.close(devnull)


def init_repository() -> bool:
    """`git init` on branch main; `-b` needs git >= 2.28, so fall back to renaming HEAD."""
    if shutil.which("git") is None:
        warn("git was not found; run `git init -b main` in the new folder yourself")
        return False
    result = git("init", "-q", "-b", BRANCH)
    if result.returncode != 0:
        result = git("init", "-q")
        if result.returncode != 0:
            warn("git init failed", result)
            return False
        git("symbolic-ref", "HEAD", f"refs/heads/{BRANCH}")
    wire_merge_drivers()
    return True


# Same as `promptlane merge-driver --install`: kept here so rendering needs no promptlane.
MERGE_DRIVERS = {
    "merge.promptlane-audit.name": "promptlane audit log (re-chain appended rows)",
    "merge.promptlane-audit.driver": "promptlane merge-driver audit %O %A %B",
    "merge.promptlane-lock.name": "promptlane registry lock (unite versions)",
    "merge.promptlane-lock.driver": "promptlane merge-driver lock %O %A %B",
    "merge.promptlane-append.name": "promptlane append-only changelog",
    "merge.promptlane-append.driver": "promptlane merge-driver append %O %A %B",
}


def wire_merge_drivers() -> None:
    """.gitattributes names these drivers; git only runs them once .git/config defines them."""
    for key, value in MERGE_DRIVERS.items():
        if git("config", key, value).returncode != 0:
            warn("could not set the merge drivers; run `promptlane merge-driver --install`")
            return


def initial_commit() -> bool:
    added = git("add", "-A")
    if added.returncode != 0:
        warn("git add failed; commit the scaffold yourself", added)
        return False
    committed = git("commit", "-q", "-m", COMMIT_MESSAGE)
    if committed.returncode != 0:
        warn("the first commit failed (is user.name/user.email set?); commit the scaffold yourself",
             committed)
        return False
    return True


def next_steps(committed: bool) -> str:
    steps = [
        "python -m pip install -r requirements.txt   # the pinned promptlane and pre-commit",
        "pre-commit install",
        "git add -A                   # pre-commit checks tracked files only",
        "pre-commit run --all-files   # passes untouched: the example prompts are already versioned",
    ]
    if not committed:
        steps.append("git commit -m 'Scaffold governed prompt repository'")
    # No `cd` or path here: `promptlane init` may move the folder after this hook runs.
    lines = [f"Created the {CONTEXT['project']} repository. Next steps, inside it:"]
    lines += [f"  {step}" for step in steps]
    lines += ["", "Then see README.md: add a prompt with `promptlane new ID`, eval, approve, promote."]
    return "\n".join(lines)


def remove_bytecode() -> None:
    """`cookiecutter` pointed at a checkout copies whatever is there, __pycache__ included
    (`promptlane init` renders from a clean copy): a new repository holds source files only."""
    for folder in sorted(Path(".").rglob("__pycache__"), reverse=True):
        shutil.rmtree(folder, ignore_errors=True)
    for stray in Path(".").rglob("*.py[cod]"):
        stray.unlink(missing_ok=True)


def main() -> int:
    remove_bytecode()
    committed = False
    if init_repository() and CONTEXT["make_initial_commit"] == "yes":
        committed = initial_commit()
    say(next_steps(committed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
