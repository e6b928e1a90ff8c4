"""`hawizard etcd snapshot|add|remove|replace|upgrade|defrag`: day-2 changes, one at a time.

Every change is judged first (quorum and failure tolerance before and after, shown for the
confirmation), refused with the reason and the right command when it is unsafe, takes a
snapshot, and runs on the engine with the same live view as `hawizard apply`. The plan lock
keeps a second change out while one runs; an interrupted change resumes when the same command
is run again. Exit codes: 0 done, 1 failed (resumable), 2 refused or bad input.
"""

from __future__ import annotations

import argparse
import sys

from hawizard.cli.apply_cmd import _print_summary, _result_json, run_phases
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

ACTIONS = ("snapshot", "add", "remove", "replace", "restore", "recover", "backup")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "etcd",
        help="day 2: snapshot, add, remove or replace etcd members without losing quorum",
        description="Membership changes on a running etcd cluster. Each one is checked "
        "against the quorum first, takes a snapshot, and resumes when run again after an "
        "interruption.",
    )
    p.set_defaults(func=lambda args: _usage(p))
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    snap = actions.add_parser("snapshot", help="save a verified snapshot to this machine")
    snap.add_argument("plan", help="plan file")
    snap.add_argument(
        "--out", help="where to write it (default <plan dir>/snapshots/<cluster>-<UTC>.db)"
    )
    _common(snap, change=False)
    snap.set_defaults(func=cmd_snapshot)

    add = actions.add_parser(
        "add", help="add a node of the plan as a new member (learner, then promoted)"
    )
    add.add_argument("plan", help="plan file")
    add.add_argument(
        "node",
        help="a node of the plan that is not a member yet (given the etcd role if it lacks it)",
    )
    _common(add)
    add.set_defaults(func=cmd_change)

    rm = actions.add_parser(
        "remove", help="remove a member; its etcd is stopped, its data dir kept"
    )
    rm.add_argument("plan", help="plan file")
    rm.add_argument("node", help="the member to remove")
    _common(rm)
    rm.set_defaults(func=cmd_change)

    rep = actions.add_parser(
        "replace",
        help="remove OLD, then add NEW (OLD = NEW re-adds a member whose data dir was lost)",
    )
    rep.add_argument("plan", help="plan file")
    rep.add_argument("old", help="the member to remove (e.g. a dead one)")
    rep.add_argument("new", help="the node to add in its place")
    _common(rep)
    rep.set_defaults(func=cmd_change)

    up = actions.add_parser(
        "upgrade",
        help="move the running cluster to the etcd in etcd.binaries, one member at a time, "
        "the leader last",
    )
    up.add_argument("plan", help="plan file")
    up.add_argument(
        "--to",
        metavar="VERSION",
        help="the version to move to; etcd.binaries must hold it (default: etcd.version)",
    )
    add_run_flags(
        up,
        dry_run_help="judge the upgrade and show what would run, change nothing on the nodes",
    )
    up.set_defaults(func=cmd_upgrade)

    from hawizard.cli import backup_cmd, defrag_cmd, recover_cmd, restore_cmd

    restore_cmd.register(actions)
    recover_cmd.register(actions)
    backup_cmd.register(actions)
    defrag_cmd.register(actions)


def _common(p: argparse.ArgumentParser, *, change: bool = True) -> None:
    add_run_flags(
        p,
        changes=change,
        dry_run_help="judge the change and show what would run, change nothing on the nodes",
    )


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


# --- snapshot -----------------------------------------------------------------------------------


def cmd_snapshot(args: argparse.Namespace) -> int:
    """Input mapping and display only: the workflow is `hawizard.ops.snapshot.snapshot`."""
    from pathlib import Path

    from hawizard.cli.run_view import render_refusal
    from hawizard.ops import Refused
    from hawizard.ops.snapshot import SnapshotFailed, snapshot

    plan = load_plan(args.plan)
    if plan is None:
        return 2
    try:
        out = Path(args.out).resolve() if args.out else None
    except (OSError, ValueError, RuntimeError) as exc:
        return fail(f"--out {args.out!r}: {exc}", "give a plain path for the snapshot file")
    try:
        info = snapshot(
            plan,
            out,
            command=f"hawizard etcd snapshot {args.plan}",
            trust_new=args.trust_new_hosts,
            say=_progress(args.json),
        )
    except Refused as exc:
        return render_refusal(exc, as_json=args.json)
    except SnapshotFailed as exc:
        err_console.print(f"[bold red]snapshot failed[/]: {esc(exc)}", highlight=False)
        return 1
    except OSError as exc:
        return _no_client_cert(exc, args.plan)
    if args.json:
        print_json({"ok": True, "snapshot": info.to_json()})
    else:
        console.print(
            f"[green]snapshot[/] {esc(info.path)}\n  from {esc(info.node)} · {info.size} bytes · "
            f"revision {info.revision} · hash {info.hash} · {info.total_keys} keys\n"
            f"  sha256 {info.sha256} (matches {esc(info.node)}'s copy)",
            highlight=False,
        )
    return 0


