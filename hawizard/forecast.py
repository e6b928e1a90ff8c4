"""When the etcd backend reaches its quota, from the in-use size's recent growth.

A least-squares line through (time, bytes in use) over the history window; the forecast is
"quota reached in ~N days" = (quota - in use now) / slope. It is only given when it means
something: enough points spread over enough time, a positive slope, and a good fit (R² at
least `MIN_R2`), because a noisy or flat series extrapolated to a date would be a guess
dressed up as a fact. Pure: no I/O, never raises on any series (NaN, inf, duplicates, None).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MIN_POINTS", "MIN_R2", "MIN_SPAN_S", "QuotaForecast", "quota_forecast"]

MIN_POINTS = 6
MIN_SPAN_S = 60.0  # the points must cover at least this much time
MIN_R2 = 0.8
WARN_DAYS = 7.0  # `hawizard check` warns below this


@dataclass(frozen=True)
class QuotaForecast:
    bytes_per_day: float  # growth of the in-use size (> 0)
    days_left: float  # until the in-use size reaches the quota at that rate (>= 0)
    r2: float
    points: int

    def text(self) -> str:
        rate = self.bytes_per_day / 1024**2
        when = "now" if self.days_left <= 0 else f"in ~{_days(self.days_left)}"
        return f"in use +{rate:.1f} MiB/day: quota reached {when}"

    def to_json(self) -> dict:
        return {
            "bytes_per_day": round(self.bytes_per_day),
            "days_left": round(self.days_left, 2),
            "r2": round(self.r2, 3),
            "points": self.points,
        }


def _days(days: float) -> str:
    if days < 1:
        return f"{days * 24:.0f} h"
    return f"{days:.0f} days" if days >= 10 else f"{days:.1f} days"


def quota_forecast(
    series: Iterable[tuple[float, float | None]], quota: float
) -> QuotaForecast | None:
    """`series`: (seconds since the epoch, bytes in use); None (or not finite) entries are
    skipped. None when the series says nothing trustworthy about growth."""
    try:
        points = [
            (float(t), float(v))
            for t, v in series
            if v is not None and math.isfinite(float(t)) and math.isfinite(float(v))
        ]
        q = float(quota)
    except (TypeError, ValueError, OverflowError):
        return None
    if len(points) < MIN_POINTS or not math.isfinite(q) or q <= 0:
        return None
    try:
        fit = _fit(points)
    except (OverflowError, ZeroDivisionError):  # values beyond any real backend's
        return None
    if fit is None:
        return None
    slope, r2, fitted_now = fit
    if not (math.isfinite(slope) and slope > 0 and math.isfinite(r2) and r2 >= MIN_R2):
        return None
    per_day = slope * 86400
    if not (math.isfinite(per_day) and per_day > 0):
        return None
    days = max(0.0, (q - fitted_now) / per_day)
    if not math.isfinite(days):
        return None
    return QuotaForecast(per_day, days, min(1.0, r2), len(points))


def _fit(points: list[tuple[float, float]]) -> tuple[float, float, float] | None:
    """(slope per second, R², the line's value at the last point), or None for a series
    without a spread in time or in size."""
    t0 = points[0][0]
    xs = [t - t0 for t, _ in points]
    ys = [v for _, v in points]
    span = max(xs) - min(xs)
    if not math.isfinite(span) or span < MIN_SPAN_S:
        return None
    n = len(points)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) * (x - mx) for x in xs)
    syy = sum((y - my) * (y - my) for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    if not all(math.isfinite(v) for v in (sxx, syy, sxy)) or sxx <= 0 or syy <= 0:
        return None
    slope = sxy / sxx
    return slope, sxy * sxy / (sxx * syy), my + slope * (xs[-1] - mx)
