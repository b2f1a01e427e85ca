"""Where promptfoo is found (the governed repository's own lock in evals/promptfoo first after
PROMPTLANE_PROMPTFOO), the lock the template ships, and a promptfoo that cannot start: reported
as such with the first lines of its stderr, never as a config promptfoo refused.

The broken install is real where it is cheap: this checkout's .tools/promptfoo (`make
promptfoo`) hard-linked into a tmp folder without its libsql native binding, which is what
`npm install --global promptfoo --omit=optional` produces. Without it, a script that crashes the
way Node.js does stands in."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, snapshot_tree
from promptlane.evals import runner

TEMPLATE = ROOT / "{{cookiecutter.project}}"
LOCK_DIR = TEMPLATE / "evals/promptfoo"
PID = "support-reply"


# ---------------------------------------------------------------- find_promptfoo's order


def _stub(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho 0.121.20\n")
    path.chmod(0o755)
    return path


def test_the_repositorys_lock_comes_right_after_promptlane_promptfoo(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMPTLANE_PROMPTFOO", raising=False)
    root = tmp_path / "repo"
    tools = _stub(root / ".tools/promptfoo/node_modules/.bin/promptfoo")
    assert runner.find_promptfoo(root) == tools
    locked = _stub(root / "evals/promptfoo/node_modules/.bin/promptfoo")
    assert runner.find_promptfoo(root) == locked
    chosen = _stub(tmp_path / "elsewhere/promptfoo")
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", str(chosen))
    assert runner.find_promptfoo(root) == chosen


def test_the_install_hint_names_the_locks_npm_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", str(tmp_path / "missing"))
    with pytest.raises(runner.eval_config.EvalSetupError) as refused:
        runner.find_promptfoo(tmp_path)
    assert "`npm ci --prefix evals/promptfoo --omit=optional --ignore-scripts`" in str(refused.value)


# ---------------------------------------------------------------- the template's lock


def test_the_template_locks_promptfoo_and_its_linux_binding_exactly():
    package = json.loads((LOCK_DIR / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((LOCK_DIR / "package-lock.json").read_text(encoding="utf-8"))
    wanted = {"promptfoo": runner.PROMPTFOO_VERSION, "@libsql/linux-x64-gnu": "0.5.29"}
    assert package["dependencies"] == wanted  # exact versions, both direct: --omit=optional keeps the binding
    assert package.get("private") is True and not package.get("optionalDependencies")
    assert lock["lockfileVersion"] == 3 and lock["packages"][""]["dependencies"] == wanted
    for name, version in wanted.items():
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version and not entry.get("optional") and not entry.get("dev"), name
    for path, entry in lock["packages"].items():
        if path and not entry.get("link"):
            assert entry.get("integrity", "").startswith("sha512-") and entry.get("resolved"), path
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"PROMPTFOO_VERSION := {runner.PROMPTFOO_VERSION}" in makefile and "@libsql/linux-x64-gnu@0.5.29" in makefile


def test_a_rendered_repository_carries_the_lock_verbatim_and_ignores_its_install(gov):
    for name in ("package.json", "package-lock.json"):
        assert (gov / "evals/promptfoo" / name).read_bytes() == (LOCK_DIR / name).read_bytes(), name
    ignored = subprocess.run(["git", "check-ignore", "-q", "evals/promptfoo/node_modules/promptfoo/package.json"], cwd=gov)
    assert ignored.returncode == 0
    tracked = subprocess.run(["git", "ls-files", "evals/promptfoo"], cwd=gov, capture_output=True, text=True).stdout.split()
    assert tracked == ["evals/promptfoo/package-lock.json", "evals/promptfoo/package.json"]


# ---------------------------------------------------------------- a promptfoo that cannot start


def _installed_node_modules() -> Path | None:
    """node_modules of a real promptfoo install with its libsql binding, or None."""
    configured = os.environ.get("PROMPTLANE_PROMPTFOO")
    binary = Path(configured) if configured else ROOT / runner.TOOLS_BIN
    modules = binary.parent.parent
    if binary.parent.name != ".bin" or not (modules / "@libsql/linux-x64-gnu").is_dir() or shutil.which("node") is None:
        return None
    return modules


def _copy_without_binding(modules: Path, target: Path) -> Path:
    """The install hard-linked (a copy where links cannot be made), then the binding removed."""
    target.mkdir()
    copied = target / "node_modules"
    linked = subprocess.run(["cp", "-al", str(modules), str(copied)], capture_output=True)
    if linked.returncode != 0:
        shutil.rmtree(copied, ignore_errors=True)
        shutil.copytree(modules, copied, symlinks=True)
    shutil.rmtree(copied / "@libsql/linux-x64-gnu")
    return copied / ".bin/promptfoo"


NODE_CRASH = """#!/bin/sh
# What Node.js prints when promptfoo's libsql binding is missing, for every command, --version too.
cat >&2 <<'EOF'
node:internal/modules/cjs/loader:1207
  throw err;
  ^

