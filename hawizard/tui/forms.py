"""The node form's logic, free of widgets: parse what was typed, place it in the plan, and map
the plan validator's problems (`nodes[2].ssh.port`) onto the form's fields.

The validator is the single source of truth for what a valid node is; this module only adds
what a form must check before there is a node at all (a port that is not a number, no role).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace

from hawizard.plan import SSH, Node, Plan, Problem, Role, Severity, validate

# Form field -> the field path suffix the validator uses under `nodes[i].`
FIELD_SUFFIX = {
    "name": "name",
    "address": "address",
    "roles": "roles",
    "user": "ssh.user",
    "port": "ssh.port",
    "key": "ssh.key",
}
_BY_SUFFIX = {v: k for k, v in FIELD_SUFFIX.items()}
_NODE_FIELD = re.compile(r"^nodes\[(\d+)\]\.(.+)$")


@dataclass(frozen=True)
class NodeDraft:
    """What the form holds: text as typed, so a half-typed port is representable."""

    name: str = ""
    address: str = ""
    etcd: bool = True
    control_plane: bool = True
    user: str = "root"
    port: str = "22"
    key: str = "~/.ssh/id_ed25519"
    compress: bool = True  # not on the form: kept as the plan says (`ssh.compress`)

    @classmethod
    def from_node(cls, node: Node) -> NodeDraft:
        return cls(
            name=node.name,
            address=node.address,
            etcd=node.is_etcd,
            control_plane=node.is_control_plane,
            user=node.ssh.user,
            port=str(node.ssh.port),
            key=node.ssh.key,
            compress=node.ssh.compress,
        )


@dataclass(frozen=True)
class Message:
    severity: Severity
    text: str

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


FieldMessages = dict[str, list[Message]]


def to_node(draft: NodeDraft) -> tuple[Node, FieldMessages]:
    """The node a draft describes, and what makes the draft unusable before validation."""
    found: FieldMessages = defaultdict(list)
    roles = tuple(
        role
        for role, on in ((Role.ETCD, draft.etcd), (Role.CONTROL_PLANE, draft.control_plane))
        if on
    )
    if not roles:
        found["roles"].append(Message(Severity.ERROR, "choose etcd, control-plane or both"))
    port_text = draft.port.strip()
    port = int(port_text) if port_text.lstrip("-").isdigit() else 0
    if not port_text.lstrip("-").isdigit():
        found["port"].append(
            Message(Severity.ERROR, "give the SSH port as a number (1-65535, usually 22)")
        )
    node = Node(
        name=draft.name.strip(),
        address=draft.address.strip(),
        roles=roles,
        ssh=SSH(user=draft.user.strip(), port=port, key=draft.key.strip(), compress=draft.compress),
    )
    return node, found


def place(plan: Plan, node: Node, index: int | None) -> tuple[Plan, int]:
    """The plan with `node` at `index` (None: appended), and the index it ended up at."""
    nodes = list(plan.nodes)
    if index is None or index >= len(nodes):
        nodes.append(node)
        index = len(nodes) - 1
    else:
        nodes[index] = node
    return replace(plan, nodes=tuple(nodes)), index


def remove(plan: Plan, index: int) -> Plan:
    return replace(plan, nodes=tuple(n for i, n in enumerate(plan.nodes) if i != index))


def check_draft(plan: Plan, draft: NodeDraft, index: int | None) -> tuple[Plan, FieldMessages]:
    """Place the draft in the plan and validate: the candidate plan and the draft's messages.

    Only problems of *this* node land on the form; problems of other nodes or of the cluster
    stay where they belong (see `plan_messages`).
    """
    node, found = to_node(draft)
    candidate, at = place(plan, node, index)
    for problem in validate(candidate):
        m = _NODE_FIELD.match(problem.field)
        if m and int(m.group(1)) == at:
            key = _BY_SUFFIX.get(m.group(2))
            if key and not (key == "port" and found.get("port")):
                found[key].append(Message(problem.severity, problem.message))
    return candidate, dict(found)


def has_errors(messages: FieldMessages) -> bool:
    return any(m.is_error for msgs in messages.values() for m in msgs)


def plan_messages(plan: Plan) -> dict[str, list[Message]]:
    """Every validator problem of the plan, by field path (`cluster.control_plane_endpoint`)."""
    out: dict[str, list[Message]] = defaultdict(list)
    for problem in validate(plan):
        out[problem.field].append(Message(problem.severity, problem.message))
    return dict(out)


def describe(problem: Problem) -> str:
    return f"{problem.field}: {problem.message}" if problem.field else problem.message
