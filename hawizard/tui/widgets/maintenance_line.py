"""The dashboard's maintenance line: the last `etcd defrag` run (scheduled or not) and the
quota forecast, e.g. "✔ last maintenance: defragmented 2026-12-04T03:04:11+00:00 (m1 412 → 98
MiB …) · ▲ in use +310.0 MiB/day: quota reached in ~3.2 days · m defragments"."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from hawizard.tui.widgets.status import SYMBOL, Mark, mark_color

__all__ = ["maintenance_text"]

MIB = 1024**2
OUTCOME_MARK = {"defragmented": Mark.OK, "skipped": Mark.OK, "refused": Mark.WARN}


def _sizes(last: dict) -> str:
    out = []
    for m in last.get("members") or ():
        if isinstance(m, dict) and isinstance(m.get("db_before"), int):
            after = m.get("db_after")
            tail = f" → {after / MIB:.0f}" if isinstance(after, int) else ""
            out.append(f"{m.get('name')} {m['db_before'] / MIB:.0f}{tail} MiB")
    return ", ".join(out)


def maintenance_text(last: dict | None, forecast: Any, app: Any) -> Text:
    """Empty when there is neither a record nor a forecast."""
    text = Text(end="")
    if last:
        outcome = str(last.get("outcome", "?"))
        mark = OUTCOME_MARK.get(outcome, Mark.BAD)
        sizes = _sizes(last) if outcome == "defragmented" else ""
        text.append(
            f"{SYMBOL[mark]} last maintenance: {outcome} {last.get('at', '?')}"
            + (f" ({sizes})" if sizes else ""),
            style=mark_color(app, mark),
        )
    if forecast is not None:
        soon = forecast.days_left < 7
        mark = Mark.WARN if soon else Mark.OK
        if text:
            text.append(" · ")
        text.append(f"{SYMBOL[mark]} {forecast.text()}", style=mark_color(app, mark))
        if soon:
            text.append(" · m defragments")
    return text
