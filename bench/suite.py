"""The test suite's wall time: test files in one pytest process against the same files on
pytest-xdist workers, as `make test` runs them (-n WORKERS --dist loadgroup).

    python bench/suite.py [--quick] [--workers N] [--repeat N] [--work DIR] [FILE ...]

By default the files that took longest in one process (the workflow runs, the demo, the
packaging and the pre-commit end-to-end tests); --quick: a few fast files whose tests still run
git and the CLI in subprocesses. The two ways run interleaved, best of --repeat, each with a new
--basetemp under --work: seconds differ from run to run on a shared machine, a ratio measured
in one run does not. Both ways must pass; PROMPTLANE_PROMPTFOO is set to the clone's promptfoo
when it is installed and not set already.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import Row, finish  # noqa: E402

ROOT = HERE.parent
SLOW = ["tests/test_workflows.py", "tests/test_demo.py", "tests/test_packaging.py", "tests/test_hooks_e2e.py"]
QUICK = ["tests/test_everyday.py", "tests/test_pr_comment.py", "tests/test_day_one.py"]
TARGET = 0.65  # two workers on two cores: at most 0.65 of one process's wall time


def _env() -> dict:
    env = dict(os.environ)
    promptfoo = ROOT / ".tools/promptfoo/node_modules/.bin/promptfoo"
    if "PROMPTLANE_PROMPTFOO" not in env and promptfoo.is_file():
        env["PROMPTLANE_PROMPTFOO"] = str(promptfoo)
    return env


def run_pytest(files: list[str], basetemp: Path, extra: list[str], quick: bool) -> tuple[float, str]:
    """One pytest run: (wall seconds, its closing line); exits when a test fails."""
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}", *extra, *files]
    if quick:
        args += ["-m", "not slow"]
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env=_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    closing = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0:
        raise SystemExit(f"pytest {' '.join(extra)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return elapsed, closing


def bench_suite(work: Path, files: list[str] | None = None, workers: int = 2, repeat: int = 1,
                quick: bool = False) -> list[Row]:
    files = files or (QUICK if quick else SLOW)
    parallel = ["-n", str(workers), "--dist", "loadgroup"]
    best = {"one": float("inf"), "workers": float("inf")}
    closing = {}
    for attempt in range(repeat):
        for way, extra in (("one", []), ("workers", parallel)):
            elapsed, closing[way] = run_pytest(files, work / f"{way}-{attempt}", extra, quick)
            best[way] = min(best[way], elapsed)
    counts = {way: re.sub(r" in [\d.]+s.*", "", line) for way, line in closing.items()}
    ratio = best["workers"] / best["one"]
    note = f"{best['workers']:.0f} s vs {best['one']:.0f} s ({ratio:.2f}x; {counts['workers']})"
    if counts["one"] != counts["workers"]:
        note += f"; one process: {counts['one']}"
    return [Row(f"{len(files)} test files on {workers} workers", best["workers"], best["one"],
                f"<= {TARGET}x one process", ratio <= TARGET and counts["one"] == counts["workers"], note)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help=f"test files (default: {' '.join(SLOW)})")
    parser.add_argument("--quick", action="store_true", help=f"the fast tests of {' '.join(QUICK)}")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="promptlane-bench-suite-"))
    rows = bench_suite(work, args.files or None, args.workers, args.repeat, args.quick)
    return finish(rows, work, keep=bool(args.work))


if __name__ == "__main__":
    sys.exit(main())
