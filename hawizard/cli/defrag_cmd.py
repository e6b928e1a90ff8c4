"""`hawizard etcd defrag PLAN [--yes] [--dry-run] [--json]`: the CLI face of `hawizard.ops.defrag`.

It maps flags, asks for confirmation, holds the plan lock, runs the operation's phases with the
same live view as `apply`, and prints one row per member: DB size before → after and how long
the member was blocked. Exit codes: 0 done, 1 failed or stopped by the guard (run it again), 2
refused (the reason and the fix) or bad input.
"""

from __future__ import annotations

import argparse
import sys

from hawizard.cli.output import (
    add_run_flags,
    console,
    err_console,
    esc,
    fail,
    load_plan,
    print_failures,
    print_json,
    refused,
)


def register(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "defrag",
        help="compact, then defragment one member at a time (the leader last) and clear a "
        "NOSPACE alarm; no failed request",
        description="Compacts the history (keeping etcd.defrag_keep_revisions), defragments "
        "the followers one at a time, hands leadership away and defragments the old leader "
        "last; stops between members when one does not answer or a test write is slower than "
        "etcd.defrag_max_write_ms. A NOSPACE alarm is disarmed once the cluster fits its quota.",
    )
    p.add_argument("plan", help="plan file")
    add_run_flags(p, dry_run_help="judge the cluster and show the order, change nothing")
    p.set_defaults(func=cmd_defrag)


def cmd_defrag(args: argparse.Namespace) -> int:
    from hawizard.cli.apply_cmd import run_phases
    from hawizard.ops.defrag import Defrag
    from hawizard.ops.refusal import Refused
    from hawizard.planlock import PlanLock, PlanLocked

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    command = f"hawizard etcd defrag {args.plan}"
    op = Defrag(plan)
    try:
        with PlanLock(plan.source, command):
            try:
                op.assess()
            except Refused as exc:
                return _refused(exc, args)
            except OSError as exc:
                return fail(
                    f"cannot read the operator's client certificate: {exc}",
                    f"run `hawizard apply {args.plan}` first (it creates the certificates)",
                )
            if not args.json:
                _print_plan(op)
            if not args.dry_run and not args.yes and not _confirm(op.title):
                return fail("not confirmed", "pass --yes to defragment without asking")
            op.begin(args.dry_run)
            result = run_phases(plan, op.phases(), args)
            op.finish(result.ok)
    except PlanLocked as exc:
        return fail(str(exc), "run it again when that change has finished")
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run `{esc(command)}` again (members done stay done)")
        return 130
    if op.refusal is not None:
        return _refused(op.refusal, args, op)
    if args.json:
        print_json({**op.to_json(), "failures": [f.error for f in result.failures]})
    else:
        if not args.dry_run:
            console.print(_table(op))
        if not result.ok:
            print_failures(result, f"Fix the cause, then `{command}` again.")
        elif args.dry_run:
            console.print("dry run: nothing changed", highlight=False)
    return 0 if result.ok else 1


def _refused(exc, args: argparse.Namespace, op=None) -> int:
    if args.json:
        doc = op.to_json() if op is not None else {"ok": False}
        doc.update(refused=True, reason=exc.reason, hint=exc.hint, details=list(exc.details))
        print_json(doc)
        return 2
    return refused(exc)


def _print_plan(op) -> None:
    sizes = ", ".join(f"{esc(n)} {op.members[n].db_before / 1024**2:.1f} MiB" for n in op.order)
    compact = (
        f"compact below revision {op.compact_to} (keeps {op.revision - op.compact_to})"
        if op.compact_to
        else f"revision {op.revision}: nothing to compact"
    )
    alarm = f"; alarms: {esc(', '.join(op.alarms))}" if op.alarms else ""
    err_console.print(
        f"{esc(op.title)}: {compact}; order {' → '.join(esc(n) for n in op.order)}; "
        f"sizes now {sizes}{alarm}",
        highlight=False,
        soft_wrap=True,
    )


def _table(op):
    from rich import box
    from rich.table import Table

    table = Table(
        title="etcd defragmentation", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for col, justify in (
        ("member", "left"),
        ("role", "left"),
        ("DB before", "right"),
        ("DB after", "right"),
        ("in use", "right"),
        ("blocked", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)
    for n in op.order:
        m = op.members[n]
        table.add_row(
            esc(n),
            "leader (last)" if m.led_at_start else "follower",
            _mib(m.db_before),
            _mib(m.db_after),
            _mib(m.in_use_after),
            "-" if m.blocked_s is None else f"{m.blocked_s:.2f} s",
        )
    notes = []
    if op.disarmed:
        notes.append(f"disarmed {', '.join(op.disarmed)}")
    if op.write_proved_ms is not None:
        notes.append(f"a test write succeeded ({op.write_proved_ms:.0f} ms)")
    if notes:
        table.caption = " · ".join(notes)
        table.caption_justify = "left"
    return table


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024**2:.1f} MiB"


def _confirm(title: str) -> bool:
    if not sys.stdin.isatty():
        err_console.print("[red]error[/]: confirm the defragmentation with --yes (no terminal)")
        return False
    answer = console.input(f"{esc(title[0].upper() + title[1:])}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")
