"""One engine run, shown live: a row per node, the phase line, the log and the failure panel.

The etcd and control-plane steps and the dashboard's membership changes all show their runs
with this view, so a step looks the same wherever it runs. The view only displays: the screen
that owns the run feeds it the runner's events (`RunStarted`, `RunnerEvent`, `RunFinished`)
and decides what the failure panel says about resuming. `ui_runner` builds the runner whose
events reach the screen from the runner's own threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import RichLog, Static

from hawizard.tui.messages import RunnerEvent
from hawizard.tui.widgets.node_progress import NodeProgress
from hawizard.tui.widgets.status import Mark, mark_color

if TYPE_CHECKING:
    from hawizard.plan import Plan

_DETAILS = 5000  # raw output lines kept for the "raw output" toggle
# `hawizard.steps.LOCAL`, the node name of local steps; not imported from there so that the
# dashboard, which composes a (hidden) RunView, does not load the engine and paramiko for its
# first frame (issue 30); tests/tui pin that the two stay equal.
LOCAL = "(local)"


def steps_per_node(phases: Iterable[Any]) -> dict[str, int]:
    """How many steps each node (or "(local)") will run: the rows' progress totals."""
    steps: dict[str, int] = {}
    for phase in phases:
        for step in phase.steps:
            name = step.node or LOCAL
            steps[name] = steps.get(name, 0) + 1
    return steps


def ui_runner(
    plan: Plan,
    post: Callable[[Message], None],
    ask_password: Callable[[str], str],
    *,
    dry_run: bool = False,
) -> Any:
    """`hawizard.ops.runner.make_runner` with events posted as `RunnerEvent`s (`post` comes
    from `messages.poster`: the runner's threads are not Textual's), asking for sudo passwords
    with a dialog. Journalled like `hawizard apply`, so a failed run resumes where it stopped."""
    from hawizard.ops.runner import make_runner

    return make_runner(
        plan,
        dry_run=dry_run,
        listener=lambda event: post(RunnerEvent(event)),
        ask_password=ask_password,
    )


class RunView(Vertical):
    """Node rows, phase line, log and failure panel of the run in progress (or the last one)."""

    DEFAULT_CSS = """
    RunView {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="run-view")
        self.rows: dict[str, NodeProgress] = {}
        #: Show the tools' raw output (`Event.detail`: an installer's lines, whose expected
        #: "policy-rc.d denied" reads as a failure) in the log; kept either way for the toggle.
        self.verbose = False
        self.details: deque[str] = deque(maxlen=_DETAILS)

    def compose(self) -> ComposeResult:
        yield Vertical(id="node-rows")
        yield Static("", id="phase-line")
        yield RichLog(id="run-log", wrap=True, markup=False, highlight=False, max_lines=5000)
        yield Static("", id="failure-panel")

    @property
    def log_view(self) -> RichLog:
        return self.query_one("#run-log", RichLog)

    def write(self, text: Text) -> None:
        self.log_view.write(text, expand=True)  # wrap at the pane's width, not min_width

    def reset(self) -> None:
        """A new run: empty log, no rows, no failure panel."""
        self.log_view.clear()
        self.details.clear()
        self.query_one("#node-rows", Vertical).remove_children()
        self.rows = {}
        self.query_one("#phase-line", Static).update("")
        self.show_panel([])

    def begin(self, steps: dict[str, int]) -> None:
        """A row per node with its step count (replacing the rows of an earlier run)."""
        box = self.query_one("#node-rows", Vertical)
        box.remove_children()
        self.rows = {name: NodeProgress(name, total) for name, total in steps.items()}
        box.mount_all(self.rows.values())

    def show_event(self, event: Any) -> None:
        """One `hawizard.steps.Event`: move the node's row, stream the output to the log."""
        kind = event.kind.value
        node = event.node or LOCAL
        row = self.rows.get(node)
        if kind == "phase":
            self.query_one("#phase-line", Static).update(
                Content(f"phase {event.text}: {event.step}")
            )
            self.write(Text(f"── {event.step} ({event.text})", style="bold"))
            return
        if kind == "output":
            line = f"{node}: {event.text}"
            if getattr(event, "detail", False):
                self.details.append(line)
                if not self.verbose:
                    if len(self.details) == 1:
                        self.write(Text("  (installer output hidden: ctrl+o shows it)", "dim"))
                    return
            self.write(Text(line, style="dim"))
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
            self.write(
                Text(f"{node}: {event.step} ✖ {event.text}", style=mark_color(self.app, Mark.BAD))
            )
            return
        row.state(Mark.OK, "changed" if kind == "changed" else "ok")
        note = f" ({event.text})" if event.text else ""
        self.write(Text(f"{node}: {event.step} ✔ {kind}{note}"))

    def toggle_verbose(self) -> bool:
        """Show or hide the raw output; turning it on first writes what was kept so far."""
        self.verbose = not self.verbose
        if self.verbose:
            self.write(Text(f"── raw output ({len(self.details)} lines so far)", style="bold"))
            for line in self.details:
                self.write(Text(line, style="dim"))
        else:
            self.write(Text("── raw output hidden (hawizard's own lines only)", style="bold"))
        return self.verbose

    def finish(self, result: Any) -> None:
        """The run ended: each row says what it did (or how many steps did not run)."""
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

    def show_recorded(self, result: Any) -> None:
        """The dry-run view: per host, every command and upload the run would have made."""
        self.write(Text("── dry run: nothing was changed; this is what would be done", "bold"))
        for host, records in sorted(result.recorded.items()):
            self.write(Text(f"{host} ({len(records)})", style="bold"))
            for r in records:
                self.write(Text(f"  {r.step}: {r}"))
        if not result.recorded:
            self.write(Text("  nothing: every host already matches the plan"))

    def show_failures(self, result: Any, resume: str) -> None:
        """Which node and step failed, its last output, and `resume` (how to go on)."""
        lines: list[str] = []
        for f in result.failures:
            lines.append(f"✖ {f.node} · step “{f.step}”")
            lines.append(f"  {f.error}")
            lines += [f"  │ {line}" for line in f.output[-8:]]
        if result.phases_not_started:
            lines.append(f"not started: {', '.join(result.phases_not_started)}")
        lines.append(resume)
        self.show_panel(lines)

    def show_panel(self, lines: list[str]) -> None:
        """The failure panel with these lines; hidden when there are none."""
        panel = self.query_one("#failure-panel", Static)
        panel.update(Content("\n".join(lines)))
        panel.display = bool(lines)
