"""promptlane as users get it: the wheel and the sdist.

Both are built once per session from a clean copy of the repository (the files git lists,
tracked or new and not ignored), so nothing a dirty tree or a test run left behind can reach
them, except the bytecode planted on purpose in the copy's template, which must not reach the
wheel, the sdist or a rendered repository. The wheel is then installed into a fresh virtualenv
whose `promptlane init` must scaffold a repository that passes its own hooks untouched.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import BIN, GIT_ENV, ROOT, snapshot_tree

TEMPLATE_PARTS = ("cookiecutter.json", "{{cookiecutter.project}}", "hooks")
# What an import or a test run leaves in the checkout's template (and pip in an installed one)...
PYCACHE = (
    "{{cookiecutter.project}}/evals/__pycache__/render_chain.cpython-311.pyc",
    "{{cookiecutter.project}}/evals/providers/__pycache__/local_echo.cpython-311.pyc",
    "hooks/__pycache__/post_gen_project.cpython-311.pyc",
)
# ... and what `compileall -b` leaves: beside the source, where cookiecutter would even take
# hooks/pre_gen_project.pyc for the pre-generation hook and fail to run it.
LOOSE = ("{{cookiecutter.project}}/evals/render_chain.pyc", "hooks/pre_gen_project.pyc")
PLANTED = PYCACHE + LOOSE
PRE_COMMIT_PIN = "pre-commit==4.7.0"  # what a rendered requirements.txt pins
# One pytest-xdist worker runs this file (make test: --dist loadgroup): the clean copy, the
# built wheel and sdist and the venv they install into (session fixtures) are made once.
pytestmark = pytest.mark.xdist_group("packaging")


def is_bytecode(name: str) -> bool:
    return "__pycache__" in Path(name).parts or name.endswith((".pyc", ".pyo"))


def bytecode_under(root: Path) -> list[str]:
    """Bytecode files and __pycache__ folders under root, its .git aside."""
    found = (path.relative_to(root) for path in root.rglob("*"))
    return sorted(rel.as_posix() for rel in found if ".git" not in rel.parts and is_bytecode(rel.as_posix()))


def plant_bytecode(root: Path, planted: tuple[str, ...] = PLANTED) -> None:
    for rel in planted:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\x00bytecode")


def listed_files() -> list[str]:
    """The repository's files as git lists them: tracked, and new ones not ignored."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return sorted(rel for rel in set(out.split("\0")) if rel and (ROOT / rel).is_file())


def run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"
    return done


# ---------------------------------------------------------------- rendering, and the README


@pytest.mark.parametrize("planted", [PYCACHE, LOOSE], ids=["__pycache__", "loose"])
def test_init_never_copies_bytecode_into_a_repository(planted, tmp_path, monkeypatch):
    """Rendered in place and aside-then-renamed, from a template holding bytecode."""
    from promptlane.commands import init as init_command

    template = tmp_path / "template"
    template.mkdir()
    for name in TEMPLATE_PARTS:
        source = init_command.template_dir() / name
        if source.is_dir():
            shutil.copytree(source, template / name, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"))
        else:
            shutil.copy2(source, template / name)
    plant_bytecode(template, planted)
    monkeypatch.setattr(init_command, "template_dir", lambda: template)
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    config = tmp_path / "cookiecutter.yml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'cc'}\nreplay_dir: {tmp_path / 'replay'}\n")

    for target in (tmp_path / "a" / "governed", tmp_path / "b" / "renamed"):
        created = init_command.init(target, {"project": "governed"}, config_file=str(config))
        assert created == target
        assert (created / "evals/render_chain.py").is_file() and (created / "evals/providers/local_echo.py").is_file()
        assert bytecode_under(created) == []
    assert all((template / rel).is_file() for rel in planted), "the template itself is left as it was"


def test_the_readme_installs_promptlane_as_it_exists_and_the_pinned_pre_commit():
    """promptlane is on no package index: the README installs a checkout or a wheel, and the
    pre-commit a rendered repository pins (the hooks need >= 4.4.0)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Start a governed repository\n", 1)[1].split("\n## ", 1)[0]
    installs = [line.split("#")[0].split()[2:] for line in section.splitlines() if line.startswith("pip install ")]
    assert installs and all("promptlane" not in words for words in installs), installs
    pinned = re.findall(r"^pre-commit==\S+$", (ROOT / TEMPLATE_PARTS[1] / "requirements.txt").read_text(), re.MULTILINE)
    assert len(pinned) == 1 and set(re.findall(r"pre-commit==[\w.]+", section)) == set(pinned)


# ---------------------------------------------------------------- the wheel and the sdist


@pytest.fixture(scope="session")
def clean_copy(tmp_path_factory) -> Path:
    """The repository's listed files in a tmp folder, with bytecode planted in its template."""
    target = tmp_path_factory.mktemp("clean-copy") / "promptlane"
    for rel in listed_files():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target / rel)
    plant_bytecode(target)
    return target


