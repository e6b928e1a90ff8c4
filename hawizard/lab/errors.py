"""The one error type of the lab: a message plus the command that fixes it."""

from __future__ import annotations


class LabError(Exception):
    """Something the operator can fix; `hint` says how (often an apt or lab command)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
