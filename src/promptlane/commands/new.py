"""``promptlane new ID``: a new prompt from the repository's example card."""
from __future__ import annotations

from importlib import resources

from promptlane.commands.arguments import open_repo
from promptlane.core.card import MANAGED_KEYS
from promptlane.core.layout import is_prompt_id
from promptlane.core.problems import EXIT_OK, Problem, UsageError
from promptlane.store.cardwrite import round_trip_yaml
from promptlane.store.repo import Repo

EXAMPLE = "schemas/prompt-card.example.yml"


def _example_text(repo: Repo) -> str:
    path = repo.root / EXAMPLE
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return resources.files("promptlane.schemas").joinpath("prompt-card.example.yml").read_text(encoding="utf-8")


def _starter_text(role: str, variables: list[str], last: bool) -> str:
    if role == "system":
        return "You are a helpful assistant. Describe the task, tone and limits here.\n"
    lines = [f"{name}: {{{{ {name} }}}}" for name in variables] if last else []
    return "\n".join(["Write the request here."] + lines) + "\n"


def new_prompt(repo: Repo, prompt_id: str, title: str | None = None) -> list[str]:
    if not is_prompt_id(prompt_id):
        raise UsageError(f"{prompt_id!r} is not a valid prompt id: use lower-case letters, digits and '-', starting with a letter or digit (max 64)")
    folder = repo.prompt_dir(prompt_id)
    if folder.exists():
        raise UsageError(f"prompts/{prompt_id} already exists; pick another id or edit that card")
    import io

    yaml = round_trip_yaml()
    card = yaml.load(_example_text(repo))
    if not isinstance(card, dict) or not card.get("steps"):
        raise UsageError("the example card is not usable", [Problem(EXAMPLE, 1, 1, "PL103", "must be a card with steps")])
    card["id"] = prompt_id
    card["title"] = title or prompt_id.replace("-", " ").capitalize()
    for key in (*MANAGED_KEYS, "bump"):
        card.pop(key, None)
    variables = list(card.get("variables") or [])
    steps = card["steps"]
    folder.mkdir(parents=True)
    written = []
    for index, step in enumerate(steps):
        text = _starter_text(step.get("role", "user"), variables, index == len(steps) - 1)
        (folder / step["file"]).write_text(text, encoding="utf-8")
        written.append(f"prompts/{prompt_id}/{step['file']}")
    out = io.StringIO()
    yaml.dump(card, out)
    (folder / "card.yml").write_text(out.getvalue(), encoding="utf-8")
    written.insert(0, f"prompts/{prompt_id}/card.yml")
    return [f"Created {path}" for path in written] + [
        f"Next: edit the texts, then `git add prompts/{prompt_id}` and commit; the promptlane-sync hook versions it."
    ]


def cmd_new(args) -> int:
    repo = open_repo(args)
    for line in new_prompt(repo, args.id, title=args.title):
        print(line)
    return EXIT_OK