@pytest.fixture(scope="session")
def pyproject_build(tmp_path_factory) -> list[str]:
    """`python -m build`: this interpreter's, else one in a tool virtualenv made for it."""
    if importlib.util.find_spec("build") is not None:
        return [sys.executable, "-m", "build"]
    tools = tmp_path_factory.mktemp("build-tool") / "venv"
    ok(run([sys.executable, "-m", "venv", tools]))
    ok(run([tools / "bin/python", "-m", "pip", "install", "-q", "build"]))
    return [str(tools / "bin/python"), "-m", "build"]


@pytest.fixture(scope="session")
def dists(clean_copy, pyproject_build, tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel, both built from the clean copy: {"sdist": ..., "wheel": ...}."""
    out = tmp_path_factory.mktemp("dist")
    ok(run([*pyproject_build, "--sdist", "--wheel", "--outdir", out, clean_copy]))
    sdists, wheels = sorted(out.glob("promptlane-*.tar.gz")), sorted(out.glob("promptlane-*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in out.iterdir())
    return {"sdist": sdists[0], "wheel": wheels[0]}


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def sdist_names(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as archive:
        return [member.name for member in archive.getmembers() if member.isfile()]


@pytest.mark.slow
def test_twine_check_strict_passes_on_both(dists):
    done = ok(run([BIN / "twine", "check", "--strict", dists["wheel"], dists["sdist"]]))
    assert "WARNING" not in done.stdout + done.stderr and done.stdout.count("PASSED") == 2, done.stdout


@pytest.mark.slow
def test_check_wheel_contents_reports_nothing(dists, clean_copy):
    # Its configuration is pyproject.toml's [tool.check-wheel-contents] (two checks off for
    # the template, each said why): read from the clean copy, as it would be from a checkout.
    done = ok(run([BIN / "check-wheel-contents", "--config", clean_copy / "pyproject.toml", dists["wheel"]],
                  cwd=clean_copy))
    assert done.stdout.strip() == f"{dists['wheel']}: OK", done.stdout + done.stderr


@pytest.mark.slow
def test_the_wheel_duplicates_files_only_inside_the_template(dists):
    """W002 is off for the template's copies of the package's schemas: nowhere else."""
    by_content: dict[bytes, list[str]] = {}
    with zipfile.ZipFile(dists["wheel"]) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            if data and ".dist-info/" not in name:
                by_content.setdefault(data, []).append(name)
    outside = [names for names in by_content.values()
               if len([n for n in names if not n.startswith("promptlane/template/")]) > 1]
    assert outside == []


@pytest.mark.slow
def test_the_wheel_has_license_py_typed_and_no_bytecode(dists):
    names = wheel_names(dists["wheel"])
    licenses = [n for n in names if re.fullmatch(r"promptlane-[^/]+\.dist-info/licenses/LICENSE", n)]
    assert len(licenses) == 1, names
    with zipfile.ZipFile(dists["wheel"]) as archive:
        assert archive.read(licenses[0]) == (ROOT / "LICENSE").read_bytes()
        metadata = archive.read(licenses[0].replace("licenses/LICENSE", "METADATA")).decode()
    assert "License-File: LICENSE" in metadata.splitlines()
    assert "promptlane/py.typed" in names
    assert [n for n in names if is_bytecode(n)] == []


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_the_whole_template_and_nothing_else(dists):
    """What git lists under src/promptlane/ and the template parts, file for file: the
    template goes through hatch's file selection, so no ignore pattern may drop a file."""
    listed = [rel for rel in listed_files() if not is_bytecode(rel)]
    expected = {rel.removeprefix("src/") for rel in listed if rel.startswith("src/promptlane/")}
    expected |= {f"promptlane/template/{rel}" for rel in listed
                 if rel == "cookiecutter.json" or rel.split("/")[0] in TEMPLATE_PARTS[1:]}
    shipped = {n for n in wheel_names(dists["wheel"]) if ".dist-info/" not in n}
    assert sorted(shipped - expected) == [] and sorted(expected - shipped) == []


@pytest.mark.slow
def test_the_sdist_has_license_and_no_bytecode(dists):
    names = sdist_names(dists["sdist"])
    top = dists["sdist"].name.removesuffix(".tar.gz")
    assert f"{top}/LICENSE" in names and f"{top}/PKG-INFO" in names, names
    assert f"{top}/cookiecutter.json" in names and f"{top}/hooks/post_gen_project.py" in names
    assert [n for n in names if is_bytecode(n)] == []


@pytest.mark.slow
def test_the_sdist_builds_the_same_wheel(dists, tmp_path):
    """pip building from the sdist (as `pip install promptlane-*.tar.gz` does) gets every file."""
    ok(run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path, dists["sdist"]]))
    (rebuilt,) = tmp_path.glob("promptlane-*.whl")
    assert sorted(wheel_names(rebuilt)) == sorted(wheel_names(dists["wheel"]))


# ---------------------------------------------------------------- the wheel, installed


