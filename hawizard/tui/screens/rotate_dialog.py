"""Confirm a certificate rotation offered from the dashboard's certificate table.

What it says is what `hawizard certs rotate` will do; the cluster is judged again under the
plan lock when the rotation starts (refusals then show in the run panel), so the dialog itself
never blocks on the network.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


def rotation_text(ca: str | None, all_leaves: bool, command: str) -> str:
    if ca:
        return (
            f"A new {ca} CA replaces the current one in three rolling phases, each member "
            "restarted one at a time and the cluster healthy again before the next:\n"
            "  1. every member and client trusts the old and the new CA;\n"
            "  2. every certificate is re-issued from the new CA and rolled out;\n"
            "  3. everyone trusts the new CA alone.\n"
            "The old CA key is kept on this machine, renamed. Refused while a member is down.\n\n"
            f"Same as: {command}"
        )
    which = "every etcd certificate" if all_leaves else "the etcd certificates that are due"
    return (
        f"Re-issue {which} (same names, new keys), then restart one member at a time: each "
        "must be healthy again and serve its new certificate before the next. A member that "
        f"is down is skipped, with a note.\n\nSame as: {command}"
    )


class RotateDialog(ModalScreen[bool]):
    """Dismisses with True to start the rotation."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, text: str, go: str = "Rotate") -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.go_label = go  # the defragmentation asks with this dialog too

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="rotate"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(Content(self.text), id="rotate-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.go_label, id="rotate-go", variant="warning")
                yield Button("Cancel", id="rotate-cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#rotate-cancel", Button).focus()  # the safe choice is the default

    @on(Button.Pressed, "#rotate-go")
    def go(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#rotate-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