def _no_client_cert(exc: OSError, plan_path: str) -> int:
    """The probes need the local etcd CA and the operator's client cert (`etcd-admin`)."""
    what = exc.filename or exc.strerror or exc
    return fail(
        f"cannot use the operator's etcd client certificate ({what}: {exc.strerror or exc})",
        f"hawizard certs check {plan_path}",
    )


def _progress(quiet: bool):
    def say(line: str) -> None:
        if not quiet:
            err_console.print(f"[dim]{esc(line)}[/]", highlight=False)

    return say


# --- add / remove / replace ---------------------------------------------------------------------


def cmd_change(args: argparse.Namespace) -> int:
    """Input mapping and display only: the workflow is `hawizard.ops.change.change`."""
    from hawizard.etcd.membership import ChangeFailed, assess
    from hawizard.etcd.quorum_rules import Op
    from hawizard.ops import Refused
    from hawizard.ops.change import ChangeRefused, change

    if not 1 <= args.parallel <= 64:
        return fail(f"--parallel {args.parallel} is out of range", "give a number from 1 to 64")
    op = Op(args.action)
    node, old = (args.new, args.old) if op is Op.REPLACE else (args.node, None)
    plan = load_plan(args.plan)
    if plan is None:
        return 2
    command = "hawizard etcd " + " ".join(
        a for a in (args.action, args.plan, old, node) if a is not None
    )

    def check(p, o, n, ol):
        if not args.json:
            err_console.print("[dim]checking the cluster…[/]")
        return assess(p, o, n, ol)

    try:
        outcome = change(
            plan,
            op,
            node,
            old,
            run=lambda p, phases: run_phases(p, phases, args),
            command=command,
            plan_label=args.plan,
            dry_run=args.dry_run,
            check=check,
            **_change_prompts(args, node),
        )
    except ChangeRefused as exc:
        return _change_refused(exc.impact, args.json)
    except Refused as exc:
        return refused(exc, "certificate")
    except OSError as exc:
        return _no_client_cert(exc, args.plan)
    except ChangeFailed as exc:
        err_console.print(f"[bold red]failed[/]: {esc(exc)}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run `{esc(command)}` again to resume this change")
        return 130
    return _change_outcome(outcome, command, args)


def _change_prompts(args: argparse.Namespace, node: str) -> dict:
    """The change's three questions to the operator (impact shown, confirm, plan edit), as
    the keyword arguments of `ops.change.change`; each refuses with the flag that answers it."""
    from hawizard.ops import Refused

    def on_assessed(assessment) -> None:
        if not args.json:
            print_impact(assessment.impact)

    def confirm(impact) -> None:
        if not args.yes and not _confirm(impact):
            raise Refused("not confirmed", "pass --yes to change the cluster without asking")

    def confirm_plan_edit(diff: str) -> None:
        if not args.json:
            err_console.print(
                f"{node} has no etcd role in {args.plan}; the change gives it one "
                f"(the old plan is kept as {args.plan}.bak):",
                highlight=False,
                markup=False,
            )
            for line in diff.splitlines():
                style = "green" if line.startswith("+") else "red" if line[:1] == "-" else None
                err_console.print(line, style=style, markup=False, highlight=False)
        if args.yes or args.dry_run:
            return
        if not sys.stdin.isatty():
            raise Refused(
                f"{node} has no etcd role in {args.plan}",
                "confirm the plan edit with --yes, or add the role by hand",
            )
        if console.input("Edit the plan? \\[y/N] ").strip().lower() not in ("y", "yes"):
            raise Refused("plan edit not confirmed", f'add "etcd" to {node}\'s roles by hand')

    return {
        "on_assessed": on_assessed,
        "confirm": confirm,
        "confirm_plan_edit": confirm_plan_edit,
    }


def _change_refused(impact, as_json: bool) -> int:
    if as_json:
        print_json({"ok": False, "refused": True, "impact": impact.to_json()})
    else:
        err_console.print(f"[bold red]refused[/]: {esc(impact.reason)}", soft_wrap=True)
        if impact.suggestion:
            err_console.print(f"  [dim]→[/] {esc(impact.suggestion)}", soft_wrap=True)
    return 2


def _change_outcome(outcome, command: str, args: argparse.Namespace) -> int:
    if outcome.completed_before:
        console.print(f"this change had completed already: {esc(outcome.completed_before)}")
        return 0
    result, cp_result, cp_note = outcome.etcd, outcome.apiservers, outcome.apiserver_note
    membership = outcome.change
    if args.json:
        print_json(
            {
                "ok": outcome.ok,
                "dry_run": args.dry_run,
                "impact": membership.assessment.impact.to_json(),
                "snapshot": membership.snapshot.to_json() if membership.snapshot else None,
                "result": _result_json(result),
                "apiservers": {
                    "note": cp_note,
                    "result": _result_json(cp_result) if cp_result else None,
                },
                "warnings": membership.warnings,
                "notes": membership.notes,
            }
        )
    else:
        _summary(result, membership, command, cp_note, cp_result, args)
    if result.interrupted or (cp_result is not None and cp_result.interrupted):
        err_console.print(f"interrupted: run `{esc(command)}` again to resume this change")
        return 130
    return 0 if outcome.ok else 1


