"""The dashboard's running membership change (or certificate rotation): its status line and
its run, live.

One thread worker (`run_operation`) runs every use case of the panel — a membership change, a
rotation, a restore, a defragmentation — through the same `ops` function as the CLI. For a
change that is `hawizard.ops.change.change`, as `hawizard etcd add|remove|replace` does: the
request and finished-before checks, the plan lock, the change judged again under the lock (the
confirmation may be minutes old), `MembershipChange.begin()`, the phases and the apiservers'
follow-up, with a runner whose events reach the `RunView` rows and log. The panel is a widget of
the dashboard, so the dashboard keeps polling while it runs and the member table shows the new
member joining. When the change ends the panel posts `ChangePanel.Finished` (bubbling) with the
plan to adopt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from hawizard.plan import Plan
from hawizard.tui.messages import (
    ChangeDone,
    ChangeStopped,
    RestoreDone,
    RotationDone,
    RunFinished,
    RunnerEvent,
    RunStarted,
    poster,
)
from hawizard.tui.widgets.defrag_run import DefragRun
from hawizard.tui.widgets.run_view import RunView, steps_per_node, ui_runner
from hawizard.tui.widgets.status import SYMBOL, Mark, mark_color

if TYPE_CHECKING:
    from hawizard.etcd.membership import Assessment
    from hawizard.ops.change import Check

log = logging.getLogger(__name__)


def refusal(exc) -> ChangeStopped:
    """A `Refused` as the panel shows it: the reason, its findings, the fix."""
    hint = [f"→ {exc.hint}"] if exc.hint else []
    return ChangeStopped(f"refused: {exc.reason}", [*exc.details, *hint])


# The first phases of a membership change that change the cluster itself: before them a
# change may be cancelled (a snapshot taken, files put on the new node, nothing else).
CLUSTER_CHANGING_PHASES = frozenset({"etcd member add", "etcd member remove"})


class ChangePanel(DefragRun, Vertical):
    class Finished(Message):
        """The change ended; `plan` is the plan to adopt (None: keep the current one)."""

        def __init__(self, ok: bool, plan: Plan | None) -> None:
            super().__init__()
            self.ok = ok
            self.plan = plan

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.running = False
        self.title = ""
        self.command = ""
        self.outcome: Any = None  # the last ChangeOutcome (for tests and the summary)
        self.change: Any = None  # the last MembershipChange
        self.runner: Any = None
        self.runs = 0
        self.dry_run = False
        # Cancel: only while nothing in the cluster has changed (before `member add/remove`).
        self.cancellable = False
        self.cancel_requested = False
        self.cluster_touched = False

    def compose(self) -> ComposeResult:
        yield Static("", id="change-status")
        yield RunView(id="change-run")

    @property
    def view(self) -> RunView:
        return self.query_one("#change-run", RunView)

    def status(self, mark: Mark, text: str) -> None:
        line = Text(f"{SYMBOL[mark]} {text}", style=mark_color(self.app, mark), end="")
        self.query_one("#change-status", Static).update(line)

    def runs_with(
        self,
        post: Callable[[Message], None],
        ask_password: Callable[[str], str],
        *,
        dry_run: bool = False,
    ) -> Callable[[Plan, list[Any]], Any]:
        """The `run(plan, phases)` every workflow here gets (from its worker thread): a runner
        whose events reach the run view, kept so a cancel can reach it."""

        def run(p: Plan, phases: list[Any]) -> Any:
            self.post_message(RunStarted(steps_per_node(phases), [x.title for x in phases], False))
            runner = ui_runner(p, post, ask_password, dry_run=dry_run)
            self.runner = runner
            if self.cancel_requested:  # cancelled while the change was being checked
                runner.cancel()
            result = runner.run(phases)
            self.post_message(RunFinished(result))
            return result

        return run

    @work(thread=True, exclusive=True, group="membership-change", exit_on_error=False)
    def run_operation(
        self,
        call: Callable[[Callable[[Plan, list[Any]], Any]], Message],
        what: str,
        post: Callable[[Message], None],
        ask_password: Callable[[str], str],
        *,
        dry_run: bool = False,
        resume: str = "",
    ) -> None:
        """The one worker of every use case the panel runs (a membership change, a rotation,
        a restore, a defragmentation): `call(run)` calls the use case's `ops` function — the
        same one as the CLI, on the operation driver — with the panel's runner and returns
        the message that carries its outcome. A `Refused` (the plan lock, another operation
        in flight, the judgement under the lock) and any other failure end in the panel, so
        the dashboard keeps running."""
        from hawizard.ops import Refused

        run = self.runs_with(post, ask_password, dry_run=dry_run)
        try:
            done = call(run)
        except Refused as exc:
            self.post_message(refusal(exc))
            return
        except Exception as exc:  # say it in the panel; the dashboard keeps running
            log.exception("%s stopped", what)
            self.post_message(
                ChangeStopped(
                    f"the {what} stopped: {exc}",
                    [resume or f"To resume: fix the cause, then run it again ({self.command})"],
                )
            )
            return
        self.post_message(done)

    # --- starting -------------------------------------------------------------------------

    def start(
        self,
        plan: Plan,
        confirmed: Assessment,
        check: Check,
        ask_password: Callable[[str], str],
        *,
        dry_run: bool = False,
    ) -> None:
        from hawizard.etcd.membership import command_for

        impact = confirmed.impact
        self.running = True
        self.outcome = self.change = None
        self.runs = 0
        self.dry_run = dry_run
        self.cancellable = not dry_run
        self.cancel_requested = self.cluster_touched = False
        self.title = impact.title + (" (dry run)" if dry_run else "")
        self.command = command_for(impact.op, impact.node, impact.old, str(plan.source))
        if dry_run:
            self.command += " --dry-run"
        self.display = True
        self.view.reset()
        self.status(Mark.RUN, f"{self.title}: taking the plan lock and checking again…")
        self.run_change(plan, confirmed, check, poster(self), ask_password, dry_run)

    def cancel(self) -> bool:
        """Ask the runner to stop before the membership changes; False when it is too late."""
        if not self.cancellable:
            return False
        self.cancel_requested = True
        self.cancellable = False
        if self.runner is not None:
            self.runner.cancel()
        self.status(Mark.WARN, f"{self.title}: cancelling after the step in progress…")
        self.screen.refresh_bindings()
        return True

    def run_change(
        self,
        plan: Plan,
        confirmed: Assessment,
        check: Check,
        post: Callable[[Message], None],
        ask_password: Callable[[str], str],
        dry_run: bool = False,
    ) -> None:
        from hawizard.ops.change import ChangeRefused, change

        impact = confirmed.impact
        assert plan.source is not None  # the dialog's check refuses a plan without a file

        def call(run) -> Message:
            try:
                outcome = change(
                    plan,
                    impact.op,
                    impact.node,
                    impact.old,
                    run=run,
                    command=self.command,
                    plan_label=str(plan.source),
                    dry_run=dry_run,
                    check=check,
                )
            except ChangeRefused as exc:  # the quorum rules, with the numbers the dialog showed
                again = exc.impact
                hint = [f"→ {again.suggestion}"] if again.suggestion else []
                return ChangeStopped(f"refused when checked again: {again.reason}", hint)
            return ChangeDone(outcome, outcome.change)

        resume = f"To resume: fix the cause, then run the same change again ({self.command})"
        self.run_operation(call, "change", post, ask_password, dry_run=dry_run, resume=resume)

    # --- certificate rotation (`hawizard certs rotate`, same panel) -------------------------

    def start_rotation(
        self,
        plan: Plan,
        ca: str | None,
        all_leaves: bool,
        ask_password: Callable[[str], str],
    ) -> None:
        from hawizard.ops.rotate import command_for

        self.running = True
        self.cancellable = self.cancel_requested = False  # no cancel for these
        self.outcome = self.change = None
        self.runs = 0
        self.title = f"rotate the {ca} CA" if ca else "rotate etcd certificates"
        self.command = command_for(str(plan.source), ca, all_leaves)
        self.display = True
        self.view.reset()
        self.status(Mark.RUN, f"{self.title}: taking the plan lock and checking the cluster…")
        self.run_rotation(plan, ca, all_leaves, poster(self), ask_password)

    def run_rotation(
        self,
        plan: Plan,
        ca: str | None,
        all_leaves: bool,
        post: Callable[[Message], None],
        ask_password: Callable[[str], str],
    ) -> None:
        """The same use case as the CLI (`ops.rotate.rotate`), confirmed by the dialog."""
        from hawizard.ops.rotate import rotate

        def call(run) -> Message:
            rotation, result = rotate(plan, run, ca=ca, all_leaves=all_leaves, command=self.command)
            return RotationDone(rotation, result)

        resume = f"To resume: fix the cause, then run the rotation again ({self.command})"
        self.run_operation(call, "rotation", post, ask_password, resume=resume)

    def on_rotation_done(self, message: RotationDone) -> None:
        self.running = False
        self.runner = None
        rotation, result = message.rotation, message.result
        self.outcome = result
        for note in rotation.notes:
            self.view.write(Text(f"note: {note}"))
        if result is None:
            self.status(Mark.OK, f"{self.title}: nothing to rotate · esc closes")
        elif result.ok:
            changed = result.count("changed")
            self.status(Mark.OK, f"{self.title}: done ({changed} steps changed) · esc closes")
        else:
            self.view.show_failures(
                result,
                "To resume: fix the cause, then start the rotation again here, or from a "
                f"shell: {self.command} — members that are done are not restarted again",
            )
            self.status(Mark.BAD, f"{self.title}: stopped ({len(result.failures)} failed)")
        self.post_message(self.Finished(result is None or result.ok, None))

    # --- disaster recovery (`hawizard etcd restore`, same panel) ---------------------------

    def start_restore(self, plan: Plan, snapshot: Path, ask_password: Callable[[str], str]) -> None:
        import shlex

        self.running = True
        self.cancellable = self.cancel_requested = False  # no cancel for these
        self.outcome = self.change = None
        self.runs = 0
        self.title = f"restore from {snapshot.name}"
        self.command = shlex.join(["hawizard", "etcd", "restore", str(plan.source), str(snapshot)])
        self.display = True
        self.view.reset()
        self.status(Mark.RUN, f"{self.title}: taking the plan lock, checking every member…")
        self.run_restore(plan, snapshot, poster(self), ask_password)

    def run_restore(
        self,
        plan: Plan,
        snapshot: Path,
        post: Callable[[Message], None],
        ask_password: Callable[[str], str],
    ) -> None:
        """The same use case as the CLI (`ops.restore`), judged again under the plan lock;
        confirmed by the dialog already: no second question here."""
        from hawizard.ops.restore import restore

        def call(run) -> Message:
            return RestoreDone(restore(plan, snapshot, run, command=self.command))

        resume = f"To resume: fix the cause, then run the restore again ({self.command})"
        self.run_operation(call, "restore", post, ask_password, resume=resume)

    def on_restore_done(self, message: RestoreDone) -> None:
        self.running = False
        self.runner = None
        self.outcome = outcome = message.outcome
        a, run, health = outcome.assessment, outcome.run, outcome.run.health_after
        for w in a.warnings:
            self.view.write(Text(f"▲ {w}", style=mark_color(self.app, Mark.WARN)))
        if outcome.ok:
            before = a.record.cluster_id_before or "unknown"
            self.view.write(
                Text(f"cluster ID {before} → {getattr(health, 'cluster_id', '?')} (new)")
            )
            self.view.write(Text(f"revision {a.snapshot.revision} restored"))
            for name, r in sorted(run.reports.items()):
                kept = r.aside or "no old data dir"
                self.view.write(Text(f"{name}: old data dir {kept}"))
            if run.fresh is not None:
                self.view.write(Text(f"fresh snapshot: {run.fresh.path}"))
            self.status(Mark.OK, f"{self.title}: restored in {outcome.seconds:.1f} s · esc closes")
        else:
            self.view.show_failures(
                outcome.result,
                "To resume: fix the cause, then start the restore again here, or from a "
                f"shell: {self.command} — stop, move and restore never run twice",
            )
            failed = len(outcome.result.failures)
            self.status(Mark.BAD, f"{self.title}: stopped ({failed} failed) · esc closes")
        self.post_message(self.Finished(outcome.ok, None))

    # --- progress -------------------------------------------------------------------------

    def on_run_started(self, message: RunStarted) -> None:
        self.runs += 1  # the first run is the change, a second one updates the apiservers
        self.view.begin(message.steps)
        what = self.title if self.runs == 1 else "apiservers' --etcd-servers"
        self.status(Mark.RUN, f"{what}: {len(message.phases)} phases on {len(message.steps)} hosts")

    def on_runner_event(self, message: RunnerEvent) -> None:
        self.view.show_event(message.event)
        event = message.event
        if self.runs == 1 and event.kind.value == "phase" and event.step in CLUSTER_CHANGING_PHASES:
            self.cluster_touched = True  # events arrive in order: a cancel after this is late
            if self.cancellable:
                self.cancellable = False
                self.status(
                    Mark.RUN,
                    f"{self.title}: {event.step} — the membership is changing now; it "
                    "finishes, or stops resumably (no cancel from here)",
                )
                self.screen.refresh_bindings()

    def on_run_finished(self, message: RunFinished) -> None:
        self.view.finish(message.result)

    def on_change_done(self, message: ChangeDone) -> None:
        self.running = False
        self.runner = None
        self.outcome = outcome = message.outcome
        self.change = change = message.change
        view = self.view
        self.cancellable = False
        if change is not None and self.cancel_requested and not outcome.etcd.ok:
            self._cancelled(change)
            return
        if change is None:  # nothing ran: the same change had completed already
            self.status(Mark.OK, f"{self.title}: done already ({outcome.completed_before})")
            self.post_message(self.Finished(True, None))
            return
        if self.dry_run and outcome.etcd.ok:
            self.view.show_recorded(outcome.etcd)
            would = outcome.etcd.count("changed")
            self.status(
                Mark.OK, f"{self.title}: {would} steps would change; nothing changed · esc closes"
            )
            self.post_message(self.Finished(True, None))
            return
        if change.snapshot is not None:
            view.write(Text(f"snapshot: {change.snapshot.path}"))
        for w in change.warnings:
            view.write(Text(f"▲ {w}", style=mark_color(self.app, Mark.WARN)))
        if outcome.etcd.ok:
            for note in change.notes:
                view.write(Text(f"note: {note}"))
            if outcome.apiserver_note:
                view.write(Text(f"apiservers: {outcome.apiserver_note}"))
        result = outcome.etcd
        if outcome.ok:
            changed = result.count("changed")
            self.status(Mark.OK, f"{self.title}: done ({changed} steps changed) · esc closes")
        elif not result.ok:
            view.show_failures(
                result,
                "To resume: fix the cause, then start the same change again here (it is "
                f"checked and continued), or from a shell: {self.command} — finished steps "
                "are checked again and `member add` is never repeated",
            )
            failed = len(result.failures)
            self.status(Mark.BAD, f"{self.title}: stopped ({failed} failed) · esc closes")
        else:
            view.show_failures(
                outcome.apiservers,
                "The etcd change is complete. Fix the apiserver problem, then run "
                f"hawizard apply {change.plan.source} --only control-plane",
            )
            self.status(Mark.WARN, f"{self.title}: etcd done, apiservers failed · esc closes")
        after = (change.plan_after or change.plan) if result.ok else None
        self.post_message(self.Finished(outcome.ok, after))

    def _cancelled(self, change: Any) -> None:
        """Cancelled before `member add/remove`: nothing to resume, so the change's record is
        cleared; a cancel that came too late leaves the record, and says how to go on."""
        if self.cluster_touched:
            self.status(
                Mark.WARN,
                f"{self.title}: stopped after the membership began to change; run the same "
                f"change again to finish it ({self.command}) · esc closes",
            )
        else:
            from hawizard.etcd.membership import clear_pending

            if change.plan.source is not None:
                clear_pending(change.plan.source)
            self.status(
                Mark.WARN,
                f"{self.title}: cancelled before anything in the cluster changed · esc closes",
            )
        self.post_message(self.Finished(False, None))

    def on_change_stopped(self, message: ChangeStopped) -> None:
        self.running = False
        self.cancellable = False
        self.runner = None
        self.status(Mark.BAD, f"{message.error} · esc closes")
        self.view.show_panel(message.details)
        self.post_message(self.Finished(False, None))
