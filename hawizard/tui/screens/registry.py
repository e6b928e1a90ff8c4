"""Screen name -> factory; the app installs them all at start and switches by name."""

from __future__ import annotations

from collections.abc import Callable

from textual.screen import Screen

from hawizard.tui.screens.certificates import CertificatesScreen
from hawizard.tui.screens.control_plane import ControlPlaneScreen
from hawizard.tui.screens.dashboard import DashboardScreen
from hawizard.tui.screens.etcd import EtcdScreen
from hawizard.tui.screens.nodes import NodesScreen
from hawizard.tui.screens.preflight import PreflightScreen
from hawizard.tui.screens.readiness import ReadinessScreen
from hawizard.tui.screens.review import ReviewScreen
from hawizard.tui.screens.start import StartScreen

SCREENS: dict[str, Callable[[], Screen]] = {
    "start": StartScreen,
    "nodes": NodesScreen,
    "preflight": PreflightScreen,
    "certificates": CertificatesScreen,
    "etcd": EtcdScreen,
    "control-plane": ControlPlaneScreen,
    "review": ReviewScreen,
    "readiness": ReadinessScreen,
    "dashboard": DashboardScreen,
}
