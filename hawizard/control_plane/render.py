"""Pure renderers for the control plane: plan in, file text out.

systemd units for kube-apiserver, kube-controller-manager and kube-scheduler, the audit
policy and kubeconfigs (the balancer's haproxy config is `hawizard.balancer.render`). No I/O
here: the tests check the text by content and hand it to the real readers
(`systemd-analyze verify`, `kubectl config view`).

Kubeconfigs embed their certificates and key (`*-data`, base64) rather than pointing at files:
a kubeconfig is then one self-contained 0600 file that cannot drift from the certs it names,
the admin one can be copied off a master and used as it is, and `kubectl config view` checks
the whole thing. kubeadm makes the same choice.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from hawizard.plan import Node, Plan
from hawizard.textguard import config_value, plain_lines, unit_word

__all__ = [
    "APISERVER_PORT",
    "BIN_DIR",
    "FILES",
    "SERVICES",
    "UNIT_DIR",
    "RemoteFiles",
    "apiserver_url",
    "endpoint_url",
    "etcd_servers",
    "oidc_flags",
    "render_apiserver_unit",
    "render_audit_policy",
    "render_controller_manager_unit",
    "render_kubeconfig",
    "render_scheduler_unit",
    "render_unit",
    "service_account_issuer",
]

APISERVER_PORT = 6443
BIN_DIR = "/usr/local/bin"
UNIT_DIR = "/etc/systemd/system"
# The services in the order they start: the two controllers need a serving apiserver.
SERVICES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


@dataclass(frozen=True)
class RemoteFiles:
    """Where everything lives on a master. Keys 0600, `pki` dirs 0700."""

    kube_dir: str = "/etc/kubernetes"
    pki_dir: str = "/etc/kubernetes/pki"
    etcd_pki_dir: str = "/etc/kubernetes/pki/etcd"
    audit_log_dir: str = "/var/log/kubernetes"

    # Kubernetes CA: the key is here only because kube-controller-manager signs certificates
    # (CSRs approved in the cluster) with it; nothing else on the node reads it.
    @property
    def ca_cert(self) -> str:
        return f"{self.pki_dir}/ca.pem"

    @property
    def ca_key(self) -> str:
        return f"{self.pki_dir}/ca-key.pem"

    @property
    def apiserver_cert(self) -> str:
        return f"{self.pki_dir}/apiserver.pem"

    @property
    def apiserver_key(self) -> str:
        return f"{self.pki_dir}/apiserver-key.pem"

    @property
    def sa_key(self) -> str:
        return f"{self.pki_dir}/sa.key"

    @property
    def sa_pub(self) -> str:
        return f"{self.pki_dir}/sa.pub"

    # etcd: its CA *certificate* only (to verify the members), never the etcd CA key.
    @property
    def etcd_ca_cert(self) -> str:
        return f"{self.etcd_pki_dir}/ca.pem"

    @property
    def etcd_client_cert(self) -> str:
        return f"{self.etcd_pki_dir}/apiserver-etcd-client.pem"

    @property
    def etcd_client_key(self) -> str:
        return f"{self.etcd_pki_dir}/apiserver-etcd-client-key.pem"

    @property
    def encryption_config(self) -> str:
        return f"{self.kube_dir}/encryption-config.yaml"

    @property
    def audit_policy(self) -> str:
        return f"{self.kube_dir}/audit-policy.yaml"

    @property
    def audit_log(self) -> str:
        return f"{self.audit_log_dir}/audit.log"

    def kubeconfig(self, who: str) -> str:
        """`controller-manager`, `scheduler` or `admin`."""
        return f"{self.kube_dir}/{who}.kubeconfig"

    @staticmethod
    def binary(name: str) -> str:
        return f"{BIN_DIR}/{name}"

    @staticmethod
    def unit(service: str) -> str:
        return f"{UNIT_DIR}/{service}.service"


FILES = RemoteFiles()


# --- URLs -----------------------------------------------------------------------------------


def apiserver_url(node: Node) -> str:
    return f"https://{node.url_host}:{APISERVER_PORT}"


def endpoint_url(plan: Plan) -> str:
    """The control-plane endpoint (the load balancer) as clients use it."""
    host, port = plan.endpoint_host_port
    return f"https://{f'[{host}]' if ':' in host else host}:{port}"


def etcd_servers(plan: Plan) -> str:
    """Every etcd member's client URL, over TLS, comma-separated."""
    return ",".join(plan.etcd_client_url(m) for m in plan.etcd_nodes)


def service_account_issuer(plan: Plan) -> str:
    return f"https://kubernetes.default.svc.{plan.control_plane.cluster_domain}"


# --- systemd units --------------------------------------------------------------------------


