"""A Grafana dashboard (JSON model) with the panels hawizard's own dashboard shows: members up,
leader, raft progress, database size, disk latency, peer round trips, apiservers, balancer.

Grafana is not in Debian, so it is written, not installed: import it in Grafana and pick the
Prometheus data source (`${datasource}`).
"""

from __future__ import annotations

import hashlib
import json

from hawizard.plan import Plan

# (title, PromQL, unit, legend) — one time-series panel each.
PANELS: tuple[tuple[str, str, str, str], ...] = (
    ("etcd members up", 'up{job="etcd"}', "short", "{{member}}"),
    ("Has leader", 'etcd_server_has_leader{job="etcd"}', "short", "{{member}}"),
    (
        "Leader changes (1h)",
        'increase(etcd_server_leader_changes_seen_total{job="etcd"}[1h])',
        "short",
        "{{member}}",
    ),
    (
        "Raft proposals committed / s",
        'rate(etcd_server_proposals_committed_total{job="etcd"}[5m])',
        "ops",
        "{{member}}",
    ),
    (
        "Failed proposals / s",
        'rate(etcd_server_proposals_failed_total{job="etcd"}[5m])',
        "ops",
        "{{member}}",
    ),
    ("Database size", 'etcd_mvcc_db_total_size_in_bytes{job="etcd"}', "bytes", "{{member}}"),
    (
        "WAL fsync p99",
        "histogram_quantile(0.99, sum by (member, le) "
        '(rate(etcd_disk_wal_fsync_duration_seconds_bucket{job="etcd"}[5m])))',
        "s",
        "{{member}}",
    ),
    (
        "Backend commit p99",
        "histogram_quantile(0.99, sum by (member, le) "
        '(rate(etcd_disk_backend_commit_duration_seconds_bucket{job="etcd"}[5m])))',
        "s",
        "{{member}}",
    ),
    (
        "Peer round trip p99",
        "histogram_quantile(0.99, sum by (member, To, le) "
        '(rate(etcd_network_peer_round_trip_time_seconds_bucket{job="etcd"}[5m])))',
        "s",
        "{{member}} → {{To}}",
    ),
    ("apiservers up", 'up{job="kube-apiserver"}', "short", "{{node}}"),
    (
        "apiserver requests / s",
        'sum by (node, code) (rate(apiserver_request_total{job="kube-apiserver"}[5m]))',
        "reqps",
        "{{node}} {{code}}",
    ),
    (
        "Balancer backends up",
        'haproxy_server_status{job="haproxy",state="UP"}',
        "short",
        "{{server}}",
    ),
)


def render_dashboard(plan: Plan) -> str:
    """The dashboard JSON; its uid is stable per cluster so a re-import replaces it."""
    name = plan.cluster.name
    panels = []
    for i, (title, expr, unit, legend) in enumerate(PANELS):
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 8, "x": (i % 3) * 8, "y": (i // 3) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {
                        "refId": "A",
                        "expr": expr.replace('job="', f'cluster="{name}",job="', 1),
                        "legendFormat": legend,
                    }
                ],
            }
        )
    doc = {
        "uid": "hawizard-" + hashlib.sha256(name.encode()).hexdigest()[:12],
        "title": f"hawizard · {name}",
        "tags": ["hawizard", "etcd", "kubernetes"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
