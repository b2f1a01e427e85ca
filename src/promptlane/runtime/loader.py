"""Reading a registry: a JSON bundle, a SQLite export, or a checkout's registry/ folder.

Loading only indexes the source; a version's payload hash is recomputed the first time it is
asked for (then remembered), so a bundle of thousands of prompts loads in milliseconds and a
tampered version is still never served. Loads are cached per (path, mtime, size, inode):
replacing the file (or the registry/ folder's contents, which promptlane writes by rename)
gives a fresh load on the next call.
"""
from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from promptlane.core.calls import CALL_NAME, Call, calls_of
from promptlane.core.hashing import CHAIN_FORMAT, PAYLOAD_FORMAT, payload_hash
from promptlane.core.registry import withdrawals_in_force
from promptlane.core.suggest import did_you_mean
from promptlane.runtime.errors import (
    IntegrityError,
    NotServedError,
    RetiredError,
    SourceError,
    UnknownPromptError,
    WithdrawnError,
)
from promptlane.runtime.prompt import CallSpec, Prompt, Step, Withdrawal

BUNDLE_FORMAT = "promptlane-bundle/1"
LOCK_FORMAT = "promptlane-lock/1"
SQLITE_MAGIC = b"SQLite format 3\x00"
DEFAULT_ENV = "prod"
CACHE_SIZE = 8


def default_env() -> str:
    """PROMPTLANE_ENV lets one build of an application run in staging and in prod."""
    return os.environ.get("PROMPTLANE_ENV") or DEFAULT_ENV


class Registry:
    """Prompts of one source. ``get`` verifies before it serves; entries are plain dicts:
    ``{"environments": {env: version|None}, "versions": {version: {"hash", "payload"?}},
    "withdrawn"?: {version: {"env", "time", "reason", "actor"?}}}`` (sources written before withdrawals
    were exported have no "withdrawn": nothing is marked)."""

    def __init__(self, source: str, reader: "_Reader"):
        self.source = source
        self._reader = reader
        self._served: dict[tuple[str, str, str], Prompt] = {}

    def ids(self) -> list[str]:
        return sorted(self._reader.ids())

    def environments(self, prompt_id: str) -> dict[str, str | None]:
        return dict(self._entry(prompt_id)["environments"])

    def get(self, prompt_id: str, env: str | None = None, *, refuse_withdrawn: bool = False) -> Prompt:
        """The version ``env`` serves, its payload hash verified (once per version).

        ``refuse_withdrawn``: raise WithdrawnError rather than return a version a rollback
        withdrew from another environment (``Prompt.withdrawn`` says so either way)."""
        env = env or default_env()
        entry = self._entry(prompt_id)
        version = self._served_version(prompt_id, entry, env)
        key = (prompt_id, version, env)
        prompt = self._served.get(key)
        if prompt is None:
            prompt = self._verified(prompt_id, version, env, entry)
            self._served[key] = prompt
        if refuse_withdrawn and prompt.withdrawn is not None:
            raise WithdrawnError(
                f"{self.source}: {env} serves {prompt_id} {version}, which was {prompt.withdrawn}; refused "
                f"(refuse_withdrawn=True). Roll {env} back too (`promptlane rollback {prompt_id} --env {env} "
                "--reason ...`) or promote a fixed version there, then export the registry again.")
        return prompt

    def version(self, prompt_id: str, version: str) -> Prompt:
        """A given version (whatever serves it), verified like ``get``; environment is ''."""
        return self._verified(prompt_id, version, "", self._entry(prompt_id))

    def _entry(self, prompt_id: str) -> dict:
        entry = self._reader.entry(prompt_id)
        if entry is None:
            raise UnknownPromptError(f"{self.source}: no prompt '{prompt_id}'{did_you_mean(prompt_id, self.ids())} "
                                     f"(it has {_some(self.ids())})")
        if not isinstance(entry.get("environments"), dict) or not isinstance(entry.get("versions"), dict):
            raise SourceError(f"{self.source}: the entry of '{prompt_id}' is malformed (environments/versions); re-export it")
        retired = entry.get("retired")
        if retired is not None:
            said = retired if isinstance(retired, dict) else {}
            raise RetiredError(f"{self.source}: {prompt_id} was retired on {said.get('time')} by {said.get('actor')} "
                               f"({said.get('reason')}); it is served nowhere: use its replacement, or remove it from the application")
        return entry

    def _served_version(self, prompt_id: str, entry: dict, env: str) -> str:
        # Exports list only the environments that serve something: unknown and empty look alike.
        version = entry["environments"].get(env)
        if version is None:
            served = ", ".join(f"{e}={v}" for e, v in entry["environments"].items() if v) or "nothing anywhere"
            raise NotServedError(f"{self.source}: '{env}' serves no version of {prompt_id}{did_you_mean(env, entry['environments'])} "
                                 f"(served: {served}); "
                                 f"promote one with `promptlane promote {prompt_id} --to {env}`")
        return version

    def _verified(self, prompt_id: str, version: str, env: str, entry: dict) -> Prompt:
        info = entry["versions"].get(version)
        where = f"{self.source}: {prompt_id} {version}{self._reader.location(prompt_id, version)}"
        if not isinstance(info, dict) or not isinstance(info.get("hash"), str):
            raise IntegrityError(f"{where}: the version is not in the source (or has no hash); refusing to serve it")
        payload = self._reader.payload(prompt_id, version, info)
        actual = payload_hash(payload) if isinstance(payload, dict) else None
        if actual != info["hash"]:
            raise IntegrityError(
                f"{where}: payload hash {actual or '(no payload)'} does not match the recorded {info['hash']}: "
                "the prompt was altered after it was approved, or the copy is corrupt; refusing to serve it. "
                "Re-export the registry from the governed repository (`promptlane registry export`).")
        prompt = _prompt(where, prompt_id, version, info["hash"], env, payload)
        return replace(prompt, withdrawn=_withdrawal(entry, version))


