"""The dashboard's loop without Textual: one round at a time, re-armed when a round ends, and
a wait that doubles after failed rounds (Dolphie's backoff) until one succeeds."""

from __future__ import annotations

from hawizard.tui.poller import MAX_BACKOFF, Poller


class FakeTimer:
    def __init__(self, delay, callback):
        self.delay, self.callback, self.stopped = delay, callback, False

    def stop(self):
        self.stopped = True


def make(interval=2.0):
    rounds, timers = [], []

    def arm(delay, callback):
        timers.append(FakeTimer(delay, callback))
        return timers[-1]

    return Poller(lambda: rounds.append(1), arm, lambda: interval), rounds, timers


def test_one_round_at_a_time_and_one_more_when_asked_during_it():
    poller, rounds, timers = make()
    poller.poll()
    poller.poll()
    poller.poll()
    assert len(rounds) == 1 and poller.again  # asked twice more: one more round, not two
    poller.ended(True, rearm=True)
    assert len(rounds) == 2 and not timers  # started at once, no timer in between
    poller.ended(True, rearm=True)
    assert [t.delay for t in timers] == [2.0]


def test_failed_rounds_double_the_wait_up_to_the_cap_and_success_resets_it():
    poller, _rounds, timers = make(interval=2.0)
    delays = []
    for _ in range(8):
        poller.poll()
        poller.ended(False, rearm=True)
        delays.append(timers[-1].delay)
    assert delays[:5] == [4.0, 8.0, 16.0, 32.0, MAX_BACKOFF]
    assert max(delays) == MAX_BACKOFF
    poller.poll()
    poller.ended(True, rearm=True)
    assert timers[-1].delay == 2.0


def test_an_interval_longer_than_the_cap_is_kept():
    poller, _, timers = make(interval=120.0)
    poller.poll()
    poller.ended(False, rearm=True)
    assert timers[-1].delay == 120.0


def test_paused_or_hidden_arms_nothing_and_disarm_stops_the_timer():
    poller, _, timers = make()
    poller.poll()
    poller.ended(True, rearm=False)
    assert not timers
    poller.poll()
    poller.ended(True, rearm=True)
    poller.disarm()
    assert timers[-1].stopped and poller.timer is None
