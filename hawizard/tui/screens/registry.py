"""Screen name -> factory; the app installs them all at start and switches by name.

Each factory imports its screen's module when the screen is first shown (Textual makes an
installed callable into the screen on first use, then keeps it): the first frame pays for
its own screen only, not for all nine and what they import (issue 30: ~0.3 s of the
dashboard's first frame).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from textual.screen import Screen


def _lazy(module: str, name: str) -> Callable[[], Screen]:
    def make() -> Screen:
        return getattr(importlib.import_module(f"hawizard.tui.screens.{module}"), name)()

    make.__qualname__ = name  # what Textual's logs name
    return make


SCREENS: dict[str, Callable[[], Screen]] = {
    "start": _lazy("start", "StartScreen"),
    "nodes": _lazy("nodes", "NodesScreen"),
    "preflight": _lazy("preflight", "PreflightScreen"),
    "certificates": _lazy("certificates", "CertificatesScreen"),
    "etcd": _lazy("etcd", "EtcdScreen"),
    "control-plane": _lazy("control_plane", "ControlPlaneScreen"),
    "review": _lazy("review", "ReviewScreen"),
    "readiness": _lazy("readiness", "ReadinessScreen"),
    "dashboard": _lazy("dashboard", "DashboardScreen"),
}
