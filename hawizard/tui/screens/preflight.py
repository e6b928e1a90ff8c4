"""Preflight: reach every node over SSH and read what the rollout needs, changing nothing.

Each node is checked in its own thread worker, so all nodes are checked at once and a slow one
holds up nobody. The checks are `hawizard.ops.preflight.check_node` (etcd's and the balancer's
facts in one round trip), the same verdict `hawizard apply` acts on. An unknown host key stops
that node's check and asks the operator, with the fingerprint; only the key that was shown is
ever trusted."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Button, DataTable, Static

from hawizard.plan import Node, Plan
from hawizard.tui.messages import (
    HostKeyQuestion,
    HostKeyUnknown,
    PreflightChecked,
    PreflightUnreachable,
)
from hawizard.tui.screens.base import WizardScreen
from hawizard.tui.screens.host_key_dialog import HostKeyDialog
from hawizard.tui.screens.password_dialog import password_asker
from hawizard.tui.widgets.status import SYMBOL, Mark, mark_color

log = logging.getLogger(__name__)

# (column key, label, which checks it shows: a check name or a prefix ending in a space)
COLUMNS = (
    ("ssh", "ssh", None),
    ("sudo", "sudo", "sudo"),
    ("systemd", "systemd", "systemd"),
    ("packages", "packages", "package manager"),
    ("clock", "clock", "clock"),
    ("ports", "ports", "port "),
    ("data", "data dir", "data dir"),
    ("balancer", "balancer", ("endpoint port ", "haproxy", "keepalived", "vip")),
    ("result", "result", None),
)
ETCD_ONLY = ("port ", "data dir")  # checks that concern etcd members only
VERDICT_MARK = {"ok": Mark.OK, "warn": Mark.WARN, "fail": Mark.BAD}

Cell = tuple[str, Mark]


def _worst(marks: list[Mark]) -> Mark:
    for m in (Mark.BAD, Mark.WARN, Mark.RUN, Mark.IDLE):
        if m in marks:
            return m
    return Mark.OK


def row_for_checks(node: Node, checks: list[Any]) -> dict[str, Cell]:
    """Table cells for one node's checks (a column holding several checks shows the worst)."""
    if not node.is_etcd:
        checks = [c for c in checks if not c.name.startswith(ETCD_ONLY)]
    row: dict[str, Cell] = {"ssh": ("✔ ok", Mark.OK)}
    for key, _label, match in COLUMNS:
        if match is None:
            continue
        names = match if isinstance(match, tuple) else (match,)
        mine = [
            c
            for c in checks
            if any(c.name == m or (m.endswith(" ") and c.name.startswith(m)) for m in names)
        ]
        if not mine:
            row[key] = ("–", Mark.IDLE)
            continue
        mark = _worst([VERDICT_MARK[c.verdict.value] for c in mine])
        bad = [c for c in mine if VERDICT_MARK[c.verdict.value] is mark and mark is not Mark.OK]
        if key == "ports":
            text = "free" if mark is Mark.OK else ", ".join(c.name.split()[-1] for c in bad)
        else:
            text = "ok" if mark is Mark.OK else mark_word(mark)
        row[key] = (f"{SYMBOL[mark]} {text}", mark)
    overall = _worst([VERDICT_MARK[c.verdict.value] for c in checks])
    row["result"] = {
        Mark.OK: ("✔ ready", Mark.OK),
        Mark.WARN: ("▲ ready", Mark.WARN),
    }.get(overall, ("✖ not ready", Mark.BAD))
    return row


def mark_word(mark: Mark) -> str:
    return {Mark.BAD: "fail", Mark.WARN: "warn"}.get(mark, "")


def waiting_row(text: str, mark: Mark) -> dict[str, Cell]:
    row: dict[str, Cell] = {key: ("", Mark.IDLE) for key, _l, _m in COLUMNS}
    row["ssh"] = (f"{SYMBOL[mark]} {text}", mark)
    row["result"] = (SYMBOL[mark], mark)
    return row


