"""Batched evals: `promptlane eval run` over N owed prompts vs one promptfoo process running the
same N*6 test cases, measured in the same run (interleaved, best of --repeat).

    python bench/evals.py [--quick] [--repeat N] [--work DIR]

The scaffold is `promptlane init` (the template's offline local provider) with N prompts made
from its support-reply (six tests each, texts told apart by a line naming the copy) and synced
once. The baseline is a config written by hand, the way the template's eval config runs prompts
directly: one prompt entry per card through the template's evals/render_chain.py, the template's
provider and evaluateOptions, each card's tests restricted to its prompt (`prompts: [id]`), one
`promptfoo eval` process. Targets (the issue's): at 40 and at 400 prompts, `eval run` within 1.5x
of that process. --quick: 40 prompts only.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import ENV, PROMPTLANE, Row, print_table  # noqa: E402

ROOT = HERE.parent
SIZES = (40, 400)


def promptfoo_bin() -> str:
    found = os.environ.get("PROMPTLANE_PROMPTFOO") or str(ROOT / ".tools/promptfoo/node_modules/.bin/promptfoo")
    if not Path(found).is_file():
        raise SystemExit(f"promptfoo not found at {found}: run `make promptfoo` or set PROMPTLANE_PROMPTFOO")
    return found


def make_scaffold(work: Path, prompts: int) -> tuple[Path, list[str]]:
    """`promptlane init` plus ``prompts`` copies of support-reply (the template's chain left out of the run)."""
    root = work / f"evals-{prompts}"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([PROMPTLANE, "init", str(root)], env=ENV, check=True, capture_output=True)
    source = root / "prompts/support-reply"
    ids = [f"reply-{n:04d}" for n in range(1, prompts + 1)]
    for prompt_id in ids:
        folder = root / "prompts" / prompt_id
        shutil.copytree(source, folder)
        card = folder / "card.yml"
        text = re.sub(r"^id: .*$", f"id: {prompt_id}", card.read_text(encoding="utf-8"), count=1, flags=re.M)
        card.write_text(text, encoding="utf-8")
        system = folder / "system.md"
        system.write_text(system.read_text(encoding="utf-8") + f"(Copy {prompt_id}.)\n", encoding="utf-8")
        shutil.copy(root / "evals/tests/support-reply.yml", root / f"evals/tests/{prompt_id}.yml")
    done = subprocess.run([PROMPTLANE, "-C", str(root), "sync"], env=ENV, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"sync failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return root, ids


def hand_written(root: Path, ids: list[str], folder: Path) -> Path:
    """The baseline's config: what a person writes to run these prompts with promptfoo directly."""
    import yaml

    config = yaml.safe_load((root / "evals/eval-config.promptfoo.yml").read_text(encoding="utf-8"))
    evals = root / "evals"
    tests = []
    for prompt_id in ids:
        for test in yaml.safe_load((evals / f"tests/{prompt_id}.yml").read_text(encoding="utf-8")):
            tests.append({**test, "prompts": [prompt_id]})
    doc = {
        "description": f"{len(ids)} prompts, by hand",
        "prompts": [{"id": f"file://{evals / 'render_chain.py'}:render", "label": prompt_id, "config": {"prompt": prompt_id}}
                    for prompt_id in ids],
        "providers": [{**p, "id": p["id"].replace("file://", f"file://{evals}/", 1)} for p in config["providers"]],
        "tests": tests,
        "evaluateOptions": config.get("evaluateOptions", {}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "promptfooconfig.json"
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def once(args: list[str], cwd: Path, env: dict, ok=(0, 1, 100)) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(args[:4])} ... failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def bench_evals(work: Path, sizes: tuple[int, ...] = SIZES, repeat: int = 3) -> list[Row]:
    promptfoo = promptfoo_bin()
    rows = []
    for prompts in sizes:
        root, ids = make_scaffold(work, prompts)
        base_dir = work / f"by-hand-{prompts}"
        config = hand_written(root, ids, base_dir)
        env = {**ENV, "PROMPTLANE_PROMPTFOO": promptfoo}
        env.pop("PROMPTLANE_JOBS", None)
        base_env = {**env, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1", "NODE_NO_WARNINGS": "1",
                    "PROMPTFOO_CONFIG_DIR": str(base_dir / "promptfoo-home"), "PROMPTFOO_PYTHON": sys.executable}
        ours_args = [PROMPTLANE, "-C", str(root), "eval", "run", *ids, "--force"]
        base_args = [promptfoo, "eval", "-c", str(config), "-o", str(base_dir / "results.json"),
                     "--no-cache", "--no-share", "--no-progress-bar", "--no-table"]
        ours = base = one = float("inf")
        for _ in range(repeat):  # interleaved: the machine's load falls on both alike
            base = min(base, once(base_args, base_dir, base_env))
            ours = min(ours, once(ours_args, root, env))
            one = min(one, once(ours_args, root, {**env, "PROMPTLANE_JOBS": "1"}))
        tests = len(ids) * 6
        rows += [
            Row(f"eval run, {prompts} prompts ({tests} tests) vs one promptfoo", ours, base, "<= 1.5x", ours / base <= 1.5,
                f"{ours:.1f} s vs {base:.1f} s ({ours / base:.2f}x)"),
            Row("  the same in one promptfoo process (PROMPTLANE_JOBS=1)", one, base, "(where the time goes)", True,
                f"{one:.1f} s vs {base:.1f} s ({one / base:.2f}x)"),
        ]
        shutil.rmtree(root, ignore_errors=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 prompts only")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="promptlane-bench-evals-"))
    rows = bench_evals(work, (40,) if args.quick else SIZES, args.repeat)
    print_table(rows)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
