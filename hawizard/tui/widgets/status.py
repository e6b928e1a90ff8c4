"""Status marks: a symbol *and* a theme colour, so state stays readable with NO_COLOR.

DataTable cells are Rich renderables and cannot use CSS variables, so the colour is looked up
in the app's current theme variables when the cell is built; screens rebuild their cells when
the theme changes.
"""

from __future__ import annotations

from enum import StrEnum

from rich.text import Text
from textual.app import App


class Mark(StrEnum):
    OK = "ok"
    WARN = "warn"
    BAD = "bad"
    IDLE = "idle"
    RUN = "run"


SYMBOL = {Mark.OK: "✔", Mark.WARN: "▲", Mark.BAD: "✖", Mark.IDLE: "·", Mark.RUN: "●"}
_VARIABLE = {m: f"status-{m.value}" for m in Mark}


def mark_color(app: App, mark: Mark) -> str:
    variables = app.theme_variables or app.get_css_variables()
    return variables.get(_VARIABLE[mark], "")


def mark_text(app: App, mark: Mark, label: str = "", *, bold: bool = False) -> Text:
    """`✔ label` in the theme's status colour."""
    style = mark_color(app, mark)
    if bold:
        style = f"bold {style}".strip()
    text = f"{SYMBOL[mark]} {label}" if label else SYMBOL[mark]
    return Text(text, style=style, end="")


def plain(app: App, mark: Mark, text: str) -> Text:
    """A cell in the status colour without a symbol (e.g. a whole red row)."""
    return Text(text, style=mark_color(app, mark), end="")