def render_unit(description: str, binary: str, flags: list[str], plan: Plan) -> str:
    """A unit running `binary` with one flag per line; restarted whenever it dies on error.

    Every flag must be one plain word (`textguard.unit_word`): a flag that held a newline, a
    `%` specifier or a `$` would add or change a directive of a unit that runs as root.
    """
    cluster = unit_word(plan.cluster.name, "cluster.name")
    words = [unit_word(f, f"{binary} flag") for f in flags]
    exec_lines = " \\\n".join(
        [f"ExecStart={unit_word(FILES.binary(binary), 'binary')}", *(f"  {f}" for f in words)]
    )
    text = f"""\
# written by hawizard for cluster {cluster}: edit the plan and run `hawizard apply`.
[Unit]
Description={config_value(description, "description")} ({cluster})
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/{binary}/
After=network-online.target
Wants=network-online.target

[Service]
{exec_lines}
Restart=on-failure
RestartSec=5s
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""
    return plain_lines(text, f"{binary}.service")


def render_apiserver_unit(plan: Plan, node: Node) -> str:
    """kube-apiserver on `node`: every etcd member over mTLS, RBAC + Node, encryption, audit."""
    cp = plan.control_plane
    flags = [
        f"--advertise-address={node.address}",
        f"--secure-port={APISERVER_PORT}",
        "--allow-privileged=true",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--client-ca-file={FILES.ca_cert}",
        f"--tls-cert-file={FILES.apiserver_cert}",
        f"--tls-private-key-file={FILES.apiserver_key}",
        f"--etcd-servers={etcd_servers(plan)}",
        f"--etcd-cafile={FILES.etcd_ca_cert}",
        f"--etcd-certfile={FILES.etcd_client_cert}",
        f"--etcd-keyfile={FILES.etcd_client_key}",
        f"--encryption-provider-config={FILES.encryption_config}",
        f"--service-account-issuer={service_account_issuer(plan)}",
        f"--service-account-key-file={FILES.sa_pub}",
        f"--service-account-signing-key-file={FILES.sa_key}",
        f"--service-cluster-ip-range={cp.service_cidr}",
        f"--audit-policy-file={FILES.audit_policy}",
        f"--audit-log-path={FILES.audit_log}",
        "--audit-log-maxage=30",
        "--audit-log-maxbackup=10",
        "--audit-log-maxsize=100",
        "--profiling=false",
        *oidc_flags(plan),
    ]
    return render_unit("Kubernetes API server", "kube-apiserver", flags, plan)


def oidc_flags(plan: Plan) -> list[str]:
    """`--oidc-*` from `[control_plane.oidc]`: users sign in through the identity provider.

    Raises ValueError for a value that is not one plain token: it would end the ExecStart
    line, start another flag, or be split by systemd (validation reports these first).
    """
    o = plan.control_plane.oidc
    if o is None:
        return []
    values = {
        "issuer-url": o.issuer_url,
        "client-id": o.client_id,
        "username-claim": o.username_claim,
        "groups-claim": o.groups_claim,
        "username-prefix": o.username_prefix,
        "groups-prefix": o.groups_prefix,
        "ca-file": o.ca_file,
    }
    flags = []
    for name, value in values.items():
        if not value:
            continue
        if not _UNIT_TOKEN.match(value):
            raise ValueError(f"control_plane.oidc: {value!r} cannot be a --oidc-{name} value")
        flags.append(f"--oidc-{name}={value}")
    return flags


# A flag value systemd passes through as it is: no whitespace, quotes, backslashes, `$`, `%`
# (specifiers) or `;` — nothing that splits, expands or ends the ExecStart line.
_UNIT_TOKEN = re.compile(r"^[A-Za-z0-9_.:/@#+=,~-]+$")


def _controller_flags(who: str) -> list[str]:
    kubeconfig = FILES.kubeconfig(who)
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        # Several masters run this service; only the lease holder acts, the others wait.
        "--leader-elect=true",
        "--bind-address=127.0.0.1",
        "--profiling=false",
    ]


def render_controller_manager_unit(plan: Plan) -> str:
    """kube-controller-manager: signs CSRs with the Kubernetes CA key, hence that key on disk."""
    flags = [
        *_controller_flags("controller-manager"),
        f"--cluster-name={plan.cluster.name}",
        f"--cluster-signing-cert-file={FILES.ca_cert}",
        f"--cluster-signing-key-file={FILES.ca_key}",
        f"--root-ca-file={FILES.ca_cert}",
        f"--service-account-private-key-file={FILES.sa_key}",
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={plan.control_plane.service_cidr}",
    ]
    return render_unit("Kubernetes controller manager", "kube-controller-manager", flags, plan)


def render_scheduler_unit(plan: Plan) -> str:
    return render_unit(
        "Kubernetes scheduler", "kube-scheduler", _controller_flags("scheduler"), plan
    )


def render_audit_policy() -> str:
    """Who did what, without ever writing a Secret's or token's content into the log.

    Rules match first-to-last: health checks are not logged, sensitive resources at
    `Metadata` (no bodies), other writes with their request body, reads at `Metadata`.
    """
    return """\
# written by hawizard: the kube-apiserver audit policy
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  - level: None
    nonResourceURLs:
      - /healthz*
      - /livez*
      - /readyz*
      - /version
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps", "serviceaccounts/token"]
      - group: authentication.k8s.io
        resources: ["tokenreviews"]
  - level: Request
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: Metadata
"""


# --- kubeconfigs ----------------------------------------------------------------------------


def render_kubeconfig(
    *,
    cluster: str,
    server: str,
    user: str,
    ca_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
) -> str:
    """A kubeconfig with one cluster, one user and one context, certificates embedded.

    Scalars are JSON-quoted (valid YAML), so no name can break the document's structure.
    """

    def q(value: str) -> str:
        return json.dumps(config_value(value, "kubeconfig value"))

    context = f"{user}@{cluster}"
    return f"""\
apiVersion: v1
kind: Config
clusters:
  - name: {q(cluster)}
    cluster:
      server: {q(server)}
      certificate-authority-data: {q(_b64(ca_pem))}
users:
  - name: {q(user)}
    user:
      client-certificate-data: {q(_b64(cert_pem))}
      client-key-data: {q(_b64(key_pem))}
contexts:
  - name: {q(context)}
    context:
      cluster: {q(cluster)}
      user: {q(user)}
current-context: {q(context)}
preferences: {{}}
"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
