"""Attacks on the paths today's speed-ups changed (tried against c9c43e0, the code before them).

- store/cards.py: one lstat tells a card file from a link, a folder or nothing, and a plain
  prompt folder is inside prompts/ after one lstat of ``Repo.real_prompts``/ID (cached per Repo);
- core/yamltext.py: a plain scalar's resolved tag is kept per distinct short text for the run;
- commands/check.py: the repository's own files, orphaned locks and stray eval tests are checked
  while the workers check the prompts, and git answers are memoised within one check.

No way was found to make any of them let through what the code before refused: every link
out of a prompt's folder or out of prompts/ is still PL131, a scalar's tag is PyYAML's whatever
was read before in the process, and a check with workers still reports the whole repository's
problems and each prompt's. Those are pinned below. Two crashes were found that the code
before had as well (a traceback, not a ``path:line:col: CODE`` line, where docs/security.md
says a bad file "must never crash"): a scalar the safe loader resolves but cannot build, and a
prompt folder linked to itself. They are problems now (the last two tests).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import committed_scaffold
from promptlane.cli import main as cli_main

CARD = "prompts/support-reply/card.yml"


def _run(root: Path, capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli_main(["-C", str(root), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _repo(scaffold: Path, tmp_path: Path) -> Path:
    return committed_scaffold(scaffold, tmp_path / "repo")


def _set_title(root: Path, value: str) -> None:
    card = root / CARD
    lines = card.read_text(encoding="utf-8").splitlines(keepends=True)
    card.write_text("".join(f"title: {value}\n" if line.startswith("title:") else line for line in lines), encoding="utf-8")


def test_a_step_text_in_a_linked_sub_folder_that_leaves_the_prompt_is_refused(scaffold, tmp_path, capsys):
    """`file: sub/user.md` where sub/ is a link out of the repository: not a plain name, so it is
    resolved in full (no one-lstat shortcut) and refused; the outside text is never hashed."""
    root = _repo(scaffold, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = root / "prompts/support-reply"
    shutil.copy(folder / "user.md", outside / "user.md")
    (folder / "sub").symlink_to(outside, target_is_directory=True)
    card = root / CARD
    card.write_text(card.read_text(encoding="utf-8").replace("file: user.md", "file: sub/user.md"), encoding="utf-8")
    code, out = _run(root, capsys, "check", "--all")
    assert code == 1 and f"{CARD}:" in out and " PL131 " in out and "'sub/user.md' points outside" in out, out


@pytest.mark.parametrize("how", ["to a repository folder outside prompts", "through a second link in prompts",
                                 "to prompts itself"])
def test_a_prompt_folder_linked_out_of_prompts_is_refused_however_the_link_is_made(scaffold, tmp_path, capsys, how):
    """prompts/ID as a link is always resolved in full: a relative link to a folder of the
    repository outside prompts/, a link to another link (prompts/zz) that leaves, and a link
    to prompts/ itself are PL131, as before the one-lstat containment check."""
    root = _repo(scaffold, tmp_path)
    folder = root / "prompts/support-reply"
    if how == "to a repository folder outside prompts":
        (root / "other").mkdir()
        folder.rename(root / "other/support-reply")
        folder.symlink_to("../other/support-reply", target_is_directory=True)
    elif how == "through a second link in prompts":
        folder.rename(tmp_path / "elsewhere")
        (root / "prompts/zz").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
        folder.symlink_to("zz", target_is_directory=True)
    else:
        for item in folder.iterdir():
            item.rename(root / "prompts" / item.name)
        folder.rmdir()
        folder.symlink_to(".", target_is_directory=True)
    code, out = _run(root, capsys, "check", "--all")
    assert code == 1 and "PL131 prompts/support-reply is a link to a folder outside prompts/" in out, out


def test_a_scalars_tag_is_the_same_whatever_the_run_read_before(scaffold, tmp_path, capsys):
    """The tag memo is keyed by a plain scalar's text alone: a quoted or `!!str` 123 read after
    a plain 123 is still text, a plain 123 read after them is still a number, and `! "123"`
    (the non-specific tag, which PyYAML resolves as if plain) is still the int PyYAML gives."""
    root = _repo(scaffold, tmp_path)
    expected = [("123", "PL104"), ('"123"', None), ("!!str 123", None), ("'123'", None), ("123", "PL104"),
                ("! 123", "PL104"), ('! "123"', "PL103"), ('"1.10"', None), ("1.10", "PL104")]
    for value, code_wanted in expected:
        _set_title(root, value)
        code, out = _run(root, capsys, "check", CARD)
        if code_wanted is None:
            assert code == 0, (value, out)
        else:
            assert code == 1 and f"{CARD}:5:8: {code_wanted} " in out, (value, out)


def test_check_all_with_workers_still_reports_the_whole_repository_and_every_prompt(scaffold, tmp_path, capsys,
                                                                                   monkeypatch):
    """With enough prompts for worker processes, the whole-repository checks now run while they
    work: a stray eval test, a broken repository file and a duplicate id are all still reported,
    with each prompt's own problem."""
    from promptlane.commands.check import PARALLEL_FROM

    root = _repo(scaffold, tmp_path)
    template = root / "prompts/support-reply"
    card = (template / "card.yml").read_text(encoding="utf-8").split("# ---- managed block")[0]
    count = PARALLEL_FROM + 2
    for index in range(count):
        folder = root / f"prompts/p{index}"
        folder.mkdir()
        for text in template.glob("*.md"):
            shutil.copy(text, folder / text.name)
        declared = "p1" if index == 0 else f"p{index}"  # p0 declares p1's id
        (folder / "card.yml").write_text(card.replace("id: support-reply", f"id: {declared}"), encoding="utf-8")
    (root / "evals/tests/nobody.yml").write_text("- vars: {}\n", encoding="utf-8")
    (root / "schemas/prompt-card.example.yml").write_text("broken: [\n", encoding="utf-8")
    monkeypatch.setenv("PROMPTLANE_JOBS", "2")
    code, out = _run(root, capsys, "check", "--all")
    assert code == 1
    assert "evals/tests/nobody.yml:1:1: PL341 " in out, out[-2000:]
    assert "schemas/prompt-card.example.yml:" in out and " PL100 " in out, out[-2000:]
    assert "prompts/p0/card.yml:" in out and " PL121 " in out, out[-2000:]
    assert sum(" PL153 " in line for line in out.splitlines()) == count - 1  # every sound copy: not versioned yet
    # The workers judge as the parent does: the same report in one process, with a base too.
    for base in ([], ["--base", "main"]):
        reports = []
        for jobs in ("1", "2"):
            monkeypatch.setenv("PROMPTLANE_JOBS", jobs)
            reports.append(_run(root, capsys, "check", "--all", *base))
        assert reports[0] == reports[1], base