class PreflightScreen(WizardScreen):
    STEP = "preflight"
    BINDINGS: ClassVar[list[BindingType]] = [
        *WizardScreen.BINDINGS,
        Binding("ctrl+r", "run", "Check nodes"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Cell]] = {}
        self.details: dict[str, list[str]] = {}
        self.questions: list[HostKeyQuestion] = []
        self.asking = False
        self.sudo_password: Any = None
        self.trusted: set[tuple[str, int, str]] = set()  # (address, port, fingerprint)
        self._shown_plan: Plan | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="preflight-intro", classes="summary")
        with Horizontal(classes="row action-row"):
            yield Button("Check nodes", id="run-preflight", variant="primary")
            yield Static("", id="preflight-status")
        yield DataTable(id="preflight-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="preflight-detail")

    def on_mount(self) -> None:
        table = self.query_one("#preflight-table", DataTable)
        table.add_column("node", key="node")
        table.add_column("address", key="address")
        for key, label, _m in COLUMNS:
            table.add_column(label, key=key)
        self.app.theme_changed_signal.subscribe(self, lambda _t: self.render_rows())

    def show_plan(self) -> None:
        known = self.plan.resolve(self.plan.cluster.known_hosts)
        self.query_one("#preflight-intro", Static).update(
            Content(
                f"Reads every node over SSH (host keys checked against {known}): sudo, "
                "systemd, package manager, clock skew, the etcd ports and an existing etcd "
                "data dir; on balancer nodes the endpoint port, haproxy, keepalived and the "
                "VIP. Nothing is changed."
            )
        )
        if self._shown_plan is not self.plan:
            self._shown_plan = self.plan
            self.rows = {n.name: waiting_row("not checked", Mark.IDLE) for n in self.plan.nodes}
            self.details = {}
            self.render_rows()
            self.status(Mark.IDLE, "ctrl+r checks every node at once")

    def status(self, mark: Mark, text: str) -> None:
        line = Text(f"{SYMBOL[mark]} {text}", style=mark_color(self.app, mark), end="")
        self.query_one("#preflight-status", Static).update(line)

    # --- running --------------------------------------------------------------------------

    @on(Button.Pressed, "#run-preflight")
    def action_run(self) -> None:
        if not self.plan.nodes:
            self.status(Mark.BAD, "the plan has no nodes: add them on the Nodes step")
            return
        self.status(Mark.RUN, f"checking {len(self.plan.nodes)} nodes…")
        from hawizard.remote import SudoPassword

        # one password for this round of checks, typed at most once, in memory only
        self.sudo_password = SudoPassword(ask=password_asker(self.app))
        for node in self.plan.nodes:
            self.check(node)

    def check(self, node: Node) -> None:
        self.rows[node.name] = waiting_row("connecting", Mark.RUN)
        self.details.pop(node.name, None)
        self.render_rows()
        self.check_node(self.plan, node, self.sudo_password)

    @work(thread=True, group="preflight", exit_on_error=False)
    def check_node(self, plan: Plan, node: Node, sudo_password: Any) -> None:
        """The same checks as every face (`ops.preflight.check_node`), off the UI thread."""
        from hawizard.ops.preflight import Unreachable, check_node
        from hawizard.remote import UnknownHostKey

        try:
            checks = check_node(plan, node, sudo_password)
        except UnknownHostKey as exc:
            question = HostKeyQuestion(
                node.name,
                node.address,
                node.ssh.port,
                exc.key_type,
                exc.fingerprint,
                exc.known_hosts,
            )
            self.post_message(HostKeyUnknown(question))
            return
        except Unreachable as exc:
            self.post_message(PreflightUnreachable(node.name, str(exc)))
            return
        except Exception as exc:
            log.exception("preflight of %s failed", node.name)
            self.post_message(PreflightUnreachable(node.name, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(PreflightChecked(node.name, checks))

    def on_preflight_checked(self, message: PreflightChecked) -> None:
        node = self.plan.node(message.node)
        self.rows[node.name] = row_for_checks(node, message.checks)
        self.details[node.name] = [
            f"{SYMBOL[VERDICT_MARK[c.verdict.value]]} {c.name}: {c.detail}"
            for c in message.checks
            if node.is_etcd or not c.name.startswith(ETCD_ONLY)
        ]
        self.render_rows()
        self.summarize()

    def on_preflight_unreachable(self, message: PreflightUnreachable) -> None:
        self.rows[message.node] = waiting_row("unreachable", Mark.BAD)
        self.details[message.node] = [f"✖ {message.error}"]
        self.render_rows()
        self.summarize()

    # --- host keys ------------------------------------------------------------------------

    def on_host_key_unknown(self, message: HostKeyUnknown) -> None:
        q = message.question
        self.rows[q.node] = waiting_row("unknown host key", Mark.WARN)
        self.details[q.node] = [f"▲ {q.key_type} {q.fingerprint} is not in {q.known_hosts}"]
        self.render_rows()
        self.questions.append(q)
        self.ask_next()

    def ask_next(self) -> None:
        if self.asking or not self.questions:
            return
        question = self.questions.pop(0)
        if (question.address, question.port, question.fingerprint) in self.trusted:
            self.trust_key(self.plan, question)  # the same key, just trusted for another node
            self.ask_next()
            return
        self.asking = True

        def answered(trust: bool | None) -> None:
            self.asking = False
            if trust:
                self.trusted.add((question.address, question.port, question.fingerprint))
                self.rows[question.node] = waiting_row("trusting key", Mark.RUN)
                self.render_rows()
                self.trust_key(self.plan, question)
            else:
                self.rows[question.node] = waiting_row("key rejected", Mark.BAD)
                self.details[question.node] = [
                    f"✖ host key {question.fingerprint} rejected: nothing was sent to it"
                ]
                self.render_rows()
                self.summarize()
            self.ask_next()

        self.app.push_screen(HostKeyDialog(question), answered)

    @work(thread=True, group="preflight", exit_on_error=False)
    def trust_key(self, plan: Plan, q: HostKeyQuestion) -> None:
        """Record exactly the key that was shown; a different key now is refused."""
        from hawizard.ops.preflight import Unreachable, trust_host_key

        try:
            trust_host_key(q.address, q.port, q.fingerprint, q.known_hosts)
        except Unreachable as exc:
            self.post_message(PreflightUnreachable(q.node, str(exc)))
            return
        self.app.call_from_thread(self.check, plan.node(q.node))

    # --- rendering ------------------------------------------------------------------------

    def summarize(self) -> None:
        results = [row["result"][1] for row in self.rows.values()]
        if any(m in (Mark.RUN, Mark.IDLE) for m in results):
            return
        bad = [n for n, row in self.rows.items() if row["result"][1] is Mark.BAD]
        if bad:
            self.status(Mark.BAD, f"not ready: {', '.join(bad)} (see below; ctrl+r checks again)")
        else:
            self.status(Mark.OK, f"all {len(self.rows)} nodes ready")

    def render_rows(self) -> None:
        if not self.is_mounted:
            return
        table = self.query_one("#preflight-table", DataTable)
        row_index = table.cursor_row
        with self.app.batch_update():
            table.clear()
            for node in self.plan.nodes:
                cells = self.rows.get(node.name) or waiting_row("not checked", Mark.IDLE)
                table.add_row(
                    escape(node.name),  # escaped: a str cell is parsed as markup
                    escape(node.address),
                    *(self.cell(cells[key]) for key, _l, _m in COLUMNS),
                    key=node.name,
                )
        if table.row_count:
            table.move_cursor(row=min(row_index, table.row_count - 1))
            self.show_detail(table.cursor_row)

    def cell(self, cell: Cell) -> Text:
        text, mark = cell
        return Text(text, style=mark_color(self.app, mark), end="")

    @on(DataTable.RowHighlighted, "#preflight-table")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail(event.cursor_row)

    def show_detail(self, index: int) -> None:
        detail = self.query_one("#preflight-detail", Static)
        if not 0 <= index < len(self.plan.nodes):
            detail.update("")
            return
        node = self.plan.nodes[index]
        lines = self.details.get(node.name) or ["not checked yet"]
        detail.update(Content("\n".join([f"{node.name} ({node.address})", *lines])))
