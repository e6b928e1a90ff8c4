"""The plan model: every choice the operator makes, as frozen dataclasses.

Secrets never live here: only paths. Reading and writing TOML is `hawizard.plan.files`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

PLAN_VERSION = 1
# The Kubernetes binaries every master gets, in the order they are installed.
KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


class Role(StrEnum):
    ETCD = "etcd"
    CONTROL_PLANE = "control-plane"


class KeyType(StrEnum):
    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    RSA_2048 = "rsa-2048"
    RSA_4096 = "rsa-4096"


DEFAULT_ROLES = (Role.ETCD, Role.CONTROL_PLANE)


@dataclass(frozen=True)
class SSH:
    user: str = "root"
    port: int = 22
    key: str = "~/.ssh/id_ed25519"
    # Large uploads (binaries, snapshots) go gzip-compressed: a third of the bytes, for some
    # 0.3 s of the node's CPU per 60 MB to unpack. `false` where the link is faster than the
    # node unpacks (~2 Gbit/s and up: the lab's veth pairs, a fast local network).
    compress: bool = True


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    roles: tuple[Role, ...] = DEFAULT_ROLES
    ssh: SSH = field(default_factory=SSH)
    # How etcd reaches this node when it differs from the cluster's `etcd.install`
    # ("package" or "upload"); empty: the cluster's setting.
    etcd_install: str = ""

    @property
    def is_etcd(self) -> bool:
        return Role.ETCD in self.roles

    @property
    def is_control_plane(self) -> bool:
        return Role.CONTROL_PLANE in self.roles

    @property
    def url_host(self) -> str:
        """The address as it appears in a URL (IPv6 in brackets)."""
        return f"[{self.address}]" if ":" in self.address else self.address


@dataclass(frozen=True)
class Cluster:
    name: str = "hawizard"
    # The load balancer in front of the apiservers, "host:port"; empty means the single master.
    control_plane_endpoint: str = ""
    # SSH host keys are checked against this file; unknown keys need explicit trust.
    known_hosts: str = "~/.ssh/known_hosts"
    # The pod network (CNI) the cluster runs, e.g. "cilium"; hawizard does not deploy it, but
    # `hawizard check` judges network policy support from it. Empty = not said.
    cni: str = ""


@dataclass(frozen=True)
class PKISettings:
    # Empty: `<plan-stem>.pki/` beside the plan file (`Plan.pki_dir`), so two plans made with
    # the defaults never share a CA; a plan that names a folder keeps it.
    dir: str = ""
    key: KeyType = KeyType.ECDSA_P256
    cert_days: int = 365
    ca_days: int = 3650


DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024**3  # etcd's default `quota-backend-bytes`
MAX_QUOTA_BACKEND_BYTES = 8 * 1024**3  # etcd's recommended maximum


@dataclass(frozen=True)
class EtcdSettings:
    version: str = "3.5.17"
    install: str = "package"  # "package" (apt/dnf) or "upload" (air-gapped: binaries below)
    binaries: str = ""  # for "upload": a directory holding etcd + etcdctl, or a release tarball
    # for "package": the distribution packages; empty means etcd-server + etcd-client (apt) or
    # etcd (dnf/yum)
    packages: tuple[str, ...] = ()
    cert_dir: str = "/etc/ssl/etcd/ssl"
    data_dir: str = "/var/lib/etcd"
    client_port: int = 2379
    peer_port: int = 2380
    metrics_port: int = 2381
    probe_timeout: float = 2.0
    # The backend's size limit: past it etcd raises NOSPACE and refuses every write until the
    # space is compacted, defragmented and the alarm disarmed (`hawizard etcd defrag`).
    # etcd's own default; etcd recommends at most 8 GiB.
    quota_backend_bytes: int = DEFAULT_QUOTA_BACKEND_BYTES
    # `hawizard etcd defrag` keeps this many revisions of history when it compacts, so a
    # watcher that is a little behind is not cut off; and it stops between members when a
    # test write takes longer than `defrag_max_write_ms`.
    defrag_keep_revisions: int = 1000
    defrag_max_write_ms: int = 500
    # for "upload": optional pins, binary name -> sha256 (`sha256sum`), checked before upload
    sha256: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OIDCSettings:
    """An external identity provider for the apiserver (`--oidc-*` flags); no secret involved.

    `ca_file` is a path *on the masters* (the provider's CA bundle), empty when the issuer's
    certificate chains to the masters' system trust store.
    """

    issuer_url: str
    client_id: str
    username_claim: str = "sub"
    groups_claim: str = ""
    username_prefix: str = ""
    groups_prefix: str = ""
    ca_file: str = ""


@dataclass(frozen=True)
class ControlPlaneSettings:
    kubernetes_version: str = "1.32.0"
    service_cidr: str = "10.96.0.0/12"
    cluster_domain: str = "cluster.local"
    # "download" (release URL, sha256 below checked before use), "upload" (air-gapped: binaries
    # below), or "none" (the binaries are already on the nodes, e.g. from the distribution).
    install: str = "none"
    binaries: str = ""  # for "upload": a directory or kubernetes-server-linux-amd64.tar.gz
    sha256: dict[str, str] = field(default_factory=dict)  # binary name -> sha256 for "download"
    start: bool = True  # False stages files and units without starting the services
    load_balancer: str = ""  # node name running haproxy; empty = external balancer
    oidc: OIDCSettings | None = None  # [control_plane.oidc]; None = client certificates only

    @property
    def first_service_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.service_cidr, strict=False).hosts()))


class BalancerMode(StrEnum):
    """How the control-plane endpoint is served."""

    VIP = "vip"  # keepalived (VRRP) moves a virtual IP between haproxy nodes
    SINGLE = "single"  # haproxy on one node: a single point of failure
    EXTERNAL = "external"  # the operator's own balancer; hawizard only checks it


@dataclass(frozen=True)
class LoadBalancerSettings:
    """The `[load_balancer]` section. In `vip` mode the endpoint's host is the VIP."""

    # "" = decided from older plans: `single` when control_plane.load_balancer names a node,
    # else `external`. New plans (plan init, wizard, lab) write the mode out.
    mode: str = ""
    # Balancer node names; empty = every master (vip), control_plane.load_balancer (single).
    nodes: tuple[str, ...] = ()
    # The balancer nodes' network (CIDR): lets validation check the VIP is on their link.
    subnet: str = ""
    virtual_router_id: int = 0  # VRRP id, 1-255; 0 = derived from the cluster name
    advert_interval: float = 1.0  # seconds between VRRP adverts (VRRPv3: 0.01 steps)


@dataclass(frozen=True)
class MonitoringSettings:
    """`[monitoring]`: what `hawizard monitoring export` writes and `apply` may install.

    `enabled` makes the PKI issue the least-privilege monitoring client certificate that
    Prometheus scrapes the apiservers with; `install` puts prometheus-node-exporter on every
    node and Prometheus on `prometheus_node` (distribution packages).
    """

    enabled: bool = False
    install: bool = False
    prometheus_node: str = ""
    scrape_interval: int = 15  # seconds
    node_exporter_port: int = 9100
    haproxy_metrics_port: int = 8405  # haproxy's built-in Prometheus exporter on the balancer
    #: Who may scrape the metrics ports (etcd's metrics_port, node exporter, haproxy's
    #: exporter): IP addresses or networks, besides `prometheus_node`, each node itself and
    #: the machine that runs `apply`; every other source is refused by the nodes' nftables.
    scrape_from: tuple[str, ...] = ()
    #: The flight recorder's bounds (`hawizard.recorder`): rounds older than `record_days`
    #: go first, then the oldest until the file holds at most `record_mb` MiB.
    record_days: int = 7
    record_mb: int = 100
    #: `apply` installs `hawizard-record-<cluster>.service` on the machine that runs it: the
    #: recorder runs when nobody watches (`hawizard.ops.recorder_service`); false removes it.
    record: bool = False


@dataclass(frozen=True)
class BackupSettings:
    """`[backup]`: verified etcd backups on the operator's machine (`hawizard etcd backup`).

    `every` empty means no schedule in the plan; set, `apply` installs the systemd timer.
    `dir` empty means `<plan dir>/backups`."""

    every: str = ""
    keep: int = 24
    dir: str = ""
    # Off-site copies (issue 28): "local:/dir", "ssh://user@host[:port]/dir", "s3://bucket/prefix".
    targets: tuple[str, ...] = ()
    # age X25519 recipients ("age1..."): set, every copy that leaves the folder is encrypted.
    recipients: tuple[str, ...] = ()
    ssh_key: str = ""  # the key for ssh:// targets (default: the first node's)
    s3_endpoint: str = ""  # an S3-compatible endpoint URL (default: the SDK's)
    keep_daily: int = 0  # per target, besides the newest `keep`: the newest of each of M days
    keep_weekly: int = 0  # ... and of each of K ISO weeks
    drill: str = ""  # set ("1d"): a timer runs `etcd backup drill` that often
    drill_identity: str = ""  # the age identity file the timed drill decrypts with (0600)


@dataclass(frozen=True)
class MaintenanceSettings:
    """`[maintenance]`: scheduled etcd maintenance from the operator's machine
    (`hawizard etcd maintenance schedule` installs the systemd timer).

    `every` is a systemd calendar expression (`daily`, `weekly`, `Sun *-*-* 03:00:00`); empty
    means no schedule. Each run is `hawizard etcd defrag PLAN --yes --if-needed`: it
    defragments only when some member's DB file is above `defrag_above_mb` MiB **and** less
    than `defrag_in_use_below` of it holds live data (so a big but dense backend, which a
    defragmentation would not shrink, is left alone)."""

    every: str = ""
    defrag_above_mb: int = 100
    defrag_in_use_below: float = 0.5


# systemd.time(7)'s shorthands, and the characters a calendar expression is made of. The
# schedule step asks `systemd-analyze calendar` too where it exists; this is the wall that
# keeps anything else (a newline, a quote, a `%`) out of the plan and the timer file.
CALENDAR_SHORTHANDS = frozenset(
    {"minutely", "hourly", "daily", "weekly", "monthly", "yearly", "quarterly", "semiannually"}
)
_CALENDAR = re.compile(r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*[,.]*)*[0-9*,:./~ -]*")


def calendar_problem(text: str) -> str:
    """Why `text` is not a calendar expression hawizard accepts ("" when it is)."""
    value = str(text)
    if value in CALENDAR_SHORTHANDS:
        return ""
    if value != value.strip() or len(value) > 64 or not _CALENDAR.fullmatch(value):
        return (
            f"{value!r} is not a systemd calendar expression (e.g. daily, weekly, "
            '"Sun *-*-* 03:00:00", "*-*-* 02:30:00")'
        )
    if not value or not any(c.isdigit() or c == "*" for c in value):
        return f'{value!r} names days but no time (e.g. "Sun *-*-* 03:00:00")'
    return ""


_EVERY = re.compile(r"^([1-9][0-9]{0,6})([smhd]?)$")
MAX_BACKUP_EVERY = 7 * 86400


def every_seconds(text: str) -> int:
    """ "30s", "15m", "1h", "1d" (or plain seconds) → seconds; ValueError saying the fix."""
    m = _EVERY.match(str(text).strip())
    if not m:
        raise ValueError(f"{text!r} is not an interval (e.g. 30s, 15m, 1h, 1d)")
    seconds = int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if seconds > MAX_BACKUP_EVERY:
        raise ValueError(f"{text!r} is longer than 7 days; back etcd up at least weekly")
    return seconds


@dataclass(frozen=True)
class Plan:
    nodes: tuple[Node, ...]
    cluster: Cluster = field(default_factory=Cluster)
    pki: PKISettings = field(default_factory=PKISettings)
    etcd: EtcdSettings = field(default_factory=EtcdSettings)
    control_plane: ControlPlaneSettings = field(default_factory=ControlPlaneSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings)
    load_balancer: LoadBalancerSettings = field(default_factory=LoadBalancerSettings)
    version: int = PLAN_VERSION
    # Where the plan was read from: relative paths in it resolve against this file's folder.
    source: Path | None = field(default=None, compare=False)

    def etcd_install(self, node: Node) -> str:
        """How etcd reaches `node`: its own `etcd_install`, else the cluster's `etcd.install`."""
        return node.etcd_install or self.etcd.install

    @property
    def etcd_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_etcd)

    @property
    def control_plane_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_control_plane)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r} in the plan")

    def resolve(self, path: str) -> Path:
        """A path from the plan: `~` expanded, relative ones anchored at the plan's folder."""
        p = Path(path).expanduser()
        if not p.is_absolute() and self.source is not None:
            p = self.source.parent / p
        return p

    def etcd_client_url(self, member: Node) -> str:
        """Where etcd's clients reach `member`: etcd's own config advertises it and
        kube-apiserver's `--etcd-servers` lists it, so it lives here, below both domains."""
        return f"https://{member.url_host}:{self.etcd.client_port}"

    @property
    def pki_dir(self) -> Path:
        """The local PKI folder: `pki.dir` as written, else `<plan-stem>.pki/` beside the plan.

        Per plan rather than one shared folder: a second cluster planned with the defaults
        (same cluster name too) would otherwise silently reuse the first one's CAs. A plan not
        saved yet is treated as `./plan.toml`, the file the wizard offers to save it as.
        """
        if self.pki.dir:
            return self.resolve(self.pki.dir)
        source = self.source if self.source is not None else Path.cwd() / "plan.toml"
        return source.with_name(f"{source.stem}.pki")

    @property
    def endpoint_host_port(self) -> tuple[str, int]:
        """The control-plane endpoint; the first master's address when none is set."""
        ep = self.cluster.control_plane_endpoint
        if not ep:
            masters = self.control_plane_nodes
            return (masters[0].address if masters else "127.0.0.1", 6443)
        host, _, port = ep.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def balancer_mode(self) -> str:
        """The effective mode (an unknown written mode is returned as written)."""
        if self.load_balancer.mode:
            return self.load_balancer.mode
        return BalancerMode.SINGLE if self.control_plane.load_balancer else BalancerMode.EXTERNAL

    @property
    def balancer_nodes(self) -> tuple[Node, ...]:
        """The nodes that run haproxy (and keepalived in vip mode); none for external."""
        mode = self.balancer_mode
        if mode not in (BalancerMode.VIP, BalancerMode.SINGLE):
            return ()
        names = self.load_balancer.nodes
        if not names and mode == BalancerMode.SINGLE and self.control_plane.load_balancer:
            names = (self.control_plane.load_balancer,)
        if not names:
            masters = self.control_plane_nodes
            return masters if mode == BalancerMode.VIP else masters[:1]
        by_name = {n.name: n for n in self.nodes}
        return tuple(by_name[n] for n in names if n in by_name)

    @property
    def virtual_router_id(self) -> int:
        """The VRRP router id: the plan's, or one derived from the cluster name (1-255).

        Derived rather than fixed so two clusters on one network do not fight over one id;
        stable so every apply renders the same configs.
        """
        if self.load_balancer.virtual_router_id:
            return self.load_balancer.virtual_router_id
        digest = hashlib.sha256(f"hawizard-vrrp:{self.cluster.name}".encode()).digest()
        return 1 + int.from_bytes(digest[:4], "big") % 255

    def with_nodes(self, nodes: tuple[Node, ...]) -> Plan:
        return replace(self, nodes=nodes)


def quorum(members: int) -> int:
    """Votes needed for etcd to make progress: a strict majority."""
    return members // 2 + 1


def tolerance(members: int) -> int:
    """How many members may fail while the rest still form a quorum."""
    return max(members - quorum(members), 0) if members else 0
