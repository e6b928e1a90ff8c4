"""One node's line in a rollout: its current step, a progress bar and its state.

The child widgets are made up front, so events that arrive before the row is on screen
(the runner is fast) update them all the same.
"""

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
        self._name = Label(node, classes="np-node")
        self._step = Label("waiting", classes="np-step")
        self._bar = ProgressBar(
            total=max(total, 1), show_eta=False, show_percentage=False, classes="np-bar"
        )
        self._count = Label(f"0/{total}", classes="np-count")
        self._state = Label(f"{SYMBOL[Mark.IDLE]} waiting", classes="np-state -idle")

    def compose(self) -> ComposeResult:
        yield from (self._name, self._step, self._bar, self._count, self._state)

    @property
    def state_text(self) -> str:
        return str(self._state.content)

    def step(self, title: str) -> None:
        self._step.update(Content(title))

    def state(self, mark: Mark, text: str) -> None:
        self.mark = mark
        self._state.update(Content(f"{SYMBOL[mark]} {text}"))
        self._state.set_classes(f"np-state -{mark.value}")

    def advance(self) -> None:
        self.done += 1
        self._bar.advance(1)
        self._count.update(f"{self.done}/{self.total}")
