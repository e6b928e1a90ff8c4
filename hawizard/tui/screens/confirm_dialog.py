"""The one yes/no dialog (modelled on Posting's `widgets/confirmation.py`): a title, a text,
the risky button and the safe one, with the safe one focused so Enter never says yes by
accident and Escape always says no. Every yes/no question in the TUI is this screen or a thin
subclass that only fills in its words (host keys, rotations, ...)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

__all__ = ["ConfirmDialog"]


class ConfirmDialog(ModalScreen[bool]):
    """Dismisses with True for the risky button, False for the safe one or Escape.

    `key` names the widgets (`#KEY`, `#KEY-text`, and the buttons `yes_id`/`no_id`, by
    default `#KEY-yes`/`#KEY-no`) so tests and styles can find them. The text is shown
    literally (never read as markup): it may hold node names and paths from the plan."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "no", "Cancel")]

    def __init__(
        self,
        title: str,
        text: str,
        *,
        yes: str = "Yes",
        no: str = "Cancel",
        yes_variant: str = "warning",
        key: str = "confirm",
        yes_id: str = "",
        no_id: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.yes_label, self.no_label, self.yes_variant = yes, no, yes_variant
        self.key = key
        self.yes_id = yes_id or f"{key}-yes"
        self.no_id = no_id or f"{key}-no"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id=self.key):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(Content(self.text), id=f"{self.key}-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes_label, id=self.yes_id, variant=self.yes_variant)
                yield Button(self.no_label, id=self.no_id, variant="primary")

    def on_mount(self) -> None:
        self.query_one(f"#{self.no_id}", Button).focus()  # the safe choice is the default

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == self.yes_id)

    def action_no(self) -> None:
        self.dismiss(False)
