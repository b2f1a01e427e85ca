"""A small stand-in for GitHub Actions, enough to run the template's eval-gate workflow here.

Jobs run in `needs` order, a matrix job once per `include` entry, each in a fresh workspace.
Every `run:` script runs as GitHub runs it (`bash --noprofile --norc -eo pipefail`) in the
workflow's, job's and step's `env:` merged, with GITHUB_OUTPUT read back into the step's
outputs and GITHUB_STEP_SUMMARY kept as the job's summary; the ``github`` context's ``event``
is the file GITHUB_EVENT_PATH names, and ``github.token`` reaches a step only through `env:`. The `uses:` steps are emulated minimally: checkout fetches from the 'origin' repository
as actions/checkout does (the PR's merge commit, or the commit `ref:` names, detached; every
branch with fetch-depth 0);
setup-python makes a fresh venv; setup-node uses this machine's Node.js; upload- and
download-artifact copy folders (by pattern, or one by name).

Only what the workflow uses is known: an expression, function, context, key or action input
outside it fails (`Unsupported`), so the workflow cannot outgrow what this runner checks.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Unsupported(AssertionError):
    """The workflow uses something this runner does not emulate: extend the runner, knowingly."""


# ---------------------------------------------------------------- expressions

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!().,])"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))")
FUNCTIONS = {
    "format": lambda template, *args: re.sub(r"\{(\d+)\}", lambda m: _text(args[int(m.group(1))]),
                                             template.replace("{{", "\0").replace("}}", "\1")).replace("\0", "{").replace("\1", "}"),
    "fromJSON": lambda text: json.loads(text),
    "cancelled": lambda: False,  # nothing here is ever cancelled
}
CONTEXTS = ("github", "vars", "secrets", "needs", "matrix", "steps", "runner")


def _tokens(expr: str) -> list[tuple[str, str]]:
    found, pos = [], 0
    while pos < len(expr.rstrip()):
        match = _TOKEN.match(expr, pos)
        if not match:
            raise Unsupported(f"cannot read the expression {expr!r} at {expr[pos:]!r}")
        found.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return found


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


class _Parser:
    """or := and ('||' and)*; and := cmp ('&&' cmp)*; cmp := unary (('=='|'!=') unary)?;
    unary := '!' unary | '(' or ')' | literal | function call | context path."""

    def __init__(self, expr: str, context: dict):
        self.expr, self.context, self.tokens, self.pos = expr, context, _tokens(expr), 0

    def parse(self) -> Any:
        value = self.or_()
        if self.pos != len(self.tokens):
            raise Unsupported(f"unexpected {self.tokens[self.pos][1]!r} in {self.expr!r}")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, wanted: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens) or (wanted is not None and self.tokens[self.pos][1] != wanted):
            raise Unsupported(f"expected {wanted or 'more'} in {self.expr!r}")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            value = value if _truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == "&&":
            self.take()
            right = self.compare()
            value = right if _truthy(value) else value
        return value

    def compare(self) -> Any:
        left = self.unary()
        if self.peek() in ("==", "!="):
            op = self.take()[1]
            right = self.unary()
            if None in (left, right) and {type(left), type(right)} <= {type(None), str}:
                # GitHub coerces both to numbers: null is 0, '' is 0, any other text NaN
                same = (left or "") == (right or "")
                return same if op == "==" else not same
            if type(left) is not type(right):
                raise Unsupported(f"{self.expr!r} compares a {type(left).__name__} with a {type(right).__name__}")
            same = left.casefold() == right.casefold() if isinstance(left, str) else left == right
            return same if op == "==" else not same
        return left

    def unary(self) -> Any:
        kind, token = self.take()
        if token == "!":
            return not _truthy(self.unary())
        if token == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind == "str":
            return token[1:-1].replace("''", "'")
        if kind == "num":
            return float(token) if "." in token else int(token)
        if kind != "name":
            raise Unsupported(f"unexpected {token!r} in {self.expr!r}")
        if token in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token]
        if self.peek() == "(":
            if token not in FUNCTIONS:
                raise Unsupported(f"unknown function {token}() in {self.expr!r}")
            self.take("(")
            args = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take()
            self.take(")")
            return FUNCTIONS[token](*args)
        if token not in CONTEXTS or token not in self.context:
            raise Unsupported(f"unknown context {token!r} in {self.expr!r}")
        value, path = self.context[token], token
        while self.peek() == ".":
            self.take()
            name = self.take()[1]
            path += f".{name}"
            if value is None and path.startswith("github.event."):  # null.x is null, as on GitHub
                continue
            if not isinstance(value, dict):
                raise Unsupported(f"{path} in {self.expr!r}: not an object")
            # an unset variable or secret is empty, and so is a property the event's payload lacks (a push has no
            # pull_request); anything else is a typo
            if name not in value and token not in ("vars", "secrets") and not path.startswith("github.event."):
                raise Unsupported(f"{path} in {self.expr!r} does not exist here (known: {sorted(value)})")
            value = value.get(name)
        return value


def evaluate(expr: str, context: dict) -> Any:
    return _Parser(expr, context).parse()


_EMBEDDED = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def expand(value: Any, context: dict) -> Any:
    """A value with `${{ }}` in it: one whole expression keeps its type; in text, its text."""
    if isinstance(value, dict):
        return {key: expand(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item, context) for item in value]
    if not isinstance(value, str):
        return value
    whole = _EMBEDDED.fullmatch(value.strip())
    if whole:
        return evaluate(whole.group(1), context)
    return _EMBEDDED.sub(lambda m: _text(evaluate(m.group(1), context)), value)


def condition(value: Any, context: dict) -> bool:
    """An `if:` is an expression with or without `${{ }}`."""
    if isinstance(value, bool):
        return value
    whole = _EMBEDDED.fullmatch(str(value).strip())
    return _truthy(evaluate(whole.group(1) if whole else str(value), context))


# ---------------------------------------------------------------- the runner

JOB_KEYS = {"name", "needs", "if", "runs-on", "timeout-minutes", "environment", "permissions", "outputs", "strategy", "steps"}
STEP_KEYS = {"name", "id", "if", "uses", "with", "run", "env"}
ACTION_INPUTS = {
    "actions/checkout": {"persist-credentials", "fetch-depth", "ref"},
    "actions/setup-python": {"python-version"},
    "actions/setup-node": {"node-version", "package-manager-cache"},
    "actions/upload-artifact": {"name", "path", "if-no-files-found", "retention-days"},
    "actions/download-artifact": {"pattern", "name", "path", "merge-multiple"},
}
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40})$")


@dataclass
class StepRun:
    name: str
    output: str
    outputs: dict = field(default_factory=dict)


@dataclass
class JobRun:
    job: str
    result: str  # success | skipped
    outputs: dict = field(default_factory=dict)
    workspaces: list[Path] = field(default_factory=list)
    steps: list[StepRun] = field(default_factory=list)
    summary: str = ""  # what its steps wrote to GITHUB_STEP_SUMMARY


class Runner:
    """Runs one workflow for one event: ``github`` (the github context), ``vars``, ``origin``
    (the repository to check out from) and a ``base_env`` every step starts from."""

    def __init__(self, workflow: dict, github: dict, vars: dict, origin: Path, work: Path, base_env: dict,
                 secrets: dict | None = None):
        self.workflow, self.github, self.vars, self.origin, self.work = workflow, github, vars, origin, work
        self.secrets = secrets or {}  # none, as for a pull request from a fork, unless a test gives some
        self.base_env = base_env
        self.artifacts = work / "artifacts"
        self.artifacts.mkdir(parents=True)
        self.jobs: dict[str, JobRun] = {}

    def run(self, done: dict[str, JobRun] | None = None) -> dict[str, JobRun]:
        """Every job in order; ``done``: jobs taken as already run (their result and outputs), to run only the rest."""
        self.jobs.update(done or {})
        unknown = set(self.workflow) - {"name", "on", True, "permissions", "concurrency", "env", "jobs"}
        if unknown:  # PyYAML reads the key `on` as True
            raise Unsupported(f"workflow keys {sorted(map(str, unknown))}")
        expand(self.workflow.get("concurrency", {}), {"github": self.github})
        for job_id in self._order():
            if job_id not in self.jobs:
                self.jobs[job_id] = self._job(job_id, self.workflow["jobs"][job_id])
        return self.jobs

    def _order(self) -> list[str]:
        jobs, done = self.workflow["jobs"], []
        while len(done) < len(jobs):
            ready = [j for j in jobs if j not in done and all(n in done for n in _needs(jobs[j]))]
            if not ready:
                raise Unsupported("a cycle in needs:")
            done.append(ready[0])
        return done

    def _job(self, job_id: str, job: dict) -> JobRun:
        if set(job) - JOB_KEYS:
            raise Unsupported(f"job {job_id}: keys {sorted(set(job) - JOB_KEYS)}")
        needs = {n: {"result": self.jobs[n].result, "outputs": self.jobs[n].outputs} for n in _needs(job)}
        context = {"github": self.github, "vars": self.vars, "secrets": self.secrets, "needs": needs}
        if "if" in job:
            run_it = condition(job["if"], context)
        else:
            run_it = all(n["result"] == "success" for n in needs.values())
        if not run_it:
            return JobRun(job_id, "skipped")
        entries = [{}]
        if "strategy" in job:
            if set(job["strategy"]) - {"matrix", "fail-fast"}:
                raise Unsupported(f"job {job_id}: strategy keys {sorted(job['strategy'])}")
            matrix = expand(job["strategy"]["matrix"], context)
            if not isinstance(matrix, dict) or set(matrix) != {"include"} or not matrix["include"]:
                raise Unsupported(f"job {job_id}: a matrix other than a non-empty include list: {matrix!r}")
            entries = matrix["include"]
        result = JobRun(job_id, "success")
        for number, entry in enumerate(entries):
            job_context = {**context, "matrix": entry, "steps": {}} if "strategy" in job else {**context, "steps": {}}
            expand(job.get("name", ""), job_context)
            workspace = self.work / f"{job_id}-{number}" / "workspace"
            workspace.mkdir(parents=True)
            result.workspaces.append(workspace)
            self._steps(job_id, job, job_context, workspace, result)
            if "strategy" not in job:
                result.outputs = {k: _text(expand(v, job_context)) for k, v in job.get("outputs", {}).items()}
        return result

    def _steps(self, job_id: str, job: dict, context: dict, workspace: Path, result: JobRun) -> None:
        temp = workspace.parent / "runner-temp"
        temp.mkdir()
        context["runner"] = {"temp": str(temp), "os": "Linux"}  # the runner context: outside the checkout
        job_env = {**self.base_env, **{k: _text(expand(v, context)) for k, v in self.workflow.get("env", {}).items()}}
        event = temp / "event.json"
        event.write_text(json.dumps(self.github.get("event", {})))
        job_env.update({"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace),
                        "RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux", "GITHUB_JOB": job_id, "GITHUB_EVENT_PATH": str(event),
                        # as GitHub sets them: github.x as GITHUB_X, but never the token (a step is given it by env:)
                        **{f"GITHUB_{k.upper()}": v for k, v in self.github.items() if isinstance(v, str) and k != "token"}})
        timeout = 60 * float(job.get("timeout-minutes", 360))
        for number, step in enumerate(job["steps"]):
            if set(step) - STEP_KEYS:
                raise Unsupported(f"job {job_id} step {number}: keys {sorted(set(step) - STEP_KEYS)}")
            name = expand(step.get("name", step.get("uses", step.get("run", ""))), context)
            if not condition(step.get("if", True), context):
                continue
            env = {**job_env, **{k: _text(expand(v, context)) for k, v in step.get("env", {}).items()}}
            if "uses" in step:
                output = self._action(step, expand(step.get("with", {}), context), workspace, job_env, temp)
                outputs: dict = {}
            else:
                output, outputs = self._script(job_id, number, step["run"], env, workspace, temp, timeout)
                result.summary += (temp / f"github_step_summary-{number}").read_text()
            result.steps.append(StepRun(str(name), output, outputs))
            if "id" in step:
                context["steps"][step["id"]] = {"outputs": outputs, "outcome": "success", "conclusion": "success"}

    def _script(self, job_id, number, script, env, workspace, temp, timeout) -> tuple[str, dict]:
        if "${{" in script:
            raise Unsupported(f"job {job_id} step {number}: an expression inside `run:` (template injection)")
        files = {name: temp / f"{name.lower()}-{number}" for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")}
        for path in files.values():
            path.write_text("")
        (temp / f"step-{number}.sh").write_text(script)
        env = {**env, **{name: str(path) for name, path in files.items()}}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(temp / f"step-{number}.sh")],
                              cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"job {job_id} step {number} exited {done.returncode}:\n{script}\n{done.stdout}")
        if files["GITHUB_ENV"].read_text() or files["GITHUB_PATH"].read_text():
            raise Unsupported(f"job {job_id} step {number} writes GITHUB_ENV or GITHUB_PATH")
        outputs = {}
        for line in files["GITHUB_OUTPUT"].read_text().splitlines():
            if "<<" in line.split("=", 1)[0] or "=" not in line:
                raise Unsupported(f"job {job_id} step {number}: output line {line!r}")
            key, value = line.split("=", 1)
            outputs[key] = value
        return done.stdout, outputs

    def _action(self, step: dict, inputs: dict, workspace: Path, job_env: dict, temp: Path) -> str:
        pinned = PINNED.match(step["uses"])
        if not pinned:
            raise Unsupported(f"{step['uses']}: not an action pinned to a commit")
        action = pinned.group("action")
        if action not in ACTION_INPUTS or set(inputs) - ACTION_INPUTS[action]:
            raise Unsupported(f"{action} with {sorted(inputs)}")
        if action == "actions/checkout":
            return self._checkout(inputs, workspace, job_env)
        if action == "actions/setup-python":
            venv = temp / "python"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            job_env["PATH"] = f"{venv / 'bin'}{os.pathsep}{job_env['PATH']}"
            return f"python {inputs['python-version']} asked; {sys.version.split()[0]} in {venv}"
        if action == "actions/setup-node":
            assert str(inputs.get("package-manager-cache")).lower() == "false", "no dependency cache on CI"
            node = subprocess.run(["node", "--version"], capture_output=True, text=True, env=job_env, check=True)
            return f"node {inputs['node-version']} asked; {node.stdout.strip()} on PATH"
        if action == "actions/upload-artifact":
            return self._upload(inputs, workspace)
        return self._download(inputs, workspace)

    def _checkout(self, inputs: dict, workspace: Path, env: dict) -> str:
        """What actions/checkout fetches (src/ref-helper.ts) and checks out for a pull request."""
        assert str(inputs.get("persist-credentials")).lower() == "false", "checkout must not keep the token in .git"
        ref, sha = self.github["ref"], self.github["sha"]
        if "ref" in inputs:  # a commit named by the workflow (the base branch's): checked out detached
            sha = str(inputs["ref"])
            if not re.fullmatch(r"[0-9a-f]{40}", sha):
                raise Unsupported(f"checkout of ref {sha!r}: only a commit SHA is emulated")
            target = "refs/remotes/origin/checked-out"
        elif not ref.startswith("refs/pull/"):
            raise Unsupported(f"checkout of {ref}: only pull requests are emulated")
        else:
            target = f"refs/remotes/pull/{ref[len('refs/pull/'):]}"
        depth = int(inputs.get("fetch-depth", 1))
        specs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"] if depth <= 0 else []
        fetch = ["fetch", "--prune", "--no-recurse-submodules"] + ([] if depth <= 0 else ["--no-tags", f"--depth={depth}"])
        for args in (["init", "-q"], ["remote", "add", "origin", self.origin.as_uri()],
                     [*fetch, "origin", *specs, f"+{sha}:{target}"], ["checkout", "-q", "--force", target]):
            subprocess.run(["git", *args], cwd=workspace, env=env, check=True, capture_output=True)
        return f"checked out {target} ({sha[:12]}), fetch-depth {depth}"

    def _upload(self, inputs: dict, workspace: Path) -> str:
        source, target = workspace / inputs["path"], self.artifacts / inputs["name"]
        if target.exists():
            raise AssertionError(f"artifact {inputs['name']} already exists")
        files = [p for p in sorted(source.rglob("*")) if p.is_file()
                 and not any(part.startswith(".") for part in p.relative_to(source).parts)]  # include-hidden-files: false
        if not files and inputs.get("if-no-files-found", "warn") == "error":
            raise AssertionError(f"no files in {inputs['path']}")
        for path in files:
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.relative_to(source))
        return f"uploaded {len(files)} file(s) as {inputs['name']}"

    def _download(self, inputs: dict, workspace: Path) -> str:
        if "name" in inputs:  # one artifact, into path itself; a missing one fails the step, as on GitHub
            if not (self.artifacts / inputs["name"]).is_dir():
                raise AssertionError(f"artifact {inputs['name']} not found")
            shutil.copytree(self.artifacts / inputs["name"], workspace / inputs["path"], dirs_exist_ok=True)
            return f"downloaded {inputs['name']}"
        names = sorted(p.name for p in self.artifacts.iterdir() if fnmatch.fnmatchcase(p.name, inputs["pattern"]))
        merge = str(inputs.get("merge-multiple")).lower() == "true"
        for name in names:
            target = workspace / inputs["path"] if merge else workspace / inputs["path"] / name
            shutil.copytree(self.artifacts / name, target, dirs_exist_ok=True)
        return f"downloaded {names}"


def _needs(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)
