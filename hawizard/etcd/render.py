"""Pure renderers for etcd: plan in, file text out (config file, systemd unit, URLs).

No I/O here, so the text is tested by content and then handed to the real `etcd` and
`systemd-analyze verify` in the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from hawizard.plan import DEFAULT_QUOTA_BACKEND_BYTES, Node, Plan
from hawizard.textguard import config_value, plain_lines, unit_word

CONFIG_PATH = "/etc/etcd/etcd.conf.yml"
UNIT_PATH = "/etc/systemd/system/etcd.service"
UPLOAD_BIN_DIR = "/usr/local/bin"
PACKAGE_BIN_DIR = "/usr/bin"


class ClusterState(StrEnum):
    NEW = "new"  # only for the first start of a freshly bootstrapped cluster
    EXISTING = "existing"  # every later start: a restart can never re-bootstrap


@dataclass(frozen=True)
class MemberFiles:
    """Where a member's TLS files live on its node (never the CA key)."""

    ca: str
    server_cert: str
    server_key: str
    peer_cert: str
    peer_key: str


def member_files(plan: Plan, member: Node) -> MemberFiles:
    d = plan.etcd.cert_dir.rstrip("/")
    return MemberFiles(
        ca=f"{d}/ca.pem",
        server_cert=f"{d}/server-{member.name}.pem",
        server_key=f"{d}/server-{member.name}-key.pem",
        peer_cert=f"{d}/peer-{member.name}.pem",
        peer_key=f"{d}/peer-{member.name}-key.pem",
    )


def client_url(plan: Plan, member: Node) -> str:
    return plan.etcd_client_url(member)


def peer_url(plan: Plan, member: Node) -> str:
    return f"https://{member.url_host}:{plan.etcd.peer_port}"


def metrics_url(plan: Plan, member: Node) -> str:
    return f"http://{member.url_host}:{plan.etcd.metrics_port}"


def initial_cluster(plan: Plan, members: tuple[Node, ...] | None = None) -> str:
    """`name=https://addr:2380,...` for the members a member starts with."""
    members = plan.etcd_nodes if members is None else members
    return ",".join(f"{m.name}={peer_url(plan, m)}" for m in members)


def cluster_token(plan: Plan) -> str:
    """Unique per cluster so two clusters' members can never join each other by mistake."""
    return f"hawizard-{plan.cluster.name}"


def bin_dir(plan: Plan, member: Node | None = None) -> str:
    """Where etcd's binaries live on a member: the package's /usr/bin, or /usr/local/bin for
    uploaded ones (so an uploaded etcd never fights the package manager over a file)."""
    install = plan.etcd_install(member) if member is not None else plan.etcd.install
    return UPLOAD_BIN_DIR if install == "upload" else PACKAGE_BIN_DIR


def etcd_binary(plan: Plan, member: Node | None = None) -> str:
    return f"{bin_dir(plan, member)}/etcd"


def etcdctl_binary(plan: Plan, member: Node | None = None) -> str:
    return f"{bin_dir(plan, member)}/etcdctl"


