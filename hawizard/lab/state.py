"""What a lab created, on disk: names, addresses, interfaces and the PIDs of its node processes.

Teardown works from this record only, so `lab down` removes exactly what `lab up` made and
nothing else, even from another process or after a crash.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

LABS_ROOT = Path("/var/lib/hawizard/labs")
STATE_FILE = "state.json"


@dataclass(frozen=True)
class NodeRecord:
    name: str
    address: str
    netns: str
    veth: str  # host end, enslaved to the bridge; the node end is `eth0` in the netns
    host_mac: str
    node_mac: str
    pid: int = 0  # the systemd-nspawn process (0: not running)
    start_time: int = 0  # its start time in clock ticks, so a recycled PID is never mistaken
    leader: int = 0  # the node's own PID 1 (systemd) as seen from the host
    leader_start: int = 0


@dataclass(frozen=True)
class LabRecord:
    name: str
    subnet: str  # e.g. "198.18.42.0/24"
    bridge: str
    bridge_mac: str
    gateway: str  # the bridge's address: the host's side of the lab network
    nodes: tuple[NodeRecord, ...]
    base: str = ""  # the base root filesystem the node disks are overlays of
    repo: str = ""  # the local package repository every node sees read-only (lab.repo)

    def node(self, name: str) -> NodeRecord:
        for n in self.nodes:
            if n.name == name:
                return n
        known = ", ".join(n.name for n in self.nodes)
        raise KeyError(f"no node {name!r} in lab {self.name!r} (nodes: {known})")

    def with_node(self, node: NodeRecord) -> LabRecord:
        return replace(self, nodes=tuple(node if n.name == node.name else n for n in self.nodes))

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.partition("/")[2])


def load(path: Path) -> LabRecord | None:
    """The record in `path` (a state.json), or None when the lab was never brought up."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    # A record written by another hawizard version may hold fields this one does not know
    # (labs of several checkouts share /var/lib/hawizard/labs): read the ones it knows.
    node_fields = {f.name for f in fields(NodeRecord)}
    nodes = tuple(
        NodeRecord(**{k: v for k, v in n.items() if k in node_fields}) for n in raw.pop("nodes")
    )
    known = {f.name for f in fields(LabRecord)}
    return LabRecord(nodes=nodes, **{k: v for k, v in raw.items() if k in known})


def save(record: LabRecord, path: Path) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a record."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(record), out, indent=2, sort_keys=True)
        out.write("\n")
    tmp.replace(path)
