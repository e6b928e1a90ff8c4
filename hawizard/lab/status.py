"""What `Lab.status()` reports: the lab, its nodes, whether each runs or is cut off, and how
to log in. Plain values (`to_json` for `hawizard lab status --json`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["LabNode", "LabStatus", "NodeStatus"]


@dataclass(frozen=True)
class LabNode:
    name: str
    address: str


@dataclass(frozen=True)
class NodeStatus:
    name: str
    address: str
    running: bool
    partitioned: bool
    ssh: str  # a command line that logs in as root with the lab's key and known_hosts


@dataclass(frozen=True)
class LabStatus:
    name: str
    exists: bool
    state_dir: str
    subnet: str
    gateway: str
    bridge: str
    plan: str
    key: str
    known_hosts: str
    nodes: tuple[NodeStatus, ...]

    def to_json(self) -> dict:
        return asdict(self)
