"""The production checklist as a table: one row per item, its symbol, evidence and fix.

Shared by the wizard's Readiness step and the dashboard, so both show exactly the rows
`hawizard check` prints. Symbols carry the verdict; colour only repeats it (NO_COLOR-safe).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from hawizard.ops.check import Checklist
from hawizard.plan import Plan

HINT = (
    "Press c (or Check now) to judge the live cluster against the production checklist: "
    "etcd topology, control plane, authentication, certificates, backups, monitoring, logs, "
    "OS patching, clock, image scanning, network policy. Nothing is changed."
)

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "unknown": "dim"}


def checklist_table(checklist: Checklist) -> Table:
    table = Table(expand=True, show_lines=True, pad_edge=False)
    table.add_column("#", width=2, justify="right")
    table.add_column("item", width=15)
    table.add_column("", width=1)
    table.add_column("evidence", ratio=3, overflow="fold")
    table.add_column("fix", ratio=2, overflow="fold")
    for item in checklist.items:
        style = _STYLE[item.verdict.value]
        table.add_row(
            str(item.number),
            item.title,
            Text(item.verdict.symbol, style=style),
            Text("\n".join(item.evidence)),  # Text: user data is never read as markup
            Text(item.fix),
        )
    return table


def summary(checklist: Checklist) -> str:
    c = checklist.to_json()["counts"]
    return (
        f"checked {checklist.checked_at} in {checklist.duration_s:.1f} s · "
        f"✔ {c['ok']}  ▲ {c['warn']}  ✖ {c['fail']}  ? {c['unknown']}"
    )


class ReadinessTable(Static):
    """Shows one `Checklist` (or a hint while there is none)."""

    def show(self, checklist: Checklist | None, hint: str = "") -> None:
        if checklist is None:
            self.update(hint)
        else:
            self.update(checklist_table(checklist))


class ReadinessView(Vertical):
    """Summary line + table, and the check itself run in a thread worker (SSH and HTTPS,
    bounded): the wizard's Readiness step and the dashboard's checklist dialog both use it."""

    DEFAULT_CSS = """
    ReadinessView { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.checklist: Checklist | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="readiness-summary")
        with VerticalScroll(id="readiness-box"):
            yield ReadinessTable(HINT, id="readiness-table")

    def refresh_view(self) -> None:
        self.query_one(ReadinessTable).show(self.checklist, HINT)
        line = summary(self.checklist) if self.checklist else ""
        self.query_one("#readiness-summary", Static).update(line)

    def start(self, plan: Plan) -> None:
        self.query_one("#readiness-summary", Static).update("checking the cluster…")
        self._run(plan)

    @work(thread=True, exclusive=True, group="readiness")
    def _run(self, plan: Plan) -> None:
        check = getattr(self.app, "readiness_check", None)
        if check is None:
            from hawizard.ops.check import run_check as check
        try:
            result = check(plan)
        except Exception as exc:  # shown, never a crash of the app
            self.app.call_from_thread(
                self.app.notify, f"check failed: {exc}", title="✖ readiness", severity="error"
            )
            self.app.call_from_thread(
                self.query_one("#readiness-summary", Static).update, "check failed"
            )
            return
        self.app.call_from_thread(self._done, result)

    def _done(self, checklist: Checklist) -> None:
        self.checklist = checklist
        self.refresh_view()
