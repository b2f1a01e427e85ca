"""The rendered CI workflow (ci/eval-gate.yml, and its wired copy) runs as shipped and is hardened.

- zizmor (offline, every persona, no config) and actionlint (with shellcheck)
  find nothing in the rendered workflows; GitHub's schema is checked in test_eval_ci.py.
- Installs are exactly requirements.txt and the template's promptfoo lock; no hook repository
  variable reaches the workflow; every action is pinned to a commit of a node24 release.
- Slow: the workflow's own steps run here (tests/workflow_runner.py) for a pull request that
  changes a prompt: plan -> eval (real pip installs from a wheel of this checkout, real `npm ci`
  of the lock, real promptfoo) -> gate (the report in the job summary, pre-commit on every file,
  audit verify --base) -> comment (the report posted on the pull request through real HTTP to a
  recording stand-in for GitHub's API, tests/github_stub.py; a second run edits that comment).
  Fast: the comment job is skipped for a fork's pull request and for a push.

The pins below were read from the actions' own repositories (tags -> commits, and each
commit's action.yml `runs.using: node24`); bump them together with the workflow.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, find_promptfoo, git
from github_stub import GitHubStub
from promptlane.cli import main as cli_main
from promptlane.commands.init import init
from promptlane.core.prcomment import MARKER
from workflow_runner import JobRun, Runner, Unsupported, condition, evaluate, expand

WORKFLOWS = ("ci/eval-gate.yml", ".github/workflows/eval-gate.yml")
PINS = {  # action: (commit, the release it is), checked against each repository's tags
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/setup-node": ("820762786026740c76f36085b0efc47a31fe5020", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
}
REAL_HOME = Path(os.environ.get("HOME") or Path.home())  # before conftest points HOME at a tmp folder
# One pytest-xdist worker runs this file (make test: --dist loadgroup), so the wheel and the
# rendered repository (module fixtures) are built once, and its long workflow runs start first.
pytestmark = pytest.mark.xdist_group("workflows")


def _render(base: Path, name: str, **context: str) -> Path:
    config = base / "cookiecutter.yml"
    config.write_text(f"cookiecutters_dir: {base / 'cc'}\nreplay_dir: {base / 'replay'}\n")
    return init(base / name, {"project": name, **context}, config_file=str(config))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    return _render(tmp_path_factory.mktemp("workflows"), "governed")


def _workflow(root: Path) -> dict:
    return yaml.safe_load((root / WORKFLOWS[0]).read_text(encoding="utf-8"))


def _steps(workflow: dict):
    for job_id, job in workflow["jobs"].items():
        for step in job["steps"]:
            yield job_id, step


# ---------------------------------------------------------------- the outside judges


@pytest.mark.parametrize("persona", ["regular", "pedantic", "auditor"])
def test_zizmor_finds_nothing(rendered, persona):
    done = subprocess.run([str(BIN / "zizmor"), "--offline", "--no-config", f"--persona={persona}", "--format=json",
                           *WORKFLOWS], cwd=rendered, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == [], done.stdout


def _actionlint(cwd: Path, *files: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(BIN / "actionlint"), "-no-color", "-shellcheck", str(BIN / "shellcheck"), *files],
                          cwd=cwd, env=env, capture_output=True, text=True)


def test_actionlint_with_shellcheck_finds_nothing(rendered, tmp_path):
    done = _actionlint(rendered, *WORKFLOWS)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    # ... and shellcheck really runs inside it: an unquoted variable is found
    canary = tmp_path / "canary.yml"
    canary.write_text("on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                      "    steps:\n      - run: echo $UNQUOTED\n")
    found = _actionlint(tmp_path, canary.name)
    assert found.returncode == 1 and "SC2086" in found.stdout, found.stdout + found.stderr


# ---------------------------------------------------------------- what the workflow says


def test_both_copies_are_the_template_file_verbatim(rendered):
    template = (ROOT / "{{cookiecutter.project}}" / WORKFLOWS[0]).read_bytes()
    for rel in WORKFLOWS:
        assert (rendered / rel).read_bytes() == template, rel  # _copy_without_render: no Jinja in it


def test_it_installs_exactly_requirements_txt_and_the_promptfoo_lock(rendered):
    workflow = _workflow(rendered)
    lines = [line.strip() for _, step in _steps(workflow) for line in step.get("run", "").splitlines()]
    installs = [line for line in lines if (re.search(r"\b(pip|pipx|uv)\b", line) and "install" in line) or re.match(r"(npm|npx) ", line)]
    assert installs == ["python -m pip install -r requirements.txt",
                        "python -m pip install -r requirements.txt",
                        "npm ci --prefix evals/promptfoo --omit=optional --ignore-scripts --no-audit --no-fund",
                        "python -m pip install -r requirements.txt",
                        "python -m pip install -r requirements.txt"]  # the comment job: the base branch's
    text = (rendered / WORKFLOWS[0]).read_text(encoding="utf-8")
    assert not re.search(r"git\+|https?://|PROMPTLANE_SPEC|hooks_re(po|v)", text)
    requirements = (rendered / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^promptlane==\S+$", requirements, re.M) and re.search(r"^pre-commit==\S+$", requirements, re.M)


def test_a_hook_repository_does_not_reach_the_workflow(rendered, tmp_path):
    with_hooks = _render(tmp_path, "governed", hooks_repo="https://example.com/promptlane.git", hooks_rev="v9.9.9")
    for rel in WORKFLOWS:
        assert (with_hooks / rel).read_bytes() == (rendered / rel).read_bytes(), rel


def test_every_action_is_pinned_to_a_commit_of_its_current_release(rendered):
    text = (rendered / WORKFLOWS[0]).read_text(encoding="utf-8")
    uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)$", text, re.M)
    assert uses and {ref.split("@")[0] for ref, _ in uses} == set(PINS)
    for ref, comment in uses:
        action, sha = ref.split("@")
        assert (sha, comment.strip()) == (PINS[action][0], f"# {PINS[action][1]}"), ref


def test_least_privilege_and_no_credentials_kept(rendered):
    workflow = _workflow(rendered)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        if job_id != "comment":  # below: the one job that may write
            assert job["permissions"] == {"contents": "read"}, job_id
    checkouts = [step for _, step in _steps(workflow) if step.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 4 and all(step["with"]["persist-credentials"] is False for step in checkouts)
    model_keys = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_API_KEY"}
    for job_id, step in _steps(workflow):
        assert "${{" not in step.get("run", ""), (job_id, step.get("name"))  # expressions reach scripts via env only
        if job_id == "eval" and step.get("name", "").startswith("Run the evals"):
            # the one step with secrets: the model keys, each its own, from the `evals` environment
            assert {k: v for k, v in step["env"].items() if "secrets." in v} == {k: f"${{{{ secrets.{k} }}}}" for k in model_keys}
            continue
        assert "secrets." not in json.dumps(step), (job_id, step.get("name"))
    assert [job_id for job_id, job in workflow["jobs"].items() if "environment" in job] == ["eval"]
    assert workflow["jobs"]["eval"]["environment"] == "evals"
    upload = next(step for _, step in _steps(workflow) if step.get("uses", "").startswith("actions/upload-artifact@"))
    # CI's own results, outside the checkout: never the committed evals/results/, never a file the PR commits
    assert upload["with"]["path"] == "${{ runner.temp }}/ci-results/"
    download = next(step for _, step in _steps(workflow) if step.get("uses", "").startswith("actions/download-artifact@"))
    assert set(download["with"]) == {"pattern", "path", "merge-multiple"}  # this run's artifacts, no token
    assert download["with"]["path"] == "${{ runner.temp }}/ci-results/"  # outside the checkout, never over the committed results


def test_only_the_comment_job_may_write_and_it_runs_no_code_of_the_pull_request(rendered):
    workflow = _workflow(rendered)
    comment = workflow["jobs"]["comment"]
    # pull-requests: write for the comment; contents: read only to check out the base branch (a private repository)
    assert comment["permissions"] == {"contents": "read", "pull-requests": "write"}
    writers = [job_id for job_id, job in workflow["jobs"].items() if "write" in job["permissions"].values()]
    assert writers == ["comment"]
    assert comment["needs"] == "gate"
    # a fork's pull request has a read-only token: skipped, not failed; a failed gate still gets its comment
    assert comment["if"] == ("${{ !cancelled() && github.event_name == 'pull_request' && needs.gate.result != 'skipped' "
                             "&& github.event.pull_request.head.repo.full_name == github.repository }}")
    uses = [step.get("uses", "").split("@")[0] or step["run"] for step in comment["steps"]]
    assert uses == ["actions/checkout", "actions/setup-python", "python -m pip install -r requirements.txt",
                    "actions/download-artifact", 'promptlane report --comment "$RUNNER_TEMP/pr-report/report.md"']
    checkout, download, post = comment["steps"][0], comment["steps"][3], comment["steps"][4]
    assert checkout["with"] == {"persist-credentials": False, "ref": "${{ github.event.pull_request.base.sha }}"}
    assert download["with"] == {"name": "pr-report", "path": "${{ runner.temp }}/pr-report/"}  # data, outside the checkout
    assert post["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}  # the token reaches this step alone
    tokens = [(job_id, step.get("name")) for job_id, step in _steps(workflow) if "github.token" in json.dumps(step)]
    assert tokens == [("comment", "Post or update the report comment")]
    kept = next(step for step in workflow["jobs"]["gate"]["steps"] if step.get("name") == "Keep the report for the comment job")
    assert kept["with"]["name"] == "pr-report" and kept["with"]["path"] == "${{ runner.temp }}/pr-report/"  # the report alone
    gate = [step.get("name") for step in workflow["jobs"]["gate"]["steps"]]
    # the report is written and kept before the hooks, so a failing gate still has it
    assert gate.index("Report for reviewers (job summary)") < gate.index("Keep the report for the comment job") \
        < gate.index("promptlane hooks on every file")


def test_the_runners_expressions_behave_like_githubs():
    context = {"github": {"event_name": "push", "base_ref": ""}, "needs": {"plan": {"result": "success"}}, "vars": {}}
    base = "${{ github.event_name == 'pull_request' && format('origin/{0}', github.base_ref) || '' }}"
    assert expand(base, context) == ""
    assert expand(base, {**context, "github": {"event_name": "pull_request", "base_ref": "main"}}) == "origin/main"
    assert condition("!cancelled() && needs.plan.result == 'SUCCESS'", context) is True
    assert expand("${{ fromJSON('{\"include\": []}') }}", context) == {"include": []}
    assert expand("x-${{ vars.UNSET }}", context) == "x-"
    push = {**context, "github": {"event": {"ref": "refs/heads/main"}, "repository": "o/r"}}
    assert condition("github.event.pull_request.head.repo.full_name == github.repository", push) is False  # null.x is null
    assert condition("github.event.pull_request.number == ''", push) is True  # null and '' are both 0 to GitHub
    for unknown in ("always()", "env.X", "needs.plan.outputs.cont", "github.event_name == 1", "github.ref[0]"):
        with pytest.raises(Unsupported):
            evaluate(unknown, {**context, "needs": {"plan": {"outputs": {"count": "1"}}}})


# ---------------------------------------------------------------- the workflow, run here


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """promptlane as a team without a public index gets it: a wheel in a folder (PIP_FIND_LINKS)."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(folder)],
                   check=True, capture_output=True, env={**os.environ, "HOME": str(REAL_HOME)})
    return folder


