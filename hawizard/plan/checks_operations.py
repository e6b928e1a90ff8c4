"""Pass 2 of plan validation for what runs beside the cluster: `[monitoring]` (scrapers,
ports, the recorder's bounds), `[backup]` and its off-site targets."""

from __future__ import annotations

import ipaddress

from hawizard.localfs import is_system_folder
from hawizard.plan.model import (
    Plan,
    every_seconds,
)
from hawizard.plan.problems import _port


def _check_monitoring(plan: Plan, names: dict[str, int], err) -> None:
    m = plan.monitoring
    if not 1 <= m.scrape_interval <= 3600:
        err("monitoring.scrape_interval", f"{m.scrape_interval} must be 1-3600 seconds (e.g. 15)")
    _port(m.node_exporter_port, "monitoring.node_exporter_port", err)
    if not 1 <= m.record_days <= 366:
        err("monitoring.record_days", f"{m.record_days} must be 1-366 days (e.g. 7)")
    if not 1 <= m.record_mb <= 100_000:
        err("monitoring.record_mb", f"{m.record_mb} must be 1-100000 MiB (e.g. 100)")
    _port(m.haproxy_metrics_port, "monitoring.haproxy_metrics_port", err)
    for i, source in enumerate(m.scrape_from):
        try:
            ipaddress.ip_network(source, strict=False)
        except ValueError:
            err(
                f"monitoring.scrape_from[{i}]",
                f"{source!r} is not an IP address or network (e.g. 10.1.2.50 or 10.9.0.0/24): "
                "the nodes' firewall lets only these scrape the metrics ports",
            )
    if m.prometheus_node and m.prometheus_node not in names:
        err(
            "monitoring.prometheus_node",
            f"{m.prometheus_node!r} is not a node in this plan; name the node to run Prometheus",
        )
    if m.install and not m.enabled:
        err(
            "monitoring.install",
            "needs enabled = true (Prometheus scrapes the apiservers with the monitoring "
            "certificate that enabled makes the PKI issue)",
        )
    elif m.install and not m.prometheus_node:
        err(
            "monitoring.prometheus_node",
            'is required with install = true: the node that runs Prometheus, e.g. "infra0"',
        )


def _check_backup(plan: Plan, err) -> None:
    bk = plan.backup
    if bk.every:
        try:
            every_seconds(bk.every)
        except ValueError as exc:
            err("backup.every", str(exc))
    if not 1 <= bk.keep <= 10000:
        err("backup.keep", f"{bk.keep} must be 1-10000 (the verified backups kept, e.g. 24)")
    if any(ord(c) < 32 or ord(c) == 127 for c in bk.dir):
        err("backup.dir", f"{bk.dir!r} holds a control character; give a plain folder path")
    elif bk.dir and is_system_folder(plan.resolve(bk.dir)):  # issue 25: root writes there
        err(
            "backup.dir",
            f"{bk.dir!r} is a system or shared folder; give a folder of your own, e.g. "
            '"backups" (beside the plan, created 0700)',
        )
    _check_offsite(plan, err)


def _check_offsite(plan: Plan, err) -> None:
    """`[backup]` targets, recipients and retention (issue 28): each error names the fix."""
    from hawizard.plan.backup_targets import BadTarget, check_recipient, parse_target

    bk = plan.backup
    for i, text in enumerate(bk.targets):
        try:
            parse_target(text)
        except BadTarget as exc:
            err(f"backup.targets[{i}]", str(exc))
    for i, text in enumerate(bk.recipients):
        why = check_recipient(text)
        if why:
            err(f"backup.recipients[{i}]", why)
    for name in ("keep_daily", "keep_weekly"):
        value = getattr(bk, name)
        if not 0 <= value <= 10000:
            err(f"backup.{name}", f"{value} must be 0-10000 (0: none kept by this rule)")
    if bk.drill:
        try:
            every_seconds(bk.drill)
        except ValueError as exc:
            err("backup.drill", str(exc))
        if not bk.targets:
            err("backup.drill", 'drills the newest off-site copy: set targets = ["..."] too')
        elif bk.recipients and not bk.drill_identity:
            err(
                "backup.drill_identity",
                "the backups are encrypted: name the age identity file the timed drill "
                'decrypts with, e.g. drill_identity = "/root/etcd-drill.age" (mode 0600)',
            )
    for name in ("ssh_key", "s3_endpoint", "drill_identity"):
        value = getattr(bk, name)
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            err(f"backup.{name}", f"{value!r} holds a control character; give a plain value")
    if bk.s3_endpoint and not bk.s3_endpoint.startswith(("http://", "https://")):
        err("backup.s3_endpoint", f"{bk.s3_endpoint!r}: give a URL, e.g. https://s3.example.org")
    elif "@" in bk.s3_endpoint.split("://", 1)[-1].split("/", 1)[0]:
        err(
            "backup.s3_endpoint",
            "holds credentials (user@ or key:secret@): never put them in the plan; give the "
            "bare URL and set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or ~/.aws/credentials",
        )
