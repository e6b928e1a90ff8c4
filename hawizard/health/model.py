"""The cluster health model's types and its stable JSON (`ClusterHealth.to_json`).

See `hawizard.health` for the rules; `hawizard.health.build` fills these from probe answers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hawizard.pki.inspection import RENEW_BEFORE_DAYS, CertInfo
from hawizard.plan import DEFAULT_QUOTA_BACKEND_BYTES

JSON_SCHEMA = 1
# etcd's default backend quota (the plan's `etcd.quota_backend_bytes` unless set): past it
# the cluster raises NOSPACE and refuses writes, so the DB size is shown against it.
BACKEND_QUOTA_BYTES = DEFAULT_QUOTA_BACKEND_BYTES
QUOTA_WARN_PCT = 75.0
_ALARM = re.compile(r"alarm:\s*([A-Z_]+)")


class State(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    QUORUM_LOST = "quorum_lost"

    @property
    def exit_code(self) -> int:
        """What `hawizard status` returns: 0 healthy, 1 degraded with quorum, 2 quorum lost."""
        return {State.HEALTHY: 0, State.DEGRADED: 1, State.QUORUM_LOST: 2}[self]


class MemberState(StrEnum):
    """One word per member for every face (the CLI table, `--json`, the dashboard), in the
    order the judgement is made: a member the plan does not describe, a planned node the
    cluster does not list, then reachability, health and the learner role."""

    NOT_IN_PLAN = "not in plan"
    NOT_A_MEMBER = "not a member"  # a planned etcd node that is not a member (yet): day 2 add
    UNREACHABLE = "unreachable"
    UNHEALTHY = "unhealthy"
    LEARNER = "learner"
    HEALTHY = "healthy"


class ProbePath(StrEnum):
    """How the operator's machine reached a member."""

    DIRECT = "direct"
    SSH = "ssh"


