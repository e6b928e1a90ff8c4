"""`hawizard etcd recover PLAN [--from NODE]`: the CLI face of `hawizard.ops.recover`.

Shows the survey (each member's commit index, term, revision, cluster), the survivor and what
each path loses (this one against a restore from the newest verified backup), asks once, runs,
and reports the time to the first accepted write and to every member healthy. Exit codes: 0
recovered, 1 failed (run it again to resume), 2 refused or bad input.
"""

from __future__ import annotations

import argparse
import time

from hawizard.cli.output import console, err_console, esc, fail, print_failures, print_json
from hawizard.cli.plan_command import add_plan_command, load_plan_to_run


def register(actions: argparse._SubParsersAction) -> None:
    p = add_plan_command(
        actions,
        "recover",
        cmd_recover,
        help="quorum lost: rebuild the cluster from the member with the newest data",
        description="Survey every member's data dir, restart the best survivor once with "
        "--force-new-cluster and add the others back one at a time. Keeps every write the "
        "survivor committed (a restore loses those after the snapshot). Refused while the "
        "cluster may have quorum. Old data dirs are kept. Resumes when run again.",
        dry_run_help="survey and show what would run; change nothing",
    )
    p.add_argument("--from", dest="source", metavar="NODE", default="", help="the survivor")


def cmd_recover(args: argparse.Namespace) -> int:
    from hawizard.cli.run_view import ask_yes_no, render_refusal
    from hawizard.ops import Refused
    from hawizard.ops.operation import drive
    from hawizard.ops.recover import RecoverOperation

    plan = load_plan_to_run(args)
    if plan is None:
        return 2
    command = f"hawizard etcd recover {args.plan}"
    if not args.json:
        err_console.print("[dim]surveying every member's data dir…[/]")
    op = RecoverOperation(
        command,
        chosen=args.source,
        trust_new=args.trust_new_hosts,
        on_assessed=None if args.json else _show_survey,
    )

    def confirm(o) -> bool:
        return ask_yes_no(
            f"Recover {esc(plan.cluster.name)} from {esc(o.survey.survivor.name)}?",
            yes=args.yes,
            no_terminal="a recovery rebuilds the cluster's membership; confirm with --yes",
        )

    try:
        driven = drive(
            op, plan, lambda p, ph: _run(p, ph, args), dry_run=args.dry_run, confirm=confirm
        )
    except Refused as exc:
        return render_refusal(exc, as_json=args.json, prefix="refused: ")
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run `{esc(command)}` again to resume the recovery")
        return 130
    if driven.result is None:
        return fail("not confirmed", "pass --yes to recover without asking")
    return _show_outcome(op, driven.result, command, args)


def _run(plan, phases, args):
    from hawizard.cli.apply_cmd import run_phases

    return run_phases(plan, phases, args)


def _show_survey(s) -> None:
    for n in s.nodes:
        console.print("  " + n.describe(), markup=False, highlight=False)
    for line in s.losses():
        console.print(line, markup=False, highlight=False)
    if s.resume:
        console.print(f"resuming the recovery started {esc(s.record.started)}", highlight=False)


def apiserver_line(plan, restarted: list[str]) -> str:
    """What was done about the masters' apiservers (restore says the same)."""
    if restarted:
        return "kube-apiserver restarted, one at a time: " + ", ".join(restarted)
    if plan.control_plane_nodes:
        return "no kube-apiserver was running on the masters: none restarted"
    return "no control-plane nodes in the plan: no apiserver to restart"


def _seconds(at: float | None, start: float) -> float | None:
    return None if at is None else round(at - start, 2)


def _show_outcome(op, result, command: str, args) -> int:
    from hawizard.cli.apply_cmd import _print_summary, _result_json

    run = op.run
    first = _seconds(run.first_write_at, op.started)
    healthy = _seconds(run.healthy_at, op.started)
    if args.json:
        print_json(
            {
                "ok": result.ok,
                "dry_run": args.dry_run,
                **op.survey.to_json(),
                "to_first_write_s": first,
                "to_healthy_s": healthy,
                "seconds": round(time.monotonic() - op.started, 2),
                "health_after": getattr(run.health_after, "summary", None),
                "notes": run.notes,
                "apiservers_restarted": run.apiservers,
                "fresh_snapshot": run.fresh.to_json() if run.fresh else None,
                "result": _result_json(result),
            }
        )
        return 0 if result.ok else 1
    if args.dry_run:
        _print_summary(result, args)
        return 0 if result.ok else 1
    print_failures(result)
    if not result.ok:
        err_console.print(f"Fix the cause, then `{esc(command)}` resumes the recovery.")
        return 1
    console.print(
        f"[green]recovered[/] from {esc(op.survey.survivor.name)}: first write accepted "
        f"{first if first is not None else '?'} s, all {len(op.plan.etcd_nodes)} members "
        f"healthy {healthy if healthy is not None else '?'} s after the command started · "
        f"{esc(getattr(run.health_after, 'summary', ''))}",
        highlight=False,
    )
    for note in run.notes:
        console.print("  " + note, markup=False, highlight=False)
    console.print("  " + apiserver_line(op.plan, run.apiservers), markup=False, highlight=False)
    if run.fresh is not None:
        console.print(f"  fresh snapshot: {esc(run.fresh.path)}", highlight=False)
    return 0
