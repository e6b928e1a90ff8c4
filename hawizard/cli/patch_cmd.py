"""`hawizard patch PLAN`: the CLI face of `hawizard.ops.patch` (OS updates, one node at a time).

Shows what each node would install (and whether it wants a reboot), asks, then runs node by
node with the live view and ends with the per-node figures of the patch record. Exit codes:
0 patched (or nothing to do), 1 failed (run it again to resume), 2 refused or bad input.
"""

from __future__ import annotations

import argparse

from hawizard.cli.output import console, err_console, esc, fail, print_failures, print_json
from hawizard.cli.plan_command import add_plan_command, load_plan_to_run


def register(actions: argparse._SubParsersAction) -> None:
    p = add_plan_command(
        actions,
        "patch",
        cmd_patch,
        help="OS updates (and reboots) on every node, one node at a time, quorum-safe",
        description="Install OS package updates on every node of the plan, one node at a "
        "time: check the cluster can lose the node, move the VIP away, upgrade, reboot when "
        "the system asks for it, wait until etcd (and the apiserver) are back, then the next "
        "node. Security updates only by default where the distribution marks them. An "
        "interrupted run resumes when run again.",
        changes=False,
        all_updates=False,
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--security-only",
        dest="all_updates",
        action="store_false",
        help="only security updates (the default; apt: the security archive, dnf: --security)",
    )
    which.add_argument(
        "--all", dest="all_updates", action="store_true", help="every available update"
    )
    p.add_argument(
        "--reboot",
        choices=("auto", "never"),
        default="auto",
        help="auto: reboot a node when it says it needs one (default); never: leave it pending",
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the updates per node (indexes as they are) and what would run; change nothing",
    )


def cmd_patch(args: argparse.Namespace) -> int:
    from hawizard.cli.apply_cmd import _ask_password
    from hawizard.cli.run_view import render_refusal
    from hawizard.ops import Refused
    from hawizard.ops.patch import command_for, patch
    from hawizard.remote import SudoPassword

    plan = load_plan_to_run(args)
    if plan is None:
        return 2
    command = command_for(args.plan, args.all_updates, args.reboot)
    if not args.json:
        err_console.print("[dim]checking the cluster and asking every node for its updates…[/]")
    sudo = SudoPassword(ask=_ask_password)  # one for the survey and the run: asked once
    try:
        p, result = patch(
            plan,
            lambda pl, phases: _run(pl, phases, args, sudo),
            security_only=not args.all_updates,
            reboot=args.reboot,
            dry_run=args.dry_run,
            trust_new=args.trust_new_hosts,
            sudo_password=sudo,
            confirm=lambda p: _confirmed(p, args),
            command=command,
        )
    except Refused as exc:
        return render_refusal(exc, as_json=args.json, prefix="refused: ")
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run `{esc(command)}` again to resume")
        return 130
    if args.json:
        print_json(_json(p, result))
        return 0 if result is None or result.ok else 1
    if result is None:
        if not p.order:
            show_surveys(p)
            console.print("[green]nothing to patch[/]: no node has updates or a reboot pending")
            return 0
        return fail("not confirmed", "pass --yes to patch without asking")
    _show_outcome(p, result, command)
    return 0 if result.ok else 1


def _run(plan, phases, args, sudo):
    from hawizard.cli.apply_cmd import LiveView, _ask_password
    from hawizard.ops.runner import make_pool, make_runner

    if not args.json:
        _show_plan_of(phases)
    view = LiveView(plan, quiet=args.json)
    # the survey's sudo password serves the run too: asked once
    pool = make_pool(
        plan,
        dry_run=args.dry_run,
        ask_password=_ask_password,
        trust_new=args.trust_new_hosts,
        sudo_password=sudo,
    )
    # parallel=1 on top of one node per phase: never two nodes at once, whatever the phases
    runner = make_runner(
        plan,
        dry_run=args.dry_run,
        listener=view.on_event,
        ask_password=_ask_password,
        parallel=1,
        pool=pool,
    )
    with view:
        return runner.run(phases)


def _show_plan_of(phases) -> None:
    names = [ph.title.removeprefix("patch ") for ph in phases]
    console.print(f"order: {' → '.join(names)}", markup=False, highlight=False)


def show_surveys(p) -> None:
    for s in p.surveys:
        want = {"yes": ", wants a reboot", "unknown": ", reboot need unknown"}.get(
            s.reboot_required, ""
        )
        vip = ", holds the VIP" if s.holds_vip else ""
        head = f"{s.node} ({s.system.manager.value} {s.system.distro}{want}{vip})"
        if not s.updates:
            console.print(f"{head}: no updates", markup=False, highlight=False)
            continue
        console.print(f"{head}: {len(s.updates)} update(s)", markup=False, highlight=False)
        for u in s.updates:
            console.print(f"  {u}", markup=False, highlight=False)
    for note in p.notes:
        err_console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)


def _confirmed(p, args) -> bool:
    show_surveys(p)
    if p.resume:
        console.print(f"resuming the patch run started {esc(p.record.started)}", highlight=False)
    from hawizard.cli.run_view import ask_yes_no

    return ask_yes_no(
        f"Patch {esc(p.title)}?",
        yes=args.yes,
        no_terminal="patching reboots nodes; confirm with --yes",
    )


def _show_outcome(p, result, command: str) -> None:
    from hawizard.cli.apply_cmd import _print_summary

    if result.dry_run:
        show_surveys(p)
        args = argparse.Namespace(plan=str(p.plan.source))
        _print_summary(result, args)
        return
    print_failures(result)
    if not result.ok:
        err_console.print(f"Fix the cause, then `{esc(command)}` resumes where this run stopped.")
    rec = p.record
    for e in rec.nodes if rec else []:
        reboot = f"reboot {e.reboot_s:.1f} s" if e.rebooted else "no reboot"
        if e.reboot_pending:
            reboot = "reboot pending"
        pkgs = len(e.packages)
        console.print(
            f"  {e.node}: {pkgs} package(s) in {e.upgrade_s or 0:.1f} s, {reboot}, back in "
            f"{e.recover_s or 0:.1f} s, {e.total_s or 0:.1f} s in all",
            markup=False,
            highlight=False,
        )
    if result.ok:
        console.print(f"[green]patched[/] {len(p.order)} node(s), one at a time", highlight=False)


def _json(p, result) -> dict:
    from dataclasses import asdict

    from hawizard.cli.apply_cmd import _result_json

    return {
        "ok": result is None or result.ok,
        "order": p.order,
        "nodes": {
            s.node: {
                "manager": s.system.manager.value,
                "updates": [asdict(u) for u in s.updates],
                "skipped": s.skipped,
                "reboot_required": s.reboot_required,
                "holds_vip": s.holds_vip,
            }
            for s in p.surveys
        },
        "notes": p.notes,
        "record": asdict(p.record) if p.record else None,
        "result": _result_json(result) if result is not None else None,
    }