def render_config(
    plan: Plan,
    member: Node,
    state: ClusterState,
    members: tuple[Node, ...] | None = None,
) -> str:
    """The member's `--config-file` YAML (written as JSON-quoted scalars, which YAML reads).

    `members` is the membership the member starts with: the whole plan for a bootstrap, the
    current members plus itself when it joins an existing cluster.
    """
    files = member_files(plan, member)
    listen_clients = [client_url(plan, member)]
    if member.address not in ("127.0.0.1", "::1"):
        listen_clients.append(f"https://127.0.0.1:{plan.etcd.client_port}")
    tls = {
        "client-cert-auth": True,
        "trusted-ca-file": files.ca,
    }
    doc: list[tuple[str, object]] = [
        ("name", member.name),
        ("data-dir", plan.etcd.data_dir),
        ("listen-client-urls", ",".join(listen_clients)),
        ("advertise-client-urls", client_url(plan, member)),
        ("listen-peer-urls", peer_url(plan, member)),
        ("initial-advertise-peer-urls", peer_url(plan, member)),
        ("listen-metrics-urls", metrics_url(plan, member)),
        ("initial-cluster", initial_cluster(plan, members)),
        ("initial-cluster-token", cluster_token(plan)),
        ("initial-cluster-state", state.value),
        (
            "client-transport-security",
            {"cert-file": files.server_cert, "key-file": files.server_key, **tls},
        ),
        (
            "peer-transport-security",
            {"cert-file": files.peer_cert, "key-file": files.peer_key, **tls},
        ),
        # 3.4 turns the JSON gateway off with --config-file; health probes need it.
        ("enable-grpc-gateway", True),
        # Without pre-vote a healed partition forces a needless election (term jumps).
        ("pre-vote", True),
        ("auto-compaction-mode", "periodic"),
        ("auto-compaction-retention", "1h"),
        ("logger", "zap"),
        ("log-outputs", ["stderr"]),
    ]
    if plan.etcd.quota_backend_bytes != DEFAULT_QUOTA_BACKEND_BYTES:
        # Only when it differs from etcd's own default (the same 2 GiB): a plan that leaves it
        # alone renders the same file as before, so no member restarts for nothing.
        doc.append(("quota-backend-bytes", plan.etcd.quota_backend_bytes))
    name = unit_word(member.name, "etcd member name")
    cluster = unit_word(plan.cluster.name, "cluster.name")
    lines = [
        f"# etcd member {name} of cluster {cluster}: written by hawizard.",
        "# Edit the plan and run `hawizard apply`, not this file.",
    ]
    for key, value in doc:
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {json.dumps(_scalar(v, k))}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {json.dumps(_scalar(value, key))}")
    return plain_lines("\n".join(lines) + "\n", "etcd config")


def _scalar(value: object, key: str) -> object:
    """Strings go into the config only as single printable lines (JSON quoting does the rest)."""
    if isinstance(value, str):
        return config_value(value, f"etcd config {key}")
    if isinstance(value, list):
        return [_scalar(v, key) for v in value]
    return value


def config_state(text: str) -> ClusterState | None:
    """The `initial-cluster-state` a rendered config carries (None if not ours)."""
    for line in text.splitlines():
        if line.startswith("initial-cluster-state:"):
            return ClusterState(json.loads(line.split(":", 1)[1]))
    return None


def settings(text: str) -> list[str]:
    """The lines of a config that a running member acts on: all but comments and the
    `initial-*` lines, which etcd reads only when it first creates its data dir."""
    return [
        line
        for line in text.splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("initial-cluster")
    ]


def render_unit(plan: Plan, member: Node | None = None) -> str:
    """systemd unit: Type=notify so `start` means "serving", restarted if it dies.

    It replaces a distribution's own unit (same name, in /etc, which wins over /lib) and reads
    no EnvironmentFile: the package's /etc/default/etcd (ETCD_* variables etcd would honour)
    never reaches this member, only hawizard's config file does.
    """
    cluster = unit_word(plan.cluster.name, "cluster.name")
    binary = unit_word(etcd_binary(plan, member), "etcd binary")
    data_dir = unit_word(plan.etcd.data_dir, "etcd.data_dir")
    text = f"""\
# written by hawizard for cluster {cluster}
[Unit]
Description=etcd key-value store ({cluster})
Documentation=https://etcd.io/docs/
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
User=etcd
Group=etcd
ExecStart={binary} --config-file {CONFIG_PATH}
Restart=on-failure
RestartSec=5s
TimeoutStartSec=120s
LimitNOFILE=65536
NoNewPrivileges=true
PrivateTmp=true
ProtectSystem=full
ProtectHome=true
ReadWritePaths={data_dir}

[Install]
WantedBy=multi-user.target
"""
    return plain_lines(text, "etcd.service")