Error: Cannot find module '@libsql/linux-x64-gnu'
Require stack:
- /usr/lib/node_modules/promptfoo/node_modules/libsql/index.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)
    at Module._load (node:internal/modules/cjs/loader:1038:27) {
  code: 'MODULE_NOT_FOUND'
}

Node.js v22.22.0
EOF
exit 1
"""


@pytest.fixture(params=["real-install", "script"])
def broken_promptfoo(request, tmp_path, monkeypatch) -> Path:
    if request.param == "real-install":
        modules = _installed_node_modules()
        if modules is None:
            pytest.skip("no promptfoo install with its libsql binding to copy (run `make promptfoo`)")
        binary = _copy_without_binding(modules, tmp_path / "broken-promptfoo")
    else:
        binary = tmp_path / "promptfoo"
        binary.write_text(NODE_CRASH)
        binary.chmod(0o755)
        monkeypatch.setattr("promptlane.evals.runner.require_node", lambda: None)
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", str(binary))
    return binary


def test_a_promptfoo_that_cannot_start_is_reported_as_such_with_its_stderr(gov, broken_promptfoo, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    before = snapshot_tree(gov)
    code, out = run_cli(gov, "eval", "run", PID, capsys=None)
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    err = captured.err
    assert "refused the config" not in err
    assert f"promptlane eval: {PID}: promptfoo ({broken_promptfoo}) cannot start (exit 1; `promptfoo --version` exits 1 too)" in err
    assert "libsql native binding is missing" in err and "`npm ci --prefix evals/promptfoo --omit=optional --ignore-scripts`" in err
    stderr_head = err.split("The first lines of its stderr:\n", 1)[1].splitlines()
    assert "Error: Cannot find module '@libsql/linux-x64-gnu'" in stderr_head[:6]
    assert not any(line.lstrip().startswith("at ") for line in stderr_head)  # the stack frames are left out
    assert captured.out == f"{PID} ... not run\n"
    assert snapshot_tree(gov) == before and not list(tmp_path.glob("promptlane-eval-*"))


def test_only_the_first_prompt_meets_a_promptfoo_that_cannot_start(gov, tmp_path, capsys, monkeypatch):
    script = tmp_path / "promptfoo"
    script.write_text(NODE_CRASH)
    script.chmod(0o755)
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", str(script))
    monkeypatch.setattr("promptlane.evals.runner.require_node", lambda: None)
    shutil.copytree(gov / "prompts" / PID, gov / "prompts/second-reply")
    card = gov / "prompts/second-reply/card.yml"
    card.write_text(re.sub(r"^id: .*$", "id: second-reply", card.read_text(), count=1, flags=re.M))
    shutil.copy(gov / "evals/tests" / f"{PID}.yml", gov / "evals/tests/second-reply.yml")
    assert run_cli(gov, "sync")[0] == 1
    capsys.readouterr()
    code, _ = run_cli(gov, "eval", "run", "--force")
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    assert captured.err.count("cannot start") == 1
    # Three prompts: the copy, support-reply and the template's chain, triage-reply. They run at once
    # (one promptfoo a core): the first to meet it says so, and no prompt is tried after that.
    lines = captured.out.splitlines()
    assert lines[1:] == ["3 prompts: 0 passed, 0 failed or errored, 3 not run."], lines
    assert lines[0] in {f"[1/3] {p} ... not run" for p in ("second-reply", PID, "triage-reply")}, lines


def test_a_promptfoo_that_starts_and_refuses_the_config_is_still_a_refusal(gov, tmp_path, capsys, monkeypatch):
    script = tmp_path / "promptfoo"
    script.write_text(f"#!{sys.executable}\nimport sys\nif sys.argv[1:] == ['--version']:\n    print('0.121.20')\n"
                      "    sys.exit(0)\nsys.stderr.write('Error: Could not identify provider: nope\\n')\nsys.exit(1)\n")
    script.chmod(0o755)
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", str(script))
    monkeypatch.setattr("promptlane.evals.runner.require_node", lambda: None)
    code, _ = run_cli(gov, "eval", "run", PID)
    err = capsys.readouterr().err
    assert code == 2 and "promptfoo refused the config (exit 1):\nError: Could not identify provider: nope" in err
    assert "cannot start" not in err
