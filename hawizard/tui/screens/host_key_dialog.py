"""Ask whether to trust an SSH host key the plan's known_hosts does not hold yet."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from hawizard.tui.messages import HostKeyQuestion


class HostKeyDialog(ModalScreen[bool]):
    """Shows the fingerprint to compare out of band; dismisses with True to trust it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "reject", "Reject")]

    def __init__(self, question: HostKeyQuestion) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        q = self.question
        with Vertical(classes="dialog", id="hostkey"):
            yield Label(f"▲ Unknown SSH host key: {q.node}", classes="dialog-title")
            yield Static(
                Content(
                    f"{q.address} port {q.port} presents a host key that is not in "
                    f"{q.known_hosts}.\n\n"
                    f"  {q.key_type}\n  {q.fingerprint}\n\n"
                    "Compare it with the machine's own, from its console:\n"
                    "  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\n"
                    "Trust it only if they match: it is then added to known_hosts."
                ),
                id="hostkey-text",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Trust", id="trust", variant="warning")
                yield Button("Reject", id="reject", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#reject", Button).focus()  # the safe choice is the default

    @on(Button.Pressed, "#trust")
    def trust(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#reject")
    def action_reject(self) -> None:
        self.dismiss(False)
