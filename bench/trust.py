"""The trust work at 10,000 prompts and 100,000 events, this code against a reference commit.

    python bench/trust.py [--quick] [--ref COMMIT] [--repeat N] [--work DIR]

"Against today's figure" means against the code of another commit (by default the one
docs/performance.md's last trust figures were measured with), run on the same repositories in
the same invocation, interleaved, best of --repeat: seconds differ from day to day on a shared
machine, a ratio measured in one run does not. Both trees run as ``python -m promptlane`` with
their own ``src`` first on PYTHONPATH, byte-compiled alike.

Measured: ``audit verify --full`` on a repository whose low-risk prompts (every third) are in
staging by promotions whose evidence is re-derived; ``audit verify`` after one synced edit (the
incremental path the commit hook takes); ``check --all`` with a signed approval per prompt, and
the cold case where every form is new since the base and each signature is verified.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import ENV, SEAL_EVERY, Row, finish, make_repo, signed_repo  # noqa: E402

REFERENCE = "0b9294e"  # the last trust figures before the performance work (docs/performance.md)


def export_tree(ref: str, out: Path) -> Path:
    """``src/`` of commit ``ref``, exported (no checkout, no worktree), byte-compiled."""
    out.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", ref, "src"], cwd=HERE.parent, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    compile_tree(out / "src")
    return out / "src"


def compile_tree(src: Path) -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], env=ENV, check=True, capture_output=True)


class Tree:
    """One promptlane source tree, run as ``python -m promptlane``."""

    def __init__(self, name: str, src: Path):
        self.name, self.env = name, {**ENV, "PYTHONPATH": str(src)}

    def run(self, args: list[str], cwd: Path, ok_codes=(0,)) -> float:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "promptlane", *args], cwd=cwd, env=self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode not in ok_codes:
            raise SystemExit(f"{self.name}: promptlane {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return elapsed


def interleaved(trees: list[Tree], args: list[str], cwd: Path, repeat: int, ok_codes=(0,)) -> list[float]:
    """Best of ``repeat`` for each tree, the trees taking turns (so a slow minute hits both)."""
    best = [float("inf")] * len(trees)
    for _ in range(repeat):
        for number, tree in enumerate(trees):
            best[number] = min(best[number], tree.run(args, cwd, ok_codes))
    return best


def incremental(trees: list[Tree], roots: list[Path], repeat: int) -> list[float]:
    """``audit verify`` after one synced edit, each tree on its own copy of the repository (the
    local record it keeps is its own); the trees take turns."""
    for tree, root in zip(trees, roots):
        tree.run(["audit", "verify"], root)  # the record a clone's first verification leaves
    best = [float("inf")] * len(trees)
    for attempt in range(repeat):
        for number, (tree, root) in enumerate(zip(trees, roots)):
            text = root / "prompts/prompt-00004/system.md"
            text.write_text(text.read_text() + f"Verify {attempt}.\n")
            tree.run(["sync", "prompts/prompt-00004/system.md"], root, ok_codes=(0, 1))
            best[number] = min(best[number], tree.run(["audit", "verify"], root))
    return best


def row(name: str, new: float, old: float, target: str, limit: float) -> Row:
    return Row(name, new, old, target, new / old <= limit, f"{new:.2f} s vs {old:.2f} s ({new / old:.2f}x)")


def bench_trust(work: Path, prompts: int, repeat: int, ref: str = REFERENCE) -> list[Row]:
    new = Tree("this tree", HERE.parent / "src")
    compile_tree(HERE.parent / "src")
    old = Tree(ref, export_tree(ref, work / f"ref-{ref}"))
    trees = [new, old]
    print(f"building repositories in {work} ({prompts:,} prompts, 100,000 events sealed every {SEAL_EVERY:,}) ...", flush=True)
    derived = make_repo(work, "derived", prompts, 100_000, git=True, seal_every=SEAL_EVERY, promoted=True)
    copy = work / "derived-ref"
    shutil.copytree(derived, copy, symlinks=True)
    signed = signed_repo(work, prompts)
    full = interleaved(trees, ["audit", "verify", "--full"], derived, repeat)
    warm = interleaved(trees, ["check", "--all"], signed, repeat)
    cold = interleaved(trees, ["check", "--all", "--base", "HEAD~1"], signed, max(1, repeat - 1), ok_codes=(0, 1))
    quick = incremental(trees, [derived, copy], repeat)
    served = sum(1 for n in range(prompts) if n % 3 == 0)
    return [
        row(f"audit verify --full, {served:,} pointers derived: now vs {ref}", full[0], full[1], "<= 1.1x (no slower)", 1.1),
        row(f"audit verify after one synced edit (incremental): now vs {ref}", quick[0], quick[1], "<= 1.1x (no slower)", 1.1),
        row(f"check --all, {prompts:,} signed forms: now vs {ref}", warm[0], warm[1], "<= 1.1x (no slower)", 1.1),
        row(f"  every form new since the base ({prompts:,} signatures verified): now vs {ref}", cold[0], cold[1],
            "<= 1.1x (no slower)", 1.1),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 prompts instead of 10,000")
    parser.add_argument("--ref", default=REFERENCE, help=f"the commit to compare with (default {REFERENCE})")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="promptlane-bench-trust-"))
    rows = bench_trust(work, 1000 if args.quick else 10_000, args.repeat, args.ref)
    return finish(rows, work, keep=bool(args.work))


if __name__ == "__main__":
    sys.exit(main())
