"""What the recording workload saw, and the checker that judges it (pure functions, no I/O).

A history is the writes the clients attempted (acknowledged or not, with the revision etcd
answered), the reads they made, and the final state read back after the operation. The
checker proves three properties, the ones etcd's own robustness tests check:

- **nothing acknowledged is lost**: for every key, the final value is the value of its last
  acknowledged write, or of a write attempted after it (an unacknowledged write may still
  have been applied: it is indeterminate, not failed-and-absent);
- **nothing appears that was never written**: every key and value in the final state was
  attempted by a client;
- **reads never go back**: a read that started after a write was acknowledged returns that
  write's value or a later attempted one, never an older value or nothing.

A restore goes back to a snapshot by design: writes acknowledged with a revision above the
snapshot's and before the restore finished are its declared **window**. They are reported
as such, not as lost, and they are no longer required afterwards.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Findings",
    "Read",
    "Window",
    "Write",
    "check",
    "max_stall",
    "p99",
]


@dataclass(frozen=True)
class Write:
    """One put a client attempted. `seq` orders a key's writes (one writer per key writes
    them one after the other); `t0`/`t1` are monotonic start/end; `revision` is etcd's
    answer, None when no endpoint acknowledged it."""

    key: str
    value: str
    seq: int
    t0: float
    t1: float
    revision: int | None = None

    @property
    def acked(self) -> bool:
        return self.revision is not None


@dataclass(frozen=True)
class Read:
    """One range read of `key` that succeeded: `value` None when the key was absent."""

    key: str
    value: str | None
    t0: float
    t1: float


@dataclass(frozen=True)
class Window:
    """A restore's declared loss window: acknowledged writes with a revision above
    `revision` (the snapshot's) that started before `until` (when the restore finished)."""

    revision: int
    until: float

    def covers(self, w: Write) -> bool:
        return w.revision is not None and w.revision > self.revision and w.t0 < self.until


@dataclass
class Findings:
    """The checker's verdict on one history: every list names keys (sorted)."""

    acked: int = 0
    failed: int = 0
    lost: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    windowed: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not (self.lost or self.phantom or self.stale)


def _by_key(writes: Iterable[Write]) -> dict[str, list[Write]]:
    keys: dict[str, list[Write]] = {}
    for w in writes:
        keys.setdefault(w.key, []).append(w)
    for ws in keys.values():
        ws.sort(key=lambda w: w.seq)
    return keys


def _allowed_after(ws: list[Write], index: int | None) -> set[str | None]:
    """Values a reader may see once write `index` was acknowledged (None: any)."""
    if index is None:
        return {None, *(w.value for w in ws)}
    return {w.value for w in ws[index:]}


def _last_required(ws: list[Write], before: float, window: Window | None) -> int | None:
    """Index of the last acknowledged write (outside the window) that ended before `before`."""
    found = None
    for i, w in enumerate(ws):
        if w.acked and w.t1 < before and not (window and window.covers(w)):
            found = i
    return found


def check(
    writes: Sequence[Write],
    reads: Sequence[Read],
    final: dict[str, str],
    window: Window | None = None,
) -> Findings:
    """Judge a history. `final` is every key under the workload's prefix as read at the end.

    Returns `Findings`; `consistent` is False when anything acknowledged is missing or has
    an older value (`lost`), a key or value was never written (`phantom`), or a read went
    back (`stale`). Keys of the restore `window` are listed in `windowed`, not in `lost`."""
    keys = _by_key(writes)
    out = Findings(
        acked=sum(1 for w in writes if w.acked), failed=sum(1 for w in writes if not w.acked)
    )
    for key, ws in keys.items():
        required = _last_required(ws, math.inf, window)
        if final.get(key) not in _allowed_after(ws, required):
            out.lost.append(key)
        elif window and any(window.covers(w) for w in ws) and final.get(key) != ws[-1].value:
            out.windowed.append(key)
    for key, value in final.items():
        if key not in keys or value not in {w.value for w in keys[key]}:
            out.phantom.append(key)
    stale = set()
    for r in reads:
        ws = keys.get(r.key, [])
        if r.value not in _allowed_after(ws, _last_required(ws, r.t0, window)):
            stale.add(r.key)
    out.stale = sorted(stale)
    out.lost.sort()
    out.phantom.sort()
    out.windowed.sort()
    return out


def max_stall(writes: Sequence[Write], start: float, end: float) -> float:
    """The longest time in [start, end] during which no write was acknowledged (seconds):
    the gaps between consecutive acknowledgements, and from `start` to the first one. A
    write acknowledged after `end` closes the last gap (a stall that outlasted the
    operation counts whole)."""
    acks = sorted(w.t1 for w in writes if w.acked and w.t1 > start)
    if not acks:
        return max(0.0, end - start)
    inside = [t for t in acks if t <= end]
    points = [start, *inside]
    points.append(next((t for t in acks if t > end), end))
    return max(b - a for a, b in itertools.pairwise(points))


def p99(latencies: Sequence[float]) -> float | None:
    """The 99th percentile by nearest rank (None for no samples)."""
    if not latencies:
        return None
    ordered = sorted(latencies)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]
