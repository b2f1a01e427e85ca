"""CLI for approve, promote, rollback, status and registry export (issue: promotion).

Each handler parses nothing itself: it opens the repository and calls one module. Refusals
come back as ``PromptlaneError`` with problems, which ``cli.main`` prints and maps to 1
(a gate or check failed) or 2 (bad usage or configuration).
"""
from __future__ import annotations

from promptlane.core.problems import EXIT_OK, UsageError


def _repo(args):
    from promptlane.store.repo import Repo

    return Repo.at(args.root)


def cmd_approve(args) -> int:
    from promptlane.store.reviews import approve, approve_policy

    repo = _repo(args)
    if args.policy:
        lines = approve_policy(repo, args.role, args.decision, args.note)
    elif not args.id:
        raise UsageError("name the prompt to approve (promptlane approve ID --role ROLE), or use --policy")
    else:
        lines = approve(repo, args.id, args.role, args.decision, args.note)
    print("\n".join(lines))
    return EXIT_OK


def cmd_promote(args) -> int:
    from promptlane.operations.promotion import promote

    print("\n".join(promote(_repo(args), args.id, args.to, args.reason)))
    return EXIT_OK


def cmd_rollback(args) -> int:
    from promptlane.operations.promotion import rollback

    print("\n".join(rollback(_repo(args), args.id, args.env, args.reason, args.to)))
    return EXIT_OK


def cmd_status(args) -> int:
    from promptlane.operations.status import status

    print(status(_repo(args), as_json=args.json))
    return EXIT_OK


def cmd_export(args) -> int:
    from promptlane.commands.export import export

    print(export(_repo(args), args.format, args.out))
    return EXIT_OK


def register(sub) -> None:
    """Add the promotion sub-commands to the top-level parser."""
    p = sub.add_parser("approve", help="write a HITL approval form bound to the prompt's current hash")
    p.add_argument("id", nargs="?", help="prompt id")
    p.add_argument("--role", required=True, help="your role, as in reviews/reviewers.yml")
    p.add_argument("--decision", choices=("approve", "reject"), default="approve")
    p.add_argument("--note", default="", help="why; conditions; accepted risks")
    p.add_argument("--policy", action="store_true",
                   help="approve the current policy file instead of a prompt (Governance; see docs/promotion.md)")
    p.set_defaults(handler=cmd_approve)

    p = sub.add_parser("promote", help="gates, then card + registry + changelog + audit in one step")
    p.add_argument("id")
    p.add_argument("--to", required=True, metavar="ENV")
    p.add_argument("--reason", default=None)
    p.set_defaults(handler=cmd_promote)

    p = sub.add_parser("rollback", help="serve the last version that passed in ENV (or --to VERSION)")
    p.add_argument("id")
    p.add_argument("--env", required=True)
    p.add_argument("--to", default=None, metavar="VERSION")
    p.add_argument("--reason", required=True, help="why (kept in the changelog and audit log)")
    p.set_defaults(handler=cmd_rollback)

    p = sub.add_parser("status", help="what each environment serves, and what each prompt still lacks")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("registry", help="the registry for runtimes and databases")
    registry_sub = p.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    e = registry_sub.add_parser("export", help="sqlite OUT | json OUT")
    e.add_argument("format", choices=("sqlite", "json"), type=str)
    e.add_argument("out")
    e.set_defaults(handler=cmd_export)
