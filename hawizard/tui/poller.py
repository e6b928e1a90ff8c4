"""The dashboard's loop, after Dolphie's worker manager: one probe round at a time, the next
armed only when the last one has ended (so a slow round delays the next instead of stacking
up), and after a failed round a wait that doubles per failure, up to `MAX_BACKOFF` seconds,
until a round succeeds again — a cluster that is down is not hammered every half second.

It also keeps what the rounds said over the last minutes (`history`: the series behind the
sparklines and the events between rounds), bounded, fed by the rounds already made.

Plain logic, no Textual: the screen gives it how to start a round and how to arm a timer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hawizard.health_history import Event, History

MAX_BACKOFF = 60.0  # seconds: the longest wait after failed rounds (or the interval, if longer)


class Poller:
    def __init__(
        self,
        start_round: Callable[[], None],
        arm: Callable[[float, Callable[[], None]], Any],
        interval: Callable[[], float],
        max_backoff: float = MAX_BACKOFF,
    ) -> None:
        self.start_round = start_round
        self.arm = arm  # (delay, callback) -> a timer with .stop()
        self.interval = interval
        self.max_backoff = max_backoff
        self.failures = 0  # failed rounds in a row
        self.polling = False
        self.again = False
        self.timer: Any = None
        self.history = History()

    def record(self, health: Any) -> list[Event]:
        """A round's health into the history; the events it brought."""
        return self.history.record(health)

    def poll(self) -> None:
        """A round now; while one runs, exactly one more right after it."""
        self.disarm()
        if self.polling:
            self.again = True
            return
        self.polling = True
        self.again = False
        self.start_round()

    def ended(self, ok: bool, *, rearm: bool) -> None:
        """A round ended; arm the next one (`rearm`: not paused, the screen is shown)."""
        self.polling = False
        self.failures = 0 if ok else self.failures + 1
        if self.again:
            self.poll()
        elif rearm:
            self.timer = self.arm(self.delay(), self.poll)

    def delay(self) -> float:
        base = self.interval()
        if self.failures == 0:
            return base
        return min(base * 2**self.failures, max(base, self.max_backoff))

    def rearm(self) -> None:
        """The interval changed: an armed timer is armed again with it."""
        if self.timer is not None:
            self.disarm()
            self.timer = self.arm(self.delay(), self.poll)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