def _cache(command: list[str]) -> dict:
    """Where npm and pip keep their caches for the real user (downloads are the slow part)."""
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HOME": str(REAL_HOME)})
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _promote_to_staging(work: Path, forged: bool) -> None:
    """Results for the branch's version and the PM's signed approval, then the promotion to
    staging. Honest: results of a real `promptlane eval run`. Forged: the prompt is changed so
    that its real evals fail, and a passing results file is written by hand (bound to the
    current inputs, as anyone can compute them)."""
    from governed import write_results
    from keys import key_for

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTLANE_PROMPTFOO", find_promptfoo() or "promptfoo")
        if forged:
            write_results(work, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        else:
            assert cli_main(["-C", str(work), "eval", "run", "support-reply"]) == 0
        mp.setenv("PROMPTLANE_ACTOR", "pm@example.com")
        assert cli_main(["-C", str(work), "approve", "support-reply", "--role", "PM", "--key", str(key_for("pm@example.com")),
                         "--all-confirmed"]) == 0
        mp.delenv("PROMPTLANE_ACTOR")
        assert cli_main(["-C", str(work), "promote", "support-reply", "--to", "staging"]) == 0


def _pull_request(tmp_path: Path, promote: bool = False, forged: bool = False) -> tuple[Path, dict]:
    """A rendered repository on main, a branch that changes the prompt (synced, committed as the
    hooks would), both pushed to a bare origin with GitHub's refs/pull/1/merge and /head.
    ``promote``: the branch also promotes its version to staging (``_promote_to_staging``)."""
    from keys import KNOWN, register

    from governed import write_results

    work = _render(tmp_path, "governed")
    register(work, *KNOWN)  # the reviewers' own keys, as a team sets them up
    # The other example (triage-reply) evaluated on main already, as after a first pull request:
    # CI owes evals for what this one changes, support-reply, alone.
    write_results(work, "2026-11-30T09:00:00Z", prompt_id="triage-reply")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "scaffold")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "origin", "main")
    base = git(work, "rev-parse", "main").stdout.strip()
    git(work, "checkout", "-q", "-b", "shorter-replies")
    system = work / "prompts/support-reply/system.md"
    text = system.read_text(encoding="utf-8")
    if forged:  # without the help centre, the stand-in restates the question: the accuracy tests fail
        text = text.replace("https://help.example.com/", "our knowledge")
    system.write_text(text + "Keep replies under 120 words.\n", encoding="utf-8")
    assert cli_main(["-C", str(work), "sync"]) == 1  # the fixer hook: new hash, version, changelog, audit rows
    if promote:
        _promote_to_staging(work, forged)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Shorter replies")
    git(work, "push", "-q", "origin", "shorter-replies", "shorter-replies:refs/pull/1/head")
    git(work, "checkout", "-q", "--detach", "main")
    git(work, "merge", "-q", "--no-ff", "-m", "Merge shorter-replies into main", "shorter-replies")
    merge = git(work, "rev-parse", "HEAD").stdout.strip()
    git(work, "push", "-q", "origin", "HEAD:refs/pull/1/merge")
    github = {"event_name": "pull_request", "ref": "refs/pull/1/merge", "sha": merge, "base_ref": "main",
              "head_ref": "shorter-replies", "workflow": "eval-gate", "repository": "team-prompts/governed",
              "server_url": "https://github.com", "run_id": "8001", "api_url": "https://api.github.invalid",
              "token": "ghs_job-token",
              "event": {"action": "synchronize",
                        "pull_request": {"number": 1, "base": {"ref": "main", "sha": base},
                                         "head": {"ref": "shorter-replies", "repo": {"full_name": "team-prompts/governed"}}}}}
    return origin, github


