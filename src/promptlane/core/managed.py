"""A card's managed block judged against its registry lock (pure): which of ``version``,
``hash``, ``author`` and ``environment`` were edited by hand, and the exact value to put back.

sync only ever writes a version together with the hash and author the lock issued it for, and
an environment that serves it. So a block that disagrees with the lock while the texts and
model are those of an issued version was edited by hand; left to sync, it would "return" the
prompt to its own version and log a demotion that never happened. ``promptlane check`` reports
every finding; ``promptlane sync`` refuses a prompt with a finding ``by_hand`` (writing and
logging nothing) and fixes the others: a real change of the texts or model is a new version.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from promptlane.core import semver
from promptlane.core.policy import Policy
from promptlane.core.record import record
from promptlane.core.registry import Lock

RUN_SYNC = "run `promptlane sync` (or commit again: the commit hook does it)"
MANAGED = ("version", "hash", "author", "environment")


@record(frozen=True)
class Finding:
    code: str
    key: str        # the managed key it is placed on
    message: str
    by_hand: bool   # True: sync refuses (a hand edit); False: sync fixes it (a new or returned version)


def managed_findings(data: Mapping[str, Any], payload_hash: str, lock: Lock, envs: Sequence[str]) -> list[Finding]:
    """Every disagreement of a complete managed block (all of ``MANAGED``) with ``lock``,
    for a card whose texts and model hash to ``payload_hash``. Raising ``environment:`` above
    every environment serving the version is no finding: it asks for a promotion, judged by the
    gates (and ``skip_finding``)."""
    version, recorded = str(data["version"]), str(data["hash"])
    entry = lock.entry(version)
    issued_pair = entry is not None and entry["hash"] == recorded
    consistent = issued_pair and recorded == payload_hash
    found = _unknown_environment(data, lock, envs, by_hand=consistent)
    if not lock.versions:
        return found + ([_changed(version, payload_hash)] if recorded != payload_hash else [])
    if not issued_pair:
        return found + _block(version, recorded, payload_hash, lock)
    if not consistent:
        return found + [_another_version(data, payload_hash, lock, envs) or _changed(version, payload_hash)]
    found += _author(data, lock, version)
    if not found and lock.retired is None:  # a retired prompt is refused as such (PL125)
        found += _environment(data, lock, envs, version)
    return found


def _changed(version: str, payload_hash: str) -> Finding:
    return Finding("PL150", "hash", f"hash: does not match the texts and model ({payload_hash[:19]}...); "
                   f"the prompt changed since {version}; {RUN_SYNC}", False)


def _another_version(data: Mapping[str, Any], payload_hash: str, lock: Lock, envs: Sequence[str]) -> Finding | None:
    """``version:`` and ``hash:`` are an issued pair, but the texts and model are those of
    another issued version that the lock serves, while the card's environment does not serve
    the card's version (and does not ask to promote it): the block was set by hand to that
    other version's values, not left as sync wrote it. Left to sync, it would log a "return"
    that never happened. None when the card's environment serves its version (the texts were
    set back to another version's: a return sync records) or no environment serves the
    version of the texts."""
    version, env = str(data["version"]), data["environment"]
    texts_of = lock.version_of(payload_hash)
    serving = [e for e in envs if lock.environments.get(e) == texts_of]
    if texts_of is None or not serving:
        return None
    if lock.environments.get(env) == version:
        return _withdrawn_block(data, payload_hash, lock, envs, texts_of, serving[-1])
    if raised(envs, env, version, lock) and any(lock.environments.get(e) == version for e in envs):
        return None  # a promotion asked for, with a change of the texts: sync versions the change
    entry = lock.entry(texts_of) or {}
    where = f"{env} serving {texts_of}"
    if env not in serving:
        where = f"{serving[-1]} serving {texts_of} and {env} serving {lock.environments.get(env) or 'nothing'}"
    back = f"set version back to {texts_of}, hash to {payload_hash}, author to {entry.get('author', 'unknown')}"
    if env not in serving:
        back += f", environment to {serving[-1]}"
    return Finding("PL164", "version", f"version: {version} and hash: are {version}'s, but the texts and model are "
                   f"{texts_of}'s and registry/{lock.prompt_id}.lock.json has {where}: the managed block was set by "
                   f"hand to another version's; {back}", True)


def _withdrawn_block(data: Mapping[str, Any], payload_hash: str, lock: Lock, envs: Sequence[str], texts_of: str,
                     back_env: str) -> Finding | None:
    """The block is a withdrawn version's at an environment above the first that still serves
    it, the texts another served version's. A rollback set the card to its target, and a
    withdrawn version comes back to a card only through sync, in the first environment: so the
    block was set by hand (to the card's own version before the rollback, say), not left as
    sync wrote it. Left to sync, it would log a return to the texts' version and a demotion
    from an environment the card was never in. None otherwise: texts set back while the block
    is what sync or a promotion wrote are a return sync records."""
    version, env = str(data["version"]), data["environment"]
    mark = lock.withdrawals_in_force().get(version)
    if mark is None or env == envs[0]:
        return None
    entry = lock.entry(texts_of) or {}
    return Finding("PL164", "version", f"version: {version} and hash: are {version}'s, but the texts and model are "
                   f"{texts_of}'s, and {version} was withdrawn from {mark.get('env')} on {mark.get('time')} "
                   f"(registry/{lock.prompt_id}.lock.json has {back_env} serving {texts_of}): a withdrawn version "
                   f"returns to a card only through sync, in {envs[0]}, so the managed block was set by hand to "
                   f"{version}'s; set version back to {texts_of}, hash to {payload_hash}, author to "
                   f"{entry.get('author', 'unknown')}, environment to {back_env}", True)


def _unknown_environment(data: Mapping[str, Any], lock: Lock, envs: Sequence[str], by_hand: bool) -> list[Finding]:
    env = data["environment"]
    if env in envs:
        return []
    back = _highest_serving(lock, envs, str(data["version"])) or envs[0]
    return [Finding("PL154", "environment", f"environment: '{env}' is not one of {', '.join(envs)} "
                    f"(workflows/policy-as-code-example.yml); set it back to environment: {back}", by_hand)]


def _block(version: str, recorded: str, payload_hash: str, lock: Lock) -> list[Finding]:
    """``version:`` and ``hash:`` are not a pair the lock issued: say which was edited and
    what to put back. Only a hash that follows new texts (set by hand to what sync would
    compute) leaves sync something to fix."""
    entry = lock.entry(version)
    of_recorded, of_payload = lock.version_of(recorded), lock.version_of(payload_hash)
    if entry is None:
        found = [_unissued(version, recorded, payload_hash, lock)]
        if of_recorded is None and of_payload is not None and recorded != payload_hash:
            found.append(_hash_back(recorded, payload_hash, f"the hash of these texts and model ({of_payload})"))
        return found
    issued_for = f"version: {version} was issued for {entry['hash'][:19]}..., a different payload; a version is never reused"
    if recorded == payload_hash:
        if of_payload is None:  # new texts with their hash written by hand: a change sync versions
            return [Finding("PL152", "version", f"{issued_for}; {RUN_SYNC}", False)]
        return [Finding("PL152", "version", f"{issued_for}; set it back to {of_payload}, the version issued for this hash", True)]
    if entry["hash"] == payload_hash or of_recorded is None:
        return [_hash_back(recorded, entry["hash"], f"the hash issued for {version}")]
    return [Finding("PL152", "version", f"{issued_for}; set it back to {of_recorded}, the version issued for "
                    f"hash: {recorded[:19]}...", True)]


def _unissued(version: str, recorded: str, payload_hash: str, lock: Lock) -> Finding:
    highest = lock.highest()
    lowered = highest is not None and semver.parse(version) < semver.parse(highest)
    why = f"is lower than {highest}, the highest issued; versions never go down" if lowered else "was never issued"
    of_recorded, of_payload = lock.version_of(recorded), lock.version_of(payload_hash)
    if of_recorded is not None:
        which = "this hash" if recorded == payload_hash else f"hash: {recorded[:19]}..."
        fix = f"set it back to {of_recorded}, the version issued for {which}"
        if recorded != payload_hash:
            fix += "; sync then numbers your change itself (add `bump: major` to the card to choose its bump)"
    elif of_payload is not None:
        fix = f"set it back to {of_payload}, the version issued for these texts and model"
    else:
        fix = f"set it back to the version the card had (`git diff` shows it; the newest issued is {lock.versions[-1]['version']})"
    return Finding("PL151", "version", f"version: {version} {why}; do not edit version by hand; {fix}", True)


def _hash_back(recorded: str, expected: str, what: str) -> Finding:
    return Finding("PL161", "hash", f"hash: {recorded[:19]}... was edited by hand; set it back to {what}: "
                   f"hash: {expected}", True)


def _author(data: Mapping[str, Any], lock: Lock, version: str) -> list[Finding]:
    expected = (lock.entry(version) or {}).get("author")
    if expected is None or data["author"] == expected:
        return []
    return [Finding("PL162", "author", f"author: {data['author']} is not who issued {version} "
                    f"(registry/{lock.prompt_id}.lock.json says {expected}); an author is recorded, "
                    f"never edited; set it back to author: {expected}", True)]


def _environment(data: Mapping[str, Any], lock: Lock, envs: Sequence[str], version: str) -> list[Finding]:
    """An environment below one that serves the version, or one it never reached that is not a
    promotion (nothing above it serves the version either, and it is the first environment)."""
    env = data["environment"]
    served = lock.environments.get(env)
    if served == version or raised(envs, env, version, lock):
        return []
    back = _highest_serving(lock, envs, version)
    where = f"registry/{lock.prompt_id}.lock.json has {env} serving {served or 'nothing'}"
    if back is None:
        fix = f"no environment serves {version}: to serve it again, `promptlane rollback {lock.prompt_id} --env {env} --to {version}`"
    else:
        fix = f"set it back to environment: {back}, the highest environment serving {version}"
    return [Finding("PL160", "environment", f"environment: {env} but {where}; {fix}", True)]


def raised(envs: Sequence[str], env: Any, version: Any, lock: Lock) -> bool:
    """``env`` is above every environment that serves ``version``: the card asks for a promotion."""
    if env not in envs or lock.environments.get(env) == version:
        return False
    serving = [i for i, e in enumerate(envs) if lock.environments.get(e) == version]
    return list(envs).index(env) > max(serving, default=0)


def _highest_serving(lock: Lock, envs: Sequence[str], version: str) -> str | None:
    serving = [env for env in envs if lock.environments.get(env) == version]
    return serving[-1] if serving else None


def skip_finding(data: Mapping[str, Any], lock: Lock, policy: Policy) -> Finding | None:
    """``environment:`` raised past the environment before it, which does not serve the version,
    while the policy does not let that one be skipped (``allow_skip: false``). None otherwise:
    the gates judge the promotion (an environment without a rule is their PL600)."""
    env, version, envs = data["environment"], str(data["version"]), policy.environments
    rule = policy.rule(env) if env in envs else None
    if rule is None or rule.allow_skip or envs.index(env) == 0:
        return None
    previous = envs[envs.index(env) - 1]
    if lock.environments.get(previous) == version:
        return None
    back = _highest_serving(lock, envs, version) or envs[0]
    return Finding("PL163", "environment", f"environment: {env} skips {previous}, which does not serve {version}, and "
                   f"promotion.{env} has allow_skip: false; set it back to environment: {back}, then raise it one "
                   f"environment at a time (`promptlane promote {lock.prompt_id} --to {previous}` first)", True)
