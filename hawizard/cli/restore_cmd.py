"""`hawizard etcd restore PLAN SNAPSHOT`: the CLI face of `hawizard.ops.restore`.

Maps flags to the use case and shows it: the snapshot's revision, time, size and age (the
data lost), which old data dirs are kept where, the live run, the new cluster ID and how long
it took. Exit codes: 0 restored, 1 failed (run it again to resume), 2 refused or bad input.
"""

from __future__ import annotations

import argparse
import sys

from hawizard.cli.output import console, err_console, esc, fail, print_failures, print_json
from hawizard.cli.plan_command import add_plan_command, load_plan_to_run


def register(actions: argparse._SubParsersAction) -> None:
    p = add_plan_command(
        actions,
        "restore",
        cmd_restore,
        help="disaster recovery: rebuild every member from one snapshot (quorum lost)",
        description="Restore every etcd member of the plan from SNAPSHOT as a new cluster "
        "(new cluster ID). Refused while the cluster has quorum. Old data dirs are moved "
        "aside, never deleted. An interrupted restore resumes when run again.",
        dry_run_help="check everything and show what would run; change nothing",
    )
    p.add_argument("snapshot", help="snapshot file (from `hawizard etcd snapshot` or a backup)")
    p.add_argument(
        "--force-while-healthy",
        action="store_true",
        help="restore although the cluster has quorum (asks twice; loses newer writes)",
    )
    p.add_argument(
        "--confirm-cluster",
        metavar="NAME",
        help="without a terminal: the cluster's name, the second confirmation for "
        "--force-while-healthy",
    )


def cmd_restore(args: argparse.Namespace) -> int:
    from hawizard.cli.run_view import render_refusal
    from hawizard.ops import Refused
    from hawizard.ops.restore import restore

    plan = load_plan_to_run(args)
    if plan is None:
        return 2
    import time

    started = time.monotonic()
    command = f"hawizard etcd restore {args.plan} {args.snapshot}"
    if not args.json:
        err_console.print("[dim]checking the snapshot, the cluster and the members…[/]")
    try:
        outcome = restore(
            plan,
            args.snapshot,
            lambda p, phases: _run(p, phases, args),
            command=command,
            dry_run=args.dry_run,
            force_while_healthy=args.force_while_healthy,
            trust_new=args.trust_new_hosts,
            on_assessed=None if args.json else _show_assessment,
            confirm=lambda a: _confirmed(a, args),
            started=started,
        )
        if outcome is None:
            return fail("not confirmed", "pass --yes to restore without asking")
    except Refused as exc:
        return render_refusal(exc, as_json=args.json, prefix="refused: ")
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run `{esc(command)}` again to resume the restore")
        return 130
    if args.json:
        from hawizard.cli.apply_cmd import _result_json

        print_json({**outcome.to_json(), "result": _result_json(outcome.result)})
    else:
        _show_outcome(outcome, command, args)
    return 0 if outcome.ok else 1


def _run(plan, phases, args):
    from hawizard.cli.apply_cmd import run_phases

    return run_phases(plan, phases, args)


def _show_assessment(a) -> None:
    from hawizard.ops.restore import describe

    for line in describe(a.plan, a.snapshot, a.record.stamp, a.health):
        console.print(line, markup=False, highlight=False)
    if a.resume:
        console.print(f"resuming the restore started {esc(a.record.started)}", highlight=False)
    for w in a.warnings:
        err_console.print(f"[yellow]warning[/]: {esc(w)}", soft_wrap=True, highlight=False)


def _confirmed(a, args) -> bool:
    name = a.plan.cluster.name
    members = len(a.plan.etcd_nodes)
    if a.forced:
        # twice: once "yes", once the cluster's name typed out
        if not sys.stdin.isatty():
            if args.yes and args.confirm_cluster == name:
                return True
            err_console.print(
                "[red]error[/]: the cluster is healthy; restoring it needs --yes and "
                f"--confirm-cluster {esc(name)} (no terminal)"
            )
            return False
        first = console.input(
            f"[bold red]The cluster is healthy.[/] Restore all {members} members of "
            f"{esc(name)} from this snapshot anyway? \\[y/N] "
        )
        if first.strip().lower() not in ("y", "yes"):
            return False
        second = console.input(f"Type the cluster name ({esc(name)}) to confirm: ")
        return second.strip() == name
    from hawizard.cli.run_view import ask_yes_no

    return ask_yes_no(
        f"Restore all {members} members of {esc(name)} from this snapshot?",
        yes=args.yes,
        no_terminal="a restore replaces every member's data; confirm with --yes",
    )


def _show_outcome(outcome, command: str, args) -> None:
    from hawizard.cli.apply_cmd import _print_summary

    if outcome.dry_run:
        _print_summary(outcome.result, args)
        return
    result, run = outcome.result, outcome.run
    print_failures(result)
    if not outcome.ok:
        err_console.print(
            f"Fix the cause, then `{esc(command)}` resumes the restore: stop, move and restore "
            "never run twice, and old data dirs stay where they are."
        )
        return
    a, health = outcome.assessment, run.health_after
    healthy = f"{outcome.to_healthy:.1f} s" if outcome.to_healthy is not None else "?"
    console.print(
        f"[green]restored[/] {len(a.plan.etcd_nodes)} members: all healthy {healthy} after the "
        f"command started (whole run {outcome.seconds:.1f} s) · "
        f"{esc(getattr(health, 'summary', ''))}",
        highlight=False,
    )
    from hawizard.etcd.backup import human_age  # here: `hawizard etcd …` need not load it

    before = a.record.cluster_id_before or "unknown"
    console.print(
        f"  cluster ID {esc(before)} → {esc(getattr(health, 'cluster_id', '?'))} (new)",
        highlight=False,
    )
    console.print(
        f"  revision {a.snapshot.revision} from {a.snapshot.taken_at.isoformat(timespec='seconds')}"
        f" ({human_age(a.snapshot.age_s())} of writes lost)",
        highlight=False,
    )
    for name, r in sorted(run.reports.items()):
        kept = r.aside or ("none (no data dir)" if r.had_data is False else "see the earlier run")
        console.print(f"  {esc(name)}: old data dir {esc(kept)}", highlight=False)
    bumps = {r.bump for r in run.reports.values() if r.bump}
    if bumps == {"yes"}:
        console.print("  revision bumped by 1,000,000,000 and marked compacted", highlight=False)
    elif "no" in bumps:
        console.print(
            "  [yellow]note[/]: this etcd's etcdutl has no --bump-revision (etcd < 3.5.10): "
            "revisions restart at the snapshot's; restart other watchers (controllers "
            "outside the masters) so they re-list",
            soft_wrap=True,
        )
    from hawizard.cli.recover_cmd import apiserver_line

    console.print("  " + apiserver_line(a.plan, run.apiservers), markup=False, highlight=False)
    if run.fresh is not None:
        console.print(f"  fresh snapshot: {esc(run.fresh.path)}", highlight=False)
    for w in a.warnings:
        err_console.print(f"[yellow]warning[/]: {esc(w)}", soft_wrap=True, highlight=False)
