"""The plan: every choice the operator makes, as frozen dataclasses read from and written to TOML.

Every screen and every command reads and writes this one model, so a plan exported from the
wizard can be reviewed, versioned and applied headless. Secrets never live here: only paths.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import tomli_w

from hawizard.plan_check import PlanError, Problem, Severity, check_raw, sanitize, validate

__all__ = [
    "KUBE_BINARIES",
    "PLAN_VERSION",
    "SSH",
    "Cluster",
    "ControlPlaneSettings",
    "EtcdSettings",
    "KeyType",
    "Node",
    "PKISettings",
    "Plan",
    "PlanError",
    "Problem",
    "Role",
    "Severity",
    "dump",
    "dumps",
    "load",
    "loads",
    "quorum",
    "tolerance",
    "validate",
]

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


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    roles: tuple[Role, ...] = DEFAULT_ROLES
    ssh: SSH = field(default_factory=SSH)

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


@dataclass(frozen=True)
class PKISettings:
    dir: str = "~/.local/share/hawizard/pki"
    key: KeyType = KeyType.ECDSA_P256
    cert_days: int = 365
    ca_days: int = 3650


@dataclass(frozen=True)
class EtcdSettings:
    version: str = "3.5.17"
    install: str = "package"  # "package" (apt/dnf) or "upload" (air-gapped: binaries below)
    binaries: str = ""  # for "upload": a directory holding etcd + etcdctl, or a release tarball
    cert_dir: str = "/etc/ssl/etcd/ssl"
    data_dir: str = "/var/lib/etcd"
    client_port: int = 2379
    peer_port: int = 2380
    metrics_port: int = 2381
    probe_timeout: float = 2.0


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

    @property
    def first_service_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.service_cidr, strict=False).hosts()))


@dataclass(frozen=True)
class Plan:
    nodes: tuple[Node, ...]
    cluster: Cluster = field(default_factory=Cluster)
    pki: PKISettings = field(default_factory=PKISettings)
    etcd: EtcdSettings = field(default_factory=EtcdSettings)
    control_plane: ControlPlaneSettings = field(default_factory=ControlPlaneSettings)
    version: int = PLAN_VERSION
    # Where the plan was read from: relative paths in it resolve against this file's folder.
    source: Path | None = field(default=None, compare=False)

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

    @property
    def pki_dir(self) -> Path:
        return self.resolve(self.pki.dir)

    @property
    def endpoint_host_port(self) -> tuple[str, int]:
        """The control-plane endpoint; the first master's address when none is set."""
        ep = self.cluster.control_plane_endpoint
        if not ep:
            masters = self.control_plane_nodes
            return (masters[0].address if masters else "127.0.0.1", 6443)
        host, _, port = ep.rpartition(":")
        return host.strip("[]"), int(port)

    def with_nodes(self, nodes: tuple[Node, ...]) -> Plan:
        return replace(self, nodes=nodes)


def quorum(members: int) -> int:
    """Votes needed for etcd to make progress: a strict majority."""
    return members // 2 + 1


def tolerance(members: int) -> int:
    """How many members may fail while the rest still form a quorum."""
    return max(members - quorum(members), 0) if members else 0


# --- TOML -----------------------------------------------------------------------------------


def loads(text: str, source: str | Path | None = None) -> Plan:
    """Parse and validate plan text; raise PlanError carrying *every* error found."""
    name = str(source) if source is not None else "plan.toml"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError([Problem(Severity.ERROR, "", f"not valid TOML: {exc}", name)]) from None
    shape = check_raw(raw, text, name)
    path = Path(source) if source is not None else None
    plan = _from_raw(sanitize(raw) if shape else raw, path)
    reported = {p.field for p in shape}
    meaning = [p for p in validate(plan, text=text, source=name) if p.field not in reported]
    problems = shape + meaning
    if any(p.severity is Severity.ERROR for p in problems):
        raise PlanError(
            sorted(problems, key=lambda p: (p.severity is not Severity.ERROR, p.line or 0))
        )
    return plan


def load(path: str | Path) -> Plan:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PlanError(
            [Problem(Severity.ERROR, "", f"cannot read the plan: {exc.strerror}", str(path))]
        ) from None
    return loads(text, path.resolve())


def _from_raw(raw: dict, source: Path | None) -> Plan:
    nodes = []
    for n in raw.get("nodes", []):
        ssh = SSH(**n.get("ssh", {}))
        roles = tuple(Role(r) for r in n["roles"]) if "roles" in n else DEFAULT_ROLES
        nodes.append(Node(name=n["name"], address=n["address"], roles=roles, ssh=ssh))
    pki = dict(raw.get("pki", {}))
    if "key" in pki:
        pki["key"] = KeyType(pki["key"])
    return Plan(
        nodes=tuple(nodes),
        cluster=Cluster(**raw.get("cluster", {})),
        pki=PKISettings(**pki),
        etcd=EtcdSettings(**raw.get("etcd", {})),
        control_plane=ControlPlaneSettings(**raw.get("control_plane", {})),
        version=raw.get("version", PLAN_VERSION),
        source=source,
    )


def _section(obj: object) -> dict:
    out: dict = {}
    for name in obj.__dataclass_fields__:  # type: ignore[attr-defined]
        value = getattr(obj, name)
        if isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, tuple):
            value = [v.value if isinstance(v, StrEnum) else v for v in value]
        elif isinstance(value, dict):
            value = dict(value)
        out[name] = value
    return out


def dumps(plan: Plan) -> str:
    """TOML text for a plan; `loads(dumps(p)) == p` for every valid plan."""
    doc: dict = {"version": plan.version, "cluster": _section(plan.cluster)}
    doc["nodes"] = [
        {
            "name": n.name,
            "address": n.address,
            "roles": [r.value for r in n.roles],
            "ssh": _section(n.ssh),
        }
        for n in plan.nodes
    ]
    doc["pki"] = _section(plan.pki)
    doc["etcd"] = _section(plan.etcd)
    doc["control_plane"] = _section(plan.control_plane)
    return tomli_w.dumps(doc)


def dump(plan: Plan, path: str | Path) -> None:
    """Write atomically, so an interrupted save never leaves half a plan behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dumps(plan))
    tmp.replace(path)
