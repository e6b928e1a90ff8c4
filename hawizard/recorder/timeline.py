"""An incident's timeline, derived from consecutive recorded rounds: pure, no I/O.

The transitions are the dashboard's own events (`health_history.events_between`: members
unhealthy and healthy again, leader changes, term jumps, alarms, certificate thresholds), so
a postmortem says what the dashboard said; added here are what only a recording sees: the VIP
moving between balancer nodes, an apiserver changing state, and hawizard's own operations.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hawizard.health_history import events_between
from hawizard.recorder.rounds import Round


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    kind: str  # an EventKind value, "vip", "apiserver" or "operation"
    subject: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {
            "at": self.at.astimezone(dt.UTC).isoformat(),
            "kind": self.kind,
            "subject": self.subject,
            "text": self.text,
        }


def transitions(rounds: Iterable[Round]) -> list[Entry]:
    """What changed from each round to the next, in order. Never raises on rounds that
    `rounds.decode` produced, whatever their order or content."""
    out: list[Entry] = []
    last_leader = ""
    for before, after in itertools.pairwise(rounds):
        if before.health.leader_id:
            last_leader = before.health.leader_name or before.health.leader_id
        for e in events_between(before.health, after.health, last_leader):
            out.append(Entry(e.at, e.kind.value, e.subject, e.text))
        out += _vip(before, after)
        out += _apiservers(before, after)
    return out


def _vip(before: Round, after: Round) -> list[Entry]:
    if before.vip_holders is None or after.vip_holders is None:
        return []
    if set(before.vip_holders) == set(after.vip_holders):
        return []
    was = ", ".join(before.vip_holders) or "nobody"
    now = ", ".join(after.vip_holders) or "nobody"
    return [Entry(after.at, "vip", now, f"VIP now held by {now} (was {was})")]


def _apiservers(before: Round, after: Round) -> list[Entry]:
    old = dict(before.apiservers)
    out = []
    for node, state in after.apiservers:
        if node in old and old[node] != state:
            text = f"apiserver {node} {old[node]} → {state}"
            out.append(Entry(after.at, "apiserver", node, text))
    return out


def operations(ops: Iterable[tuple[dt.datetime, dict[str, Any]]]) -> list[Entry]:
    """Recorded operation events as entries: "started", "ended: ok"."""
    out = []
    for at, doc in ops:
        command = str(doc.get("command", "?"))
        phase = str(doc.get("phase", ""))
        result = str(doc.get("result", ""))
        text = f"{command} {'started' if phase == 'start' else 'ended'}"
        out.append(Entry(at, "operation", command, text + (f": {result}" if result else "")))
    return out


def build(
    rounds: Sequence[Round], ops: Iterable[tuple[dt.datetime, dict[str, Any]]] = ()
) -> list[Entry]:
    """The whole timeline, oldest first (a stable sort: events of one round keep their order)."""
    return sorted([*transitions(rounds), *operations(ops)], key=lambda e: e.at)


def markdown(
    entries: Sequence[Entry], since: dt.datetime, until: dt.datetime, cluster: str, first=None
) -> str:
    """The timeline as Markdown for a postmortem; `first` (a Round) describes the start."""
    lines = [
        f"# Incident timeline: cluster {_md(cluster)}",
        "",
        f"From {since:%Y-%m-%d %H:%M:%S} to {until:%Y-%m-%d %H:%M:%S} UTC.",
        "",
    ]
    if first is not None:
        h = first.health
        lines += [f"At the start ({first.at:%H:%M:%S}): {h.state.value}, {_md(h.summary)}.", ""]
    if not entries:
        lines.append("Nothing changed in this span.")
    else:
        lines += ["| time (UTC) | kind | what |", "| --- | --- | --- |"]
        for e in entries:
            lines.append(f"| {e.at.astimezone(dt.UTC):%H:%M:%S} | {e.kind} | {_md(e.text)} |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Recorded text (member names, errors) cannot break the table or inject markup."""
    out = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    for ch in "`*_[]<>#":
        out = out.replace(ch, "\\" + ch)
    return out