# --- input: what one probe saw ----------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    """The raw answers of one member to one probe round (JSON as etcd's gateway sent it).

    `connected` means the TLS handshake finished; `health`, `status` and `members` are the
    decoded bodies of `GET /health`, `POST /v3/maintenance/status` and
    `POST /v3/cluster/member/list`, or None when that call did not answer.
    """

    name: str
    endpoint: str
    host: str
    path: ProbePath = ProbePath.DIRECT
    connected: bool = False
    health: Mapping[str, Any] | None = None
    status: Mapping[str, Any] | None = None
    members: Mapping[str, Any] | None = None
    served_cert: CertInfo | None = None
    served_cert_verified: bool | None = None  # None: no handshake; False: chain/expiry failed
    served_cert_names_host: bool | None = None  # do its SANs contain the address we dialled?
    connect_ms: float | None = None  # TCP + TLS handshake
    rtt_ms: float | None = None  # one request on the open connection (maintenance/status)
    elapsed_s: float = 0.0
    error: str = ""  # transport or protocol error; empty when every call answered


# --- output -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberHealth:
    name: str
    endpoint: str  # "" for a cluster member that is not in the plan and was not probed
    in_plan: bool
    in_cluster: bool | None  # None: no member list was obtained, so nobody knows
    reachable: bool
    healthy: bool
    is_leader: bool = False
    is_learner: bool = False
    id: str = ""  # hex, as etcdctl prints it
    version: str = ""
    raft_term: int | None = None
    raft_index: int | None = None
    raft_applied_index: int | None = None
    db_size: int | None = None
    db_size_in_use: int | None = None
    rtt_ms: float | None = None
    connect_ms: float | None = None
    path: ProbePath | None = None
    error: str = ""
    served_cert: CertInfo | None = None
    cert_problem: str = ""  # the served certificate is not this member's own (or unverified)
    peer_urls: tuple[str, ...] = ()
    client_urls: tuple[str, ...] = ()
    alarms: tuple[str, ...] = ()  # active etcd alarms this member reports (NOSPACE, CORRUPT)
    quota_bytes: int = BACKEND_QUOTA_BYTES  # the plan's etcd.quota_backend_bytes

    @property
    def state(self) -> MemberState:
        if not self.in_plan:
            return MemberState.NOT_IN_PLAN
        if self.in_cluster is False:
            return MemberState.NOT_A_MEMBER
        if not self.reachable:
            return MemberState.UNREACHABLE
        if not self.healthy:
            return MemberState.UNHEALTHY
        if self.is_learner:
            return MemberState.LEARNER
        return MemberState.HEALTHY

    @property
    def db_quota_pct(self) -> float | None:
        """The DB size as a share of the backend quota (NOSPACE at 100 %)."""
        return None if self.db_size is None else 100.0 * self.db_size / self.quota_bytes


@dataclass(frozen=True)
class CertExpiry:
    name: str  # PKI name ("etcd/server-m1") or "<member> (served)"
    source: str  # "local" (the operator's PKI) or "served" (seen in a member's handshake)
    common_name: str
    not_after: dt.datetime
    days_left: int
    fingerprint_sha256: str

    @property
    def expired(self) -> bool:
        return self.days_left < 0

    @property
    def expiring(self) -> bool:
        return 0 <= self.days_left < RENEW_BEFORE_DAYS


@dataclass(frozen=True)
class ClusterHealth:
    members: tuple[MemberHealth, ...]
    member_count: int  # from the member list (plan's etcd nodes if no list was obtained)
    voter_count: int
    healthy_count: int
    healthy_voters: int
    quorum: int
    tolerates: int  # more voter failures the cluster survives right now
    design_tolerance: int  # failures tolerable when every voter is healthy
    quorum_ok: bool
    state: State
    leader_id: str = ""
    leader_name: str = ""
    leaders_seen: tuple[str, ...] = ()
    cluster_id: str = ""
    cluster_ids_seen: tuple[str, ...] = ()
    not_in_plan: tuple[str, ...] = ()  # in the member list, not an etcd node of the plan
    not_in_cluster: tuple[str, ...] = ()  # an etcd node of the plan the cluster does not list
    certificates: tuple[CertExpiry, ...] = ()
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    checked_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    duration_s: float = 0.0

    @property
    def leader_disagreement(self) -> bool:
        return len(self.leaders_seen) > 1

    @property
    def cluster_id_disagreement(self) -> bool:
        return len(self.cluster_ids_seen) > 1

    @property
    def exit_code(self) -> int:
        return self.state.exit_code

    @property
    def converged(self) -> bool:
        """What the rollout waits for: every plan member in the cluster, reachable and healthy,
        all agreeing on one leader and one cluster id, nobody unexpected in the member list.
        Certificate findings are reported in `problems` but not waited on (they never heal)."""
        planned = [m for m in self.members if m.in_plan]
        return (
            bool(planned)
            and all(m.reachable and m.healthy and m.in_cluster for m in planned)
            and bool(self.leader_id)
            and not self.leader_disagreement
            and not self.cluster_id_disagreement
            and not self.not_in_plan
        )

    @property
    def alarms(self) -> tuple[str, ...]:
        """Every active alarm, once ("NOSPACE"): cluster-wide in etcd, reported per member."""
        return tuple(sorted({a for m in self.members for a in m.alarms}))

    def member(self, name: str) -> MemberHealth:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(f"no member named {name!r}")

    @property
    def summary(self) -> str:
        """The banner line: "3/3 healthy · tolerates 1 more failure"."""
        head = f"{self.healthy_voters}/{self.voter_count} healthy"
        if not self.quorum_ok:
            return f"{head} · quorum lost (needs {self.quorum})"
        more = "failure" if self.tolerates == 1 else "failures"
        return f"{head} · tolerates {self.tolerates} more {more}"

    @property
    def details(self) -> list[str]:
        """The banner's second line, part by part: leader, cluster id, size, probe time."""
        if self.leader_id:
            parts = [f"leader {self.leader_name or '?'} ({self.leader_id})"]
        elif self.leader_disagreement:
            parts = [f"leaders disagree: {', '.join(self.leaders_seen)}"]
        else:
            parts = ["no leader"]
        if self.cluster_id:
            parts.append(f"cluster {self.cluster_id}")
        if self.alarms:
            parts.append(f"alarm {', '.join(self.alarms)}")
        parts.append(f"{self.member_count} members, quorum {self.quorum}")
        parts.append(f"probed in {self.duration_s * 1000:.0f} ms")
        return parts

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (schema 1) used by `hawizard status --json`.

        Top level: `schema` (1), `checked_at` (ISO 8601 UTC), `duration_s`, `state`
        ("healthy" | "degraded" | "quorum_lost"), `exit_code`, `summary`, `quorum_ok`,
        `member_count`, `voter_count`, `healthy_count`, `healthy_voters`, `quorum`,
        `tolerates`, `design_tolerance`, `leader` ({`id`, `name`} or null),
        `leaders_seen` [hex], `leader_disagreement`, `cluster_id` (hex or null),
        `cluster_ids_seen` [hex], `cluster_id_disagreement`, `not_in_plan` [name],
        `not_in_cluster` [name], `converged`, `alarms` [name], `problems` [text], `warnings` [text],
        `members` [member], `certificates` [cert].

        member: `name`, `state` (a `MemberState`: "healthy" | "learner" | "unhealthy" |
        "unreachable" | "not a member" | "not in plan"), `endpoint`, `in_plan`, `in_cluster`
        (bool or null), `reachable`,
        `healthy`, `is_leader`, `is_learner`, `id` (hex or null), `version`, `raft_term`,
        `raft_index`, `raft_applied_index`, `db_size`, `db_size_in_use` (bytes), `rtt_ms`,
        `connect_ms`, `path` ("direct" | "ssh" | null), `error`, `cert_problem`, `peer_urls`,
        `client_urls`, `alarms` [name], `db_quota_pct` (DB size as % of the backend quota),
        `served_cert` ({`common_name`, `sans`, `issuer`, `not_after`, `days_left`,
        `fingerprint_sha256`} or null). Numbers the member did not report are null.

        cert: `name`, `source` ("local" | "served"), `common_name`, `not_after`, `days_left`,
        `fingerprint_sha256`, `expired`, `expiring`.
        """
        now = self.checked_at
        return {
            "schema": JSON_SCHEMA,
            "checked_at": self.checked_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "state": self.state.value,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "quorum_ok": self.quorum_ok,
            "member_count": self.member_count,
            "voter_count": self.voter_count,
            "healthy_count": self.healthy_count,
            "healthy_voters": self.healthy_voters,
            "quorum": self.quorum,
            "tolerates": self.tolerates,
            "design_tolerance": self.design_tolerance,
            "leader": {"id": self.leader_id, "name": self.leader_name} if self.leader_id else None,
            "leaders_seen": list(self.leaders_seen),
            "leader_disagreement": self.leader_disagreement,
            "cluster_id": self.cluster_id or None,
            "cluster_ids_seen": list(self.cluster_ids_seen),
            "cluster_id_disagreement": self.cluster_id_disagreement,
            "not_in_plan": list(self.not_in_plan),
            "not_in_cluster": list(self.not_in_cluster),
            "converged": self.converged,
            "alarms": list(self.alarms),
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "members": [_member_json(m, now) for m in self.members],
            "certificates": [_cert_json(c) for c in self.certificates],
        }


def _member_json(m: MemberHealth, now: dt.datetime) -> dict[str, Any]:
    served = None
    if m.served_cert is not None:
        c = m.served_cert
        served = {
            "common_name": c.common_name,
            "sans": list(c.sans),
            "issuer": c.issuer,
            "not_after": c.not_after.isoformat(),
            "days_left": c.days_left(now),
            "fingerprint_sha256": c.fingerprint_sha256,
        }
    return {
        "name": m.name,
        "state": m.state.value,
        "endpoint": m.endpoint,
        "in_plan": m.in_plan,
        "in_cluster": m.in_cluster,
        "reachable": m.reachable,
        "healthy": m.healthy,
        "is_leader": m.is_leader,
        "is_learner": m.is_learner,
        "id": m.id or None,
        "version": m.version,
        "raft_term": m.raft_term,
        "raft_index": m.raft_index,
        "raft_applied_index": m.raft_applied_index,
        "db_size": m.db_size,
        "db_size_in_use": m.db_size_in_use,
        "rtt_ms": None if m.rtt_ms is None else round(m.rtt_ms, 2),
        "connect_ms": None if m.connect_ms is None else round(m.connect_ms, 2),
        "path": m.path.value if m.path else None,
        "error": m.error,
        "cert_problem": m.cert_problem,
        "peer_urls": list(m.peer_urls),
        "client_urls": list(m.client_urls),
        "alarms": list(m.alarms),
        "db_quota_pct": None if m.db_quota_pct is None else round(m.db_quota_pct, 2),
        "served_cert": served,
    }


def _cert_json(c: CertExpiry) -> dict[str, Any]:
    return {
        "name": c.name,
        "source": c.source,
        "common_name": c.common_name,
        "not_after": c.not_after.isoformat(),
        "days_left": c.days_left,
        "fingerprint_sha256": c.fingerprint_sha256,
        "expired": c.expired,
        "expiring": c.expiring,
    }
