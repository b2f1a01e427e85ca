"""The few facts promptlane asks git for; argument lists only, never a shell string."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

# Within ``memoized()``: each git command's answer, by (folder, arguments, input).
_answers: dict[tuple[str, tuple[str, ...], bytes | None], bytes | None] | None = None


@contextlib.contextmanager
def memoized() -> Iterator[None]:
    """Within: each distinct git command runs once and its answer is reused (check asks HEAD's
    commit and the policy at HEAD from several checks). Only for a run that changes no file,
    index or ref while it asks: after a write, an answer kept would be stale."""
    global _answers
    outer = _answers
    _answers = {} if outer is None else outer
    try:
        yield
    finally:
        _answers = outer


def _git(root: Path, *args: str, strip: bool = True) -> str | None:
    out = _git_bytes(root, *args)
    if out is None:
        return None
    text = out.decode("utf-8", errors="replace")
    return text.strip() if strip else text


def _git_bytes(root: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    if _answers is None:
        return _run_git(root, args, stdin)
    key = (str(root), args, stdin)
    if key not in _answers:
        _answers[key] = _run_git(root, args, stdin)
    return _answers[key]


def _run_git(root: Path, args: tuple[str, ...], stdin: bytes | None) -> bytes | None:
    import subprocess  # not at the top: the commit hooks often need no git at all
    from shutil import which

    if which("git") is None:
        return None
    try:
        # An argument list, never a shell: no value reaches a shell. git is found on PATH, as
        # pre-commit and git's own hooks find it.
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=30, input=stdin)  # noqa: S603, S607
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout


def config(root: Path, key: str) -> str | None:
    """A git config value (None when unset or git is missing)."""
    return _git(root, "config", key)


def current_branch(root: Path) -> str | None:
    return _git(root, "rev-parse", "--abbrev-ref", "HEAD")


def unborn_branch(root: Path) -> str | None:
    """The branch HEAD names when it has no commit yet (a fresh ``git init``): ``rev-parse
    --abbrev-ref HEAD`` fails there, ``symbolic-ref`` does not. None on a born branch, a
    detached HEAD, or outside a git repository."""
    name = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    if not name or _git(root, "rev-parse", "--verify", "--quiet", "HEAD") is not None:
        return None
    return name


def toplevel(folder: Path) -> Path | None:
    """The top of the git work tree ``folder`` is in (resolved), or None outside one (or
    inside ``.git``, or when git is missing)."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else None


def refusal(folder: Path) -> str | None:
    """git's own words when it refuses to work in ``folder`` for safety (a repository owned by
    someone else: "detected dubious ownership", safe.directory), else None. Asked only after a
    git query failed, so that the failure is explained rather than misread."""
    import subprocess
    try:
        done = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=folder, capture_output=True,  # noqa: S603, S607 - as _git
                              text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    said = done.stderr.strip()
    if done.returncode == 0 or ("dubious ownership" not in said and "safe.directory" not in said):
        return None
    return said.splitlines()[0].removeprefix("fatal: ")


class GitError(Exception):
    """git is missing, this is not a repository, or a ref cannot be resolved."""


def resolve(root: Path, ref: str) -> str:
    """The commit a ref names; GitError says what to do when it cannot be found."""
    from shutil import which

    if which("git") is None:
        raise GitError("git is not installed or not on PATH; install git and run again")
    if _git(root, "rev-parse", "--git-dir") is None:
        raise GitError(f"{root} is not a git repository; run `git init` or run promptlane in your clone")
    sha = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if sha is None:
        shallow = _git(root, "rev-parse", "--is-shallow-repository") == "true"
        hint = " (this is a shallow clone: fetch it, e.g. `git fetch --depth=1 origin <branch>`)" if shallow else ""
        raise GitError(f"git ref '{ref}' not found{hint}")
    named = _refs_named(root, ref)
    if len(named) > 1:  # git would pick the tag: a tag named like the base would make a branch its own base
        raise GitError(f"git ref '{ref}' is ambiguous ({', '.join(named)}); name it in full, e.g. {named[-1]}")
    return sha


def _refs_named(root: Path, ref: str) -> list[str]:
    """The refs a short name could mean, as git's own lookup order tries them."""
    if ref.startswith("refs/"):
        return [ref]
    candidates = [f"refs/{ref}", f"refs/tags/{ref}", f"refs/heads/{ref}", f"refs/remotes/{ref}"]
    out = _git(root, "for-each-ref", "--format=%(refname)", *candidates) or ""
    return [name for name in candidates if name in out.splitlines()]


def commit_exists(root: Path, ref: str) -> bool:
    """``ref`` names a commit (False for an unborn HEAD, outside git, or an unknown ref)."""
    return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is not None


def is_link_at(root: Path, commit: str, rel: str) -> bool:
    """``rel`` is a symbolic link in ``commit``'s tree (mode 120000): its "content" is its target."""
    out = _git(root, "ls-tree", commit, "--", rel) or ""
    return out.split(" ", 1)[0] == "120000"


