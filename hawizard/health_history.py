"""What the last few minutes of health rounds say: per-member series and the events between rounds.

The dashboard's sparklines and events pane and `hawizard status --watch` read this one model, so
they agree about what changed. It is fed the `ClusterHealth` every round already produces and
costs no extra request; memory is bounded (a time window of samples, a fixed number of events).
Events compare one round with the one before: a leader change, a member turning unhealthy or
healthy again, a raft term jump (elections that did not settle at once), an alarm raised or
cleared, a certificate crossing the renewal threshold.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from hawizard.forecast import QuotaForecast, quota_forecast
from hawizard.health import ClusterHealth, MemberHealth
from hawizard.pki.inspection import RENEW_BEFORE_DAYS

WINDOW_S = 300.0  # how much history a sparkline covers
MAX_EVENTS = 200
BARS = "▁▂▃▄▅▆▇█"


class EventKind(StrEnum):
    LEADER = "leader"
    UNHEALTHY = "unhealthy"
    HEALTHY = "healthy"
    TERM_JUMP = "term-jump"
    ALARM = "alarm"
    ALARM_CLEARED = "alarm-cleared"
    CERT_EXPIRING = "cert-expiring"


# Which events are bad news (red), which are good (green); the rest are notes.
BAD_EVENTS = frozenset({EventKind.UNHEALTHY, EventKind.ALARM, EventKind.TERM_JUMP})
GOOD_EVENTS = frozenset({EventKind.HEALTHY, EventKind.ALARM_CLEARED})


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    kind: EventKind
    subject: str  # a member name, a certificate name, or the cluster
    text: str

    def line(self) -> str:
        """One line for `status --watch` and the events pane: time, kind, what happened."""
        return f"{self.at.astimezone(dt.UTC):%H:%M:%S} {self.kind.value:<13} {self.text}"


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the epoch
    rtt_ms: float | None
    raft_index: int | None
    db_size: int | None
    db_size_in_use: int | None = None


class History:
    """Bounded per-member samples and the events seen so far; feed it with `record()`."""

    def __init__(self, window_s: float = WINDOW_S, max_events: int = MAX_EVENTS) -> None:
        self.window_s = window_s
        self.events: deque[Event] = deque(maxlen=max_events)
        self._samples: dict[str, deque[Sample]] = {}
        self._last: ClusterHealth | None = None
        self._leader = ""  # the last leader seen, for "was X" across a round without one

    def record(self, health: ClusterHealth) -> list[Event]:
        """Add one round; return the events it brought (none for the first round: a baseline)."""
        at = health.checked_at.timestamp()
        for m in health.members:
            series = self._samples.setdefault(m.name, deque())
            if series and series[-1].at >= at:  # a round of the same instant again: no new point
                series.pop()
            series.append(Sample(at, m.rtt_ms, m.raft_index, m.db_size, m.db_size_in_use))
            while series and at - series[0].at > self.window_s:
                series.popleft()
        for gone in set(self._samples) - {m.name for m in health.members}:
            del self._samples[gone]  # a removed member takes its history along
        new = events_between(self._last, health, self._leader) if self._last is not None else []
        self._last = health
        if health.leader_id:
            self._leader = health.leader_name or health.leader_id
        self.events.extend(new)
        return new

    def samples(self, member: str) -> Sequence[Sample]:
        return tuple(self._samples.get(member, ()))

    def latency(self, member: str) -> list[float | None]:
        return [s.rtt_ms for s in self.samples(member)]

    def db_size(self, member: str) -> list[float | None]:
        return [None if s.db_size is None else float(s.db_size) for s in self.samples(member)]

    def quota_forecast(self, quota: int) -> QuotaForecast | None:
        """When the in-use size reaches `quota` at its growth over the window: the soonest of
        the members' forecasts (they hold the same keys; whichever gets there first raises
        NOSPACE for all). None when the window says nothing trustworthy (`forecast`)."""
        best: QuotaForecast | None = None
        for name in self._samples:
            series = [(s.at, s.db_size_in_use) for s in self.samples(name)]
            found = quota_forecast(series, quota)
            if found is not None and (best is None or found.days_left < best.days_left):
                best = found
        return best

    def index_rate(self, member: str) -> list[float | None]:
        """Raft index growth per second between rounds: the proposals the cluster commits."""
        points = self.samples(member)
        rates: list[float | None] = []
        for before, after in itertools.pairwise(points):
            if before.raft_index is None or after.raft_index is None or after.at <= before.at:
                rates.append(None)
            else:
                rates.append(max(after.raft_index - before.raft_index, 0) / (after.at - before.at))
        return rates


def events_between(
    before: ClusterHealth, after: ClusterHealth, last_leader: str = ""
) -> list[Event]:
    """What changed from `before` to `after`; `last_leader` names the leader before a round
    that had none (an election in between), so the change still says who it was."""
    at = after.checked_at
    out: list[Event] = []
    if after.leader_id and after.leader_id != before.leader_id:
        old = before.leader_name or before.leader_id or last_leader
        name = after.leader_name or after.leader_id
        if old != name:
            was = f" (was {old})" if old else ""
            out.append(Event(at, EventKind.LEADER, name, f"leader is now {name}{was}"))
    elif before.leader_id and not after.leader_id:
        out.append(Event(at, EventKind.UNHEALTHY, "cluster", "no leader"))
    old = {m.name: m for m in before.members}
    for m in after.members:
        prev = old.get(m.name)
        if prev is None:
            continue
        out += _member_events(at, prev, m)
    for name in sorted(set(before.alarms) - set(after.alarms)):
        out.append(Event(at, EventKind.ALARM_CLEARED, "cluster", f"alarm {name} cleared"))
    for name in sorted(set(after.alarms) - set(before.alarms)):
        where = ", ".join(m.name for m in after.members if name in m.alarms)
        out.append(Event(at, EventKind.ALARM, "cluster", f"alarm {name} raised ({where})"))
    days_before = {c.name: c.days_left for c in before.certificates}
    for c in after.certificates:
        was = days_before.get(c.name)
        if was is not None and was > RENEW_BEFORE_DAYS >= c.days_left:
            text = f"certificate {c.name} expires in {c.days_left} days"
            out.append(Event(at, EventKind.CERT_EXPIRING, c.name, text))
    return out


def _member_events(at: dt.datetime, prev: MemberHealth, now: MemberHealth) -> list[Event]:
    out: list[Event] = []
    if prev.healthy and not now.healthy:
        why = f": {now.error}" if now.error else ""
        out.append(Event(at, EventKind.UNHEALTHY, now.name, f"{now.name} unhealthy{why}"))
    elif not prev.healthy and now.healthy:
        out.append(Event(at, EventKind.HEALTHY, now.name, f"{now.name} healthy again"))
    if (
        prev.raft_term is not None
        and now.raft_term is not None
        and now.raft_term > prev.raft_term + 1
    ):
        text = f"{now.name} raft term jumped {prev.raft_term} → {now.raft_term}"
        out.append(Event(at, EventKind.TERM_JUMP, now.name, text))
    return out


def sparkline(values: Iterable[float | None], width: int) -> str:
    """The last `width` values as bars scaled between their own min and max; gaps stay blank."""
    tail = list(values)[-width:] if width > 0 else []
    known = [v for v in tail if v is not None]
    if not known:
        return " " * len(tail)
    low, high = min(known), max(known)
    span = high - low
    top = len(BARS) - 1
    return "".join(
        " " if v is None else BARS[0 if span == 0 else round((v - low) / span * top)] for v in tail
    )
