"""Shared terminal output for the CLI: one rich console, plan problems, JSON.

rich already honours NO_COLOR and non-TTY output, so every command gets that for free. The
consoles are made on first use, so a command that talks to nodes first (`apply`) opens its SSH
connections before rich is even imported.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from hawizard.plan import Problem, Severity


class LazyConsole:
    """A rich `Console` created (and rich imported) the first time anything touches it;
    attribute reads and writes go to the real console."""

    _create_lock = threading.Lock()

    def __init__(self, **kwargs: Any):
        object.__setattr__(self, "_kwargs", kwargs)
        object.__setattr__(self, "_console", None)

    def real(self):  # -> rich.console.Console
        console = object.__getattribute__(self, "_console")
        if console is None:
            with LazyConsole._create_lock:
                console = object.__getattribute__(self, "_console")
                if console is None:
                    from rich.console import Console

                    console = Console(**object.__getattribute__(self, "_kwargs"))
                    object.__setattr__(self, "_console", console)
        return console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.real(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self.real(), name)


console: Any = LazyConsole(highlight=False)
err_console: Any = LazyConsole(stderr=True, highlight=False)


def print_problems(problems: list[Problem], *, to_stderr: bool = True) -> None:
    out = err_console if to_stderr else console
    for p in problems:
        style = "bold red" if p.severity is Severity.ERROR else "yellow"
        out.print(f"[{style}]{p.severity.value}[/]: {esc(p)}", soft_wrap=True)


def esc(value: object) -> str:
    """Any user-provided text (names, paths, argv, error messages) as literal rich text.

    A `[/` in a cluster name or a path would otherwise be read as markup and crash printing.
    """
    from rich.markup import escape

    return escape(str(value))


def finite_seconds(text: str) -> float:
    """argparse type for durations: a finite positive number (`nan`, `inf`, `-1` refused)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0 or value > 86400:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be more than 0 seconds (a finite number, at most 86400)"
        )
    return value


def fail(message: str, hint: str = "") -> int:
    """An input or environment error the user can fix: one clear message, exit 2."""
    err_console.print(f"[bold red]error[/]: {esc(message)}", soft_wrap=True)
    if hint:
        err_console.print(f"  [dim]→[/] {esc(hint)}", soft_wrap=True)
    return 2


def refused(exc, detail_label: str = "") -> int:
    """A `hawizard.ops.Refused`: its findings one per line, then the reason and the fix (exit 2)."""
    from rich.markup import escape

    for d in exc.details:
        label = f"[red]{detail_label}[/] " if detail_label else ""
        err_console.print(f"{label}{escape(d)}", highlight=False, soft_wrap=True)
    return fail(exc.reason, exc.hint)


def print_failures(result: Any, resume: str = "") -> None:
    """Each failed step (node, step, error, its last output lines), then how to resume: one
    form for every command that runs phases, with every remote text escaped."""
    for f in result.failures:
        err_console.print(
            f"[bold red]failed[/] {esc(f.node)}: {esc(f.step)}: {esc(f.error)}", highlight=False
        )
        for line in f.output[-10:]:
            err_console.print(f"    {line}", markup=False, highlight=False)
    if resume:
        err_console.print(resume, markup=False, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def load_plan(path: str):  # -> Plan | None
    """Load and validate a plan for a command; print every problem and return None on errors.

    Warnings are printed too, but do not stop the command.
    """
    plan, warnings = read_plan(path)
    print_problems(warnings)
    return plan


def read_plan(path: str):  # -> tuple[Plan | None, list[Problem]]
    """`load_plan` that returns the warnings instead of printing them, for a command with
    something to start first (`apply` opens its SSH connections before rich is imported)."""
    from hawizard.plan import PlanError, load, validate

    try:
        plan = load(path)
    except PlanError as exc:
        print_problems(exc.problems)
        return None, []
    return plan, [p for p in validate(plan) if p.severity is Severity.WARNING]


def add_run_flags(p, *, dry_run_help: str, changes: bool = True) -> None:
    """The flags every command that works on nodes shares, with one wording everywhere."""
    if changes:
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        p.add_argument("--dry-run", action="store_true", help=dry_run_help)
        p.add_argument(
            "--parallel", type=int, default=10, metavar="N", help="nodes worked on at once (1-64)"
        )
    p.add_argument(
        "--trust-new-hosts",
        action="store_true",
        help="accept and record SSH host keys not yet in known_hosts (changed keys are refused)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print every step's output as it comes, the tools' raw output too (installers)",
    )
