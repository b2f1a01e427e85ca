"""Did-you-mean: the closest known name to one that names nothing.

difflib (the standard library) does the matching; this module only fixes the cut-off and the
wording, so every command suggests the same way ("did you mean 'audience'?").
"""
from __future__ import annotations

from typing import Iterable

# difflib's default 0.6 finds 'audience' for 'audiance' and 'staging' for 'stagin', and still
# suggests nothing for names that share only a letter or two.
CUTOFF = 0.6


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like ``name``, or None when none is close. Case is ignored for the match."""
    choices = {str(k).lower(): str(k) for k in known}
    if not choices or name in choices.values():
        return None
    import difflib  # only once a name names nothing: off every start-up path

    found = difflib.get_close_matches(name.lower(), list(choices), n=1, cutoff=CUTOFF)
    return choices[found[0]] if found else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' to append to a message, or '' when nothing is close."""
    found = closest(name, known)
    return f" (did you mean '{found}'?)" if found else ""
