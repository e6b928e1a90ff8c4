"""The quota forecast: a least-squares fit of the in-use size, given only when meaningful
(synthetic series: steady growth, flat, shrinking, noise, too few or too close points), and a
property test that it never raises and only forecasts growth."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hawizard.forecast import MIN_POINTS, quota_forecast

MIB = 1024**2
QUOTA = 2048 * MIB


def line(per_day: float, start: float, n: int = 30, step: float = 10.0):
    return [(1e9 + i * step, start + per_day / 86400 * i * step) for i in range(n)]


def test_steady_growth_says_when_the_quota_is_reached():
    # 1 GiB in use, growing 256 MiB/day: the remaining 1 GiB lasts ~4 days
    f = quota_forecast(line(256 * MIB, 1024 * MIB), QUOTA)
    assert f is not None
    assert f.bytes_per_day == pytest.approx(256 * MIB, rel=1e-6)
    last_in_use = 1024 * MIB + 256 * MIB / 86400 * 290
    assert f.days_left == pytest.approx((QUOTA - last_in_use) / (256 * MIB), rel=1e-6)
    assert f.r2 == pytest.approx(1.0) and f.points == 30
    assert "quota reached in ~4.0 days" in f.text() and "+256.0 MiB/day" in f.text()


def test_over_the_quota_already_reads_now():
    f = quota_forecast(line(10 * MIB, QUOTA + MIB), QUOTA)
    assert f is not None and f.days_left == 0 and "reached now" in f.text()


@pytest.mark.parametrize(
    "series",
    [
        line(0, 500 * MIB),  # flat
        line(-50 * MIB, 500 * MIB),  # shrinking (a compaction)
        line(256 * MIB, 500 * MIB, n=MIN_POINTS - 1),  # too few points
        line(256 * MIB, 500 * MIB, step=1.0),  # 30 points within 29 s: no trend yet
        [],
    ],
)
def test_no_forecast_without_meaningful_growth(series):
    assert quota_forecast(series, QUOTA) is None


def test_noise_around_a_slight_growth_gives_no_forecast():
    rng = random.Random(7)
    noisy = [(t, v + rng.uniform(-50, 50) * MIB) for t, v in line(MIB, 500 * MIB)]
    assert quota_forecast(noisy, QUOTA) is None  # poor fit: not shown


def test_gaps_and_garbage_points_are_skipped():
    series = line(256 * MIB, 1024 * MIB)
    series[3] = (series[3][0], None)
    series.insert(5, (math.nan, 1.0))
    series.insert(6, (1e9 + 45, math.inf))
    f = quota_forecast(series, QUOTA)
    assert f is not None and f.points == 29


FLOATS = st.floats(allow_nan=True, allow_infinity=True)


@given(
    st.lists(st.tuples(FLOATS, st.one_of(st.none(), FLOATS)), max_size=40),
    st.one_of(FLOATS, st.integers(-(2**70), 2**70)),
)
@example([(0.0, 0.0)] * 4 + [(0.0, 1.6e154), (60.0, 0.0)], 1.0)  # (x - mean) ** 2 overflowed
@example([(0.0, 0.0)] * 5 + [(1.6e154, 0.0)], 1.0)
def test_never_raises_and_only_forecasts_growth(series, quota):
    f = quota_forecast(series, quota)
    if f is not None:
        assert f.bytes_per_day > 0 and f.days_left >= 0
        assert math.isfinite(f.days_left) and 0 <= f.r2 <= 1
        assert f.to_json()["points"] >= MIN_POINTS
