"""`hawizard etcd defrag` in the dashboard's change panel: a dry run first (the cluster judged,
the order shown: followers first, the member that leads last), then, once confirmed, the real
run, with the same live rows as the other day-2 actions.

A mixin of `ChangePanel` (kept apart so the panel's file stays the membership change). The
panel's one worker runs the same Operation as the CLI (`hawizard.ops.defrag_op.defrag` on the
operation driver: judged under the plan lock, phases through the shared runner) and leaves the
same record beside the plan (`hawizard.ops.maintenance.record_run`), so the dashboard's "last
maintenance" line and `status --json` show a run started here too."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.message import Message

from hawizard.plan import Plan
from hawizard.tui.messages import WorkerMessage, poster
from hawizard.tui.widgets.status import Mark, mark_color

log = logging.getLogger(__name__)

__all__ = ["DefragDone", "DefragPreviewed", "DefragRun", "order_line"]


class DefragDone(WorkerMessage, bubble=False):
    """The defragmentation (or its dry run) ended: `op` is the judged `Defrag`, `result` the
    run's `RunResult`."""

    def __init__(self, op: Any, result: Any, dry_run: bool) -> None:
        super().__init__()
        self.op = op
        self.result = result
        self.dry_run = dry_run


class DefragPreviewed(Message):
    """A dry run judged the cluster and showed the order: the dashboard asks to go on."""

    def __init__(self, plan: Plan, op: Any) -> None:
        super().__init__()
        self.plan = plan
        self.op = op


def order_line(op: Any) -> str:
    """ "order: m1 → m3 → m2 (led at the start, last)"."""
    return f"order: {' → '.join(op.order)} ({op.leader} leads: last)"


class DefragRun:
    """Needs the `ChangePanel` attributes (`running`, `title`, `command`, `view`, `status`,
    `runs_with`, `Finished`)."""

    def start_defrag(
        self, plan: Plan, ask_password: Callable[[str], str], *, dry_run: bool
    ) -> None:
        import shlex

        self.running = True
        self.cancellable = self.cancel_requested = False  # the guard stops it between members
        self.outcome = self.change = None
        self.runs = 0
        self.dry_run = dry_run
        self.title = "defragment etcd" + (" (dry run)" if dry_run else "")
        argv = ["hawizard", "etcd", "defrag", str(plan.source)]
        self.command = shlex.join([*argv, "--dry-run"] if dry_run else argv)
        self.display = True
        self.view.reset()
        self.status(Mark.RUN, f"{self.title}: taking the plan lock, judging every member…")
        self.run_defrag(plan, poster(self), ask_password, dry_run)

    def run_defrag(
        self,
        plan: Plan,
        post: Callable[[Message], None],
        ask_password: Callable[[str], str],
        dry_run: bool,
    ) -> None:
        """The panel's one worker (`run_operation`) on the same Operation as the CLI
        (`ops.defrag_op.defrag`: the plan lock, other operations in flight, the record)."""
        from hawizard.ops.defrag_op import defrag

        def call(run) -> Message:
            op, driven = defrag(
                plan,
                run,
                command=self.command,
                dry_run=dry_run,
                on_record_error=lambda exc: log.error("maintenance record not written: %s", exc),
            )
            return DefragDone(op.defrag, driven.result, dry_run)

        resume = f"Members done stay done: run it again ({self.command})"
        self.run_operation(
            call, "defragmentation", post, ask_password, dry_run=dry_run, resume=resume
        )

    def on_defrag_done(self, message: DefragDone) -> None:
        self.running = False
        self.runner = None
        op, result = message.op, message.result
        self.outcome = result
        view = self.view
        if op.refusal is not None:
            view.show_panel([op.refusal.reason, f"→ {op.refusal.hint}"])
            self.status(Mark.BAD, f"{self.title}: refused · esc closes")
            self.post_message(self.Finished(False, None))
            return
        if message.dry_run:
            view.write(Text("── dry run: nothing was changed; the run would do this", "bold"))
            view.write(Text(order_line(op)))
            for n in op.order:
                m = op.members[n]
                view.write(
                    Text(
                        f"{n}: {m.db_before / 1024**2:.1f} MiB, "
                        f"{m.in_use_before / 1024**2:.1f} MiB in use"
                    )
                )
            compact = (
                f"compact below revision {op.compact_to} (keeps {op.revision - op.compact_to})"
                if op.compact_to
                else f"revision {op.revision}: nothing to compact"
            )
            view.write(Text(compact))
            self.status(Mark.OK, f"{self.title}: {order_line(op)} · confirm to run it")
            self.post_message(DefragPreviewed(op.plan, op))
            return
        for n in op.order:
            m = op.members[n]
            if m.blocked_s is not None and m.db_after is not None:
                view.write(
                    Text(
                        f"{n}: {m.db_before / 1024**2:.1f} → {m.db_after / 1024**2:.1f} MiB, "
                        f"blocked {m.blocked_s:.2f} s"
                    )
                )
        if op.disarmed:
            view.write(
                Text(f"disarmed {', '.join(op.disarmed)}", style=mark_color(self.app, Mark.OK))
            )
        if result.ok:
            self.status(Mark.OK, f"{self.title}: done, {order_line(op)} · esc closes")
        else:
            view.show_failures(
                result,
                f"Members done stay done: fix the cause, then run it again here or {self.command}",
            )
            self.status(Mark.BAD, f"{self.title}: stopped ({len(result.failures)} failed)")
        self.post_message(self.Finished(result.ok, None))
