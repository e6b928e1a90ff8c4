"""One node's line in a rollout: its current step, a progress bar and its state."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Label, ProgressBar

from hawizard.tui.widgets.status import SYMBOL, Mark


class NodeProgress(Horizontal):
    def __init__(self, node: str, total: int) -> None:
        super().__init__(classes="node-progress")
        self.node = node
        self.total = total
        self.done = 0
        self.mark = Mark.IDLE

    def compose(self) -> ComposeResult:
        yield Label(self.node, classes="np-node")
        yield Label("waiting", classes="np-step")
        yield ProgressBar(total=max(self.total, 1), show_eta=False, classes="np-bar")
        yield Label(f"{SYMBOL[Mark.IDLE]} waiting", classes="np-state -idle")

    def step(self, title: str) -> None:
        self.query_one(".np-step", Label).update(Content(title))

    def state(self, mark: Mark, text: str) -> None:
        self.mark = mark
        label = self.query_one(".np-state", Label)
        label.update(Content(f"{SYMBOL[mark]} {text}"))
        label.set_classes(f"np-state -{mark.value}")

    def advance(self) -> None:
        self.done += 1
        self.query_one(ProgressBar).advance(1)
