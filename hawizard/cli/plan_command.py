"""The shape every command that works on a plan's nodes shares: registered with its `plan`
argument and the common run flags (`output.add_run_flags`), started by checking `--parallel`
and loading the plan. One place, so `recover`, `restore`, `patch` and `defrag` cannot drift
apart in how they are called or what they say about bad input.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from hawizard.cli.output import add_run_flags, fail, load_plan

MAX_PARALLEL = 64


def add_plan_command(
    actions: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str,
    dry_run_help: str = "",
    changes: bool = True,
    **defaults: Any,
) -> argparse.ArgumentParser:
    """Register `name` with its `plan` argument and the shared run flags (`changes=False`:
    only the reporting flags, for a command that words `--yes`/`--dry-run` itself). Returns
    the parser for the command's own arguments; positional ones follow `plan`."""
    p = actions.add_parser(name, help=help, description=description)
    p.add_argument("plan", help="plan file")
    add_run_flags(p, dry_run_help=dry_run_help, changes=changes)
    p.set_defaults(func=func, **defaults)
    return p


def load_plan_to_run(args: argparse.Namespace):  # -> Plan | None
    """The plan of a command that works on nodes, once `--parallel` (where the command has
    it) is in range; None when the input is bad, its message printed (the command exits 2)."""
    parallel = getattr(args, "parallel", None)
    if parallel is not None and not 1 <= parallel <= MAX_PARALLEL:
        fail(f"--parallel {parallel} is out of range", f"give a number from 1 to {MAX_PARALLEL}")
        return None
    return load_plan(args.plan)