@pytest.fixture(scope="session")
def installed(dists, tmp_path_factory) -> dict:
    """A fresh virtualenv with the built wheel and the pinned pre-commit, and an environment
    whose PATH starts with its bin/ and holds no other virtualenv."""
    base = tmp_path_factory.mktemp("installed")
    venv = base / "venv"
    ok(run([sys.executable, "-m", "venv", venv]))
    ok(run([venv / "bin/python", "-m", "pip", "install", "-q", dists["wheel"], PRE_COMMIT_PIN]))
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE"}}
    env.update(GIT_ENV)
    others = [p for p in env.get("PATH", "").split(os.pathsep)
              if p and not (Path(p).parent / "pyvenv.cfg").is_file() and Path(p) != BIN]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *others])
    (base / "gitconfig").write_text("")
    env.update(HOME=str(base / "home"), GIT_CONFIG_GLOBAL=str(base / "gitconfig"),
               PRE_COMMIT_HOME=str(base / "pre-commit-home"))
    return {"venv": venv, "env": env, "wheel": dists["wheel"]}


@pytest.mark.slow
def test_the_installed_wheel_scaffolds_a_repository_that_passes_its_own_hooks(installed, tmp_path):
    venv, env = installed["venv"], installed["env"]
    for script in ("promptlane", "pre-commit", "promptlane-hook", "promptlane-sync", "promptlane-check", "promptlane-audit"):
        assert shutil.which(script, path=env["PATH"]) == str(venv / "bin" / script)
    where = ok(run(["python", "-c", "import json, pathlib, promptlane, pre_commit.constants as c; "
                    "print(json.dumps([str(pathlib.Path(promptlane.__file__).parent), c.VERSION]))"],
                   env=env, cwd=tmp_path)).stdout
    package, pre_commit_version = json.loads(where)
    assert Path(package).is_relative_to(venv) and pre_commit_version == PRE_COMMIT_PIN.split("==")[1]
    # pip byte-compiled the installed template's Python files: init must leave them behind.
    assert list((Path(package) / "template").rglob("__pycache__")), "pip no longer compiles the template"

    done = ok(run(["promptlane", "init", tmp_path / "my-prompts", "--no-input"], env=env, cwd=tmp_path))
    project = tmp_path / "my-prompts"
    assert f"created {project}" in done.stdout
    assert bytecode_under(project) == []
    # The README's way to install the repository's pins: pip finds promptlane beside the wheel.
    wheel = installed["wheel"]
    links = " ".join(filter(None, [str(wheel.parent), env.get("PIP_FIND_LINKS")]))
    resolved = ok(run(["python", "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
                       "-r", "requirements.txt"], cwd=project, env={**env, "PIP_FIND_LINKS": links})).stdout
    assert f"Processing {wheel}" in resolved, resolved
    would = [{name.replace("_", "-") for name in line.split()[2:]}
             for line in resolved.splitlines() if line.startswith("Would install ")]
    assert would == [{PRE_COMMIT_PIN.replace("==", "-"), f"promptlane-{wheel.name.split('-')[1]}"}], resolved
    ok(run(["git", "add", "-A"], cwd=project, env=env))
    ok(run(["git", "commit", "-q", "-m", "scaffold"], cwd=project, env=env))

    before = snapshot_tree(project)
    hooks = run(["pre-commit", "run", "--all-files"], cwd=project, env=env)
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    # the template's one hook (sync, check and audit verify in one process), from the installed wheel
    assert re.search(r"^promptlane \(sync, check, audit verify\)\.*Passed$", hooks.stdout, re.MULTILINE), hooks.stdout
    assert snapshot_tree(project) == before
    assert ok(run(["git", "status", "--porcelain"], cwd=project, env=env)).stdout == ""
    assert bytecode_under(project) == []


    # Day one goes on: a new prompt, committed through the hooks, evaluated offline by the
    # pinned promptfoo against the template's local provider, with the venv's own Python.
    ok(run(["pre-commit", "install"], cwd=project, env=env))
    ok(run(["promptlane", "new", "order-status"], cwd=project, env=env))
    ok(run(["git", "add", "-A"], cwd=project, env=env))
    first = run(["git", "commit", "-q", "-m", "order-status"], cwd=project, env=env)
    assert first.returncode != 0 and "new prompt -> 1.0.0" in first.stdout + first.stderr  # the fixer versioned it
    ok(run(["git", "add", "-A"], cwd=project, env=env))
    ok(run(["git", "commit", "-q", "-m", "order-status"], cwd=project, env=env))
    promptfoo = ROOT / ".tools/promptfoo/node_modules/.bin/promptfoo"
    if not promptfoo.is_file():
        pytest.skip("the pinned promptfoo is not installed here (make promptfoo)")
    evaluated = run(["promptlane", "eval", "run", "order-status"], cwd=project,
                    env={**env, "PROMPTLANE_PROMPTFOO": str(promptfoo), "PROMPTFOO_PYTHON": str(venv / "bin" / "python")})
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert "order-status ... 4/4 passed" in evaluated.stdout
