"""The fleet: one row per cluster (`hawizard dashboard PLAN PLAN …` or a folder of plans).

Each cluster is probed by its own thread worker through its own backend — the same
`status_round` as the dashboard and `hawizard status` — at most `FLEET_PARALLEL` at once,
and each row re-arms its own timer when its round is in, so a dead cluster (its probes
waiting out their timeouts) never holds up another row. Enter opens that cluster's
dashboard; Escape there comes back here, where the rows go on from where they were.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from hawizard.tui.widgets.footer import Footer
from hawizard.tui.widgets.keyed_table import Cell, KeyedTable
from hawizard.tui.widgets.status import Mark, mark_color

if TYPE_CHECKING:
    from hawizard.ops.fleet import FleetRow, Member

log = logging.getLogger(__name__)

FLEET_PARALLEL = 8  # clusters probed at once
COLUMNS = (
    ("cluster", "cluster"),
    ("plan", "plan"),
    ("state", "state"),
    ("members", "healthy"),
    ("tolerance", "tolerates"),
    ("leader", "leader"),
    ("db", "DB vs quota"),
    ("cert", "first cert to expire"),
    ("backup", "last backup"),
    ("vip", "VIP holder"),
)
STATE_MARK = {"healthy": Mark.OK, "degraded": Mark.WARN, "quorum_lost": Mark.BAD}
WORD_MARK = {"ok": Mark.OK, "warn": Mark.WARN, "bad": Mark.BAD, "": None}


class RowChecked(Message):
    def __init__(self, index: int, row: FleetRow) -> None:
        super().__init__()
        self.index = index
        self.row = row


class RowFailed(Message):
    def __init__(self, index: int, error: str) -> None:
        super().__init__()
        self.index = index
        self.error = error


def cells_for(member: Member, row: FleetRow | None, error: str = "") -> dict[str, Cell]:
    """A cluster's row: its words, each with the colour of what it says; the cluster's name
    takes the worst of its health (state, members, tolerance, leader), so a member down
    turns the row's name red."""
    name = escape(member.name)
    plan = escape(member.path.name)
    if row is None:
        text = f"✖ {error}" if error else "● probing…"
        mark = Mark.BAD if error else Mark.RUN
        cells: dict[str, Cell] = {k: ("", None) for k, _ in COLUMNS}
        cells.update(cluster=(name, mark), plan=(plan, None), state=(escape(text), mark))
        return cells
    cells = {
        "cluster": (name, None),
        "plan": (plan, None),
        "state": (escape(row.words), STATE_MARK.get(row.state, Mark.BAD)),
        "members": (row.healthy, Mark.OK if row.all_healthy else Mark.BAD),
        "tolerance": (row.tolerance, Mark.OK if row.tolerance != "0" else Mark.BAD),
        "leader": (escape(row.leader), None if row.leader != "none" else Mark.BAD),
        "db": (row.db, WORD_MARK[row.db_state]),
        "cert": (escape(row.cert), WORD_MARK[row.cert_state]),
        "backup": (row.backup, WORD_MARK[row.backup_state]),
        "vip": (escape(row.vip), None if row.vip != "none" else Mark.BAD),
    }
    # the name says how the cluster itself is (a missing backup or a near cert has its own cell)
    worst = [cells[k][1] for k in ("state", "members", "tolerance", "leader") if cells[k][1]]
    for mark in (Mark.BAD, Mark.WARN):
        if mark in worst:
            cells["cluster"] = (name, mark)
            break
    else:
        cells["cluster"] = (name, Mark.OK)
    return cells


class FleetScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open dashboard"),
        Binding("r", "refresh_now", "Refresh"),
    ]

    def __init__(self, members: list[Member], backends: list[Any]) -> None:
        super().__init__()
        self.members = members
        self.backends = backends
        self.rows: dict[int, FleetRow | None] = {}
        self.errors: dict[int, str] = {}
        self.rounds = [0] * len(members)  # rounds finished per cluster (tests read these)
        self._row_timers: dict[int, Any] = {}
        self._slots = threading.BoundedSemaphore(FLEET_PARALLEL)
        self._active = False

    def compose(self):
        yield Static(f"fleet: {len(self.members)} clusters", id="fleet-title")
        yield DataTable(
            id="fleet",
            cursor_type="row",
            cursor_foreground_priority="renderable",
            zebra_stripes=True,
        )
        yield Static("", id="fleet-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.table = KeyedTable(self.query_one("#fleet", DataTable), COLUMNS)
        self.call_after_refresh(self.render_rows)  # every cluster "probing…" at once
        self.app.theme_changed_signal.subscribe(self, lambda _t: self.render_rows())

    def on_screen_resume(self) -> None:
        self._active = True
        for i in range(len(self.members)):
            self.probe(i)

    def on_screen_suspend(self) -> None:
        self._active = False  # no probing behind the dashboard of one of them
        for timer in self._row_timers.values():
            timer.stop()
        self._row_timers.clear()

    # --- probing ---------------------------------------------------------------------------

    def probe(self, index: int) -> None:
        self.run_worker(
            lambda: self._round(index),
            thread=True,
            group=f"fleet-{index}",
            exclusive=True,
            exit_on_error=False,
        )

    def _round(self, index: int) -> None:
        from hawizard.ops.fleet import row_of

        member = self.members[index]
        with self._slots:
            try:
                report = self.backends[index].status_round(member.plan)
            except (OSError, ValueError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                self.post_message(RowFailed(index, f"cannot probe: {reason}"))
                return
            except Exception as exc:  # a probe bug must not stop the fleet
                log.exception("fleet probe of %s failed", member.name)
                self.post_message(RowFailed(index, f"probe failed: {exc}"))
                return
        self.post_message(RowChecked(index, row_of(report)))

    def on_row_checked(self, message: RowChecked) -> None:
        self.rows[message.index] = message.row
        self.errors.pop(message.index, None)
        self._done(message.index)

    def on_row_failed(self, message: RowFailed) -> None:
        self.rows[message.index] = None
        self.errors[message.index] = message.error
        self._done(message.index)

    def _done(self, index: int) -> None:
        self.rounds[index] += 1
        self.render_rows()
        if self._active:
            interval = getattr(self.app, "interval", 2.0)
            self._row_timers[index] = self.set_timer(interval, lambda: self._again(index))

    def _again(self, index: int) -> None:
        self._row_timers.pop(index, None)
        if self._active:
            self.probe(index)

    # --- keys ------------------------------------------------------------------------------

    def action_refresh_now(self) -> None:
        for i in range(len(self.members)):
            timer = self._row_timers.pop(i, None)
            if timer is not None:
                timer.stop()
                self.probe(i)

    def action_open(self) -> None:
        row = self.query_one("#fleet", DataTable).cursor_row
        if 0 <= row < len(self.members):
            self.app.open_cluster(row)  # type: ignore[attr-defined]

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()

    # --- rendering -------------------------------------------------------------------------

    def render_rows(self) -> None:
        if not self.is_mounted:
            return
        rows = {
            str(i): cells_for(m, self.rows.get(i), self.errors.get(i, ""))
            for i, m in enumerate(self.members)
        }
        self.table.update(rows, self.render_cell)
        bad = sum(1 for i in range(len(self.members)) if self._worst(rows[str(i)]) is Mark.BAD)
        self.query_one("#fleet-title", Static).update(
            f"fleet: {len(self.members)} clusters"
            + (f" · {bad} need attention" if bad else "")
            + " · enter opens a cluster's dashboard, escape there comes back"
        )

    @staticmethod
    def _worst(cells: dict[str, Cell]) -> Mark | None:
        return cells["cluster"][1]

    def render_cell(self, cell: Cell):
        from rich.text import Text

        text, mark = cell
        return Text.from_markup(text, style=mark_color(self.app, mark) if mark else "", end="")
