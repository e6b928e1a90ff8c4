"""What the etcd and control-plane steps share: run the engine's phases and show them live.

The screen builds nothing itself: a subclass names the engine function that turns the plan
into phases; a thread worker creates the local certificates (as `hawizard apply` does), runs
the phases with `hawizard.steps.Runner`, and forwards every runner event as a message. A row
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
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, RichLog, Static

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
from hawizard.tui.widgets.status import SYMBOL, Mark, mark_color

log = logging.getLogger(__name__)

LOCAL = "(local)"  # hawizard.steps.LOCAL, repeated to keep the engine import lazy


def ensure_certificates(plan: Plan) -> list[str]:
    """Make the local PKI match the plan before anything is copied; what must stop the run."""
    from hawizard import pki

    return [
        f"{o.name}: {'; '.join(o.problems) or o.status.value}"
        for o in pki.create(plan)
        if o.is_failure
    ]


class RolloutScreen(WizardScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        *WizardScreen.BINDINGS,
        Binding("ctrl+r", "run", "Run"),
        Binding("ctrl+d", "dry_run", "Dry run"),
        Binding("escape", "cancel", "Cancel", show=False),
    ]
    WHAT = "rollout"  # for messages: "etcd rollout"

    def __init__(self) -> None:
        super().__init__()
        self.running = False
        self.runner: Any = None
        self.result: Any = None
        self.rows: dict[str, NodeProgress] = {}

    # --- what subclasses provide ----------------------------------------------------------

    def phases_for(self, plan: Plan) -> list[Any]:
        raise NotImplementedError

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
        yield Vertical(id="node-rows")
        yield Static("", id="phase-line")
        yield RichLog(id="run-log", wrap=True, markup=False, highlight=False, max_lines=5000)
        yield Static("", id="failure-panel")

    def show_plan(self) -> None:
        self.show_intro()
        if not self.running and self.result is None:
            self.status(Mark.IDLE, "ctrl+d shows what would change; ctrl+r runs it")

    @staticmethod
    def log_line(logview: RichLog, text: Text) -> None:
        logview.write(text, expand=True)  # wrap at the pane's width, not RichLog.min_width

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
        self.query_one("#run-log", RichLog).clear()
        panel = self.query_one("#failure-panel", Static)
        panel.update("")
        panel.display = False
        what = "dry run" if dry_run else self.WHAT
        self.status(Mark.RUN, f"{what}: making certificates and building the steps…")
        self.run_phases(self.plan, dry_run, self.phases_for, poster(self), password_asker(self.app))

    def set_buttons(self) -> None:
        self.query_one("#run", Button).disabled = self.running
        self.query_one("#dry-run", Button).disabled = self.running
        self.query_one("#cancel", Button).disabled = not self.running

    @work(thread=True, exclusive=True, group="rollout", exit_on_error=False)
    def run_phases(
        self,
        plan: Plan,
        dry_run: bool,
        build: Callable[[Plan], list[Any]],
        post: Callable[[Message], None],
        ask_password: Callable[[str], str],
    ) -> None:
        from hawizard.journal import Journal
        from hawizard.remote import HostPool, SudoPassword
        from hawizard.steps import LOCAL as ENGINE_LOCAL
        from hawizard.steps import Runner

        try:
            problems = ensure_certificates(plan)
            if problems:
                self.post_message(RunNotStarted("the local PKI does not match the plan", problems))
                return
            phases = build(plan)
        except Exception as exc:  # binaries missing, unwritable PKI…: say it, keep the UI
            self.post_message(RunNotStarted(str(exc) or type(exc).__name__))
            return
        steps: dict[str, int] = {}
        for phase in phases:
            for step in phase.steps:
                name = step.node or ENGINE_LOCAL
                steps[name] = steps.get(name, 0) + 1
        self.post_message(RunStarted(steps, [p.title for p in phases], dry_run))
        journal = Journal.for_plan(plan) if plan.source is not None and not dry_run else None
        runner = Runner(
            HostPool(plan, dry_run=dry_run, sudo_password=SudoPassword(ask=ask_password)),
            journal=journal,
            listener=lambda event: post(RunnerEvent(event)),  # from the runner's threads
        )
        self.runner = runner
        try:
            result = runner.run(phases)
        except Exception as exc:
            log.exception("runner failed")
            self.post_message(RunNotStarted(f"the runner stopped: {exc}"))
            return
        self.post_message(RunFinished(result))

    # --- progress -------------------------------------------------------------------------

    def on_run_started(self, message: RunStarted) -> None:
        box = self.query_one("#node-rows", Vertical)
        box.remove_children()
        self.rows = {name: NodeProgress(name, total) for name, total in message.steps.items()}
        box.mount_all(self.rows.values())
        what = "dry run" if message.dry_run else self.WHAT
        self.status(Mark.RUN, f"{what}: {len(message.phases)} phases on {len(self.rows)} hosts")

    def on_runner_event(self, message: RunnerEvent) -> None:
        event = message.event
        kind = event.kind.value
        node = event.node or LOCAL
        row = self.rows.get(node)
        logview = self.query_one("#run-log", RichLog)
        if kind == "phase":
            self.query_one("#phase-line", Static).update(
                Content(f"phase {event.text}: {event.step}")
            )
            self.log_line(logview, Text(f"── {event.step} ({event.text})", style="bold"))
            return
        if kind == "output":
            self.log_line(logview, Text(f"{node}: {event.text}", style="dim"))
            return
        if row is None:
            return
        if kind == "started":
            row.step(event.step)
            row.state(Mark.RUN, "running")
            return
        row.advance()
        if kind == "failed":
            row.state(Mark.BAD, "failed")
            self.log_line(
                logview,
                Text(f"{node}: {event.step} ✖ {event.text}", style=mark_color(self.app, Mark.BAD)),
            )
            return
        changed = kind == "changed"
        row.state(Mark.OK, "changed" if changed else "ok")
        note = f" ({event.text})" if event.text else ""
        self.log_line(logview, Text(f"{node}: {event.step} ✔ {kind}{note}"))

    def on_run_finished(self, message: RunFinished) -> None:
        self.running = False
        self.runner = None
        self.result = result = message.result
        self.set_buttons()
        for name, row in self.rows.items():
            summary = result.nodes.get(name)
            if row.mark is Mark.BAD or summary is None:
                continue
            if summary.not_run:
                row.state(Mark.WARN, f"{summary.not_run} not run")
            else:
                row.step("done")
                verb = "would change" if result.dry_run else "changed"
                row.state(Mark.OK, f"{summary.changed} {verb}")
        changed, unchanged = result.count("changed"), result.count("unchanged")
        if result.dry_run:
            self.show_recorded(result)
        if result.failures or result.phases_not_started:
            self.show_failures(result)
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
            panel = self.query_one("#failure-panel", Static)
            panel.update(Content("\n".join(f"✖ {d}" for d in message.details)))
            panel.display = True

    def show_recorded(self, result: Any) -> None:
        """The dry-run view: per host, every command and upload the run would have made."""
        logview = self.query_one("#run-log", RichLog)
        self.log_line(
            logview, Text("── dry run: nothing was changed; this is what would be done", "bold")
        )
        for host, records in sorted(result.recorded.items()):
            self.log_line(logview, Text(f"{host} ({len(records)})", style="bold"))
            for r in records:
                self.log_line(logview, Text(f"  {r.step}: {r}"))
        if not result.recorded:
            self.log_line(logview, Text("  nothing: every host already matches the plan"))

    def show_failures(self, result: Any) -> None:
        lines: list[str] = []
        for f in result.failures:
            lines.append(f"✖ {f.node} · step “{f.step}”")
            lines.append(f"  {f.error}")
            lines += [f"  │ {line}" for line in f.output[-8:]]
        if result.phases_not_started:
            lines.append(f"not started: {', '.join(result.phases_not_started)}")
        plan_file = self.wizard.plan_path or "plan.toml"
        lines.append(
            "To resume: fix the cause, then run again (ctrl+r) — finished steps are checked and "
            f"skipped — or from a shell: hawizard apply {plan_file}"
        )
        panel = self.query_one("#failure-panel", Static)
        panel.update(Content("\n".join(lines)))
        panel.display = True
