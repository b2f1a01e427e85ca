"""All-or-nothing multi-file updates with an undo journal.

A ``Transaction`` collects whole-file writes and appends, then commits them in steps:
(1) a journal records how to undo (hard-link backups of the files about to be replaced, the
sizes of the files about to be appended to); (2) new contents go to temp files beside their
targets; (3) appends and renames are applied; (4) backups and journal are removed. A run that
dies after (1) leaves the journal; the next mutating command calls ``recover`` first, which
deletes temp files and puts every file back as it was. Readers (``check``) report a pending
journal instead of touching it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from promptlane.core.problems import Problem, PromptlaneError

JOURNAL = ".promptlane/journal.json"
_TMP = ".promptlane-tmp"
_BAK = ".promptlane-bak"


def _fault_point(step: str) -> None:
    """Test hook: PROMPTLANE_FAULT_AT=<step> kills the process right there (crash tests)."""
    if os.environ.get("PROMPTLANE_FAULT_AT") == step:
        os._exit(70)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write(path: Path, text: str) -> None:
    """Replace one file atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + _TMP)
    _write_file(tmp, text.encode("utf-8"))
    os.replace(tmp, path)


class Transaction:
    def __init__(self, root: Path):
        self.root = root
        self.writes: dict[str, str] = {}
        self.appends: dict[str, str] = {}
        self.deletes: set[str] = set()   # files removed (a retired prompt's folder); undone from their backups

    def delete(self, rel: str) -> None:
        """Remove ``rel`` with the rest; its folder too once empty (up to the repository)."""
        self.deletes.add(rel)

    def write(self, rel: str, text: str) -> None:
        self.writes[rel] = text

    def append(self, rel: str, text: str) -> None:
        self.appends[rel] = self.appends.get(rel, "") + text

    @property
    def paths(self) -> list[str]:
        return sorted(set(self.writes) | set(self.appends) | self.deletes)

    def _refuse_unwritable(self) -> None:
        """Before anything is written: every target writable, and the folder each write needs
        (temp files and backups go beside a replaced file; a new file's nearest existing folder)."""
        blocked = []
        journal_dir = (self.root / JOURNAL).parent
        if journal_dir.exists() and not journal_dir.is_dir() or (self.root / JOURNAL).is_dir():
            blocked.append(Problem(JOURNAL, 1, 1, "PL191", "is in the way: .promptlane/ is promptlane's own folder (journal, "
                                   "cache); move what is there away and run again"))
        for rel in self.paths:
            target = self.root / rel
            if target.exists() and not os.access(target, os.W_OK):
                blocked.append(Problem(rel, 1, 1, "PL191", "is read-only; make it writable (chmod u+w) and run again"))
                continue
            if rel in self.deletes and not os.access(target.parent, os.W_OK):
                blocked.append(Problem(rel, 1, 1, "PL191", "its folder is read-only; make it writable and run again"))
                continue
            if target.exists() and rel not in self.writes:
                continue  # an append to an existing file needs only the file
            folder = target.parent
            while not folder.exists() and folder != self.root:
                folder = folder.parent
            if not os.access(folder, os.W_OK):
                shown = folder.relative_to(self.root).as_posix() if folder != self.root else "the repository folder"
                blocked.append(Problem(rel, 1, 1, "PL191", f"its folder ({shown}) is read-only; make it writable and run again"))
        if blocked:
            raise PromptlaneError("cannot write; nothing was changed", blocked)

    def commit(self) -> None:
        if not self.paths:
            return
        self._refuse_unwritable()
        journal = self._journal()
        # The journal goes first: from here on, a run killed at any point is undone by recover().
        atomic_write(self.root / JOURNAL, json.dumps(journal, indent=1))
        _fault_point("journal")
        for rel, text in sorted(self.writes.items()):
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_file(target.with_name(target.name + _TMP), text.encode("utf-8"))
            _fault_point("temp")
        for rel, text in sorted(self.appends.items()):
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "ab") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            _fault_point(f"append:{rel}")
        for rel in sorted(self.writes):
            target = self.root / rel
            os.replace(target.with_name(target.name + _TMP), target)
            _fault_point(f"rename:{rel}")
        for rel in sorted(self.deletes):
            (self.root / rel).unlink()
            _fault_point(f"delete:{rel}")
        _finish(self.root, journal, self._emptied())

    def _emptied(self) -> list[str]:
        """The folders of deleted files, deepest first: removed once empty, before the journal goes."""
        folders = set()
        for rel in self.deletes:
            parent = Path(rel).parent
            while parent != Path(".") and parent.parent != Path("."):  # never a top-level folder (prompts/)
                folders.add(parent.as_posix())
                parent = parent.parent
        return sorted(folders, key=lambda rel: (-rel.count("/"), rel))

    def _journal(self) -> dict:
        """How to undo: which targets existed (hard-link backups made now), append sizes, and the
        folders the commit will create (removed again if empty, so an undone seal leaves no empty
        audit/archive/NNNN/ behind)."""
        journal: dict = {"writes": [], "appends": [], "folders": self._new_folders()}
        try:
            for rel in sorted(set(self.writes) | self.deletes):  # a deleted file is put back like a replaced one
                target = self.root / rel
                entry = {"path": rel, "existed": target.exists()}
                if entry["existed"]:
                    backup = target.with_name(target.name + _BAK)
                    if backup.exists():
                        backup.unlink()
                    os.link(target, backup)
                journal["writes"].append(entry)
            for rel in sorted(self.appends):
                target = self.root / rel
                journal["appends"].append({"path": rel, "size": target.stat().st_size if target.exists() else -1})
        except OSError:
            _discard(self.root, set(self.writes) | self.deletes)
            raise
        return journal


    def _new_folders(self) -> list[str]:
        """Folders missing now that the writes and appends will create, deepest first."""
        missing = set()
        for rel in self.paths:
            parent = Path(rel).parent
            while parent != Path(".") and not (self.root / parent).exists():
                missing.add(parent.as_posix())
                parent = parent.parent
        return sorted(missing, key=lambda rel: (-rel.count("/"), rel))


