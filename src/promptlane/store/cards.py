"""Reading one prompt card from disk: the card file and its step texts, of its one call or of
every call of a chain (core/card.py judges them).

``read_card`` never raises for bad input: it returns a ``Card`` whose ``problems`` say what
is wrong, each at a file and line. ``payload``/``hash`` are set only when the card and all
its texts are sound, so no hash is ever computed from half-read input.
"""
from __future__ import annotations

import os
import stat

from promptlane.core.card import MAX_TEXT_BYTES, Card, StepAt, complete_card, parse_card, step_entries
from promptlane.core.layout import CARD
from promptlane.core.problems import Problem
from promptlane.core.yamltext import decode
from promptlane.store.repo import Repo
from promptlane.store.yamlfile import load_file


def read_card(repo: Repo, prompt_id: str) -> Card:
    rel = f"prompts/{prompt_id}/{CARD}"
    if repo.prompts_outside:  # git would store the link: nothing a reviewer sees, hashed from elsewhere
        return _unread(prompt_id, rel, Problem("prompts", 1, 1, "PL131", "is a link to a folder outside the repository; keep "
                                               "the prompts in the repository (replace the link with the folder it points to)"))
    path = os.path.join(repo.root, rel)
    kind = _file_kind(path)
    if kind == "other":
        folder = f"prompts/{prompt_id}"
        fix = (f"is a symbolic link that leads to no folder holding a {CARD}; make it a real folder or remove it"
               if os.path.islink(os.path.join(repo.root, folder)) else
               f"has no {CARD}; create one with `promptlane new {prompt_id}` or remove the folder")
        return _unread(prompt_id, rel, Problem(folder, 1, 1, "PL120", fix))
    if kind == "link":  # git would store the link's target as the card: its risk and texts unreviewable
        return _unread(prompt_id, rel, Problem(rel, 1, 1, "PL123", "is a symbolic link; a card is a regular file (replace "
                                               "the link with the file it points to)"))
    card = parse_card(prompt_id, rel, load_file(path, rel))
    if card.problems:
        return card
    _read_texts(repo, card)
    if card.texts is not None:
        complete_card(card, card.texts)
    return card


def _unread(prompt_id: str, rel: str, problem: Problem) -> Card:
    """A card that was not read, for ``problem``."""
    card = Card(prompt_id, rel)
    card.problems.append(problem)
    return card


def _file_kind(path: str) -> str:
    """"file", "link" (a symbolic link to a file), or "other" (missing, a folder, a dangling
    link): one lstat for a regular file, the common case."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            return "link" if stat.S_ISREG(os.stat(path).st_mode) else "other"
    except OSError:
        return "other"
    return "file" if stat.S_ISREG(mode) else "other"


def _read_texts(repo: Repo, card: Card) -> None:
    folder, inside = _inside(repo.real_prompts, card.prompt_id)  # one lstat unless prompts/ID is a link
    if not inside:
        card.problems.append(card.problem("PL131", f"prompts/{card.prompt_id} is a link to a folder outside prompts/; keep prompts inside the repository", "id"))
        return
    texts = []
    for entry in step_entries(card.data):
        texts.append(_read_step(repo, card, folder, entry))
    read = [text for text in texts if text is not None]
    if len(read) == len(texts):
        card.texts = read


def _inside(folder: str, name: str) -> tuple[str, bool]:
    """The real path of ``name`` under ``folder`` and whether it stays inside it.

    A plain file name that is not a symlink cannot leave the folder: one lstat answers it.
    Anything else (sub-folders, ``..``, symlinks) is resolved in full before it is trusted.
    """
    plain = os.path.join(folder, name)
    if "/" not in name and "\\" not in name and name not in (".", ".."):
        try:
            if not stat.S_ISLNK(os.lstat(plain).st_mode):
                return plain, True
        except OSError:
            return plain, True  # missing: reported as PL130 by the caller
    real = os.path.realpath(plain)
    return real, real.startswith(folder + os.sep)


def _read_step(repo: Repo, card: Card, folder: str, entry: StepAt) -> str | None:
    at, where, name = (*entry.path, "file"), f"{entry.dotted}.file", entry.step["file"]
    shown = f"prompts/{card.prompt_id}/{name}"
    real, inside = _inside(folder, name)
    if not inside:
        card.problems.append(card.problem("PL131", f"{where}: '{name}' points outside prompts/{card.prompt_id}/; keep step texts in the card's folder", *at))
        return None
    try:
        info = os.stat(real)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        card.problems.append(card.problem("PL130", f"{where}: '{name}' does not exist; create {shown} or fix the file name", *at))
        return None
    if info.st_size > MAX_TEXT_BYTES:
        card.problems.append(card.problem("PL135", f"{where}: '{name}' is {info.st_size} bytes, over the {MAX_TEXT_BYTES}-byte limit for a prompt text", *at))
        return None
    with open(real, "rb") as handle:
        raw = handle.read()
    text, problem = decode(raw, shown)
    if problem:
        card.problems.append(Problem(problem.path, problem.line, problem.col, "PL133", problem.message))
        return None
    return text