def _some(ids: list[str]) -> str:
    if not ids:
        return "no prompts"
    return ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


def _withdrawal(entry: dict, version: str) -> Withdrawal | None:
    """The rollback's mark on ``version``, when it still stands (core.registry's rule)."""
    mark = withdrawals_in_force(entry.get("withdrawn"), entry["environments"]).get(version)
    if mark is None:
        return None
    return Withdrawal(str(mark.get("env")), str(mark.get("time")), str(mark.get("reason")), str(mark.get("actor") or ""))


def _prompt(where: str, prompt_id: str, version: str, digest: str, env: str, payload: dict) -> Prompt:
    """The payload's hash matched; still refuse a shape the renderer cannot use."""
    try:
        fmt = payload.get("format")
        if fmt not in (PAYLOAD_FORMAT, CHAIN_FORMAT):
            raise ValueError(f"format is {fmt!r}, not {PAYLOAD_FORMAT} or {CHAIN_FORMAT}")
        calls = calls_of(payload)  # core.calls: a single call is one Call named None
        if fmt == CHAIN_FORMAT:
            variables = _variables(payload["variables"])
            chain = _chain(calls, variables)
            return Prompt(prompt_id, version, digest, env, chain[-1].model, (), variables, calls=chain)
        model = calls[0].model
        steps = _steps(calls[0].steps)
        variables = tuple(payload["variables"])
        model = {"provider": model["provider"], "name": model["name"], "params": dict(model.get("params") or {})}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(f"{where}: malformed payload ({exc}); refusing to serve it") from None
    return Prompt(prompt_id, version, digest, env, model, steps, variables)


def _steps(raw: Any) -> tuple[Step, ...]:
    steps = tuple(Step(s["name"], s["role"], s["text"]) for s in raw)
    if not all(isinstance(v, str) for s in steps for v in (s.name, s.role, s.text)):
        raise ValueError("a step's name, role or text is not a string")
    return steps


