"""The node form: fields with an inline message line under each.

The widget only moves text in and out (`draft`, `load`, `show`); what the messages say comes
from `hawizard.tui.forms`, i.e. from the plan validator.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Checkbox, Input, Label, Static

from hawizard.tui.forms import FieldMessages, Message, NodeDraft

FIELDS = ("name", "address", "roles", "user", "port", "key")


def message_text(messages: list[Message]) -> str:
    return "\n".join(f"{'✖' if m.is_error else '▲'} {m.text}" for m in messages)


class NodeForm(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Name", classes="field-label")
        yield Input(placeholder="infra0", id="f-name")
        yield Static("", id="m-name", classes="field-error")
        yield Label("Address", classes="field-label")
        yield Input(placeholder="10.1.2.11", id="f-address")
        yield Static("", id="m-address", classes="field-error")
        yield Label("Roles", classes="field-label")
        with Horizontal(classes="row roles"):
            yield Checkbox("etcd", True, id="f-etcd")
            yield Checkbox("control-plane", True, id="f-control-plane")
        yield Static("", id="m-roles", classes="field-error")
        with Horizontal(classes="row"):
            with Vertical(classes="ssh-user"):
                yield Label("SSH user", classes="field-label")
                yield Input("root", id="f-user")
            with Vertical(classes="ssh-port"):
                yield Label("SSH port", classes="field-label")
                yield Input("22", id="f-port", restrict=r"[0-9]*", max_length=5)
        yield Static("", id="m-user", classes="field-error")
        yield Static("", id="m-port", classes="field-error")
        yield Label("SSH private key (path)", classes="field-label")
        yield Input("~/.ssh/id_ed25519", id="f-key")
        yield Static("", id="m-key", classes="field-error")
        with Horizontal(classes="row form-buttons"):
            yield Button("Add node", id="submit-node", variant="primary")
            yield Button("Remove", id="remove-node", variant="error", disabled=True)
            yield Button("New", id="new-node")

    def draft(self) -> NodeDraft:
        def text(field: str) -> str:
            return self.query_one(f"#f-{field}", Input).value

        return NodeDraft(
            name=text("name"),
            address=text("address"),
            etcd=self.query_one("#f-etcd", Checkbox).value,
            control_plane=self.query_one("#f-control-plane", Checkbox).value,
            user=text("user"),
            port=text("port"),
            key=text("key"),
        )

    def load(self, draft: NodeDraft, *, editing: bool) -> None:
        for field in ("name", "address", "user", "port", "key"):
            self.query_one(f"#f-{field}", Input).value = getattr(draft, field)
        self.query_one("#f-etcd", Checkbox).value = draft.etcd
        self.query_one("#f-control-plane", Checkbox).value = draft.control_plane
        self.query_one("#submit-node", Button).label = "Save node" if editing else "Add node"
        self.query_one("#remove-node", Button).disabled = not editing
        self.show({}, set())

    def show(self, messages: FieldMessages, fields: set[str]) -> None:
        """Show the messages of `fields` (the ones the operator has filled or tried to submit)."""
        for field in FIELDS:
            shown = messages.get(field, []) if field in fields else []
            line = self.query_one(f"#m-{field}", Static)
            line.update(Content(message_text(shown)))
            line.set_class(any(m.is_error for m in shown), "-error")
            line.set_class(bool(shown) and not any(m.is_error for m in shown), "-warning")
            line.display = bool(shown)
