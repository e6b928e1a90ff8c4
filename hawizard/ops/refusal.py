"""The one way a use case says "no": a reason and the fix, rendered by each face its own way."""

from __future__ import annotations

from collections.abc import Iterable


class Refused(Exception):
    """A workflow that must not go ahead; `hint` says what to do instead (a command or a field),
    `details` are the individual findings behind the reason (e.g. one line per certificate)."""

    def __init__(self, reason: str, hint: str = "", details: Iterable[str] = ()) -> None:
        self.reason = reason
        self.hint = hint
        self.details = tuple(details)
        super().__init__(f"{reason} ({hint})" if hint else reason)