def _base_env(tmp_path: Path) -> dict:
    """This process's environment without anything that would pick a promptlane, promptfoo or
    Python other than the workflow's own (the dev venv leaves PATH; PROMPTLANE_* and GITHUB_* go)."""
    dropped = ("PROMPTLANE_", "PROMPTFOO_", "GITHUB_", "RUNNER_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PIP_FIND_LINKS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and Path(d).resolve() != BIN.resolve() and not (Path(d) / "promptlane").exists()]
    env["PATH"] = os.pathsep.join(keep)
    npm_cache = _cache(["npm", "config", "get", "cache"])
    pip_cache = _cache([sys.executable, "-m", "pip", "cache", "dir"])
    env.update({k: v for k, v in {"npm_config_cache": npm_cache, "PIP_CACHE_DIR": pip_cache}.items() if v})
    return env


def _runner(tmp_path: Path, wheel: Path | None, origin: Path, github: dict, runs: str = "runs") -> Runner:
    workflow = yaml.safe_load((ROOT / "{{cookiecutter.project}}" / WORKFLOWS[0]).read_text(encoding="utf-8"))
    machine_links = os.environ.get("PIP_FIND_LINKS", "")
    variables = {"PIP_FIND_LINKS": f"{wheel or ''} {machine_links}".strip()}  # a repository variable, as a team would set it
    return Runner(workflow, github, variables, origin, tmp_path / runs, _base_env(tmp_path))


def _run_workflow(tmp_path: Path, wheel: Path, origin: Path, github: dict) -> dict:
    return _runner(tmp_path, wheel, origin, github).run()


@pytest.fixture
def github_api():
    """A recording stand-in for GitHub's API on 127.0.0.1 (tests/github_stub.py)."""
    stub = GitHubStub()
    stub.url = stub.start()
    yield stub
    stub.stop()


GATED = {"plan": JobRun("plan", "success"), "eval": JobRun("eval", "skipped"), "gate": JobRun("gate", "success")}


def _comment_job(runner: Runner, report: str) -> JobRun:
    """The comment job alone, after a gate that kept ``report`` as the artifact pr-report."""
    (runner.artifacts / "pr-report").mkdir()
    (runner.artifacts / "pr-report/report.md").write_text(report, encoding="utf-8")
    return runner.run(done=dict(GATED))["comment"]


@pytest.mark.parametrize("event", ["fork", "push"])
def test_the_comment_job_is_skipped_for_a_fork_and_a_push(tmp_path, github_api, event):
    """A fork's pull request gets a read-only token (and a push has no pull request): the job is
    skipped, not failed, and GitHub is never asked; the report stays in the gate's summary."""
    github = {"event_name": "pull_request", "ref": "refs/pull/3/merge", "sha": "0" * 40, "base_ref": "main",
              "repository": "team-prompts/governed", "api_url": github_api.url, "token": "ghs_read-only",
              "event": {"pull_request": {"number": 3, "base": {"sha": "1" * 40},
                                         "head": {"repo": {"full_name": "someone/governed-fork"}}}}}
    if event == "push":
        github.update(event_name="push", ref="refs/heads/main", base_ref="", event={"ref": "refs/heads/main"})
    comment = _comment_job(_runner(tmp_path, None, tmp_path / "no-origin.git", github), "## promptlane: 1 prompt(s)\n")
    assert comment.result == "skipped" and comment.steps == []
    assert github_api.requests == []


@pytest.mark.slow
def test_the_comment_job_posts_the_report_once_then_edits_it(tmp_path, wheel, github_api):
    """The comment job as shipped: the base branch checked out (never the pull request's code),
    its requirements.txt installed, the gate's report downloaded and posted with the job's token;
    the next run of the workflow finds that comment by its marker and edits it."""
    origin, github = _pull_request(tmp_path)
    github["api_url"] = github_api.url
    first = "## promptlane: 1 prompt(s) changed since `origin/main`\n\nthe first push\n"
    comment = _comment_job(_runner(tmp_path, wheel, origin, github, "run-1"), first)
    assert comment.result == "success", [step.output for step in comment.steps]
    base = github["event"]["pull_request"]["base"]["sha"]
    assert git(comment.workspaces[0], "rev-parse", "HEAD").stdout.strip() == base
    listed, posted = github_api.requests
    assert (listed.method, listed.path) == ("GET", "/repos/team-prompts/governed/issues/1/comments?per_page=100&page=1")
    assert (posted.method, posted.path) == ("POST", "/repos/team-prompts/governed/issues/1/comments")
    assert all(r.headers["authorization"] == "Bearer ghs_job-token" for r in github_api.requests)
    assert posted.body == {"body": f"{MARKER}\n{first}"}
    assert "Posted the report on pull request #1" in comment.steps[-1].output

    second = first.replace("the first push", "the second push")
    again = _comment_job(_runner(tmp_path, wheel, origin, github, "run-2"), second)
    assert again.result == "success", [step.output for step in again.steps]
    relisted, patched = github_api.requests[2:]
    assert relisted.method == "GET"
    assert (patched.method, patched.path) == ("PATCH", f"/repos/team-prompts/governed/issues/comments/{github_api.comments[1][0]['id']}")
    assert [c["body"] for c in github_api.comments[1]] == [f"{MARKER}\n{second}"]  # one comment, edited


def _needs_node_and_promptfoo() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None or find_promptfoo() is None:
        pytest.skip("Node.js, npm and promptfoo (`make promptfoo`) are needed to run the evals")


@pytest.mark.slow
def test_the_workflow_runs_as_shipped_on_a_pull_request(tmp_path, wheel, github_api):
    """An honest pull request: a changed prompt, evaluated for real, approved and promoted to
    staging. CI evaluates the promoted version again, although its results are committed,
    and the gate judges the promotion on CI's own results: it passes."""
    _needs_node_and_promptfoo()
    origin, github = _pull_request(tmp_path, promote=True)
    github["api_url"] = github_api.url
    started = time.monotonic()
    jobs = _run_workflow(tmp_path, wheel, origin, github)
    took = time.monotonic() - started
    for job in jobs.values():  # shown when an assertion below fails
        for step in job.steps:
            print(f"=== {job.job} / {step.name}\n{step.output}")

    matrix = json.loads(jobs["plan"].outputs["matrix"])
    assert [entry["prompt"] for entry in matrix["include"]] == ["support-reply"] and jobs["plan"].outputs["count"] == "1"
    evals = jobs["eval"]
    assert evals.result == "success" and len(evals.workspaces) == 1
    eval_ws = evals.workspaces[0]
    assert (eval_ws / "evals/promptfoo/node_modules/@libsql/linux-x64-gnu").is_dir()  # npm ci kept the binding
    run_output = next(step.output for step in evals.steps if step.name == "Run the evals of support-reply")
    assert "support-reply ... " in run_output and "ci-results/support-reply/" in run_output, run_output
    assert '--force --results-dir "$RUNNER_TEMP/ci-results"' in (ROOT / "{{cookiecutter.project}}" / WORKFLOWS[0]).read_text(encoding="utf-8")
    assert git(eval_ws, "status", "--porcelain", "--", "evals/results").stdout == ""  # the committed results untouched
    artifact = tmp_path / "runs/artifacts/eval-results-support-reply"
    results = [json.loads(p.read_text()) for p in artifact.rglob("*.json")]
    assert [r["hash"] for r in results] == [matrix["include"][0]["hash"]]
    assert results[0]["promptfoo_version"] == "0.121.20" and results[0]["tests"] > 0

    gate = jobs["gate"]
    assert gate.result == "success"
    hooks = next(step.output for step in gate.steps if step.name == "promptlane hooks on every file")
    assert hooks.count("Passed") == 1 and "promptlane (sync, check, audit verify)" in hooks, hooks  # the one hook
    verify = next(step.output for step in gate.steps if step.name == "Audit log only appended since the base branch")
    assert "Traceback" not in verify
    gate_ws = gate.workspaces[0]
    assert git(gate_ws, "rev-parse", "refs/remotes/origin/main").returncode == 0
    assert git(gate_ws, "config", "--get-regexp", "extraheader", check=False).stdout == ""  # no token kept

    # the report where reviewers look: the gate's job summary, and one comment on the pull request
    summary = gate.summary
    assert summary.startswith("## promptlane: 1 prompt(s) changed since `origin/main`"), summary
    assert "| support-reply | 1.0.0 → 1.0.1 | patch | dev: 1.0.0 → 1.0.1; staging: — → 1.0.1" in summary, summary
    assert (tmp_path / "runs/artifacts/pr-report/report.md").read_text(encoding="utf-8") == summary
    assert jobs["comment"].result == "success"
    assert [(r.method, r.path) for r in github_api.requests] == [
        ("GET", "/repos/team-prompts/governed/issues/1/comments?per_page=100&page=1"),
        ("POST", "/repos/team-prompts/governed/issues/1/comments")]
    assert github_api.requests[1].body == {"body": f"{MARKER}\n{summary}"}
    print(f"workflow emulated in {took:.0f} s")


@pytest.mark.slow
def test_a_pull_request_that_promotes_on_forged_results_fails_the_gate(tmp_path, wheel):
    """The prompt is changed so that its real evals fail; a passing results file, written by hand
    and bound to the current inputs, is committed with the PM's approval and the promotion.
    Without CI's own run it would pass every check; the gate judges on CI's results and fails."""
    _needs_node_and_promptfoo()
    origin, github = _pull_request(tmp_path, promote=True, forged=True)
    with pytest.raises(AssertionError) as failed:
        _run_workflow(tmp_path, wheel, origin, github)
    message = str(failed.value)
    assert "job gate step" in message and "pre-commit run --all-files" in message, message
    assert re.search(r"\bPL640\b", message) and re.search(r"\bPL630\b", message), message
    assert "Traceback" not in message
