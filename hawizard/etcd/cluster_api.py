"""Membership calls to etcd's JSON gateway, from the operator's machine.

The same way in as the health probes: HTTPS with the operator's client certificate
(`etcd-admin`) straight to a member's client URL, so no etcdctl and no key ever lands on a node
for this. `POST /v3/cluster/member/{list,add,promote,remove}`; 64-bit ids travel as decimal
strings. A member that cannot be reached is skipped for the next one; an answer from etcd
itself (e.g. "can only promote a learner member which is in sync with leader") is final and
raised as `EtcdRefused`, so the caller decides whether to retry.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hawizard.etcd.probe import ClientTLS, Target
from hawizard.plan import Node, Plan

__all__ = ["ClusterAPI", "EtcdRefused", "GatewayUnreachable", "ListedMember", "targets_for"]

MAX_BODY = 1 << 20


class GatewayUnreachable(Exception):
    """No member answered the call."""


class EtcdRefused(Exception):
    """etcd answered and said no: `message` is etcd's own text, `status` the HTTP code."""

    def __init__(self, endpoint: str, path: str, status: int, message: str):
        self.endpoint = endpoint
        self.path = path
        self.status = status
        self.message = message
        super().__init__(f"{endpoint}{path}: {message} (HTTP {status})")


@dataclass(frozen=True)
class ListedMember:
    id: int
    name: str  # "" until an added member has started
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool

    @property
    def hex_id(self) -> str:
        return format(self.id, "x")

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ListedMember:
        return cls(
            id=int(raw.get("ID", 0)),
            name=raw.get("name", ""),
            peer_urls=tuple(raw.get("peerURLs", ())),
            client_urls=tuple(raw.get("clientURLs", ())),
            is_learner=bool(raw.get("isLearner", False)),
        )


def targets_for(plan: Plan, nodes: Sequence[Node]) -> list[Target]:
    return [Target(n.name, n.address, plan.etcd.client_port) for n in nodes]


class ClusterAPI:
    """Talks to the first of `targets` that answers; each attempt bounded by `timeout`."""

    def __init__(
        self,
        plan: Plan,
        targets: Sequence[Target],
        *,
        tls: ClientTLS | None = None,
        timeout: float = 5.0,
    ):
        if not targets:
            raise ValueError("no member to talk to")
        self.targets = list(targets)
        self.timeout = timeout
        self._ctx = (tls or ClientTLS.for_plan(plan)).context()

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        errors = []
        for target in self.targets:
            try:
                return self._post(target, path, body)
            except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as exc:
                errors.append(f"{target.name}: {exc or type(exc).__name__}")
        raise GatewayUnreachable(f"no member answered {path}: " + "; ".join(errors))

    def _post(self, target: Target, path: str, body: dict[str, Any]) -> dict[str, Any]:
        conn = http.client.HTTPSConnection(
            target.host, target.port, context=self._ctx, timeout=self.timeout
        )
        try:
            conn.request(
                "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            raw = response.read(MAX_BODY)
        finally:
            conn.close()
        data = json.loads(raw)
        if response.status != 200 or "error" in data:
            message = data.get("message") or data.get("error") or raw[:200].decode()
            raise EtcdRefused(target.endpoint, path, response.status, str(message))
        return data

    # --- the four membership calls ----------------------------------------------------------

    def members(self) -> list[ListedMember]:
        """The member list, read through the leader (linearizable), not a follower's copy."""
        data = self.call("/v3/cluster/member/list", {"linearizable": True})
        return [ListedMember.from_json(m) for m in data.get("members", ())]

    def add_learner(self, peer_url: str) -> ListedMember:
        data = self.call("/v3/cluster/member/add", {"peerURLs": [peer_url], "isLearner": True})
        return ListedMember.from_json(data["member"])

    def promote(self, member_id: int) -> None:
        self.call("/v3/cluster/member/promote", {"ID": str(member_id)})

    def remove(self, member_id: int) -> None:
        self.call("/v3/cluster/member/remove", {"ID": str(member_id)})

    def find(self, peer_url: str, name: str = "") -> ListedMember | None:
        members = self.members()
        for m in members:
            if peer_url in m.peer_urls:
                return m
        for m in members:
            if name and m.name == name:
                return m
        return None
