"""The monitoring files as one bundle (relative path -> bytes and mode): what `monitoring
export` writes into a folder and what `apply` puts under /etc/prometheus on the plan's
Prometheus node, so the two can never differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from hawizard.monitoring.grafana import render_dashboard
from hawizard.monitoring.prometheus import (
    RULES_FILE,
    RULES_TEST_FILE,
    SCRAPE_FILE,
    TLS_DIR,
    render_alert_tests,
    render_alerts,
    render_rbac,
    render_scrape_config,
)
from hawizard.plan import Plan

DASHBOARD_FILE = "grafana-dashboard.json"
RBAC_FILE = "monitoring-rbac.yaml"
KEY_FILE = f"{TLS_DIR}/monitoring-key.pem"


@dataclass(frozen=True)
class BundleFile:
    data: bytes
    mode: int  # 0o600 for the key, 0o644 otherwise
    secret: bool = False


def monitoring_bundle(plan: Plan, *, apiserver_port: int = 6443) -> dict[str, BundleFile]:
    """Every monitoring file for `plan`. Reads the monitoring certificate, its key and the
    Kubernetes CA certificate from the PKI when the plan has masters (OSError if missing)."""
    texts = {
        SCRAPE_FILE: render_scrape_config(plan, apiserver_port=apiserver_port),
        RULES_FILE: render_alerts(plan),
        RULES_TEST_FILE: render_alert_tests(plan),
        DASHBOARD_FILE: render_dashboard(plan),
        RBAC_FILE: render_rbac(),
    }
    out = {name: BundleFile(text.encode(), 0o644) for name, text in texts.items()}
    if plan.control_plane_nodes:
        from hawizard.pki import monitoring_spec, paths

        spec = monitoring_spec(plan)
        out[f"{TLS_DIR}/ca.pem"] = BundleFile(paths(plan).kubernetes_ca.cert.read_bytes(), 0o644)
        out[f"{TLS_DIR}/monitoring.pem"] = BundleFile(spec.paths.cert.read_bytes(), 0o644)
        out[KEY_FILE] = BundleFile(spec.paths.key.read_bytes(), 0o600, secret=True)
    return out
