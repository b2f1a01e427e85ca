"""Several prompts in one promptfoo process (``eval run`` batched, docs/evals.md).

One batch is one config (config.build_batch): a prompt entry per card, each card's tests
restricted to its own prompt, the providers a run of each card alone would use. Its result rows
are split by the prompt entry each ran against (the row's prompt: the label and hash promptlane
wrote into that entry; its test index must be one of the card's own tests), never by anything a
test file says (a test's ``prompts:`` is refused, PL348). A card gets results only from its whole set of rows (every test against every one of
its providers); with the rows numbered and the providers labelled as a run of it alone has them,
its results are what that run writes (only timings differ).

A batch that times out, crashes, is refused by promptfoo or gives any card an incomplete set
returns those cards to be run again one by one (runner.run_prompt), so one bad prompt never
costs another its results. Progress: promptfoo writes ``results.jsonl`` row by row; a card whose
rows are all there is reported done before the whole batch ends.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from promptlane.evals import config as eval_config
from promptlane.evals.runner import Run, promptfoo_env, run_process
from promptlane.evals.summary import failure_details, result_rows, summarise
from promptlane.store.evalinputs import InputsError, current_inputs
from promptlane.store.results import write_results

POLL = 0.2  # seconds between looks at results.jsonl


@dataclass
class Batched:
    runs: list = field(default_factory=list)  # (card, Run): results written
    refused: list = field(default_factory=list)  # (card, EvalSetupError): not run, as a run of it alone says
    again: list = field(default_factory=list)  # cards to run one by one (the batch gave them no whole set)


def run_batch(repo, cards: list, promptfoo: Path, timeout: float, results_dir: Path | None = None,
              progress: Callable[[Any], None] | None = None) -> Batched:
    """Evaluate ``cards`` in one promptfoo process within ``timeout`` per card (the batch's
    allowance is their sum); write each card's results from its whole set of rows."""
    out = Batched()
    with tempfile.TemporaryDirectory(prefix="promptlane-eval-") as tmp:
        workdir = Path(tmp)
        try:
            config_path, members, out.refused = eval_config.build_batch(repo, cards, workdir)
        except eval_config.EvalSetupError:  # the eval config itself: each card's own run says so
            out.again = list(cards)
            return out
        inputs, labels = {}, {member.card.prompt_id for member in members}  # every prompt entry of the config
        for member in list(members):
            try:  # what each card's results are bound to, read from the files build_batch checked
                inputs[member.card.prompt_id] = current_inputs(repo, member.card)
            except InputsError as exc:
                out.refused.append((member.card, eval_config.EvalSetupError(str(exc), exc.problems)))
                members.remove(member)
        if len(members) < 2:  # one card left: its own run is the plain single run
            out.again = [member.card for member in members]
            return out
        output, rows_file = workdir / "results.json", workdir / "results.jsonl"
        args = [str(promptfoo), "eval", "-c", str(config_path), "-o", str(output), "-o", str(rows_file),
                "--no-cache", "--no-share", "--no-progress-bar", "--no-table"]
        env = promptfoo_env(workdir, "")
        env.pop("PROMPTLANE_PROMPT")  # no one prompt: a provider reads context.prompt.config.promptlane_prompt
        done = threading.Event()
        watcher = threading.Thread(target=_watch, args=(rows_file, members, done, progress), daemon=True)
        watcher.start()
        try:
            # The batch's allowance: its prompts' own, summed (docs/evals.md); within what a wait can take.
            finished = run_process(args, env, workdir, min(timeout * len(members), threading.TIMEOUT_MAX / 2))
        except subprocess.TimeoutExpired:
            finished = None
        finally:
            done.set()
            watcher.join()
        doc = _read(output) if finished is not None and finished.returncode in (0, 100) else None
        rows = result_rows(doc) if doc is not None else None
        if doc is None or rows is None or any(_prompt_of(row) not in labels for row in rows):
            out.again = [member.card for member in members]
            return out
        for member in members:
            mine = _whole_set(member, [row for row in rows if _prompt_of(row) == member.card.prompt_id])
            if mine is None:
                out.again.append(member.card)
                continue
            card = member.card
            summary = summarise(doc, mine, card.prompt_id, card.hash, str(card.version), inputs[card.prompt_id])
            out.runs.append((card, Run(summary, write_results(repo, summary, results_dir), failure_details(mine))))
    return out


def _prompt_of(row: dict) -> Any:
    """The prompt entry a row ran against: its label, which promptlane wrote (the prompt id).
    promptfoo's ``promptIdx`` is a column (a provider's prompt), not the entry."""
    prompt = row.get("prompt")
    return prompt.get("label") if isinstance(prompt, dict) else None


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _whole_set(member, rows: list[dict]) -> list[dict] | None:
    """The member's rows as a run of it alone has them, or None when they are not its whole set:
    each ran against its own prompt entry (label, hash) and one of its own tests, every test
    against every one of its providers exactly once."""
    card, seen, mine = member.card, set(), []
    for row in rows:
        prompt: dict = row["prompt"] if isinstance(row.get("prompt"), dict) else {}
        config: dict = prompt["config"] if isinstance(prompt.get("config"), dict) else {}
        index = row.get("testIdx")
        if prompt.get("label") != card.prompt_id or config.get("promptlane_hash") != card.hash:
            return None
        if not isinstance(index, int) or not member.first <= index < member.first + member.count:
            return None
        provider = dict(row["provider"]) if isinstance(row.get("provider"), dict) else {"label": row.get("provider")}
        provider["label"] = member.renamed.get(provider.get("label"), provider.get("label"))
        key = (index, json.dumps(provider, sort_keys=True, default=str))
        if key in seen:
            return None
        seen.add(key)
        mine.append({**row, "testIdx": index - member.first, "provider": provider})
    return mine if len(mine) == member.rows else None


def _watch(rows_file: Path, members: list, done: threading.Event, progress: Callable[[Any], None] | None) -> None:
    """Tell ``progress`` of each member whose rows are all in results.jsonl (promptfoo appends
    one line a row as each finishes)."""
    if progress is None:
        return
    counts = {member.card.prompt_id: 0 for member in members}
    told: set[str] = set()
    offset, pending = 0, b""
    while True:
        stop = done.wait(POLL)
        try:
            with rows_file.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
        except OSError:
            chunk = b""
        offset += len(chunk)
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            try:
                label = _prompt_of(json.loads(line))
            except (ValueError, AttributeError):
                continue
            if label in counts:
                counts[label] += 1
        for member in members:
            if member.card.prompt_id not in told and counts[member.card.prompt_id] >= member.rows:
                told.add(member.card.prompt_id)
                progress(member.card)
        if stop:
            return
