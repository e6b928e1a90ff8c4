"""`hawizard apply plan.toml`: converge the nodes to the plan, headless.

Certificates are made (or kept) locally first, then the engine runs the etcd phases and the
control-plane phases. The live view is a rich table on a terminal and plain event lines
elsewhere (CI logs), so both stay readable.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import deque

from hawizard.cli.output import (
    add_run_flags,
    console,
    err_console,
    esc,
    fail,
    print_json,
    print_problems,
    read_plan,
    refused,
)
from hawizard.ops import Refused
from hawizard.ops.apply import ONLY


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "apply",
        help="converge the nodes to the plan (etcd, then the control plane)",
        description="Converge every node to the plan. Re-running on a converged cluster "
        "changes nothing; a failed run resumes from the failed step.",
    )
    p.add_argument("plan", help="plan file")
    add_run_flags(p, dry_run_help="show what would change, per host")
    p.add_argument("--only", choices=ONLY, help="run only the etcd or the control-plane phases")
    p.set_defaults(func=cmd_apply)


def cmd_apply(args: argparse.Namespace) -> int:
    """Input mapping and display only: the workflow is `hawizard.ops.apply.apply`."""
    from hawizard.ops.apply import apply

    if not 1 <= args.parallel <= 64:
        return fail(f"--parallel {args.parallel} is out of range", "give a number from 1 to 64")
    plan, warnings = read_plan(args.plan)
    if plan is None:
        return 2

    def confirm() -> None:
        if not args.yes and not _confirm(plan, args):
            raise Refused("not confirmed", "pass --yes to apply without asking")

    from hawizard.ops.runner import make_pool

    pool = make_pool(
        plan, dry_run=args.dry_run, ask_password=_ask_password, trust_new=args.trust_new_hosts
    )
    # SSH handshakes (the slowest part of getting started) overlap all the local work below:
    # imports, the certificate check, reading and hashing binaries. Connecting changes nothing.
    pool.prewarm([n.name for n in (plan.etcd_nodes if args.only == "etcd" else plan.nodes)])
    print_problems(warnings)  # after: printing imports rich
    try:
        result = apply(
            plan,
            run=lambda p, phases: run_phases(p, phases, args, pool if p is plan else None),
            command=f"hawizard apply {args.plan}",
            plan_label=args.plan,
            only=args.only,
            dry_run=args.dry_run,
            confirm=confirm,
            # progress, not the result: stderr, so `--json` output stays one JSON document
            on_certificate=lambda action, name: err_console.print(
                f"[green]{action}[/] {esc(name)}"
            ),
        )
    except Refused as exc:
        return refused(exc, "certificate")
    finally:
        pool.close()  # the runner closes it too; this covers the early returns
    return report_run(result, args, plan)


def _confirm(plan, args) -> bool:
    if not sys.stdin.isatty():
        err_console.print("[red]error[/]: apply changes nodes; confirm with --yes (no terminal)")
        return False
    names = ", ".join(n.name for n in plan.nodes)
    answer = console.input(f"Apply [bold]{esc(args.plan)}[/] to {esc(names)}? \\[y/N] ")
    return answer.strip().lower() in ("y", "yes")


def run_phases(plan, phases, args, pool=None):
    """The engine run with the live view: the face's half of `ops.apply` and `ops.change`."""
    from hawizard.ops.runner import make_runner

    view = LiveView(plan, quiet=args.json, verbose=getattr(args, "verbose", False))
    runner = make_runner(
        plan,
        dry_run=args.dry_run,
        listener=view.on_event,
        ask_password=_ask_password,
        parallel=args.parallel,
        trust_new=args.trust_new_hosts,
        pool=pool,
    )
    with view:
        return runner.run(phases)


def report_run(result, args, plan) -> int:
    if args.json:
        print_json(_result_json(result))
    else:
        _print_summary(result, args)
    if result.interrupted:
        where = ", ".join(result.interrupted_at) or "between steps"
        err_console.print(
            f"[bold yellow]interrupted[/] at {esc(where)}; re-run "
            f"`hawizard apply {esc(args.plan)}` to resume (finished steps are in the journal)"
        )
        return 130
    if result.ok and not args.dry_run and plan.backup.every and plan.source is not None:
        install_backup_schedule(plan)
    if result.ok and not args.dry_run and plan.source is not None:
        sync_recorder(plan)
    return 0 if result.ok else 1


def sync_recorder(plan) -> None:
    """`[monitoring] record`: the recorder's service on this machine, installed, kept as it
    is, or removed (`ops.recorder_service.sync`). Like the backup timer, a machine where it
    cannot run gets a warning, not a failed apply."""
    from hawizard.ops import Refused
    from hawizard.ops.recorder_service import sync

    try:
        done = sync(plan)
    except Refused as exc:
        err_console.print(f"[yellow]flight recorder[/]: {esc(exc.reason)}", soft_wrap=True)
        if exc.hint:
            err_console.print(f"  [dim]→[/] {esc(exc.hint)}", soft_wrap=True, highlight=False)
        return
    if done.action in ("installed", "updated", "removed"):
        err_console.print(f"[green]flight recorder[/]: {done.action} {esc(done.unit)}")


