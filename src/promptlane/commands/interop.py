"""``promptlane import FILE...`` and ``promptlane export ID --format F``: other tools' prompt files.

Import turns a ``.prompty`` (Microsoft Prompty), ``.prompt`` (Google Dotprompt / Firebase Genkit)
or ``.prompt.yml`` (GitHub Models) file into a new prompt, exactly as ``promptlane new`` makes
one (the example card copied, then the file's model, variables and messages on it; the commit
hook versions it). Everything is judged before anything is written, and every file of a run is
written in one transaction: a refusal writes nothing. Export writes what an environment serves,
read from the registry's snapshot (never the working card), in one of those formats.
The conversions are pure: core/formats/.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from promptlane.commands.arguments import open_repo
from promptlane.commands.new import Draft, card_text, draft, next_step, starter_tests, write_all
from promptlane.commands.output import output_target, write_output
from promptlane.core.card import complete_card, parse_card
from promptlane.core.formats import dotprompt, github_models, prompty
from promptlane.core.formats.common import Imported, Refused, Served, Source, step_names
from promptlane.core.layout import CARD, is_prompt_id
from promptlane.core.problems import EXIT_OK, Problem, PromptlaneError, UsageError
from promptlane.core.registry import LockError, snapshot_mismatch, withdrawal_text
from promptlane.core.suggest import did_you_mean
from promptlane.core.yamltext import decode, load
from promptlane.evals.config import tests_rel
from promptlane.store.registry import lock_ids, read_lock, read_snapshot

if TYPE_CHECKING:
    from promptlane.store.repo import Repo

# File endings, longest first (".prompt.yml" before ".prompt"), and the format each is.
IMPORTS: tuple[tuple[str, ModuleType, str], ...] = (
    (".prompt.yml", github_models, "GitHub Models"), (".prompt.yaml", github_models, "GitHub Models"),
    (".prompty", prompty, "Prompty"), (".prompt", dotprompt, "Dotprompt"))
EXPORTS: dict[str, ModuleType] = {"prompty": prompty, "dotprompt": dotprompt, "github-models": github_models}
MAX_BYTES = 1 << 20  # a prompt file over 1 MiB is a mistaken file (a card's text has the same limit)


@dataclass
class Planned:
    """One file's import, judged: the files it writes and what to tell the user."""

    source: str
    prompt_id: str
    kind: str
    writes: dict[str, str]
    notes: list[str]


# ---------------------------------------------------------------------------------- import


def cmd_import(args) -> int:
    repo = open_repo(args)
    if args.id and len(args.files) > 1:
        raise UsageError("--id names one prompt: import one FILE with it, or leave it out (each id is then the file's name)")
    plans = [_plan(repo, name, args.id) for name in args.files]
    ids = [plan.prompt_id for plan in plans]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise UsageError(f"two files would both be prompts/{twice[0]}; import them one by one with --id")
    writes = {rel: text for plan in plans for rel, text in plan.writes.items()}
    if args.dry_run:
        _show(plans)
        print(f"Dry run: {len(writes)} file(s) would be written; nothing was.")
        return EXIT_OK
    write_all(repo, writes, "the imported prompt")
    for plan in plans:
        print(f"Imported {plan.source} ({plan.kind}) as prompts/{plan.prompt_id}")
        for note in plan.notes:
            print(f"  note: {note}")
        for rel in plan.writes:
            print(f"Created {rel}")
    print(next_step(plans[-1].prompt_id) if len(plans) == 1 else
          "Next: check the texts and tests, `git add` the new prompts and their tests, and commit "
          "(the commit hook's sync versions them).")
    return EXIT_OK


def _show(plans: list[Planned]) -> None:
    for plan in plans:
        print(f"Would import {plan.source} ({plan.kind}) as prompts/{plan.prompt_id}")
        for note in plan.notes:
            print(f"  note: {note}")
        for rel, text in plan.writes.items():
            print(f"--- {rel}")
            sys.stdout.write(text)


