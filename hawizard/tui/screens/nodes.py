"""Nodes: the machines, their roles and SSH access, and the control-plane endpoint.

The table shows the plan's nodes; the form edits one. Every change is validated by
`hawizard.plan.validate` on the plan the change would produce, and its messages appear
under the field they concern. A node with errors never enters the plan.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Static

from hawizard.plan import Node, suggest_endpoint
from hawizard.plan.checks import member_count_messages
from hawizard.tui import forms
from hawizard.tui.screens.base import WizardScreen
from hawizard.tui.widgets.node_form import FIELDS, NodeForm, message_text
from hawizard.tui.widgets.quorum import QuorumHint

_CLUSTER_FIELDS = {"cluster-name": "cluster.name", "endpoint": "cluster.control_plane_endpoint"}


class NodesTable(DataTable):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "edit", "Edit"),
        Binding("d,delete", "remove", "Remove"),
        Binding("n", "new", "New node"),
    ]

    def action_edit(self) -> None:
        if self.row_count:
            self.screen.edit(self.cursor_row)  # type: ignore[attr-defined]

    def action_remove(self) -> None:
        if self.row_count:
            self.screen.remove(self.cursor_row)  # type: ignore[attr-defined]

    def action_new(self) -> None:
        self.screen.new_node()  # type: ignore[attr-defined]


def roles_text(node: Node) -> str:
    return "+".join(r.value for r in node.roles)


class NodesScreen(WizardScreen):
    STEP = "nodes"

    def __init__(self) -> None:
        super().__init__()
        self.editing: int | None = None  # index of the node in the form, None: a new one
        self.submitted = False

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="nodes-main"):
            with Vertical(id="nodes-left"):
                yield Label("Nodes", classes="section-title")
                table = NodesTable(id="nodes-table", cursor_type="row", zebra_stripes=True)
                yield table
                yield QuorumHint("", id="quorum", classes="quorum-hint")
                with Horizontal(classes="row cluster-row"):
                    with Vertical(classes="cluster-name"):
                        yield Label("Cluster name", classes="field-label")
                        yield Input(id="cluster-name")
                    with Vertical(classes="cluster-endpoint"):
                        yield Label("Control-plane endpoint (LB host:port)", classes="field-label")
                        yield Input(placeholder=suggest_endpoint(self.plan), id="endpoint")
                yield Static("", id="m-cluster-name", classes="field-error")
                yield Static("", id="m-endpoint", classes="field-error")
                yield Static("", id="plan-problems")
            with Vertical(id="nodes-form-box"):
                yield Label("New node", id="form-title", classes="section-title")
                yield NodeForm(id="node-form")

    def on_mount(self) -> None:
        table = self.query_one(NodesTable)
        for key, label in (
            ("name", "name"),
            ("address", "address"),
            ("roles", "roles"),
            ("ssh", "ssh"),
            ("key", "key"),
        ):
            table.add_column(label, key=key)
        self.show_plan()
        self.new_node(focus=not self.plan.nodes)

    def show_plan(self) -> None:
        table = self.query_one(NodesTable)
        row = table.cursor_row
        table.clear()
        for node in self.plan.nodes:
            # escaped: a DataTable parses str cells as markup, and these are user text
            table.add_row(
                escape(node.name),
                escape(node.address),
                escape(roles_text(node)),
                escape(f"{node.ssh.user}:{node.ssh.port}"),
                escape(node.ssh.key),
            )
        if self.plan.nodes:
            table.move_cursor(row=min(row, len(self.plan.nodes) - 1))
        self.query_one(QuorumHint).show(self.plan)
        for widget_id, value in (
            ("cluster-name", self.plan.cluster.name),
            ("endpoint", self.plan.cluster.control_plane_endpoint),
        ):
            field = self.query_one(f"#{widget_id}", Input)
            if field.value != value:
                field.value = value
        self.show_plan_problems()

    def show_plan_problems(self) -> None:
        # the hint is a value validation accepts for this plan (issue 23): never :6443 while
        # haproxy shares the masters with kube-apiserver; in vip mode a free subnet address
        self.query_one("#endpoint", Input).placeholder = suggest_endpoint(self.plan)
        by_field = forms.plan_messages(self.plan)
        for widget_id, path in _CLUSTER_FIELDS.items():
            line = self.query_one(f"#m-{widget_id}", Static)
            messages = by_field.pop(path, [])
            line.update(Content(message_text(messages)))
            line.set_class(any(m.is_error for m in messages), "-error")
            line.set_class(bool(messages) and not any(m.is_error for m in messages), "-warning")
            line.display = bool(messages)
        shown = member_count_messages(self.plan)  # the quorum hint above says these
        lines = [
            f"{'✖' if m.is_error else '▲'} {path}: {m.text}"
            for path, messages in by_field.items()
            for m in messages
            if not (path == "nodes" and m.text in shown)
        ]
        box = self.query_one("#plan-problems", Static)
        box.update(Content("\n".join(lines)))
        box.display = bool(lines)

    # --- the form -------------------------------------------------------------------------

    def new_node(self, *, focus: bool = True) -> None:
        self.editing = None
        self.submitted = False
        self.query_one("#form-title", Label).update("New node")
        self.query_one(NodeForm).load(forms.NodeDraft(), editing=False)
        if focus:
            self.query_one("#f-name", Input).focus()

    def edit(self, index: int) -> None:
        self.editing = index
        self.submitted = False
        node = self.plan.nodes[index]
        self.query_one("#form-title", Label).update(f"Edit {node.name}")
        self.query_one(NodeForm).load(forms.NodeDraft.from_node(node), editing=True)
        self.query_one("#f-name", Input).focus()

    def remove(self, index: int) -> None:
        name = self.plan.nodes[index].name
        self.set_plan(forms.remove(self.plan, index))
        if self.editing == index:
            self.new_node(focus=False)
        elif self.editing is not None and self.editing > index:
            self.editing -= 1
        self.show_plan()
        self.notify(f"removed {name}", timeout=2)

    def validate_form(self) -> forms.FieldMessages:
        form = self.query_one(NodeForm)
        draft = form.draft()
        _, messages = forms.check_draft(self.plan, draft, self.editing)
        filled = {f for f in FIELDS if str(getattr(draft, f, "") or "").strip()}
        filled.add("roles")
        form.show(messages, set(FIELDS) if self.submitted else filled)
        return messages

    @on(Input.Changed, "#node-form Input")
    @on(Checkbox.Changed, "#node-form Checkbox")
    def form_changed(self) -> None:
        self.validate_form()

    @on(Input.Submitted, "#node-form Input")
    @on(Button.Pressed, "#submit-node")
    def submit_node(self) -> None:
        self.submitted = True
        draft = self.query_one(NodeForm).draft()
        candidate, messages = forms.check_draft(self.plan, draft, self.editing)
        self.validate_form()
        if forms.has_errors(messages):
            bad = [f for f in FIELDS if any(m.is_error for m in messages.get(f, []))]
            self.query_one(f"#f-{'etcd' if bad[0] == 'roles' else bad[0]}").focus()
            return
        added = self.editing is None
        self.set_plan(candidate)
        self.show_plan()
        name = draft.name.strip()
        self.notify(f"{'added' if added else 'updated'} {name}", timeout=2)
        self.new_node()

    @on(Button.Pressed, "#remove-node")
    def remove_edited(self) -> None:
        if self.editing is not None:
            self.remove(self.editing)

    @on(Button.Pressed, "#new-node")
    def new_pressed(self) -> None:
        self.new_node()

    @on(DataTable.RowSelected, "#nodes-table")
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.edit(event.cursor_row)

    # --- cluster fields -------------------------------------------------------------------

    @on(Input.Changed, "#cluster-name")
    def cluster_name_changed(self, event: Input.Changed) -> None:
        if event.value != self.plan.cluster.name:
            cluster = replace(self.plan.cluster, name=event.value.strip())
            self.set_plan(replace(self.plan, cluster=cluster))
            self.show_plan_problems()

    @on(Input.Changed, "#endpoint")
    def endpoint_changed(self, event: Input.Changed) -> None:
        if event.value != self.plan.cluster.control_plane_endpoint:
            cluster = replace(self.plan.cluster, control_plane_endpoint=event.value.strip())
            self.set_plan(replace(self.plan, cluster=cluster))
            self.show_plan_problems()
