"""Small text formatters shared by the tables (units like etcdctl prints them)."""

from __future__ import annotations


def size(n: int | None) -> str:
    """SI units like etcdctl (36864 -> 37 kB); `—` when unknown."""
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            if unit == "B":
                return f"{value:.0f} B"
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def number(value: int | None) -> str:
    return "—" if value is None else str(value)


def millis(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
