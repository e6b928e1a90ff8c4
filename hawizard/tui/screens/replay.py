"""Replay: the dashboard as it was, fed from the flight recorder instead of probes.

The same screen, tables and colours as the live dashboard (a subclass of it), with a time
cursor instead of a probe loop: ←/→ step a round, space plays and pauses, [ and ] change
the speed, n and N jump to the next and the previous event. Nothing is probed and nothing
can be changed from here: the day-2 keys and the probe-loop keys are switched off.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Static

from hawizard.tui.replay_cursor import ReplayCursor
from hawizard.tui.screens.dashboard import DashboardScreen
from hawizard.tui.widgets.status import Mark

# The live dashboard's keys that probe or change the cluster: off in a replay.
LIVE_ONLY = frozenset(
    {
        "refresh_now",
        "pause",
        "slower",
        "faster",
        "back",
        "add_member",
        "remove_member",
        "replace_member",
        "rotate_cert",
        "restore",
        "maintenance",
        "readiness",
        "cancel_change",
        "close_change",
    }
)


class ReplayScreen(DashboardScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: the member table's own ←/→ would take them first otherwise
        Binding("left", "step(-1)", "◀ Step", priority=True),
        Binding("right", "step(1)", "Step ▶", priority=True),
        Binding("space", "play", "Play/pause", priority=True),
        Binding("left_square_bracket", "speed(-1)", "Slower"),
        Binding("right_square_bracket", "speed(1)", "Faster"),
        Binding("n", "next_event", "Next event"),
        Binding("N", "previous_event", "Prev event"),
    ]

    def __init__(self, cursor: ReplayCursor) -> None:
        super().__init__()
        self.cursor = cursor
        self._play_timer: Any = None
        self._extra = ""  # the VIP holders and apiserver states of the shown round

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LIVE_ONLY:
            return False
        return super().check_action(action, parameters)

    # --- no probe loop --------------------------------------------------------------------

    def poll(self) -> None:
        """A replay never probes: the shown round is the cursor's."""

    def on_screen_resume(self) -> None:
        self._shown_plan = self.plan
        self.show_sections()
        self.show_frame()

    def on_screen_suspend(self) -> None:
        self.stop_playing()

    def show_sections(self) -> None:
        # apiservers are recorded as state words only; their states join the info line
        self.query_one("#api-title").display = False
        self.query_one("#apiservers").display = False

    # --- the cursor -----------------------------------------------------------------------

    def show_frame(self) -> None:
        frame = self.cursor.frame()
        extra = []
        if frame.round.vip_holders is not None:
            extra.append(f"VIP held by {', '.join(frame.round.vip_holders) or 'nobody'}")
        if frame.round.apiservers:
            extra.append("apiservers: " + ", ".join(f"{n} {s}" for n, s in frame.round.apiservers))
        self._extra = " · ".join(extra)
        self.poller.history = frame.history
        self.health = frame.round.health
        self.rounds = self.cursor.index + 1
        self.show(frame.round.health, [])
        self.show_events()
        self.show_title()

    def show_title(self) -> None:
        title = f"hawizard replay · cluster {self.plan.cluster.name} · {self.cursor.position()}"
        self.query_one("#dash-title", Static).update(Content(title))

    def show_banner(self, mark: Mark, cls: str, head: str, info: str) -> None:
        """The live banner, its info line followed by what only the recording kept."""
        super().show_banner(mark, cls, head, " · ".join(p for p in (info, self._extra) if p))

    def action_step(self, by: int) -> None:
        self.stop_playing()
        if self.cursor.step(by):
            self.show_frame()
        else:
            self.bell()

    def action_next_event(self) -> None:
        self.stop_playing()
        if self.cursor.next_event():
            self.show_frame()
        else:
            self.notify("no later event in this recording")

    def action_previous_event(self) -> None:
        self.stop_playing()
        if self.cursor.previous_event():
            self.show_frame()
        else:
            self.notify("no earlier event in this recording")

    def action_speed(self, by: int) -> None:
        self.cursor.faster(by)
        self.show_title()

    def action_play(self) -> None:
        if self.cursor.playing:
            self.stop_playing()
        else:
            self.cursor.playing = True
            self.arm_play()
        self.show_title()

    def arm_play(self) -> None:
        self._play_timer = self.set_timer(self.cursor.delay(), self.play_step)

    def play_step(self) -> None:
        if not self.cursor.playing:
            return
        if self.cursor.step(1):
            self.show_frame()
            self.arm_play()
        else:
            self.stop_playing()
            self.show_title()

    def stop_playing(self) -> None:
        self.cursor.playing = False
        if self._play_timer is not None:
            self._play_timer.stop()
            self._play_timer = None
