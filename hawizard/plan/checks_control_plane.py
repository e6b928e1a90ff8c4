"""Pass 2 of plan validation for `[control_plane]` and `[control_plane.oidc]`: versions,
binaries and their checksums, the CNI, the OIDC issuer and claims."""

from __future__ import annotations

import ipaddress
import re

from hawizard.plan.model import (
    KUBE_BINARIES,
    Plan,
)
from hawizard.plan.problems import _LABEL, _PATH, _VERSION, Severity


def _check_control_plane(plan: Plan, names: dict[str, int], add) -> None:
    cp = plan.control_plane

    def err(field: str, message: str) -> None:
        add(Severity.ERROR, field, message)

    try:
        net = ipaddress.ip_network(cp.service_cidr, strict=False)
        if net.num_addresses < 4:
            err("control_plane.service_cidr", f"{cp.service_cidr} is too small for services")
    except ValueError:
        err(
            "control_plane.service_cidr",
            f"{cp.service_cidr!r} is not a network (expected e.g. 10.96.0.0/12)",
        )
    if not all(_LABEL.fullmatch(p) for p in cp.cluster_domain.split(".")):
        err("control_plane.cluster_domain", f"{cp.cluster_domain!r} is not a DNS domain")
    for name in cp.sha256:
        if name not in KUBE_BINARIES:
            err(
                f"control_plane.sha256.{name}",
                f"unknown binary {name!r}; the checksums are for {', '.join(KUBE_BINARIES)}",
            )
    if not _VERSION.fullmatch(cp.kubernetes_version):
        err("control_plane.kubernetes_version", f"{cp.kubernetes_version!r} must look like 1.32.0")
    if cp.install not in ("download", "upload", "none"):
        err(
            "control_plane.install",
            f'{cp.install!r} is not an install method; use "download", "upload" or "none"',
        )
    elif cp.install == "upload" and not cp.binaries:
        err(
            "control_plane.binaries",
            'is required with install = "upload": a folder with the server binaries or '
            "kubernetes-server-linux-amd64.tar.gz",
        )
    elif cp.install == "download" and plan.control_plane_nodes:
        missing = [b for b in KUBE_BINARIES if b not in cp.sha256]
        if missing:
            err(
                "control_plane.sha256",
                f"missing checksums for {', '.join(missing)}; downloads are only used after "
                "their sha256 is checked (copy them from the release's .sha256 files)",
            )


_CNI = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.:@/#-]{0,64}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:@/+=-]{1,256}$")
_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")


def _check_oidc(plan: Plan, err) -> None:
    """`--oidc-*` flag values: each one token that a unit's ExecStart line carries verbatim."""
    o = plan.control_plane.oidc
    if o is None:
        return
    f = "control_plane.oidc"
    if not _URL.fullmatch(o.issuer_url):
        err(
            f"{f}.issuer_url",
            f"{o.issuer_url!r} must be an https:// URL without query or spaces "
            "(the provider's issuer, e.g. https://login.example.org/realms/ops)",
        )
    if not _CLIENT_ID.fullmatch(o.client_id):
        err(
            f"{f}.client_id",
            f"{o.client_id!r} must be the client id registered at the provider "
            "(letters, digits, and _ . : @ / + = -; no spaces)",
        )
    if not _CLAIM.fullmatch(o.username_claim):
        err(f"{f}.username_claim", f"{o.username_claim!r} is not a claim name (e.g. email, sub)")
    if o.groups_claim and not _CLAIM.fullmatch(o.groups_claim):
        err(f"{f}.groups_claim", f"{o.groups_claim!r} is not a claim name (e.g. groups)")
    for key in ("username_prefix", "groups_prefix"):
        if not _PREFIX.fullmatch(getattr(o, key)):
            err(f"{f}.{key}", f"{getattr(o, key)!r} may hold letters, digits, and _ . : @ / # -")
    if o.ca_file and (not o.ca_file.startswith("/") or not _PATH.fullmatch(o.ca_file)):
        err(
            f"{f}.ca_file",
            f"{o.ca_file!r} must be an absolute path on the masters without spaces "
            "(e.g. /etc/kubernetes/pki/oidc-ca.pem), or empty for the system trust store",
        )