def show(root: Path, commit: str, rel: str) -> str | None:
    """A file's text at a commit, or None when it did not exist there."""
    return _git(root, "show", f"{commit}:{rel}", strip=False)


def show_bytes(root: Path, commit: str, rel: str) -> bytes | None:
    """A file's exact bytes at a commit (what a signature covers), or None when it did not exist there."""
    return _git_bytes(root, "show", f"{commit}:{rel}")


def show_many(root: Path, commit: str, rels: list[str]) -> dict[str, bytes | None]:
    """Many files' bytes at a commit in one git process (``git cat-file --batch``); None for a
    file that did not exist there."""
    if not rels:
        return {}
    return dict(zip(rels, show_many_commits(root, [(commit, rel) for rel in rels]), strict=True))


def contents_in_history(root: Path, rel: str) -> list[bytes]:
    """Every content ``rel`` had in a commit reachable from HEAD (all of git's history of the
    path, merged branches included), in one ``git log`` and one ``git cat-file --batch``."""
    commits = (_git(root, "log", "--full-history", "--format=%H", "HEAD", "--", rel) or "").split()
    if not commits:
        return []
    found = show_many_commits(root, [(commit, rel) for commit in commits])
    return [raw for raw in found if raw is not None]


def show_many_commits(root: Path, wanted: list[tuple[str, str]]) -> list[bytes | None]:
    """The bytes of each (commit, path) in one git process; None where it did not exist."""
    out = _git_bytes(root, "cat-file", "--batch", stdin="".join(f"{c}:{r}\n" for c, r in wanted).encode("utf-8"))
    found: list[bytes | None] = [None] * len(wanted)
    if out is None:
        return found
    at = 0
    for index in range(len(wanted)):
        end = out.index(b"\n", at)
        header = out[at:end].split(b" ")
        at = end + 1
        if len(header) == 3 and header[1] != b"missing":
            size = int(header[2])
            found[index] = out[at:at + size] if header[1] == b"blob" else None
            at += size + 1
    return found


def changed_since(root: Path, commit: str, folder: str) -> list[str]:
    """Files under ``folder`` that existed at ``commit`` and were changed, deleted or turned into
    something else (a symlink) since: the working tree compared with the commit; git compares
    trees, so unchanged folders cost nothing."""
    out = _git(root, "diff", "--name-only", "--no-renames", "--diff-filter=DMT", commit, "--", folder)
    return out.splitlines() if out else []


def rewritten_in_commits(root: Path, commit: str, folder: str) -> list[str]:
    """Files under ``folder`` that a commit since ``commit`` (``commit..HEAD``) changed or deleted."""
    out = _git(root, "log", "--format=", "--name-only", "--no-renames", "--diff-filter=DMT", f"{commit}..HEAD", "--", folder)
    return sorted({name for name in (out or "").splitlines() if name})


def uncommitted(root: Path, *paths: str) -> list[str]:
    """``git status --porcelain`` lines for ``paths`` ([] when clean or not a git repository)."""
    out = _git(root, "status", "--porcelain", "--", *paths)
    return out.splitlines() if out else []


def files_at(root: Path, commit: str, folder: str) -> list[str]:
    """Paths of the files under ``folder`` at ``commit`` ([] when there are none)."""
    out = _git(root, "ls-tree", "-r", "--name-only", commit, "--", folder)
    return out.splitlines() if out else []


def changed_paths(root: Path, commit: str, *folders: str) -> list[str]:
    """Files under ``folders`` that differ from ``commit`` in the working tree, and untracked
    ones (what a pull request adds, before or after it is committed)."""
    changed = _git(root, "diff", "--name-only", "--no-renames", commit, "--", *folders) or ""
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--", *folders) or ""
    return [name for name in (changed + "\n" + untracked).splitlines() if name]


def deleted_paths(root: Path, *folders: str) -> list[str]:
    """Files under ``folders`` that HEAD has and the index or the working tree no longer does
    (what a commit deletes: pre-commit hands a hook only the files that still exist)."""
    gone = _git(root, "diff", "--name-only", "--no-renames", "--diff-filter=D", "HEAD", "--", *folders) or ""
    staged = _git(root, "diff", "--cached", "--name-only", "--no-renames", "--diff-filter=D", "HEAD", "--", *folders) or ""
    return sorted({name for name in (gone + "\n" + staged).splitlines() if name})


def set_config(root: Path, key: str, value: str) -> None:
    """``git config KEY VALUE`` in this clone; GitError says why it failed."""
    import subprocess
    try:
        done = subprocess.run(["git", "config", key, value], cwd=root, capture_output=True, text=True)  # noqa: S603, S607 - as _git
    except OSError:
        raise GitError("git is not installed or not on PATH; install git and run again") from None
    if done.returncode != 0:
        raise GitError(f"git config failed in {root} ({done.stderr.strip() or 'not a git repository?'}); run it inside your clone")