def print_impact(impact) -> None:
    from rich.table import Table

    table = Table(title=esc(impact.title), title_justify="left", show_header=True, box=None)
    for col in ("", "now", "after"):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row("voting members", str(impact.before_members), str(impact.after_members))
    table.add_row("quorum", str(impact.before_quorum), str(impact.after_quorum))
    table.add_row("healthy", str(impact.before_healthy), str(impact.after_healthy))
    table.add_row("tolerates failures", str(impact.before_tolerance), str(impact.after_tolerance))
    err_console.print(table)
    if impact.allowed:
        verb = "resuming" if impact.resume else "allowed"
        err_console.print(f"[green]{verb}[/]: {esc(impact.reason)}", soft_wrap=True)
    for note in impact.notes:
        err_console.print(f"[yellow]note[/]: {esc(note)}", soft_wrap=True)


def _confirm(impact) -> bool:
    if not sys.stdin.isatty():
        err_console.print(
            "[red]error[/]: this changes the etcd membership; confirm with --yes (no terminal)"
        )
        return False
    answer = console.input(f"{esc(impact.title[0].upper() + impact.title[1:])}? \\[y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _summary(result, change, command: str, cp_note: str, cp_result, args) -> None:
    if result.ok or result.dry_run:
        _print_summary(result, args)
    else:
        print_failures(
            result,
            f"Fix the cause, then `{command}` resumes this change: finished steps are checked "
            "again, and `member add` is never repeated.",
        )
    if change.snapshot is not None:
        console.print(f"snapshot: {esc(change.snapshot.path)}", highlight=False)
    for w in change.warnings:
        err_console.print(f"[yellow]warning[/]: {esc(w)}", soft_wrap=True)
    if result.ok and not result.dry_run:
        for n in change.notes:
            console.print(f"[dim]note[/]: {esc(n)}", soft_wrap=True)
        if cp_note:
            console.print(f"apiservers: {esc(cp_note)}", soft_wrap=True)
        if cp_result is not None and not cp_result.ok:
            for f in cp_result.failures:
                err_console.print(
                    f"[bold red]failed[/] {esc(f.node)}: {esc(f.step)}: {esc(f.error)}"
                )
            err_console.print(
                "the etcd change is complete; fix the apiserver problem and run "
                f"`hawizard apply {esc(args.plan)} --only control-plane`"
            )


# --- upgrade ------------------------------------------------------------------------------------


def cmd_upgrade(args: argparse.Namespace) -> int:
    from hawizard.cli.run_view import ask_yes_no, render_refusal
    from hawizard.ops.refusal import Refused
    from hawizard.ops.upgrade import upgrade

    if not 1 <= args.parallel <= 64:
        return fail(f"--parallel {args.parallel} is out of range", "give a number from 1 to 64")
    plan = load_plan(args.plan)
    if plan is None:
        return 2

    def show(up) -> None:
        if not args.json:
            err_console.print(
                f"{up.title}: {' → '.join(up.order)} (followers first, the leader "
                f"{up.leader} last); a verified snapshot first",
                highlight=False,
            )

    def confirm(up) -> bool:
        title = up.title[0].upper() + up.title[1:]
        return ask_yes_no(
            f"{esc(title)}?",
            yes=args.yes,
            no_terminal="confirm the upgrade with --yes (no terminal)",
        )

    command = f"hawizard etcd upgrade {args.plan}" + (f" --to {args.to}" if args.to else "")
    try:
        up, result, confirmed = upgrade(
            plan,
            lambda p, phases: run_phases(p, list(phases), args),
            command=command,
            to=args.to,
            dry_run=args.dry_run,
            trust_new=args.trust_new_hosts,
            confirm=confirm,
            on_assessed=show,
        )
    except Refused as exc:
        return render_refusal(exc, as_json=args.json, prefix="refused: ")
    except OSError as exc:
        return _no_client_cert(exc, args.plan)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run `{esc(command)}` again to resume the upgrade")
        return 130
    if not confirmed:
        return fail("not confirmed", "pass --yes to upgrade without asking")
    if result is None:
        if args.json:
            print_json({"ok": True, "changed": False, "version": str(up.target)})
        else:
            console.print(f"every member runs etcd {up.target} already: nothing to do")
        return 0
    if args.json:
        print_json(
            {
                "ok": result.ok,
                "dry_run": args.dry_run,
                "from": str(up.current),
                "to": str(up.target),
                "order": list(up.order),
                "leader": up.leader,
                "cluster_version": up.cluster_version,
                "snapshot": up.snapshot.to_json() if up.snapshot is not None else None,
                "result": _result_json(result),
            }
        )
    elif result.ok or result.dry_run:
        _print_summary(result, args)
        if up.cluster_version:
            console.print(
                f"cluster version {esc(up.cluster_version.get('etcdcluster', '?'))} · every member "
                f"runs etcd {esc(up.target)}",
                highlight=False,
            )
    else:
        print_failures(result, f"Fix the cause, then `{command}` resumes the upgrade.")
    return 0 if result.ok else 1
