"""What the etcd and control-plane steps share: run the engine's phases and show them live.

The screen builds nothing itself: a subclass names its part of the plan (`ONLY`), and a thread
worker calls `hawizard.ops.apply.apply` as `hawizard apply --only` does (certificates, the
plan lock, the unfinished-change check, the phases), forwarding every runner event as a
message. A refusal (another process holds the plan, a membership change is unfinished, the
local PKI does not match) is shown with its reason and fix instead of a run. A row
per node shows its current step and progress, the log streams step output, and a failure
panel says which node and step failed, its last output, and how to resume. A dry run uses the
same runner with recording hosts and lists, per host, what would have been done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Static

from hawizard.plan import Plan
from hawizard.tui.messages import (
    RunFinished,
    RunnerEvent,
    RunNotStarted,
    RunStarted,
    poster,
)
from hawizard.tui.screens.base import WizardScreen
from hawizard.tui.screens.password_dialog import password_asker
from hawizard.tui.widgets.node_progress import NodeProgress
from hawizard.tui.widgets.run_view import RunView, steps_per_node, ui_runner
from hawizard.tui.widgets.status import SYMBOL, Mark, mark_color

log = logging.getLogger(__name__)


class RolloutScreen(WizardScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        *WizardScreen.BINDINGS,
        Binding("ctrl+r", "run", "Run"),
        Binding("ctrl+d", "dry_run", "Dry run"),
        # not in the footer (its snapshot stays): the log says so at the first hidden line
        Binding("ctrl+o", "raw_output", "Raw output", show=False),
        Binding("escape", "cancel", "Cancel", show=False),
    ]
    WHAT = "rollout"  # for messages: "etcd rollout"
    ONLY = "etcd"  # which phases of `hawizard apply` this step runs (`ops.apply.ONLY`)

    def __init__(self) -> None:
        super().__init__()
        self.running = False
        self.runner: Any = None
        self.result: Any = None

    # --- what subclasses provide ----------------------------------------------------------

    def compose_intro(self) -> ComposeResult:
        yield from ()

    def show_intro(self) -> None:
        """Refresh the intro from the plan."""

    # --- layout ---------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="rollout-intro"):
            yield from self.compose_intro()
        with Horizontal(classes="row action-row"):
            yield Button("Dry run", id="dry-run")
            yield Button("Run", id="run", variant="primary")
            yield Button("Cancel", id="cancel", variant="error", disabled=True)
            yield Static("", id="run-status")
        yield RunView(id="run-view")

    @property
    def run_view(self) -> RunView:
        return self.query_one("#run-view", RunView)

    @property
    def rows(self) -> dict[str, NodeProgress]:
        return self.run_view.rows

    def show_plan(self) -> None:
        self.show_intro()
        if not self.running and self.result is None:
            self.status(Mark.IDLE, "ctrl+d shows what would change; ctrl+r runs it")

    def status(self, mark: Mark, text: str) -> None:
        line = Text(f"{SYMBOL[mark]} {text}", style=mark_color(self.app, mark), end="")
        self.query_one("#run-status", Static).update(line)

    # --- starting -------------------------------------------------------------------------

    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        self.start(dry_run=False)

    @on(Button.Pressed, "#dry-run")
    def action_dry_run(self) -> None:
        self.start(dry_run=True)

    def action_raw_output(self) -> None:
        """The installers' raw output in the log, or hawizard's own lines only (the default)."""
        shown = self.run_view.toggle_verbose()
        self.notify("raw output shown" if shown else "raw output hidden", timeout=2)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self.running and self.runner is not None:
            self.runner.cancel()
            self.status(Mark.WARN, "cancelling: running steps finish, no new step starts")

    def start(self, *, dry_run: bool) -> None:
        if self.running:
            return
        blockers = self.wizard.save_blockers()
        if blockers:
            self.status(Mark.BAD, f"fix the plan first: {blockers[0]}")
            return
        self.running = True
        self.result = None
        self.set_buttons()
        self.run_view.reset()
        what = "dry run" if dry_run else self.WHAT
        self.status(Mark.RUN, f"{what}: making certificates and building the steps…")
        self.run_phases(self.plan, dry_run, poster(self), password_asker(self.app))

    def set_buttons(self) -> None:
        self.query_one("#run", Button).disabled = self.running
        self.query_one("#dry-run", Button).disabled = self.running
        self.query_one("#cancel", Button).disabled = not self.running

    @work(thread=True, exclusive=True, group="rollout", exit_on_error=False)
    def run_phases(
        self,
        plan: Plan,
        dry_run: bool,
        post: Callable[[Message], None],
        ask_password: Callable[[str], str],
    ) -> None:
        from hawizard.ops import Refused
        from hawizard.ops.apply import apply

        label = str(self.wizard.plan_path or plan.source or "plan.toml")

        def run(p: Plan, phases: list[Any]) -> Any:
            self.post_message(
                RunStarted(steps_per_node(phases), [x.title for x in phases], dry_run)
            )
            runner = ui_runner(p, post, ask_password, dry_run=dry_run)
            self.runner = runner
            return runner.run(phases)

        try:
            result = apply(
                plan,
                run=run,
                command=f"hawizard wizard: {self.WHAT} ({label})",
                plan_label=label,
                only=self.ONLY,
                dry_run=dry_run,
            )
        except Refused as exc:
            details = [*exc.details, *([f"→ {exc.hint}"] if exc.hint else [])]
            self.post_message(RunNotStarted(exc.reason, details))
            return
        except Exception as exc:  # binaries missing, unwritable PKI, a runner bug: say it
            log.exception("rollout stopped")
            self.post_message(RunNotStarted(str(exc) or type(exc).__name__))
            return
        self.post_message(RunFinished(result))

    # --- progress -------------------------------------------------------------------------

    def on_run_started(self, message: RunStarted) -> None:
        self.run_view.begin(message.steps)
        what = "dry run" if message.dry_run else self.WHAT
        self.status(Mark.RUN, f"{what}: {len(message.phases)} phases on {len(self.rows)} hosts")

    def on_runner_event(self, message: RunnerEvent) -> None:
        self.run_view.show_event(message.event)

    def on_run_finished(self, message: RunFinished) -> None:
        self.running = False
        self.runner = None
        self.result = result = message.result
        self.set_buttons()
        view = self.run_view
        view.finish(result)
        changed, unchanged = result.count("changed"), result.count("unchanged")
        if result.dry_run:
            view.show_recorded(result)
        if result.failures or result.phases_not_started:
            plan_file = self.wizard.plan_path or "plan.toml"
            view.show_failures(
                result,
                "To resume: fix the cause, then run again (ctrl+r) — finished steps are checked "
                f"and skipped — or from a shell: hawizard apply {plan_file}",
            )
            self.status(Mark.BAD, f"{self.WHAT} stopped: {len(result.failures)} failed")
        elif result.dry_run:
            self.status(Mark.OK, f"dry run: {changed} steps would change, {unchanged} ok")
        else:
            self.status(Mark.OK, f"{self.WHAT} done: {changed} changed, {unchanged} unchanged")

    def on_run_not_started(self, message: RunNotStarted) -> None:
        self.running = False
        self.runner = None
        self.set_buttons()
        self.status(Mark.BAD, message.error)
        if message.details:
            self.run_view.show_panel(
                [d if d.startswith("→") else f"✖ {d}" for d in message.details]
            )
