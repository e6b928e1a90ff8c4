"""Prometheus files for a plan: the scrape config, the etcd alert rules and their unit tests.

The alert rules follow the etcd project's own mixin (`contrib/mixin` in etcd's repository),
written against the metrics etcd documents: `up` of the plain metrics listener,
`etcd_server_has_leader`, `etcd_server_leader_changes_seen_total`,
`etcd_disk_wal_fsync_duration_seconds`, `etcd_disk_backend_commit_duration_seconds`,
`etcd_mvcc_db_total_size_in_bytes` / `etcd_server_quota_backend_bytes` and
`etcd_server_proposals_failed_total`. Each etcd target carries a `member` label, so an alert
names the member it is about.

The apiservers are scraped over HTTPS with the monitoring client certificate (CN
`hawizard-monitoring`, no group): `render_rbac` is the ClusterRole that lets that user GET
/metrics and nothing else — never the admin certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

from hawizard.monitoring import yaml_text
from hawizard.plan import Plan

SCRAPE_FILE = "prometheus.yml"
RULES_FILE = "etcd-alerts.yml"
RULES_TEST_FILE = "etcd-alerts.test.yml"
TLS_DIR = "tls"  # next to prometheus.yml: ca.pem, monitoring.pem, monitoring-key.pem (0600)
MONITORING_USER = "hawizard-monitoring"  # the CN of pki's monitoring certificate


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str


_JOB = 'job="etcd"'
ALERTS: tuple[Alert, ...] = (
    Alert(
        "etcdMembersDown",
        f"up{{{_JOB}}} == 0",
        "1m",
        "critical",
        "etcd member down",
        "etcd member {{ $labels.member }} ({{ $labels.instance }}) has not answered its "
        "metrics listener for 1 minute.",
    ),
    Alert(
        "etcdInsufficientMembers",
        f"sum by (job) (up{{{_JOB}}} == bool 1) < ((count by (job) (up{{{_JOB}}}) + 1) / 2)",
        "3m",
        "critical",
        "etcd cluster has lost quorum",
        "Fewer than a quorum of etcd members are up ({{ $value }} up).",
    ),
    Alert(
        "etcdNoLeader",
        f"etcd_server_has_leader{{{_JOB}}} == 0",
        "1m",
        "critical",
        "etcd member has no leader",
        "etcd member {{ $labels.member }} ({{ $labels.instance }}) has no leader.",
    ),
    Alert(
        "etcdHighNumberOfLeaderChanges",
        f"increase(etcd_server_leader_changes_seen_total{{{_JOB}}}[15m]) >= 4",
        "5m",
        "warning",
        "etcd leader changes often",
        "etcd member {{ $labels.member }} saw {{ $value }} leader changes in 15 minutes: "
        "slow disks, an overloaded network or flapping members.",
    ),
    Alert(
        "etcdHighFsyncDurations",
        "histogram_quantile(0.99, sum by (job, instance, member, le) "
        f"(rate(etcd_disk_wal_fsync_duration_seconds_bucket{{{_JOB}}}[5m]))) > 0.5",
        "10m",
        "warning",
        "etcd WAL fsync is slow",
        "99th percentile WAL fsync on {{ $labels.member }} is {{ $value }}s (over 0.5s).",
    ),
    Alert(
        "etcdHighCommitDurations",
        "histogram_quantile(0.99, sum by (job, instance, member, le) "
        f"(rate(etcd_disk_backend_commit_duration_seconds_bucket{{{_JOB}}}[5m]))) > 0.25",
        "10m",
        "warning",
        "etcd backend commit is slow",
        "99th percentile backend commit on {{ $labels.member }} is {{ $value }}s (over 0.25s).",
    ),
    Alert(
        "etcdDatabaseQuotaLowSpace",
        f"(last_over_time(etcd_mvcc_db_total_size_in_bytes{{{_JOB}}}[5m]) / "
        f"last_over_time(etcd_server_quota_backend_bytes{{{_JOB}}}[5m])) * 100 > 80",
        "10m",
        "warning",
        "etcd database is near its quota",
        "etcd's database on {{ $labels.member }} uses {{ $value }}% of its quota: compact and "
        "defragment (etcdctl defrag), or raise quota-backend-bytes.",
    ),
    Alert(
        "etcdHighNumberOfFailedProposals",
        f"rate(etcd_server_proposals_failed_total{{{_JOB}}}[15m]) > 5",
        "15m",
        "warning",
        "etcd proposals fail",
        "etcd member {{ $labels.member }} failed {{ $value }} proposals per second over "
        "15 minutes: leader elections or lost quorum.",
    ),
)


def _seconds(n: int) -> str:
    return f"{n}s"


def _target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def render_scrape_config(plan: Plan, *, apiserver_port: int = 6443) -> str:
    """prometheus.yml: etcd, apiservers (monitoring cert), haproxy, node exporters."""
    m = plan.monitoring
    interval = _seconds(m.scrape_interval)
    jobs: list[dict] = [
        {
            "job_name": "etcd",
            "static_configs": [
                {
                    "targets": [_target(n.address, plan.etcd.metrics_port)],
                    "labels": {"member": n.name, "cluster": plan.cluster.name},
                }
                for n in plan.etcd_nodes
            ],
        }
    ]
    masters = plan.control_plane_nodes
    if masters:
        jobs.append(
            {
                "job_name": "kube-apiserver",
                "scheme": "https",
                "tls_config": {
                    "ca_file": f"{TLS_DIR}/ca.pem",
                    "cert_file": f"{TLS_DIR}/monitoring.pem",
                    "key_file": f"{TLS_DIR}/monitoring-key.pem",
                },
                "static_configs": [
                    {
                        "targets": [_target(n.address, apiserver_port)],
                        "labels": {"node": n.name, "cluster": plan.cluster.name},
                    }
                    for n in masters
                ],
            }
        )
    balancers = plan.balancer_nodes  # one in single mode, every VIP holder candidate in vip
    if balancers:
        jobs.append(
            {
                "job_name": "haproxy",
                "static_configs": [
                    {
                        "targets": [_target(b.address, m.haproxy_metrics_port)],
                        "labels": {"node": b.name, "cluster": plan.cluster.name},
                    }
                    for b in balancers
                ],
            }
        )
    jobs.append(
        {
            "job_name": "node",
            "static_configs": [
                {
                    "targets": [_target(n.address, m.node_exporter_port)],
                    "labels": {"node": n.name, "cluster": plan.cluster.name},
                }
                for n in plan.nodes
            ],
        }
    )
    doc = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": _seconds(max(1, min(10, m.scrape_interval - 1))),
            "evaluation_interval": interval,
        },
        "rule_files": [RULES_FILE],
        "scrape_configs": jobs,
    }
    head = (
        f"# written by hawizard for cluster {_comment(plan.cluster.name)}: "
        "hawizard monitoring export PLAN DIR\n"
    )
    return head + yaml_text.dumps(doc)


def _comment(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")


def render_alerts(plan: Plan) -> str:
    """etcd-alerts.yml: one group, every alert of ALERTS."""
    rules = [
        {
            "alert": a.name,
            "expr": a.expr,
            "for": a.for_,
            "labels": {"severity": a.severity},
            "annotations": {"summary": a.summary, "description": a.description},
        }
        for a in ALERTS
    ]
    return yaml_text.dumps({"groups": [{"name": "etcd", "rules": rules}]})


def render_alert_tests(plan: Plan) -> str:
    """`promtool test rules` cases: a member down (pending before `for:`, firing after) and a
    member without a leader; proof that the rules say what their names promise."""
    members = plan.etcd_nodes[:3] or plan.nodes[:1]
    down = members[0]
    series = []
    for n in members:
        values = "1x3 0x10" if n is down else "1x13"
        series.append(
            {
                "series": (
                    f'up{{job="etcd",instance="{_target(n.address, plan.etcd.metrics_port)}",'
                    f'member="{n.name}"}}'
                ),
                "values": values,
            }
        )
    instance = _target(down.address, plan.etcd.metrics_port)
    alert_labels = {"job": "etcd", "instance": instance, "member": down.name}
    down_alert = _alert("etcdMembersDown")
    no_leader = _alert("etcdNoLeader")
    tests = [
        {
            "interval": "15s",
            "input_series": series,
            "alert_rule_test": [
                # 0 from 1m on; `for: 1m` -> pending (not firing) at 1m30s, firing at 2m15s.
                {"eval_time": "1m30s", "alertname": "etcdMembersDown", "exp_alerts": []},
                {
                    "eval_time": "2m15s",
                    "alertname": "etcdMembersDown",
                    "exp_alerts": [
                        {
                            "exp_labels": {**alert_labels, "severity": down_alert.severity},
                            "exp_annotations": {
                                "summary": down_alert.summary,
                                "description": down_alert.description.replace(
                                    "{{ $labels.member }}", down.name
                                ).replace("{{ $labels.instance }}", instance),
                            },
                        }
                    ],
                },
                {"eval_time": "2m15s", "alertname": "etcdInsufficientMembers", "exp_alerts": []},
            ],
        },
        {
            "interval": "15s",
            "input_series": [
                {
                    "series": (
                        f'etcd_server_has_leader{{job="etcd",instance="{instance}",'
                        f'member="{down.name}"}}'
                    ),
                    "values": "1x3 0x10",
                }
            ],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": "etcdNoLeader", "exp_alerts": []},
                {
                    "eval_time": "2m30s",
                    "alertname": "etcdNoLeader",
                    "exp_alerts": [
                        {
                            "exp_labels": {**alert_labels, "severity": no_leader.severity},
                            "exp_annotations": {
                                "summary": no_leader.summary,
                                "description": no_leader.description.replace(
                                    "{{ $labels.member }}", down.name
                                ).replace("{{ $labels.instance }}", instance),
                            },
                        }
                    ],
                },
            ],
        },
    ]
    return yaml_text.dumps(
        {"rule_files": [RULES_FILE], "evaluation_interval": "15s", "tests": tests}
    )


def _alert(name: str) -> Alert:
    return next(a for a in ALERTS if a.name == name)


def render_rbac() -> str:
    """The monitoring user may GET /metrics: a ClusterRole and its binding, nothing more."""
    docs = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": MONITORING_USER},
            "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": MONITORING_USER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": MONITORING_USER,
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": MONITORING_USER}
            ],
        },
    ]
    return "---\n".join(yaml_text.dumps(d) for d in docs)
