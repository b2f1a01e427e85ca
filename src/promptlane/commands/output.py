"""What commands print and write outside the repository: problems as ``path:line:col: CODE
message`` lines with a summary, and output files (reports, exports) written atomically."""
from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, TextIO

from promptlane.core.problems import Problem, UsageError

if TYPE_CHECKING:
    pass


def output_target(out: str | os.PathLike, what: str, stdout_hint: str = "") -> Path:
    """Where a command's output file goes (absolute), refused with a UsageError (exit 2) when it
    cannot be a file: an empty path, a folder, or something that exists but is not a regular file
    (a device, pipe or socket: the output is renamed over OUT, which would replace /dev/null)."""
    text = os.fspath(out)
    if not text:
        raise UsageError(f"{what}: the path is empty; give a file name")
    try:
        mode = os.stat(text).st_mode  # follows symlinks: /dev/stdout is the pipe or terminal it names
    except FileNotFoundError:
        mode = None
    except OSError as exc:  # a file where a folder should be, a symlink loop, no permission
        raise UsageError(f"cannot write {text}: {exc.strerror or exc}; choose a writable path") from None
    if (mode is not None and stat.S_ISDIR(mode)) or text.endswith(("/", os.sep)):
        raise UsageError(f"{text} {'is' if mode is not None else 'names'} a folder; give a file name inside it")
    if mode is not None and not stat.S_ISREG(mode):
        raise UsageError(f"{text} is not a regular file (a device, pipe or socket); {what} is written to a "
                         f"new file renamed into place, so give a file path{stdout_hint}")
    return Path(text).resolve()


def write_output(target: Path, fill: Callable[[Path], object], tmp_name: str | None = None) -> None:
    """Fill a temp file beside ``target`` (``fill(tmp)``), then rename it over ``target``: a
    reader never sees half a file. Missing parent folders are created. Any failure is a
    UsageError naming the path (exit 2), and the temp file never stays behind."""
    tmp = target.with_name(tmp_name or f".{target.name}.promptlane-tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove(tmp)  # left by a killed run; never write through a link someone put there
        fill(tmp)
        os.replace(tmp, target)
    except (OSError, _sqlite_error()) as exc:  # a folder in the way, no permission, disk full
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"cannot write {target}: {reason}; choose a writable path") from None
    finally:
        with contextlib.suppress(OSError):
            _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()


def report(problems: Iterable[Problem], out: TextIO | None = None) -> int:
    """Print problems one per line, sorted, then a one-line summary; return how many."""
    out = out or sys.stdout
    items = sorted(set(problems))
    for problem in items:
        print(problem, file=out)
    if items:
        files = len({p.path for p in items})
        noun = "problem" if len(items) == 1 else "problems"
        print(f"Found {len(items)} {noun} in {files} file{'s' if files != 1 else ''}.", file=out)
    return len(items)


def _sqlite_error() -> type[Exception]:
    """sqlite3's error, imported only when an output is written (never on the check path)."""
    import sqlite3

    return sqlite3.Error
