"""`hawizard` command line: argparse in front, one module per command group.

Each group module exposes `register(subparsers)`; handlers are set as `func` and return an exit
code (0 ok, 1 problems found, 2 bad usage or input). Heavy imports happen inside handlers so
`hawizard --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hawizard import __version__

# Command groups, in the order `--help` lists them.
GROUPS = (
    "plan",
    "certs",
    "lab",
    "apply",
    "status",
    "incident",
    "check",
    "etcd",
    "patch",
    "monitoring",
    "wizard",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: a clear line and exit 2, no traceback
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


# Commands registered by a group module of another name.
_GROUP_OF = {"dashboard": "wizard"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `only` just that group's commands: `hawizard status`
    then imports one command module instead of all of them (the others pull in the backup
    records' crypto, paramiko, …: ~0.1 s of CPU a scripted `status` would pay every time)."""
    parser = _Parser(
        prog="hawizard",
        description="From a few Linux machines to an HA control plane on TLS-secured etcd.",
    )
    parser.add_argument("--version", action="version", version=f"hawizard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for group in (only,) if only else GROUPS:
        try:
            module = importlib.import_module(f"hawizard.cli.{group}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name != f"hawizard.cli.{group}_cmd":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _connect_early(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    finally:
        if (early := sys.modules.get("hawizard.early_ssh")) is not None:
            early.close_all()  # connections no step took: the plan was refused, say


def _main(argv: list[str] | None) -> int:
    parser = build_parser(only=command_group(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        if args.command is None and "wizard" in _registered(parser):
            return _main(["wizard", *(argv or [])])
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = _known_failure(exc)
        if code is None:
            raise
        return code


def command_group(argv: list[str]) -> str | None:
    """The one group module `argv` needs, or None (top-level help or flags, an unknown
    command: the full parser lists and judges them)."""
    first = argv[0] if argv else ""
    group = _GROUP_OF.get(first, first)
    return group if group in GROUPS else None


# apply's options that take a value, so the plan argument can be told from them.
_APPLY_VALUED = ("--only", "--parallel")


def _connect_early(argv: list[str]) -> None:
    """`hawizard apply PLAN`: start the SSH connections to PLAN's nodes now, before the
    parser, the plan model and paramiko import (see `hawizard.early_ssh`)."""
    target = early_target(argv)
    if target is not None:
        from hawizard import early_ssh

        early_ssh.start(target[0], role=target[1])


def early_target(argv: list[str]) -> tuple[str, str | None] | None:
    """(plan, role of the nodes to connect to, None for all) when argv is an apply. A guess
    from the raw arguments: argparse still decides, and a wrong guess only costs an unused
    connection."""
    if not argv or argv[0] != "apply" or "-h" in argv or "--help" in argv:
        return None
    plan, only, rest = None, None, iter(argv[1:])
    for arg in rest:
        if arg in _APPLY_VALUED or arg.startswith(tuple(f"{v}=" for v in _APPLY_VALUED)):
            name, _, value = arg.partition("=")
            value = value if _ else next(rest, None)
            if name == "--only":
                only = value
            if not _early_value_ok(name, value):
                return None  # apply will refuse the flag: connect to nothing
        elif arg == "--":
            plan = next(rest, plan) if plan is None else plan
            break
        elif not arg.startswith("-") and plan is None:
            plan = arg
    if plan is None:
        return None
    return plan, "etcd" if only == "etcd" else None


def _early_value_ok(flag: str, value: str | None) -> bool:
    """The values `apply` accepts for its valued flags (argparse and `cmd_apply` decide; a
    value they refuse must not have made any node see a connection)."""
    if value is None:
        return False
    if flag == "--only":
        return value in ("etcd", "control-plane")
    try:
        return 1 <= int(value) <= 64  # --parallel
    except ValueError:
        return False


def _known_failure(exc: Exception) -> int | None:
    """The last wall: failures of input or environment that a handler did not catch are
    printed as one clear line (exit 2), never as a traceback. Programming errors still raise."""
    from hawizard.cli.output import fail
    from hawizard.hostkeys import HostKeyError
    from hawizard.journal import JournalError
    from hawizard.textguard import UnsafeValue

    if isinstance(exc, HostKeyError | JournalError):
        return fail(str(exc))
    if isinstance(exc, UnsafeValue):
        return fail(str(exc), "fix that value in the plan; `hawizard plan validate` names it")
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"{where}{exc.strerror or exc}")
    return None


def _registered(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()
