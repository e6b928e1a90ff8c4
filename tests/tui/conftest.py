"""TUI test fixtures: a steady cursor for every test (Harlequin's trick for stable snapshots)."""

from __future__ import annotations

import pytest
from textual.widgets import Input


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """No blinking cursor: a snapshot taken mid-blink would differ from run to run."""
    monkeypatch.setattr(Input, "cursor_blink", False)