@pytest.mark.parametrize("command", ["check --all", "sync"])
@pytest.mark.parametrize("value", ["2024-13-45", "!!int abc"])
def test_a_scalar_the_loader_cannot_build_is_a_problem_not_a_crash(scaffold, tmp_path, capsys, value, command):
    root = _repo(scaffold, tmp_path)
    _set_title(root, value)
    code, out = _run(root, capsys, *command.split())
    assert code == 1 and f"{CARD}:5:" in out and " PL100 " in out and "quote it if you mean the text" in out, out


def test_a_prompt_folder_that_links_to_itself_is_a_problem_not_a_crash(scaffold, tmp_path, capsys):
    root = _repo(scaffold, tmp_path)
    folder = root / "prompts/support-reply"
    shutil.rmtree(folder)
    folder.symlink_to("support-reply")
    code, out = _run(root, capsys, "check", "--all")
    assert code == 1 and "prompts/support-reply:1:1: PL120 is a symbolic link that leads to no folder" in out, out


def test_prompts_linked_out_of_the_repository_is_refused(scaffold, tmp_path, capsys):
    """prompts/ itself a link to a folder outside the repository: git would store the link, so
    no reviewer sees the cards and texts hashed (found by the same attack; the code before
    accepted it)."""
    root = _repo(scaffold, tmp_path)
    outside = tmp_path / "elsewhere"
    shutil.move(str(root / "prompts"), outside)
    (root / "prompts").symlink_to(outside, target_is_directory=True)
    code, out = _run(root, capsys, "check", "--all")
    assert code == 1 and "prompts:1:1: PL131 is a link to a folder outside the repository" in out, out