def _discard(root: Path, writes) -> None:
    """Remove temp files and backups of a commit that failed before its journal."""
    for rel in writes:
        target = root / rel
        for extra in (target.with_name(target.name + _TMP), target.with_name(target.name + _BAK)):
            if extra.exists():
                extra.unlink()


def _finish(root: Path, journal: dict, emptied: list[str] | None = None) -> None:
    for entry in journal["writes"]:
        target = root / entry["path"]
        backup = target.with_name(target.name + _BAK)
        if backup.exists():
            backup.unlink()
    for folder in emptied or []:
        try:
            (root / folder).rmdir()  # only if empty: never anything a person put there
        except OSError:
            pass
    (root / JOURNAL).unlink()


def pending(root: Path) -> bool:
    return (root / JOURNAL).exists()


def pending_problem(root: Path) -> Problem | None:
    """PL190 when an interrupted run left its journal (readers report it and touch nothing)."""
    if not pending(root):
        return None
    return Problem(JOURNAL, 1, 1, "PL190", "an earlier promptlane run was interrupted; run `promptlane sync` to put every file back")


def _read_journal(root: Path) -> dict:
    """The journal, refusing one that is corrupt or names a path outside the repository
    (a journal is only ever written by promptlane; one committed by hand is not trusted)."""
    path = root / JOURNAL
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        entries = journal["writes"] + journal["appends"] + [{"path": f} for f in journal.get("folders", [])]
        bad = [e for e in entries if not _inside(root, e["path"])]
        ok = all(isinstance(e.get("existed", True), bool) and isinstance(e.get("size", 0), int) for e in entries)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError, OSError):
        bad, ok = [], False
    if not ok or bad:
        what = f"names paths outside the repository ({bad[0]['path']!r})" if bad else "is corrupt"
        raise PromptlaneError(f"{JOURNAL} {what}", [Problem(
            JOURNAL, 1, 1, "PL192",
            f"{what}; nothing was undone. Check `git status`, restore what an interrupted run changed "
            f"(`git checkout -- FILE`), then delete {JOURNAL}")])
    return journal


def _inside(root: Path, rel: object) -> bool:
    if not isinstance(rel, str) or not rel or os.path.isabs(rel) or ".." in rel.replace("\\", "/").split("/"):
        return False
    real_root = os.path.realpath(root)
    return os.path.realpath(os.path.join(real_root, rel)).startswith(real_root + os.sep)


def recover(root: Path) -> list[str]:
    """Undo an interrupted commit; return the paths put back (empty when nothing was pending)."""
    path = root / JOURNAL
    if not path.exists():
        return []
    journal = _read_journal(root)
    restored = []
    for entry in journal.get("appends", []):
        target = root / entry["path"]
        if entry["size"] < 0:
            if target.exists():
                target.unlink()
        elif target.exists() and target.stat().st_size != entry["size"]:
            os.truncate(target, entry["size"])
        restored.append(entry["path"])
    for entry in journal.get("writes", []):
        target = root / entry["path"]
        backup = target.with_name(target.name + _BAK)
        tmp = target.with_name(target.name + _TMP)
        if backup.exists():
            if target.exists() and os.path.samefile(backup, target):
                backup.unlink()  # not replaced yet; rename onto a hard link of itself is a no-op
            else:
                os.replace(backup, target)
        elif not entry["existed"] and target.exists():
            target.unlink()
        if tmp.exists():
            tmp.unlink()
        restored.append(entry["path"])
    for folder in journal.get("folders", []):
        try:
            (root / folder).rmdir()  # only if empty: never anything a person put there
        except OSError:
            pass
    path.unlink()
    return restored
