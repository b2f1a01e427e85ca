"""One commit through pre-commit: the one hook (`promptlane`) against the three hooks.

    python bench/hooks.py [--quick] [--repeat N] [--work DIR]

The repositories are bench/run.py's bench_commit ones: 10,000 two-step prompts with 100,000
audit rows sealed every 1,000 (--quick: 1,000 prompts), against 10 prompts and 10 rows, each a
committed git repository. Every timing is best of --repeat, and the configurations are run
interleaved (one after another in each round) so the ratios are measured in the same run:

- one commit (one staged edit of a prompt text, `pre-commit run`, the fixer's run) with the one
  hook, big vs small (the target: at most 1.3), and with the three hooks, big vs small;
- the floor: pre-commit with one no-op hook and with three, big vs small (what pre-commit and git
  cost at this size whatever the hooks do);
- promptlane's own part: `promptlane hook` run directly on the same edit, big vs small;
- where the time goes: every git process of one commit at the big size (GIT_TRACE2_EVENT), by
  command, and the part of pre-commit's run that is not git or the hook.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import BIN, ENV, SEAL_EVERY, Row, make_repo, finish  # noqa: E402

PRE_COMMIT = str(BIN / "pre-commit")
TARGET = 1.3


def config(ids: list[str]) -> str:
    """The manifest's hooks named by ``ids`` as `repo: local` entries running the installed console
    scripts (the manifest's patterns and arguments kept), so the timing is promptlane's, not an env build."""
    import yaml

    hooks = {h["id"]: h for h in yaml.safe_load((HERE.parent / ".pre-commit-hooks.yaml").read_text())}
    chosen = [{**hooks[i], "entry": str(BIN / hooks[i]["entry"]), "language": "unsupported"} for i in ids]
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": chosen}]}, sort_keys=False)


ONE = ["promptlane"]
THREE = ["promptlane-sync", "promptlane-check", "promptlane-audit"]


def noop(count: int) -> str:
    """pre-commit with ``count`` hooks that do nothing, with the real hooks' patterns."""
    hooks = [{"id": f"noop{n}", "name": f"noop {n}", "entry": "true", "language": "unsupported",
              "files": r"^(prompts|registry)/", "require_serial": True, "always_run": True} for n in range(count)]
    return json.dumps({"repos": [{"repo": "local", "hooks": hooks}]})  # JSON is YAML


def prepare(root: Path) -> None:
    if (root / ".gitignore").is_file():
        return  # a repository kept from an earlier run (--reuse)
    (root / ".gitignore").write_text(".promptlane/\n")
    subprocess.run(["git", "add", ".gitignore"], cwd=root, env=ENV, check=True)
    subprocess.run(["git", "commit", "-qm", "ignore the local cache", "--no-verify"], cwd=root, env=ENV, check=True)


def one_commit(root: Path, config_file: Path, attempt: str, env: dict | None = None) -> float:
    """Time `pre-commit run` on one staged edit of a prompt text (the fixer's run), then commit
    what it wrote without hooks, so the next round starts from a consistent, committed state."""
    text = root / "prompts/prompt-00001/system.md"
    text.write_text(text.read_text() + f"Edit {attempt}.\n")
    subprocess.run(["git", "add", "-A"], cwd=root, env=ENV, check=True)
    start = time.perf_counter()
    done = subprocess.run([PRE_COMMIT, "run", "-c", str(config_file)], cwd=root, env=env or ENV,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    fixed = done.returncode == 1 and "files were modified by this hook" in done.stdout
    if not (done.returncode == 0 if config_file.stem.startswith("noop") else fixed):
        raise SystemExit(f"pre-commit run -c {config_file.name} in {root.name}: exit {done.returncode}\n{done.stdout[-3000:]}")
    subprocess.run(["git", "add", "-A"], cwd=root, env=ENV, check=True)
    subprocess.run(["git", "commit", "-qm", f"edit {attempt}", "--no-verify"], cwd=root, env=ENV, check=True)
    return elapsed


def direct(root: Path, attempt: str) -> float:
    """promptlane's own part: `promptlane hook --deleted` on the files of one edit, run directly."""
    text = root / "prompts/prompt-00002/system.md"
    text.write_text(text.read_text() + f"Direct {attempt}.\n")
    files = ["prompts/prompt-00002/system.md"]
    start = time.perf_counter()
    done = subprocess.run([str(BIN / "promptlane-hook"), "--deleted", *files], cwd=root, env=ENV,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 1:
        raise SystemExit(f"promptlane hook in {root.name}: exit {done.returncode}\n{done.stdout[-3000:]}")
    subprocess.run(["git", "add", "-A"], cwd=root, env=ENV, check=True)
    subprocess.run(["git", "commit", "-qm", f"direct {attempt}", "--no-verify"], cwd=root, env=ENV, check=True)
    return elapsed


def git_calls(root: Path, config_file: Path, work: Path) -> tuple[float, dict[str, tuple[int, float]]]:
    """One commit's pre-commit run with every git process traced: (the run's seconds, per git
    command: how many processes and their seconds)."""
    trace = work / f"trace-{root.name}-{config_file.stem}.json"
    trace.unlink(missing_ok=True)
    elapsed = one_commit(root, config_file, f"traced {config_file.stem}", env={**ENV, "GIT_TRACE2_EVENT": str(trace)})
    argv: dict[str, str] = {}
    spent: dict[str, float] = {}
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "start":
            args = [a for a in event["argv"][1:] if not a.startswith("-c")]
            argv[event["sid"]] = " ".join(args[:2]) if args else "git"
        elif event.get("event") == "exit":
            spent[event["sid"]] = event["t_abs"]
    by_command: dict[str, list[float]] = defaultdict(list)
    for sid, command in argv.items():  # every git process, pre-commit's and the hook's
        by_command[command].append(spent.get(sid, 0.0))
    return elapsed, {c: (len(t), sum(t)) for c, t in sorted(by_command.items(), key=lambda kv: -sum(kv[1]))}


def bench_hooks(work: Path, big: Path | None = None, prompts: int = 10_000, repeat: int = 3,
                reuse: bool = False) -> list[Row]:
    """The one-commit ratios of the one hook and of the three, the no-op floor, promptlane's own part.
    ``reuse``: keep the repositories an earlier run left in ``work`` (each round commits its edit)."""
    def made(name: str, count: int, history: int, seal_every: int | None) -> Path:
        if reuse and (work / name / ".git").is_dir():
            return work / name
        return make_repo(work, name, count, history, git=True, seal_every=seal_every)

    big = big or made("hooks-big", prompts, 100_000, SEAL_EVERY)
    small = made("hooks-small", 10, 10, None)
    for root in (big, small):
        prepare(root)
    configs = {}
    for name, text in (("one", config(ONE)), ("three", config(THREE)), ("noop1", noop(1)), ("noop3", noop(3))):
        configs[name] = work / f"{name}.yaml"
        configs[name].write_text(text)
    best: dict[tuple[str, str], float] = defaultdict(lambda: float("inf"))
    for attempt in range(-1, repeat):  # round -1 warms up: a clone has verified its log before
        for root in (big, small):
            for name, path in configs.items():
                seconds = one_commit(root, path, f"{name} {attempt}")
                if attempt >= 0:
                    best[root.name, name] = min(best[root.name, name], seconds)
            seconds = direct(root, str(attempt))
            if attempt >= 0:
                best[root.name, "direct"] = min(best[root.name, "direct"], seconds)
    b, s = big.name, small.name
    n = len(list((big / "prompts").iterdir()))

    def row(name: str, key: str, target: str, ok: bool | None = None) -> Row:
        ours, base = best[b, key], best[s, key]
        return Row(name, ours, base, target, ours / base <= TARGET if ok is None else ok,
                   f"{ours:.2f} s vs {base:.2f} s ({ours / base:.2f}x)")

    rows = [
        row(f"one commit, one hook: {n:,} prompts + 100k rows vs 10 + 10", "one", f"<= {TARGET}"),
        row("  the same with the three hooks", "three", "(for comparison)", True),
        Row("  one hook vs three, at the big size", best[b, "one"], best[b, "three"], "(what one hook saves)", True,
            f"{best[b, 'one']:.2f} s vs {best[b, 'three']:.2f} s ({best[b, 'one'] / best[b, 'three']:.2f}x)"),
        row("  floor: pre-commit with one no-op hook, big vs small", "noop1", "(pre-commit and git)", True),
        row("  floor: pre-commit with three no-op hooks, big vs small", "noop3", "(pre-commit and git)", True),
        row("  promptlane hook run directly, big vs small", "direct", "(promptlane's own part)", True),
    ]
    for name in ("one", "three"):
        elapsed, calls = git_calls(big, configs[name], work)
        total = sum(seconds for _, seconds in calls.values())
        top = ", ".join(f"{c} x{k} {t * 1000:.0f} ms" for c, (k, t) in list(calls.items())[:6])
        rows.append(Row(f"  where: {name} hook(s), big: git processes", total, elapsed, "(traced run)", True,
                        f"{sum(k for k, _ in calls.values())} git calls, {total:.2f} s of {elapsed:.2f} s: {top}"))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 prompts instead of 10,000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="build the repositories here (kept)")
    parser.add_argument("--reuse", action="store_true", help="with --work: use the repositories an earlier run left there")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="promptlane-bench-hooks-"))
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "src")], env=ENV, check=True)
    prompts = 1000 if args.quick else 10_000
    print(f"building repositories in {work} ({prompts:,} prompts, 100,000 rows sealed every {SEAL_EVERY:,}) ...", flush=True)
    rows = bench_hooks(work, prompts=prompts, repeat=args.repeat, reuse=args.reuse)
    return finish(rows, work, keep=bool(args.work))


if __name__ == "__main__":
    sys.exit(main())
