"""How the CLI shows an operation's refusal and asks its one y/N question.

Every command that runs an Operation (`ops/operation.py`) renders a `Refused` here, the same
way and with the same exit status 2 (1 is kept for a run that started and failed), and asks
for confirmation here, so `--yes`, a missing terminal and the answer behave alike everywhere.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from hawizard.cli.output import console, err_console, fail, print_json

if TYPE_CHECKING:
    from hawizard.ops import Refused

__all__ = ["REFUSED", "ask_yes_no", "render_refusal"]

REFUSED = 2


def render_refusal(exc: Refused, *, as_json: bool = False, prefix: str = "") -> int:
    """The refusal on stderr (its findings one per line, then the reason and the fix), or as
    `{"ok": false, "refused": true, ...}` on stdout with `--json`. Returns the exit status 2."""
    from rich.markup import escape

    if as_json:
        print_json(
            {
                "ok": False,
                "refused": True,
                "reason": exc.reason,
                "hint": exc.hint,
                "details": list(exc.details),
            }
        )
        return REFUSED
    for d in exc.details:
        err_console.print(f"  {escape(d)}", highlight=False, soft_wrap=True)
    fail(f"{prefix}{exc.reason}", exc.hint)
    return REFUSED


def ask_yes_no(question: str, *, yes: bool, no_terminal: str) -> bool:
    """True with `--yes`; otherwise "y"/"yes" typed at a terminal. Without a terminal it
    says `no_terminal` (e.g. "this restarts etcd members; confirm with --yes") and returns
    False. `question` is Rich markup: escape what came from the user."""
    if yes:
        return True
    if not sys.stdin.isatty():
        err_console.print(f"[red]error[/]: {no_terminal}", soft_wrap=True, highlight=False)
        return False
    answer = console.input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")
