"""The flight recorder for the faces: open the plan's store, record a status round, read an
incident's timeline, and mark hawizard's own operations in it.

The store itself is engine level (`hawizard.recorder`); what lives here is what needs the
status round's domain results (apiservers, the balancer) or the plan's file name and bounds.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hawizard import sidecars
from hawizard.recorder import rounds, timeline
from hawizard.recorder.store import Store

if TYPE_CHECKING:
    from hawizard.ops.status import StatusReport
    from hawizard.plan import Plan

log = logging.getLogger(__name__)


def open_store(plan: Plan, *, create: bool = True) -> Store:
    """The plan's recorder (`<plan stem>.record.sqlite`), bounded by `[monitoring]`
    `record_days` and `record_mb`. Raises `OSError` (an unsafe file, not SQLite, or
    `FileNotFoundError` when create=False and nothing was recorded)."""
    if plan.source is None:
        raise FileNotFoundError(2, "the plan has not been saved to a file yet", "plan")
    m = plan.monitoring
    path = sidecars.recorder_path(plan.source)
    return Store.open(path, max_days=m.record_days, max_mb=m.record_mb, create=create)


def encode_report(report: StatusReport) -> dict:
    """One status round in the recorder's compact form."""
    lb = report.balancer
    vip = tuple(lb.holders) if lb is not None and lb.vip else None
    api = [(a.node, a.state.value) for a in report.apiservers]
    return rounds.encode(report.health, api, vip)


def record_report(store: Store, report: StatusReport) -> None:
    store.append_round(encode_report(report))


@dataclass(frozen=True)
class Incident:
    since: dt.datetime
    until: dt.datetime
    first: rounds.Round | None  # the baseline: how things stood when the span began
    entries: list[timeline.Entry]
    rounds_read: int

    def to_json(self) -> dict:
        start = None
        if self.first is not None:
            h = self.first.health
            start = {"at": self.first.at.isoformat(), "state": h.state.value, "summary": h.summary}
        return {
            "schema": 1,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "rounds": self.rounds_read,
            "start": start,
            "timeline": [e.to_json() for e in self.entries],
        }


def incident(store: Store, since: dt.datetime, until: dt.datetime) -> Incident:
    """The timeline of [since, until]: the round just before `since` (or else the span's
    first) is the baseline, so a member already down when the span starts does not show as
    going down in it."""
    before = store.round_before(since)
    seq = [before] if before is not None else []
    seq += list(store.rounds(since, until))
    if before is not None and len(seq) > 1 and seq[1].at == before.at:
        seq.pop(0)  # the baseline is the span's own first round
    first = seq[0] if seq else None  # no round before the span: its first is the baseline
    entries = timeline.build(seq, store.ops(since, until))
    return Incident(since, until, first, entries, len(seq))


def mark_operation(plan: Plan, command: str, phase: str, result: str = "") -> None:
    """An operation's start or end, only where recording is in use (the plan's store
    exists): an operation never creates the file nor fails because of it."""
    if plan.source is None or not sidecars.recorder_path(plan.source).exists():
        return
    try:
        with open_store(plan, create=False) as store:
            store.append_op(dt.datetime.now(dt.UTC), command, phase, result)
    except Exception:  # the recording is a witness, never a reason for an operation to fail
        log.warning("could not record %s %s", command, phase, exc_info=True)
