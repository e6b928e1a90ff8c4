"""Monitoring as files: Prometheus scrape config, etcd alert rules (and their unit tests), a
Grafana dashboard and the RBAC the monitoring user needs. Pure renderers, plan in, text out;
`hawizard.ops.monitoring` writes them (`hawizard monitoring export PLAN DIR`).
"""

from hawizard.monitoring.grafana import render_dashboard
from hawizard.monitoring.prometheus import (
    ALERTS,
    RULES_FILE,
    RULES_TEST_FILE,
    SCRAPE_FILE,
    TLS_DIR,
    render_alert_tests,
    render_alerts,
    render_rbac,
    render_scrape_config,
)

__all__ = [
    "ALERTS",
    "RULES_FILE",
    "RULES_TEST_FILE",
    "SCRAPE_FILE",
    "TLS_DIR",
    "render_alert_tests",
    "render_alerts",
    "render_dashboard",
    "render_rbac",
    "render_scrape_config",
]
