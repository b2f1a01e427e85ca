"""Errors the runtime raises. Every one says which prompt, which source and what to do:
an application must fail loudly rather than serve a prompt nobody approved."""
from __future__ import annotations


class RuntimeSDKError(Exception):
    """Base class of every error promptlane.runtime raises."""


class SourceError(RuntimeSDKError):
    """The bundle, SQLite export or checkout cannot be read."""


class UnknownPromptError(RuntimeSDKError, KeyError):
    """The source has no prompt with that id."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class NotServedError(RuntimeSDKError):
    """The environment is unknown, or serves no version of the prompt."""


class RetiredError(NotServedError):
    """The prompt was retired (`promptlane retire`): it is served nowhere, for good."""


class WithdrawnError(NotServedError):
    """The environment serves a version a rollback withdrew elsewhere, and the caller asked
    ``get(..., refuse_withdrawn=True)`` not to be given one."""


class IntegrityError(RuntimeSDKError):
    """A payload does not match its recorded hash (or is missing or malformed): never served."""


class RenderError(RuntimeSDKError, ValueError):
    """Variables missing, unknown, or of a type that cannot be put into a prompt."""