def _format_of(name: str) -> tuple[ModuleType, str, str]:
    for ending, module, kind in IMPORTS:
        if name.lower().endswith(ending):
            return module, kind, ending
    raise UsageError(f"{name}: not a file promptlane imports; it reads .prompty (Prompty), .prompt (Dotprompt) "
                     "and .prompt.yml (GitHub Models)")


def _plan(repo: "Repo", name: str, given_id: str | None) -> Planned:
    module, kind, ending = _format_of(name)
    source = Source(name, _read(name))
    prompt_id = given_id or _id_from(name, ending)
    started = draft(repo, prompt_id)
    try:
        imported: Imported = module.read(source)
    except Refused as exc:
        raise PromptlaneError(f"{name} cannot be imported; nothing was written", exc.problems) from None
    writes, notes = _files(repo, started, imported, source)
    if imported.tests is not None:
        if not started.write_tests:
            raise PromptlaneError(f"{name} cannot be imported; nothing was written", [source.at(0, "PL815", (
                f"its testData would be {tests_rel(prompt_id)}, which is already there (kept from an earlier prompt "
                f"of that id); move it away, or import with another --id"))])
        writes[tests_rel(prompt_id)] = github_models.tests_text(prompt_id, Path(name).name, imported.tests)
    elif started.write_tests:
        writes[tests_rel(prompt_id)] = starter_tests(prompt_id, imported.variables, started.card.get("budget") or {})
    return Planned(name, prompt_id, kind, writes, imported.notes + notes)


def _read(name: str) -> str:
    try:
        with open(name, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}; give the path of a prompt file") from None
    if len(raw) > MAX_BYTES:
        raise PromptlaneError(f"{name} cannot be imported; nothing was written",
                              [Problem(name, 1, 1, "PL800", "is over 1 MiB: not a prompt file")])
    text, problem = decode(raw, name)
    if text is None:
        raise PromptlaneError(f"{name} cannot be imported; nothing was written", [problem] if problem else [])
    return text


def _id_from(name: str, ending: str) -> str:
    """The prompt id a file's name gives: ``Support_Reply.prompty`` -> ``support-reply``."""
    stem = os.path.basename(name)[: -len(ending)]
    candidate = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    if not is_prompt_id(candidate):
        raise UsageError(f"{name}: its name makes no prompt id ({candidate!r}); give one with --id")
    return candidate


