"""`--since 2m`, `--until 2026-12-04T03:12`: a time as a duration back from now or an ISO time."""

from __future__ import annotations

import datetime as dt
import re

_DURATION = re.compile(r"^([0-9]{1,7})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TimeSpecError(ValueError):
    """A time the operator wrote that is neither a duration nor an ISO time."""


def parse_time(text: str, now: dt.datetime, field: str = "--since") -> dt.datetime:
    """`text` as an aware UTC time: "90s", "2m", "1h", "7d" mean that long before `now`; an
    ISO 8601 time without a zone is taken as UTC. Raises `TimeSpecError` naming `field`."""
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        return now - dt.timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise TimeSpecError(
            f"{field} {text!r} is neither a duration nor a time: write e.g. 2m, 1h, 7d "
            "or 2026-12-04T03:12:00 (UTC unless it names a zone)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)
