"""The replay's time cursor: which recorded round is shown, stepping, playing, jumping to
the next event. Plain logic, no Textual (the replay screen drives it with a timer).

`frame()` rebuilds what the dashboard had in memory at the cursor: a `History` fed the
rounds of the sparkline window before it, so the sparklines and the events pane show that
moment, not the end of the recording.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from hawizard.health_history import WINDOW_S, History, events_between
from hawizard.recorder.rounds import Round

SPEEDS = (1, 2, 4, 8, 16, 32, 64)


@dataclass
class Frame:
    round: Round
    history: History


class ReplayCursor:
    def __init__(self, rounds: Sequence[Round]) -> None:
        if not rounds:
            raise ValueError("nothing to replay")
        self.rounds = list(rounds)
        self.index = 0
        self.playing = False
        self.speed = 1
        # rounds (indexes) that brought an event: where "next event" jumps to
        self.event_rounds = [
            i + 1
            for i, (a, b) in enumerate(itertools.pairwise(self.rounds))
            if events_between(a.health, b.health) or a.vip_holders != b.vip_holders
        ]

    @property
    def current(self) -> Round:
        return self.rounds[self.index]

    def step(self, by: int) -> bool:
        """Move by `by` rounds, within the recording; False at either end."""
        target = max(0, min(len(self.rounds) - 1, self.index + by))
        moved = target != self.index
        self.index = target
        return moved

    def next_event(self) -> bool:
        later = [i for i in self.event_rounds if i > self.index]
        if not later:
            return False
        self.index = later[0]
        return True

    def previous_event(self) -> bool:
        earlier = [i for i in self.event_rounds if i < self.index]
        if not earlier:
            return False
        self.index = earlier[-1]
        return True

    def faster(self, by: int) -> None:
        here = SPEEDS.index(self.speed) if self.speed in SPEEDS else 0
        self.speed = SPEEDS[max(0, min(len(SPEEDS) - 1, here + by))]

    def delay(self) -> float:
        """Seconds of wall time until the next round while playing: the recorded gap,
        divided by the speed (at least 50 ms, so a dense recording stays responsive)."""
        if self.index + 1 >= len(self.rounds):
            return 0.5
        gap = (self.rounds[self.index + 1].at - self.current.at).total_seconds()
        return max(0.05, gap / self.speed)

    def frame(self) -> Frame:
        history = History()
        now = self.current.at
        start = self.index
        while start > 0 and (now - self.rounds[start - 1].at).total_seconds() <= WINDOW_S:
            start -= 1
        for r in self.rounds[start : self.index + 1]:
            history.record(r.health)
        return Frame(self.current, history)

    def position(self) -> str:
        """ "22:12:27 UTC · round 5/278 · playing ×4" for the title."""
        state = f"playing ×{self.speed}" if self.playing else f"paused (×{self.speed})"
        at = self.current.at
        return f"{at:%Y-%m-%d %H:%M:%S} UTC · round {self.index + 1}/{len(self.rounds)} · {state}"