def _files(repo: "Repo", started: Draft, imported: Imported, source: Source) -> tuple[dict[str, str], list[str]]:
    """The card (the example's, with the file's model, variables and steps) and its texts."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def flow(value: Any) -> Any:
        made = CommentedMap(value) if isinstance(value, dict) else CommentedSeq(value)
        made.fa.set_flow_style()
        return made

    prompt_id = started.prompt_id
    names = step_names(imported.steps)
    card = started.card
    if imported.title:
        card["title"] = imported.title.strip()[:200]
    card["description"] = imported.description.strip() if imported.description else f"Imported from {Path(source.rel).name}."
    card["model"] = CommentedMap({"provider": imported.model["provider"], "name": imported.model["name"],
                                  "params": flow(imported.model["params"])})
    card["variables"] = flow(imported.variables)
    card["steps"] = CommentedSeq([flow({"name": name, "role": step.role, "file": f"{name}.md"})
                                  for name, step in zip(names, imported.steps, strict=True)])
    rel = f"prompts/{prompt_id}/{CARD}"
    text = card_text(started, "model", "variables", "steps")
    texts = {f"prompts/{prompt_id}/{name}.md": step.text + "\n" for name, step in zip(names, imported.steps, strict=True)}
    return {rel: text, **texts}, _card_notes(repo, prompt_id, rel, text, [step.text for step in imported.steps], source)


def _card_notes(repo: "Repo", prompt_id: str, rel: str, text: str, texts: list[str], source: Source) -> list[str]:
    """The card as `check` will read it: refused when it is not sound (the conversion made a
    card promptlane cannot hash); what check's budget and PII rules will say of it, as notes
    (the budget is the example card's, the texts are the file's: both are the user's to edit)."""
    from promptlane.commands.check import content_problems

    card = parse_card(prompt_id, rel, load(text, rel))
    if not card.problems:
        complete_card(card, texts)
    if card.problems:
        raise PromptlaneError(f"{source.rel} cannot be imported; nothing was written", [
            source.at(0, "PL814", f"the card it makes would be refused: {p.code} {p.message}") for p in card.problems])
    return [f"`promptlane check` will report: {p}" for p in content_problems(repo, card)]


# ---------------------------------------------------------------------------------- export


def cmd_export(args) -> int:
    repo = open_repo(args)
    served, withdrawn = _served(repo, args.id, args.env)
    try:
        text = EXPORTS[args.format].write(served)
    except Refused as exc:
        raise PromptlaneError(f"{args.id} {served.version} cannot be written as {args.format}; nothing was written",
                              exc.problems) from None
    summary = f"{args.id} {served.version} as {served.environment} serves it, as {args.format}"
    if withdrawn:  # as status marks it: the file is what that environment serves, withdrawn or not
        print(f"note: {args.id} {served.version} is {withdrawal_text(withdrawn)}; the file holds a withdrawn version "
              f"(`promptlane rollback {args.id} --env {served.environment} --reason ...` stops serving it there)",
              file=sys.stderr)
    if args.out in (None, "-"):
        sys.stdout.write(text)
        print(f"Exported {summary}", file=sys.stderr)
        return EXIT_OK
    target = output_target(args.out, "-o", "; or leave -o out to print it")
    write_output(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"Exported {summary} to {target}")
    return EXIT_OK


def _served(repo: "Repo", prompt_id: str, env: str | None) -> tuple[Served, dict | None]:
    """What ``env`` serves of the prompt, read from its snapshot, and its withdrawal mark if it has one."""
    environments = repo.environments
    env = env or environments[-1]
    if env not in environments:
        raise UsageError(f"'{env}' is not an environment{did_you_mean(env, environments)}; use one of: {', '.join(environments)}")
    known = lock_ids(repo)
    if not is_prompt_id(prompt_id) or prompt_id not in known:
        raise UsageError(f"no prompt '{prompt_id}' in the registry{did_you_mean(prompt_id, known)}; "
                         "a prompt is there once it has been synced (committed)")
    try:
        lock = read_lock(repo, prompt_id)
    except LockError as exc:
        raise PromptlaneError("the registry cannot be read; nothing was exported", [exc.problem]) from None
    version = lock.environments.get(env) if lock else None
    if lock is None or not isinstance(version, str):
        retired = " (it is retired)" if lock is not None and lock.retired else ""
        raise PromptlaneError("nothing to export; nothing was written", [Problem(repo.lock_rel(prompt_id), 1, 1, "PL820", (
            f"{env} serves no version of {prompt_id}{retired}; promote one first (promptlane promote {prompt_id} --to {env}) "
            "or export another --env"))])
    rel = repo.snapshot_rel(prompt_id, version)
    snapshot = read_snapshot(repo, prompt_id, version)
    entry = lock.entry(version)
    why = "is missing or not a readable snapshot" if snapshot is None else \
        snapshot_mismatch(snapshot, entry["hash"] if entry else "")
    if why or snapshot is None:
        raise PromptlaneError("the registry is inconsistent; nothing was exported", [Problem(
            rel, 1, 1, "PL157" if snapshot is None else "PL210", f"{why}; run `promptlane sync` or restore it from git")])
    title = (snapshot.get("card") or {}).get("title")
    served = Served(prompt_id, version, snapshot["hash"], env, title if isinstance(title, str) else prompt_id,
                    snapshot["payload"], rel, (repo.root / rel).read_text(encoding="utf-8"))
    return served, lock.withdrawals_in_force().get(version)
