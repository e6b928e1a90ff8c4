"""Text for numbers, sizes, durations and certificate ages, one way for both faces.

The CLI's tables (`hawizard status`) and the dashboard's cells print the same value the same
way; only the mark for "unknown" differs (`missing`: "-" in plain terminal tables, "—" in the
TUI), since a CLI table is often piped into tools that expect ASCII.
"""

from __future__ import annotations

DASH = "—"


def size(n: int | None, missing: str = DASH) -> str:
    """SI units like etcdctl (humanize.Bytes): 36864 -> 37 kB."""
    if n is None:
        return missing
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            if unit == "B":
                return f"{value:.0f} B"
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def number(value: int | None, missing: str = DASH) -> str:
    return missing if value is None else str(value)


def millis(value: float | None, missing: str = DASH) -> str:
    """A latency: 1.234 -> "1.2 ms"."""
    return missing if value is None else f"{value:.1f} ms"


def seconds(value: float | None, missing: str = DASH) -> str:
    """A duration: 0.4 -> "0.4 s", 75 -> "1m15s", 3700 -> "1h01m"."""
    if value is None:
        return missing
    if value < 60:
        return f"{value:.1f} s"
    whole = round(value)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def expired_ago(days_left: int) -> str:
    """A certificate past its end: -3 -> "expired 3d ago"."""
    return f"expired {-days_left}d ago"


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
