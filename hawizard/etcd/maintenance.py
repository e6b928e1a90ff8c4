"""Maintenance calls to etcd's JSON gateway, from the operator's machine: a member's backend
status, compaction, defragmentation, the alarms, and a test write.

The same way in as the probes and the membership calls (`cluster_api`): HTTPS with the
operator's client certificate straight to a member's client URL, so no etcdctl and no key
ever lands on a node. `POST /v3/maintenance/status` (one member's sizes and revision),
`/v3/kv/compaction`, `/v3/maintenance/defragment` (the member it is sent to, and only that
one, is defragmented), `/v3/maintenance/alarm`, `/v3/kv/put`. Everything here is one call
with a bound; the order and the guard between calls live in `hawizard.ops.defrag`.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from dataclasses import dataclass

from hawizard.etcd.cluster_api import ClusterAPI, EtcdRefused, targets_for
from hawizard.etcd.probe import ClientTLS
from hawizard.plan import Node, Plan

__all__ = [
    "PROBE_KEY",
    "Backend",
    "Maintenance",
]

# The one key hawizard writes to prove the cluster takes writes (and to time a write): outside
# Kubernetes' /registry, overwritten each time, so it never grows the keyspace.
PROBE_KEY = "/hawizard/maintenance/write-probe"
DEFRAG_TIMEOUT = 600.0  # seconds one member's defragmentation may take (tens of s per GB)


@dataclass(frozen=True)
class Backend:
    """One member's backend as it reports it (`/v3/maintenance/status`)."""

    name: str
    id: int
    leader: int
    db_size: int  # the file's size in bytes
    db_size_in_use: int  # bytes holding live data; the rest is free pages a defrag returns
    revision: int  # the store's current revision
    raft_index: int

    @property
    def is_leader(self) -> bool:
        return self.id != 0 and self.id == self.leader

    @property
    def fragmented(self) -> int:
        """Bytes a defragmentation would give back."""
        return max(0, self.db_size - self.db_size_in_use)


class Maintenance:
    """The calls, each bounded by `timeout` (the defragmentation by `defrag_timeout`)."""

    def __init__(
        self,
        plan: Plan,
        *,
        tls: ClientTLS | None = None,
        timeout: float = 5.0,
        defrag_timeout: float = DEFRAG_TIMEOUT,
    ) -> None:
        self.plan = plan
        self.tls = tls or ClientTLS.for_plan(plan)
        self.timeout = timeout
        self.defrag_timeout = defrag_timeout

    def _api(self, members: list[Node] | None = None, timeout: float | None = None) -> ClusterAPI:
        nodes = list(self.plan.etcd_nodes) if members is None else members
        return ClusterAPI(
            self.plan, targets_for(self.plan, nodes), tls=self.tls, timeout=timeout or self.timeout
        )

    def status(self, member: Node) -> Backend:
        """That member's own view (never another member's: the call goes to it alone)."""
        data = self._api([member]).call("/v3/maintenance/status", {})
        header = data.get("header", {})
        return Backend(
            name=member.name,
            id=int(header.get("member_id", 0)),
            leader=int(data.get("leader", 0)),
            db_size=int(data.get("dbSize", 0)),
            db_size_in_use=int(data.get("dbSizeInUse", data.get("dbSize", 0))),
            revision=int(header.get("revision", 0)),
            raft_index=int(data.get("raftIndex", 0)),
        )

    def compact(self, revision: int, via: Node | None = None) -> bool:
        """Compact the history below `revision`, waiting until `via` (default: any member)
        has freed it (`physical`). False when the store was compacted past it already (by
        etcd's own periodic compaction, or an earlier run): nothing to do, not a failure."""
        api = self._api([via] if via is not None else None, timeout=self.defrag_timeout)
        try:
            api.call("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        except EtcdRefused as exc:
            if "compacted" in exc.message:
                return False
            raise
        return True

    def defragment(self, member: Node) -> float:
        """Defragment `member` alone; returns the seconds the call took, which is how long the
        member was blocked (it serves no read or write meanwhile)."""
        start = time.monotonic()
        self._api([member], timeout=self.defrag_timeout).call("/v3/maintenance/defragment", {})
        return time.monotonic() - start

    def alarms(self) -> list[tuple[int, str]]:
        """Every active alarm as (member id, alarm name), e.g. (0x8e9e05c52164694d, "NOSPACE")."""
        data = self._api().call("/v3/maintenance/alarm", {"action": "GET"})
        return [
            (int(a.get("memberID", 0)), str(a.get("alarm", "")))
            for a in data.get("alarms") or ()
            if a.get("alarm", "NONE") != "NONE"
        ]

    def disarm(self, member_id: int, alarm: str) -> None:
        self._api().call(
            "/v3/maintenance/alarm",
            {"action": "DEACTIVATE", "memberID": str(member_id), "alarm": alarm},
        )

    def test_write(self, via: Node | None = None) -> float:
        """Put `PROBE_KEY` (through `via`, default any member); returns the seconds it took.
        Raises `EtcdRefused` when etcd refuses writes (e.g. "etcdserver: mvcc: database space
        exceeded" under NOSPACE)."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        body = {"key": _b64(PROBE_KEY), "value": _b64(f"written by hawizard at {now}")}
        start = time.monotonic()
        self._api([via] if via is not None else None).call("/v3/kv/put", body)
        return time.monotonic() - start

    def test_read(self, via: Node | None = None) -> float:
        """A linearizable read of `PROBE_KEY` (a quorum round trip, allowed under NOSPACE);
        returns the seconds it took."""
        start = time.monotonic()
        self._api([via] if via is not None else None).call("/v3/kv/range", {"key": _b64(PROBE_KEY)})
        return time.monotonic() - start


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
