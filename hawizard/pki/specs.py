"""What the plan requires: one `CertSpec` per certificate, derived from the plan alone.

Issuing and inspection both read these specs, so "what we issue" and "what we check a cert
against" can never drift apart.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from hawizard.pki.layout import CertKey, Layout, paths
from hawizard.plan import Plan

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CA(StrEnum):
    """The two trust roots; the value is also the sub-folder under `pki.dir`."""

    ETCD = "etcd"
    KUBERNETES = "kubernetes"


class Usage(StrEnum):
    """Extended key usages, named as in openssl's and kubeadm's output."""

    SERVER = "serverAuth"
    CLIENT = "clientAuth"

    @property
    def oid(self) -> ObjectIdentifier:
        return _EKU_OIDS[self]


_EKU_OIDS = {
    Usage.SERVER: ExtendedKeyUsageOID.SERVER_AUTH,
    Usage.CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH,
}
USAGE_BY_OID = {oid: usage for usage, oid in _EKU_OIDS.items()}

SERVER_CLIENT = frozenset({Usage.SERVER, Usage.CLIENT})
SERVER = frozenset({Usage.SERVER})
CLIENT = frozenset({Usage.CLIENT})


@dataclass(frozen=True)
class CertSpec:
    """One certificate as the plan wants it. `name` is its id, e.g. `etcd/server-infra0`."""

    name: str
    ca: CA
    paths: CertKey
    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    usages: frozenset[Usage] = field(default_factory=frozenset)
    is_ca: bool = False

    @property
    def sans(self) -> tuple[str, ...]:
        return (*self.dns_names, *(str(ip) for ip in self.ip_addresses))


def needs_kubernetes(plan: Plan) -> bool:
    """Whether the plan has a control plane, and so needs the Kubernetes CA, its certificates,
    the service-account keys and the encryption config. An etcd-only plan makes none of them."""
    return bool(plan.control_plane_nodes)


def ca_specs(plan: Plan, *, every: bool = False) -> dict[CA, CertSpec]:
    """The CA certificates hawizard creates when none is in place (an imported one is kept):
    the Kubernetes CA only for a plan with a control plane, unless `every` is asked for."""
    layout = paths(plan)
    org = (plan.cluster.name,)
    specs = {
        CA.ETCD: CertSpec("etcd/ca", CA.ETCD, layout.etcd_ca, "etcd-ca", org, is_ca=True),
        CA.KUBERNETES: CertSpec(
            "kubernetes/ca", CA.KUBERNETES, layout.kubernetes_ca, "kubernetes-ca", org, is_ca=True
        ),
    }
    if not every and not needs_kubernetes(plan):
        del specs[CA.KUBERNETES]
    return specs


def leaf_specs(plan: Plan) -> list[CertSpec]:
    """Every leaf certificate of the plan, etcd first, in a stable order."""
    layout = paths(plan)
    kubernetes = _kubernetes_specs(plan, layout) if needs_kubernetes(plan) else []
    # the monitoring user scrapes apiservers: no control plane, no certificate (and no CA)
    monitoring = [monitoring_spec(plan)] if plan.monitoring.enabled and kubernetes else []
    return [*_etcd_specs(plan, layout), *kubernetes, *monitoring]


def _etcd_specs(plan: Plan, layout: Layout) -> list[CertSpec]:
    specs: list[CertSpec] = []
    for node in plan.etcd_nodes:
        dns, ips = split_sans([node.name, node.address, "localhost", "127.0.0.1", "::1"])
        for kind, pair in (("server", layout.etcd_server(node)), ("peer", layout.etcd_peer(node))):
            specs.append(
                CertSpec(
                    f"etcd/{kind}-{node.name}",
                    CA.ETCD,
                    pair,
                    node.name,
                    dns_names=dns,
                    ip_addresses=ips,
                    usages=SERVER_CLIENT,
                )
            )
    specs.append(
        CertSpec("etcd/etcd-admin", CA.ETCD, layout.etcd_admin, "etcd-admin", usages=CLIENT)
    )
    specs.append(
        CertSpec(
            "etcd/apiserver-etcd-client",
            CA.ETCD,
            layout.apiserver_etcd_client,
            "apiserver-etcd-client",
            usages=CLIENT,
        )
    )
    return specs


def apiserver_sans(plan: Plan) -> list[str]:
    """The names clients may use to reach an apiserver: in-cluster, the LB, every master."""
    domain = plan.control_plane.cluster_domain
    sans = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{domain}",
        plan.control_plane.first_service_ip,
        plan.endpoint_host_port[0],
    ]
    for node in plan.control_plane_nodes:
        sans += [node.name, node.address]
    return [*sans, "localhost", "127.0.0.1"]


def _kubernetes_specs(plan: Plan, layout: Layout) -> list[CertSpec]:
    dns, ips = split_sans(apiserver_sans(plan))
    k8s = CA.KUBERNETES
    return [
        CertSpec(
            "kubernetes/apiserver",
            k8s,
            layout.apiserver,
            "kube-apiserver",
            dns_names=dns,
            ip_addresses=ips,
            usages=SERVER,
        ),
        CertSpec(
            "kubernetes/admin", k8s, layout.admin, "admin", ("system:masters",), usages=CLIENT
        ),
        CertSpec(
            "kubernetes/kube-controller-manager",
            k8s,
            layout.controller_manager,
            "system:kube-controller-manager",
            usages=CLIENT,
        ),
        CertSpec(
            "kubernetes/kube-scheduler",
            k8s,
            layout.scheduler,
            "system:kube-scheduler",
            usages=CLIENT,
        ),
    ]


# The monitoring user: in no group (least privilege); `hawizard monitoring export` writes the
# ClusterRole that lets it GET /metrics and nothing else.
MONITORING_USER = "hawizard-monitoring"


def monitoring_spec(plan: Plan) -> CertSpec:
    return CertSpec(
        "kubernetes/monitoring",
        CA.KUBERNETES,
        paths(plan).monitoring,
        MONITORING_USER,
        usages=CLIENT,
    )


def split_sans(values: list[str]) -> tuple[tuple[str, ...], tuple[IPAddress, ...]]:
    """Sort SAN values into DNS names and IP addresses, dropping duplicates, keeping order."""
    dns: list[str] = []
    ips: list[IPAddress] = []
    for value in values:
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            if value and value.lower() not in dns:
                dns.append(value.lower())
        else:
            if ip not in ips:
                ips.append(ip)
    return tuple(dns), tuple(ips)