def _variables(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise ValueError("variables is not a list of names")
    return tuple(raw)


def _chain(raw: list[Call], variables: tuple[str, ...]) -> tuple[CallSpec, ...]:
    """A chain's calls (promptlane-chain/1): at least two, each named once, each model
    resolved, each using only the outputs of calls before it."""
    if len(raw) < 2:
        raise ValueError("a chain has at least 2 calls")
    calls: list[CallSpec] = []
    for entry in raw:
        name, model = entry.name, entry.model
        if not isinstance(name, str) or not CALL_NAME.match(name):
            raise ValueError(f"call name {name!r} is not an identifier [a-z_][a-z0-9_]*")
        if name in variables or any(call.name == name for call in calls):
            raise ValueError(f"call name {name!r} is used twice (by another call or a variable)")
        if not (isinstance(model["provider"], str) and isinstance(model["name"], str) and isinstance(model["params"], dict)):
            raise ValueError(f"call {name}: model is not {{provider, name, params}}")
        steps = _steps(entry.steps)
        if not steps:
            raise ValueError(f"call {name} has no steps")
        call = CallSpec(name, {"provider": model["provider"], "name": model["name"], "params": dict(model["params"])}, steps)
        later = [used for used in call.uses if all(earlier.name != used for earlier in calls)]
        if later:
            raise ValueError(f"call {name} uses the output of {later[0]!r}, which is not a call before it")
        calls.append(call)
    return tuple(calls)


# ---------------------------------------------------------------- readers


class _Reader:
    def ids(self) -> Iterator[str]:
        raise NotImplementedError

    def entry(self, prompt_id: str) -> dict | None:
        raise NotImplementedError

    def payload(self, prompt_id: str, version: str, info: dict) -> Any:
        return info.get("payload")

    def location(self, prompt_id: str, version: str) -> str:
        """Where the version's payload lives, for an error to name ("" when it is inside the source)."""
        return ""


class _BundleReader(_Reader):
    def __init__(self, prompts: dict):
        self.prompts = prompts

    def ids(self) -> Iterator[str]:
        return iter(self.prompts)

    def entry(self, prompt_id: str) -> dict | None:
        entry = self.prompts.get(prompt_id)
        return entry if isinstance(entry, dict) else ({} if entry is not None else None)


class _SqliteReader(_BundleReader):
    """Rows indexed at load; each payload's JSON is parsed only when its version is asked for."""

    def payload(self, prompt_id: str, version: str, info: dict) -> Any:
        raw = info.get("payload")
        if isinstance(raw, (str, bytes)):
            try:
                raw = json.loads(raw)
            except ValueError:
                return None
        return raw


class _CheckoutReader(_Reader):
    """registry/<id>.lock.json and registry/store/<id>/<version>.json, read when asked for."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._entries: dict[str, dict | None] = {}

    def ids(self) -> Iterator[str]:
        return (p.name[: -len(".lock.json")] for p in self.folder.glob("*.lock.json"))

    def entry(self, prompt_id: str) -> dict | None:
        if prompt_id not in self._entries:
            self._entries[prompt_id] = self._read_lock(prompt_id)
        return self._entries[prompt_id]

    def _read_lock(self, prompt_id: str) -> dict | None:
        if "/" in prompt_id or "\\" in prompt_id or prompt_id.startswith("."):
            return None  # ids name files: nothing a caller passes may leave the folder
        path = self.folder / f"{prompt_id}.lock.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceError(f"{path}: not valid JSON ({exc}); restore it from git") from None
        if not isinstance(doc, dict) or doc.get("format") != LOCK_FORMAT or not isinstance(doc.get("versions"), list):
            raise SourceError(f"{path}: not a {LOCK_FORMAT} file; restore it from git")
        versions = {v.get("version"): {"hash": v.get("hash")} for v in doc["versions"] if isinstance(v, dict)}
        entry = {"environments": doc.get("environments"), "versions": versions, "withdrawn": doc.get("withdrawn")}
        if doc.get("retired") is not None:
            entry["retired"] = doc["retired"]
        return entry

    def location(self, prompt_id: str, version: str) -> str:
        return f" (snapshot {self.folder / 'store' / prompt_id / f'{version}.json'})"

    def payload(self, prompt_id: str, version: str, info: dict) -> Any:
        path = self.folder / "store" / prompt_id / f"{version}.json"
        try:
            snapshot = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        # The snapshot's own hash, id and version must agree with the lock as well.
        if not isinstance(snapshot, dict) or (snapshot.get("id"), snapshot.get("version"), snapshot.get("hash")) != (prompt_id, version, info["hash"]):
            return None
        return snapshot.get("payload")


# ---------------------------------------------------------------- opening a source


def _registry_folder(path: Path) -> Path | None:
    if (path / "registry").is_dir():
        return path / "registry"
    if path.name == "registry" or any(path.glob("*.lock.json")):
        return path
    return None


def _open(path: Path) -> _Reader:
    if path.is_dir():
        folder = _registry_folder(path)
        if folder is None:
            raise SourceError(f"{path}: neither a checkout with registry/ nor a registry folder")
        return _CheckoutReader(folder)
    with open(path, "rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        from promptlane.runtime.sqlite_source import read_sqlite

        return _SqliteReader(read_sqlite(path))
    return _BundleReader(_read_bundle(path))


def _read_bundle(path: Path) -> dict:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8; a bundle is JSON written by `promptlane registry export json`") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT or not isinstance(doc.get("prompts"), dict):
        raise SourceError(f"{path}: not a {BUNDLE_FORMAT} file; write one with `promptlane registry export json OUT`")
    return doc["prompts"]


_cache: "OrderedDict[tuple, Registry]" = OrderedDict()
_cache_lock = threading.Lock()


def _stamp(path: Path) -> tuple:
    target = path
    if path.is_dir():
        target = _registry_folder(path) or path
    try:
        st = target.stat()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file or folder") from None
    return (str(path), str(target), st.st_mtime_ns, st.st_size, st.st_ino)


def load(path: str | os.PathLike) -> Registry:
    """The registry at ``path`` (bundle, SQLite export or checkout), cached by path and mtime."""
    resolved = Path(path).expanduser().resolve()
    key = _stamp(resolved)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    registry = Registry(str(path), _open(resolved))
    with _cache_lock:
        _cache[key] = registry
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return registry


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()

