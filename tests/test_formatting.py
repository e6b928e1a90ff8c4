"""One way to print sizes, numbers, latencies, durations and certificate ages (both faces)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hawizard import formatting as fmt


def test_sizes_like_etcdctl():
    assert fmt.size(999) == "999 B"
    assert fmt.size(36864) == "37 kB"
    assert fmt.size(1500) == "1.5 kB"
    assert fmt.size(2 * 1024**3) == "2.1 GB"
    assert fmt.size(None) == "—" and fmt.size(None, "-") == "-"


def test_durations_and_ages():
    assert fmt.seconds(0.42) == "0.4 s"
    assert fmt.seconds(75) == "1m15s"
    assert fmt.seconds(3700) == "1h01m"
    assert fmt.expired_ago(-3) == "expired 3d ago"
    assert fmt.millis(1.26) == "1.3 ms" and fmt.millis(None, "-") == "-"
    assert fmt.number(7) == "7" and fmt.number(None) == "—"


@given(st.integers(min_value=0, max_value=10**18))
def test_a_size_is_short_and_ends_in_a_unit(n):
    text = fmt.size(n)
    number, unit = text.split(" ")
    assert unit in ("B", "kB", "MB", "GB", "TB")
    assert float(number) >= 0 and (unit == "TB" or len(number) <= 4)


@given(st.text(), st.integers(min_value=1, max_value=80))
def test_clip_never_exceeds_the_width(text, width):
    clipped = fmt.clip(text, width)
    assert len(clipped) <= max(width, 1) and (clipped == text or clipped.endswith("…"))
