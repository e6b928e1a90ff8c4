"""A DataTable kept up to date by row key (Dolphie's way): only changed cells are written.

A refresh hands over every row as `{column: (text, mark)}`; cells whose value did not change
are left alone, so a steady cluster costs no repaint. A row that left, or a new order, starts
the table over with fresh column widths, keeping the cursor on the row it was on.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from hawizard.tui.widgets.status import Mark

Cell = tuple[str, Mark | None]  # text, and the status colour (None: plain)


class KeyedTable:
    """A DataTable updated by row key, touching only cells whose value changed."""

    def __init__(self, table: DataTable, columns: tuple[tuple[str, str], ...]) -> None:
        self.table = table
        self.columns = columns
        self.cells: dict[str, dict[str, Cell]] = {}
        for key, label in columns:
            table.add_column(label, key=key)

    def update(self, rows: dict[str, dict[str, Cell]], render: Callable[[Cell], Text]) -> int:
        """Bring the table to `rows` (in order); returns how many cells were written."""
        written = 0
        if any(k not in rows for k in self.cells) or list(self.cells) != [
            k for k in rows if k in self.cells
        ]:
            # a row left (its widths must go too: a joining member's long temporary name) or
            # the order changed: cheaper to start over
            self.rebuild(rows, render)
            return sum(len(r) for r in rows.values())
        for key, cells in rows.items():
            old = self.cells.get(key)
            if old is None:
                self.table.add_row(*(render(cells[c]) for c, _ in self.columns), key=key)
                written += len(cells)
            else:
                for column, value in cells.items():
                    if old.get(column) != value:
                        self.table.update_cell(key, column, render(value), update_width=True)
                        written += 1
            self.cells[key] = cells
        return written

    def rebuild(self, rows: dict[str, dict[str, Cell]], render: Callable[[Cell], Text]) -> None:
        """Start over with fresh column widths; the cursor stays on its row's key."""
        table = self.table
        selected = self.selected() if table.cursor_type == "row" else None
        table.clear(columns=True)
        for key, label in self.columns:
            table.add_column(label, key=key)
        self.cells = {}
        for key, cells in rows.items():
            table.add_row(*(render(cells[c]) for c, _ in self.columns), key=key)
            self.cells[key] = cells
        if selected in self.cells:
            table.move_cursor(row=list(self.cells).index(selected), animate=False)

    def selected(self) -> str | None:
        """The key of the row under the cursor (None when the table is empty)."""
        if not self.table.row_count:
            return None
        cell = self.table.coordinate_to_cell_key(Coordinate(self.table.cursor_row, 0))
        return str(cell.row_key.value)
