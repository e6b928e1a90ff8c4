"""The one way a use case says "no": a reason and the fix, rendered by each face its own way."""

from __future__ import annotations


class Refused(Exception):
    """A workflow that must not go ahead; `hint` says what to do instead (a command or a field)."""

    def __init__(self, reason: str, hint: str = "") -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(f"{reason} ({hint})" if hint else reason)
