"""promptlane's start-up and `check --all` against their floors, each a ratio measured in this run.

    python bench/startup.py [--quick] [--repeat N] [--work DIR]

Rows: `check` of one card of a fresh `promptlane init` scaffold vs `python -c pass` (with the
top cumulative `-X importtime` entries of that check, best of three runs), the floors of that
(`python -c "import yaml"`, and the import of every module the check needs: NEEDED), and `check --all` vs bench/run.py's read-and-C-parse floor at
1,000 and 10,000 prompts (--quick: 1,000 only), with the same in one process and the peak RSS.
Commands are timed interleaved (one round runs each once), best of --repeat rounds, with src/
byte-compiled first, as bench/run.py does.
"""
from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import ENV, FLOOR_SCRIPT, PROMPTLANE, SEAL_EVERY, Row, make_repo, peak_rss_mb, print_table  # noqa: E402

CARD = "prompts/support-reply/card.yml"
# What the check of the template's card cannot do without: PyYAML (the card), json (its lock),
# argparse (the command line), pathlib, and datetime with decimal (the card's cost budget is
# priced from the day's cached prices). The standard library's parts are what promptlane's own
# modules import too; a floor under the target, not a goal.
NEEDED = "yaml, json, argparse, pathlib, datetime, decimal"


CPU: dict[str, float] = {}  # the least CPU time (user + system, the command and its children) of each name timed


def interleaved(commands: dict[str, list[str]], cwd: Path, repeat: int, env: dict | None = None) -> dict[str, float]:
    """Best wall time of each command over ``repeat`` rounds; each round runs every command once,
    in turn, so a slow moment of a shared machine falls on all of them alike. The least CPU time
    of each goes to ``CPU`` (where the time goes when other work shares the cores)."""
    best = dict.fromkeys(commands, float("inf"))
    for name in commands:
        CPU.pop(name, None)
    for _ in range(repeat):
        for name, args in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(args, cwd=cwd, env=env or ENV, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            CPU[name] = min(CPU.get(name, float("inf")), cpu)
            if done.returncode != 0:
                raise SystemExit(f"{name}: {' '.join(args[:4])} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            best[name] = min(best[name], elapsed)
    return best


def importtime(args: list[str], cwd: Path, runs: int = 3) -> dict[str, tuple[float, float, int]]:
    """Per module: (self ms, cumulative ms, depth), the least of ``runs`` runs of
    ``python -X importtime -m promptlane ARGS``."""
    found: dict[str, tuple[float, float, int]] = {}
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "promptlane", *args], cwd=cwd, env=ENV,
                              capture_output=True, text=True)
        for line in done.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if m:
                own, total, depth = int(m[1]) / 1000, int(m[2]) / 1000, len(m[3]) // 2
                was = found.get(m[4])
                found[m[4]] = (min(own, was[0]), min(total, was[1]), depth) if was else (own, total, depth)
    return found


def scaffold(work: Path) -> Path:
    root = work / "scaffold"
    if root.exists():
        shutil.rmtree(root)
    subprocess.run([PROMPTLANE, "init", str(root)], env=ENV, capture_output=True, check=True)
    subprocess.run([PROMPTLANE, "check", CARD], cwd=root, env=ENV, capture_output=True)  # the day's prices cached
    return root


