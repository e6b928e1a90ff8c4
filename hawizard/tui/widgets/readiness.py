"""The production checklist as a table: one row per item, its symbol, evidence and fix.

Shared by the wizard's Readiness step and the dashboard, so both show exactly the rows
`hawizard check` prints. Symbols carry the verdict; colour only repeats it (NO_COLOR-safe).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from hawizard.ops.check import Checklist

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