def install_backup_schedule(plan) -> None:
    """`[backup] every` in the plan: apply installs the backup timer on this machine too.
    A machine without a running systemd gets the units written and a warning, not a failed
    apply: the cluster itself converged."""
    from hawizard.ops import Refused
    from hawizard.ops.backup import backup_settings, schedule

    try:
        every, keep, folder = backup_settings(plan)
        done = schedule(plan, every, keep, folder)
    except Refused as exc:
        err_console.print(f"[yellow]backup schedule[/]: {esc(exc.reason)}", soft_wrap=True)
        if exc.hint:
            err_console.print(f"  [dim]→[/] {esc(exc.hint)}", soft_wrap=True, highlight=False)
        return
    err_console.print(f"[green]backup schedule[/]: {esc(done.timer)} (every {every}s, keep {keep})")


def _ask_password(who: str) -> str:
    import getpass

    return getpass.getpass(f"sudo password for {who}: ")


class LiveView:
    """Per node: the step it is on and its state; the last lines of output below.

    Output lines a step sums up itself (`Event.detail`: an installer's raw output, whose
    expected "policy-rc.d denied" reads as a failure) appear only with `verbose`; so do output
    lines at all on a plain (non-terminal) console, which otherwise prints step events only.
    """

    def __init__(self, plan, *, quiet: bool = False, verbose: bool = False):
        self.rows: dict[str, list[str]] = {}
        self.log: deque[str] = deque(maxlen=8)
        self.phase = ""
        self.quiet = quiet
        self.verbose = verbose
        self._lock = threading.Lock()
        self._live = None

    def __enter__(self) -> LiveView:
        if console.is_terminal and not self.quiet:
            from rich.live import Live

            self._live = Live(self, console=console.real(), refresh_per_second=8, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def on_event(self, event) -> None:
        from hawizard.steps import LOCAL, EventKind

        node = event.node or LOCAL
        with self._lock:
            if event.kind is EventKind.PHASE:
                self.phase = f"{event.step} ({event.text})"
                line = f"── {self.phase}"
            elif event.kind is EventKind.OUTPUT:
                if event.detail and not self.verbose:
                    return
                line = f"{node}: {event.text}"
                self.log.append(line)
            else:
                self.rows[node] = [event.phase, event.step, event.kind.value]
                line = f"{node}: {event.step}: {event.kind.value}"
                if event.text:
                    line += f" ({event.text})"
        plain = event.kind is not EventKind.OUTPUT or self.verbose
        if self._live is None and not self.quiet and plain:
            console.print(line, markup=False, highlight=False)

    def __rich__(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(title=self.phase or "starting", title_justify="left", expand=False)
        for col in ("node", "phase", "step", "state"):
            table.add_column(col)
        style = {"changed": "yellow", "unchanged": "green", "failed": "bold red"}
        with self._lock:
            for node, (phase, step, state) in sorted(self.rows.items()):
                table.add_row(node, phase, step, Text(state, style=style.get(state, "cyan")))
            log = Text("\n".join(self.log), style="dim")
        return Group(table, log)


def _print_summary(result, args) -> None:
    from rich.table import Table

    table = Table(title="dry run: nothing was changed" if result.dry_run else "summary")
    for col in ("node", "changed", "unchanged", "failed", "not run"):
        table.add_column(col, justify="left" if col == "node" else "right")
    for node, s in sorted(result.nodes.items()):
        table.add_row(node, str(s.changed), str(s.unchanged), str(s.failed), str(s.not_run))
    console.print(table)
    if result.dry_run:
        for host, items in sorted(result.recorded.items()):
            console.print(f"[bold]{esc(host)}[/] would:")
            for item in items:
                console.print(f"  [yellow]~[/] {esc(item.step)}: {esc(item)}", highlight=False)
        if not result.recorded and not result.failures and not result.phases_not_started:
            console.print("[green]nothing to change[/]")
    for f in result.failures:
        err_console.print(
            f"[bold red]failed[/] {esc(f.node)}: {esc(f.step)}: {esc(f.error)}", highlight=False
        )
        for line in f.output[-10:]:
            err_console.print(f"    {line}", markup=False, highlight=False)
    if result.failures:
        err_console.print(
            f"Fix the cause, then `hawizard apply {esc(args.plan)}` resumes: finished steps are "
            "checked again and skipped when nothing changed."
        )
    elif not result.dry_run:
        changed = result.count("changed")
        console.print(
            f"[green]converged[/]: {changed} step(s) changed"
            if changed
            else "[green]converged[/]: nothing to change"
        )


def _result_json(result) -> dict:
    return {
        "ok": result.ok,
        "dry_run": result.dry_run,
        "nodes": {
            n: {
                "changed": s.changed,
                "unchanged": s.unchanged,
                "failed": s.failed,
                "not_run": s.not_run,
            }
            for n, s in result.nodes.items()
        },
        "failures": [
            {"node": f.node, "step": f.step, "error": f.error, "output": list(f.output)}
            for f in result.failures
        ],
        "recorded": {h: [str(r) for r in items] for h, items in result.recorded.items()},
        "phases_not_started": result.phases_not_started,
        "interrupted": result.interrupted,
        "interrupted_at": result.interrupted_at,
    }
