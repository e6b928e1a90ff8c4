"""`hawizard etcd defrag PLAN [--yes] [--dry-run] [--if-needed] [--json]` and `hawizard etcd
maintenance schedule|unschedule PLAN`: the CLI faces of `hawizard.ops.defrag` and `.maintenance`.

It maps flags, asks for confirmation, holds the plan lock, runs the operation's phases with the
same live view as `apply`, and prints one row per member: DB size before → after and how long
the member was blocked. Exit codes: 0 done, 1 failed or stopped by the guard (run it again), 2
refused (the reason and the fix) or bad input; with `--if-needed` below the plan's
`[maintenance]` thresholds, 0 and nothing touched. Every run but a dry run leaves its result
beside the plan (`hawizard.ops.maintenance.write_last`): `status` shows it.
"""

from __future__ import annotations

import argparse
import sys

from hawizard.cli.output import (
    console,
    err_console,
    esc,
    fail,
    load_plan,
    print_failures,
    print_json,
    refused,
)
from hawizard.cli.plan_command import add_plan_command


def register(actions: argparse._SubParsersAction) -> None:
    p = add_plan_command(
        actions,
        "defrag",
        cmd_defrag,
        help="compact, then defragment one member at a time (the leader last) and clear a "
        "NOSPACE alarm; no failed request",
        description="Compacts the history (keeping etcd.defrag_keep_revisions), defragments "
        "the followers one at a time, hands leadership away and defragments the old leader "
        "last; stops between members when one does not answer or a test write is slower than "
        "etcd.defrag_max_write_ms. A NOSPACE alarm is disarmed once the cluster fits its quota.",
        dry_run_help="judge the cluster and show the order, change nothing",
    )
    p.add_argument(
        "--if-needed",
        action="store_true",
        help="only when a member's DB is above [maintenance] defrag_above_mb with under "
        "defrag_in_use_below of it in use (what the maintenance timer runs); else nothing",
    )
    m = actions.add_parser(
        "maintenance",
        help="install or remove the systemd timer that runs `etcd defrag --if-needed` on the "
        "plan's [maintenance] every",
    )
    m.add_argument("action", choices=["schedule", "unschedule"], help="what to do")
    m.add_argument("plan", help="plan file")
    m.add_argument(
        "--user", action="store_true", default=None, help="user units (default when not root)"
    )
    m.add_argument("--json", action="store_true", help="print the result as JSON")
    m.set_defaults(func=cmd_maintenance)


def cmd_defrag(args: argparse.Namespace) -> int:
    """Input mapping and display only: the workflow is `hawizard.ops.defrag_op.defrag`, on
    the operation driver (plan lock, other operations in flight, one confirmation)."""
    from hawizard.cli.apply_cmd import run_phases
    from hawizard.ops.defrag_op import defrag
    from hawizard.ops.refusal import Refused

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    command = f"hawizard etcd defrag {args.plan}"
    try:
        op, driven = defrag(
            plan,
            lambda p, phases: run_phases(p, phases, args),
            command=command,
            dry_run=args.dry_run,
            if_needed=args.if_needed,
            confirm=None if args.yes else lambda o: _confirm(o.title),
            on_assessed=lambda o: _assessed(o, args),
            on_record_error=_record_error,
        )
    except Refused as exc:
        return _refused(exc, args)
    except OSError as exc:
        return fail(
            f"cannot read the operator's client certificate: {exc}",
            f"run `hawizard apply {args.plan}` first (it creates the certificates)",
        )
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run `{esc(command)}` again (members done stay done)")
        return 130
    if op.skipped:
        if args.json:
            print_json({**op.defrag.to_json(), "skipped": True, "reason": op.skipped})
        else:
            console.print(f"nothing to do: {esc(op.skipped)}", highlight=False, soft_wrap=True)
        return 0
    if not driven.confirmed:
        return fail("not confirmed", "pass --yes to defragment without asking")
    return _report(op.defrag, driven.result, args, command)


def _assessed(op, args: argparse.Namespace) -> None:
    """What the operator sees before the question: why (`--if-needed`), the order, sizes."""
    if args.json:
        return
    if op.reasons:
        err_console.print(
            "defragmentation needed: "
            + "; ".join(f"{esc(n)} {esc(r)}" for n, r in op.reasons.items()),
            highlight=False,
            soft_wrap=True,
        )
    _print_plan(op.defrag)


def _record_error(exc: OSError) -> None:
    """A record that cannot be written is said, loudly (journald keeps the line for a timer
    run), and does not change the exit code."""
    err_console.print(
        f"[bold red]error[/]: the maintenance record was not written: {esc(str(exc))}",
        highlight=False,
        soft_wrap=True,
    )


def _report(op, result, args: argparse.Namespace, command: str) -> int:
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


def cmd_maintenance(args: argparse.Namespace) -> int:
    from hawizard.ops import maintenance
    from hawizard.ops.refusal import Refused

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    if args.action == "unschedule":
        removed = maintenance.unschedule(plan, user=args.user)
        if args.json:
            print_json({"ok": True, "removed": [str(p) for p in removed]})
        else:
            console.print(
                "removed " + ", ".join(esc(str(p)) for p in removed)
                if removed
                else "no maintenance units were installed",
                highlight=False,
            )
        return 0
    try:
        done = maintenance.schedule(plan, user=args.user)
    except Refused as exc:
        if args.json:
            print_json({"ok": False, "reason": exc.reason, "hint": exc.hint})
            return 1
        refused(exc)
        return 1
    if args.json:
        print_json({"ok": True, "service": str(done.service), "timer": str(done.timer)})
    else:
        console.print(
            f"[green]scheduled[/] {esc(plan.maintenance.every)}: `hawizard etcd defrag "
            f"{esc(args.plan)} --yes --if-needed`\n  {esc(str(done.timer))}\n"
            f"  {esc(str(done.service))}",
            highlight=False,
        )
    return 0


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
