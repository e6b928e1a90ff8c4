"""`[monitoring] install = true`: what `apply` adds — a node exporter on every node and
Prometheus, with the exported configuration, on the plan's `prometheus_node`.

The exporter listens on the node's own address and the node's nftables table
(`hawizard.firewall`) lets only the scrapers reach it. Both come from the distribution's
packages (`hawizard.packages`: checked first, nothing started by the install), then get
their configuration and are enabled. The Prometheus node receives the same bundle
`hawizard monitoring export` writes, under /etc/prometheus (the Debian package's config
folder): prometheus.yml, the alert rules and tls/ (the monitoring key 0640
root:prometheus). A changed file reloads Prometheus; a converged node is not touched.
"""

from __future__ import annotations

import shlex

from hawizard import packages
from hawizard.firewall import firewall_step
from hawizard.monitoring.bundle import monitoring_bundle
from hawizard.plan import Node, Plan
from hawizard.remote_files import RemoteFile, directory, files_step
from hawizard.steps import Phase, Step

NODE_EXPORTER = "prometheus-node-exporter"
PROMETHEUS = "prometheus"
PROMETHEUS_DIR = "/etc/prometheus"
NODE_EXPORTER_DEFAULTS = "/etc/default/prometheus-node-exporter"
DEFAULT_NODE_EXPORTER_PORT = 9100
# Only what Prometheus reads: the dashboard, RBAC and rule tests stay on the operator's side.
ON_NODE = ("prometheus.yml", "etcd-alerts.yml", "tls/ca.pem", "tls/monitoring.pem")


def monitoring_phases(plan: Plan, *, apiserver_port: int = 6443) -> list[Phase]:
    """Node exporters everywhere, then Prometheus on its node (nothing when install is off)."""
    m = plan.monitoring
    if not m.install:
        return []
    phases = [Phase("node exporters", [s for n in plan.nodes for s in _exporter_steps(plan, n)])]
    if m.prometheus_node:
        node = plan.node(m.prometheus_node)
        phases.append(Phase("prometheus", _prometheus_steps(plan, node, apiserver_port)))
    return phases


def _package_step(node: Node, package: str, unit: str) -> Step:
    def check(host) -> bool:
        return not packages.is_installed(host, [package])

    def apply(host) -> None:
        packages.install(host, [package], quiet_units=[unit])

    return Step(node.name, f"{package} package", check, apply)


def _running_step(node: Node, unit: str, title: str) -> Step:
    """Enabled and active; `reload-or-restart` when a config step wrote something."""
    q = shlex.quote(unit)

    def check(host) -> bool:
        probe = f"systemctl is-enabled --quiet {q} && systemctl is-active --quiet {q}"
        return host.probe(probe, check=False).exited != 0

    def apply(host) -> None:
        host.run(f"systemctl enable --now {q}", stream=False)

    return Step(node.name, title, check, apply)


def _restart_after(unit: str):
    def after(host, written: list[RemoteFile]) -> None:
        q = shlex.quote(unit)
        host.run(f"systemctl is-active --quiet {q} && systemctl reload-or-restart {q} || true")

    return after


def exporter_defaults(plan: Plan, node: Node) -> str:
    """The exporter listens on the node's own address only, never on every interface (its
    metrics are unauthenticated; the node's firewall lets only the scrapers in)."""
    port = plan.monitoring.node_exporter_port
    host = f"[{node.address}]" if ":" in node.address else node.address
    listen = shlex.quote(f"--web.listen-address={host}:{port}")
    return (
        "# written by hawizard ([monitoring] node_exporter_port, the node's own address)\n"
        f"ARGS={listen}\n"
    )


def _exporter_steps(plan: Plan, node: Node) -> list[Step]:
    text = exporter_defaults(plan, node)
    return [
        _package_step(node, NODE_EXPORTER, NODE_EXPORTER),
        firewall_step(plan, node, "firewall (nftables) for the node exporter"),
        files_step(
            node.name,
            "node exporter listen address",
            lambda: [RemoteFile(NODE_EXPORTER_DEFAULTS, text.encode(), 0o644)],
            after=_restart_after(NODE_EXPORTER),
        ),
        _running_step(node, NODE_EXPORTER, "node exporter running"),
    ]


def prometheus_files(plan: Plan, apiserver_port: int = 6443) -> list[RemoteFile]:
    """The bundle's files Prometheus reads, placed under /etc/prometheus."""
    bundle = monitoring_bundle(plan, apiserver_port=apiserver_port)
    files = [directory(f"{PROMETHEUS_DIR}/tls", 0o750, "root", "prometheus")]
    for name in ON_NODE:
        if name in bundle:
            files.append(RemoteFile(f"{PROMETHEUS_DIR}/{name}", bundle[name].data, 0o644))
    key = "tls/monitoring-key.pem"
    if key in bundle:
        files.append(
            RemoteFile(f"{PROMETHEUS_DIR}/{key}", bundle[key].data, 0o640, "root", "prometheus")
        )
    return files


def _prometheus_steps(plan: Plan, node: Node, apiserver_port: int) -> list[Step]:
    return [
        _package_step(node, PROMETHEUS, PROMETHEUS),
        files_step(
            node.name,
            "prometheus configuration",
            lambda: prometheus_files(plan, apiserver_port),
            after=_restart_after(PROMETHEUS),
        ),
        _running_step(node, PROMETHEUS, "prometheus running"),
    ]
