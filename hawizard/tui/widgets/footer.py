"""Textual's footer, recomposed only when what it shows changes.

Textual's `Footer` recomposes on every bindings refresh of its screen: each focus move and
each reactive declared with `bindings=True` unmounts every key and mounts and styles a new one
per binding (16 on the dashboard). Opening the dashboard, two such recomposes came before its
first full frame and showed the same keys twice over (issue 30: the first frame ≤ 0.5 s). This
one compares what it would show (keys, labels, actions, enabled, tooltips) with what it shows,
and recomposes only on a difference, once for any number of refreshes before it runs.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter

__all__ = ["Footer"]


class Footer(TextualFooter):
    # Textual's compact style drops a group label's margin, so "+- interval" ran into the
    # next key: one column after it, as between keys
    DEFAULT_CSS = """
    Footer.-compact FooterLabel {
        margin: 0 1 0 0;
    }
    """
    _shown: tuple[Any, ...] | None = None
    _pending = False  # a recompose is scheduled

    def __init__(self, *, roomy: int = 0) -> None:
        """`roomy`: below this many columns the keys sit closer together (Textual's compact
        style), for a screen with so many keys that they would not fit a 120-column
        terminal otherwise (the dashboard); 0: Textual's spacing at any width."""
        super().__init__()
        self.roomy = roomy

    def on_resize(self) -> None:
        self.compact = self.size.width < self.roomy

    @staticmethod
    def _content(screen: Screen) -> tuple[Any, ...]:
        return tuple(
            (binding.key, binding.description, binding.action, binding.group, enabled, tooltip)
            for (_, binding, enabled, tooltip) in screen.active_bindings.values()
            if binding.show
        )

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = self._content(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        # Textual's own, plus: nothing when a recompose is on its way already (it reads the
        # bindings when it runs) or when the keys shown are the same.
        self._bindings_ready = True
        if not screen.app.app_focus or not (self.is_attached and screen is self.screen):
            return
        if self._pending or self._content(screen) == self._shown:
            return
        self._pending = True
        self.call_after_refresh(self._recompose)

    async def _recompose(self) -> None:
        self._pending = False
        await self.recompose()