def startup_rows(work: Path, repeat: int, top: int = 12) -> list[Row]:
    root = scaffold(work)
    py = sys.executable
    best = interleaved({"check": [PROMPTLANE, "check", CARD], "pass": [py, "-c", "pass"], "yaml": [py, "-c", "import yaml"],
                        "needed": [py, "-c", f"import {NEEDED}"]}, root, repeat)
    ours, base, floor, needed = best["check"], best["pass"], best["yaml"], best["needed"]
    print(f"  CPU time: check {CPU['check'] * 1000:.0f} ms, pass {CPU['pass'] * 1000:.0f} ms, import yaml "
          f"{CPU['yaml'] * 1000:.0f} ms ({CPU['check'] / CPU['pass']:.1f}x, {CPU['yaml'] / CPU['pass']:.1f}x)")
    modules = importtime(["check", CARD], root)
    print(f"  -X importtime of `check {CARD}` (least of 3 runs; ms self, ms cumulative; top-level imports):")
    for name, (own, total, _depth) in sorted(((n, v) for n, v in modules.items() if v[2] <= 1), key=lambda i: -i[1][1])[:top]:
        print(f"    {total:6.1f} {own:6.1f}  {name}")
    own_total = sum(v[0] for n, v in modules.items() if n.startswith("promptlane"))
    yaml_total = sum(v[0] for n, v in modules.items() if n == "yaml" or n.startswith("yaml."))
    print(f"    (self time of promptlane's modules {own_total:.1f} ms, of PyYAML's {yaml_total:.1f} ms, "
          f"of everything {sum(v[0] for v in modules.values()):.1f} ms)")
    return [Row("start-up: check one card vs python -c pass", ours, base, "<= 4x", ours / base <= 4,
                f"{ours * 1000:.0f} ms vs {base * 1000:.0f} ms ({ours / base:.1f}x)"),
            Row("  floor: python -c 'import yaml' vs python -c pass", floor, base, "(a required import)", True,
                f"{floor * 1000:.0f} ms vs {base * 1000:.0f} ms ({floor / base:.1f}x)"),
            Row(f"  floor: python -c 'import {NEEDED}'", needed, base, "(what the check needs)", True,
                f"{needed * 1000:.0f} ms vs {base * 1000:.0f} ms ({needed / base:.1f}x)"),
            Row("  check one card vs python -c 'import yaml'", ours, floor, "(what promptlane adds)", True,
                f"{ours * 1000:.0f} ms vs {floor * 1000:.0f} ms ({ours / floor:.1f}x)")]


def check_all_rows(work: Path, prompts: int, repeat: int) -> list[Row]:
    """check --all against the script that reads and C-parses the same files (bench/run.py's
    floor: every card with PyYAML's CSafeLoader, its step texts, its lock), in one repository
    as bench/run.py builds it (committed, 100,000 history rows sealed every 1,000)."""
    root = make_repo(work, f"all-{prompts}", prompts, 100_000, git=True, seal_every=SEAL_EVERY)
    subprocess.run([PROMPTLANE, "check", "--all"], cwd=root, env=ENV, capture_output=True)  # the day's prices cached
    best = interleaved({"ours": [PROMPTLANE, "check", "--all"], "floor": [sys.executable, "-c", FLOOR_SCRIPT, str(root)]},
                       root, repeat)
    single = interleaved({"single": [PROMPTLANE, "check", "--all"]}, root, repeat, env={**ENV, "PROMPTLANE_JOBS": "1"})["single"]
    ours, floor = best["ours"], best["floor"]
    print(f"  CPU time at {prompts:,}: check --all {CPU['ours']:.2f} s (all processes), one process {CPU['single']:.2f} s, "
          f"floor {CPU['floor']:.2f} s")
    rss = peak_rss_mb([PROMPTLANE, "check", "--all"], root)
    return [
        Row(f"check --all vs read + C-parse floor, {prompts:,} prompts", ours, floor, "<= 1.3x", ours / floor <= 1.3,
            f"{ours:.2f} s vs {floor:.2f} s ({ours / floor:.2f}x)"),
        Row("  the same in one process (PROMPTLANE_JOBS=1)", single, floor, "(where the time goes)", True,
            f"{single:.2f} s vs {floor:.2f} s ({single / floor:.2f}x)"),
        Row(f"  peak RSS, check --all on {prompts:,} prompts", rss, 200, "< 200 MB", rss < 200, f"{rss:.0f} MB"),
    ]


def bench_startup(work: Path, repeat: int, sizes: tuple[int, ...] = (1000, 10_000), report=None) -> list[Row]:
    """Every row of this module; ``report(row)`` is called as each is measured."""
    rows: list[Row] = []
    steps = [lambda: startup_rows(work, repeat * 4)]  # start-up runs are short: more rounds
    steps += [lambda n=n: check_all_rows(work, n, repeat) for n in sizes]
    for step in steps:
        for row in step():
            rows.append(row)
            if report:
                report(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="check --all at 1,000 prompts only")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="promptlane-bench-startup-"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "src")], env=ENV, check=True)
    rows = bench_startup(work, args.repeat, (1000,) if args.quick else (1000, 10_000),
                         report=lambda row: print(f"  {row.name.strip()}: {row.note}", flush=True))
    print()
    print_table(rows)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
