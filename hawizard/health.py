"""The cluster health model: one honest answer to "how is this etcd cluster right now?".

Pure data, no network: `build()` turns raw probe answers (`ProbeResult`, filled in by
`hawizard.etcd.probe`) plus the local PKI's certificates into one `ClusterHealth`. The
dashboard, `hawizard status`, the rollout's wait and every day-2 safety check read this model,
so they can never disagree about what "healthy" or "tolerates one more failure" means.

Rules, in one place:
- a member is *healthy* when it answered `/health` with `"health": "true"`; a learner is
  healthy when it answered its status without errors (learners refuse the quorum read behind
  `/health`);
- voters are the non-learner members of the member list (the leader's list when there is one),
  falling back to the plan's etcd nodes when no member answered at all;
- quorum is `quorum(voters)`; `tolerates` is how many more healthy voters may fail before
  quorum is lost (0 when it is already lost);
- state: QUORUM_LOST without quorum, else DEGRADED when anything is listed in `problems`
  (a member down, a leader or cluster-id disagreement, a member in the cluster but not in the
  plan, a served certificate that is not the member's own, an expired cert), else HEALTHY.
  A planned node that is not a member yet is a warning (with the `etcd add` command), not a
  problem: the cluster itself is fine, though not `converged`.

`ClusterHealth.to_json()` is the stable, documented JSON (see its docstring).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from hawizard.pki.inspection import RENEW_BEFORE_DAYS, CertInfo
from hawizard.plan import DEFAULT_QUOTA_BACKEND_BYTES, Plan, quorum, tolerance

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


# --- building ---------------------------------------------------------------------------------


def hex_id(value: Any) -> str:
    """A 64-bit id as etcdctl prints it (lowercase hex); the gateway sends decimal strings."""
    if value in (None, "", 0, "0"):
        return ""
    return format(int(value), "x")


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class _ListedMember:
    id: str
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool


def _member_list(results: Sequence[ProbeResult]) -> list[_ListedMember] | None:
    """The leader's member list when the leader answered, else the first one obtained."""
    lists = [(r, r.members) for r in results if r.members is not None]
    if not lists:
        return None
    chosen = lists[0][1]
    for r, members in lists:
        status = r.status or {}
        own = hex_id(status.get("header", {}).get("member_id"))
        if own and own == hex_id(status.get("leader")):
            chosen = members
            break
    return [
        _ListedMember(
            id=hex_id(m.get("ID")),
            name=m.get("name", ""),
            peer_urls=tuple(m.get("peerURLs", ())),
            client_urls=tuple(m.get("clientURLs", ())),
            is_learner=bool(m.get("isLearner", False)),
        )
        for m in chosen.get("members", ())
    ]


def _match(r: ProbeResult, listed: list[_ListedMember]) -> _ListedMember | None:
    """The member-list entry for a probed plan member: by the id it reported, then by name,
    then by a client URL on the address we dialled."""
    own = hex_id((r.status or {}).get("header", {}).get("member_id"))
    for key in (
        lambda m: bool(own) and m.id == own,
        lambda m: bool(m.name) and m.name == r.name,
        lambda m: any(_url_host(u) == _norm_host(r.host) for u in m.client_urls),
    ):
        for m in listed:
            if key(m):
                return m
    return None


def _url_host(url: str) -> str:
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    host = rest.rsplit(":", 1)[0] if not rest.endswith("]") else rest
    return _norm_host(host)


def _norm_host(host: str) -> str:
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower()


def _member_row(
    r: ProbeResult, entry: _ListedMember | None, in_cluster: bool | None
) -> MemberHealth:
    status = r.status or {}
    header = status.get("header", {})
    own = hex_id(header.get("member_id")) or (entry.id if entry else "")
    is_learner = bool(status.get("isLearner", False)) or bool(entry and entry.is_learner)
    status_errors = [str(e) for e in status.get("errors", ())]
    health_true = (r.health or {}).get("health") == "true"
    # a learner refuses the quorum read behind /health: judge it by its status instead
    healthy = (r.status is not None and not status_errors) if is_learner else health_true
    errors = [r.error] if r.error else []
    reason = (r.health or {}).get("reason", "")
    if r.health is not None and not health_true and not is_learner:
        errors.append(f"/health: {reason or 'false'}")
    errors += [e for e in status_errors if e not in reason]
    return MemberHealth(
        name=r.name,
        endpoint=r.endpoint,
        in_plan=True,
        in_cluster=in_cluster,
        reachable=r.connected and (r.status is not None or r.health is not None),
        healthy=healthy,
        is_leader=bool(own) and own == hex_id(status.get("leader")),
        is_learner=is_learner,
        id=own,
        version=str(status.get("version", "")),
        raft_term=_int(status.get("raftTerm")),
        raft_index=_int(status.get("raftIndex")),
        raft_applied_index=_int(status.get("raftAppliedIndex")),
        db_size=_int(status.get("dbSize")),
        db_size_in_use=_int(status.get("dbSizeInUse")),
        rtt_ms=r.rtt_ms,
        connect_ms=r.connect_ms,
        path=r.path if r.connected else None,
        error="; ".join(errors),
        served_cert=r.served_cert,
        peer_urls=entry.peer_urls if entry else (),
        client_urls=entry.client_urls if entry else (),
        alarms=tuple(sorted({a for e in status_errors for a in _ALARM.findall(e)})),
    )


def _served_cert_problem(r: ProbeResult, expected: Mapping[str, CertInfo], address: str) -> str:
    served = r.served_cert
    if served is None:
        return ""
    if r.served_cert_verified is False:
        return f"serves a certificate that fails verification (CN={served.common_name})"
    mine = expected.get(r.name)
    if mine is not None and served.fingerprint_sha256 == mine.fingerprint_sha256:
        return ""
    for other, info in expected.items():
        if other != r.name and info.fingerprint_sha256 == served.fingerprint_sha256:
            return f"serves {other}'s certificate instead of its own"
    if r.served_cert_names_host is False:
        return (
            f"serves a certificate that does not name {address} "
            f"(CN={served.common_name}, SANs {', '.join(served.sans) or 'none'})"
        )
    if mine is None:
        return ""  # nothing local to compare with; the handshake itself was fine
    return (
        "serves a certificate that differs from the local PKI's "
        f"(served {served.fingerprint_sha256[:23]}…, local {mine.fingerprint_sha256[:23]}…)"
    )


def build(
    plan: Plan,
    results: Sequence[ProbeResult],
    local_certs: Mapping[str, CertInfo] | None = None,
    expected_served: Mapping[str, CertInfo] | None = None,
    now: dt.datetime | None = None,
    duration_s: float = 0.0,
) -> ClusterHealth:
    """One `ClusterHealth` from a probe round.

    `local_certs`: every certificate of the local PKI by its PKI name ("etcd/ca", …), for the
    expiry rows. `expected_served`: member name -> the server cert the local PKI holds for it,
    to judge what each member actually serves.
    """
    now = now or dt.datetime.now(dt.UTC)
    local_certs = local_certs or {}
    expected_served = expected_served or {}
    listed = _member_list(results)
    addresses = {n.name: n.address for n in plan.etcd_nodes}

    rows: list[MemberHealth] = []
    matched: set[str] = set()
    for r in results:
        entry = _match(r, listed) if listed is not None else None
        if entry is not None:
            matched.add(entry.id)
        row = _member_row(r, entry, None if listed is None else entry is not None)
        row = replace(row, quota_bytes=plan.etcd.quota_backend_bytes)
        problem = _served_cert_problem(r, expected_served, addresses.get(r.name, r.host))
        if problem:
            row = replace(row, cert_problem=problem)
        rows.append(row)
    for m in listed or ():
        if m.id not in matched:
            rows.append(
                MemberHealth(
                    name=m.name or f"(unstarted {m.id})",
                    endpoint=m.client_urls[0] if m.client_urls else "",
                    in_plan=False,
                    in_cluster=True,
                    reachable=False,
                    healthy=False,
                    is_learner=m.is_learner,
                    id=m.id,
                    error="not in the plan; not probed",
                    peer_urls=m.peer_urls,
                    client_urls=m.client_urls,
                )
            )

    if listed is not None:
        member_count = len(listed)
        voter_count = sum(not m.is_learner for m in listed)
    else:
        member_count = voter_count = len(plan.etcd_nodes) or len(results)
    healthy_count = sum(m.healthy for m in rows)
    healthy_voters = sum(m.healthy and not m.is_learner and m.in_cluster is not False for m in rows)
    need = quorum(voter_count) if voter_count else 1
    quorum_ok = voter_count > 0 and healthy_voters >= need
    tolerates = healthy_voters - need if quorum_ok else 0

    leaders = sorted({hex_id((r.status or {}).get("leader")) for r in results if r.status} - {""})
    cluster_ids = sorted(
        {hex_id((r.status or {}).get("header", {}).get("cluster_id")) for r in results} - {""}
    )
    leader_id = leaders[0] if len(leaders) == 1 else ""
    names_by_id = {m.id: m.name for m in listed or ()} | {m.id: m.name for m in rows if m.id}
    leader_name = names_by_id.get(leader_id, "") if leader_id else ""
    if leader_id:
        rows = [replace(m, is_leader=m.id == leader_id) if m.id else m for m in rows]

    planned = [n.name for n in plan.etcd_nodes]
    not_in_plan = tuple(m.name or m.id for m in listed or () if m.name not in planned)
    not_in_cluster = tuple(m.name for m in rows if m.in_plan and m.in_cluster is False)

    certs = _cert_rows(local_certs, rows, now)
    problems, warnings = _findings(
        rows, leaders, cluster_ids, leader_id, not_in_plan, not_in_cluster, certs, quorum_ok
    )
    if not quorum_ok:
        state = State.QUORUM_LOST
    elif problems:
        state = State.DEGRADED
    else:
        state = State.HEALTHY
    return ClusterHealth(
        members=tuple(rows),
        member_count=member_count,
        voter_count=voter_count,
        healthy_count=healthy_count,
        healthy_voters=healthy_voters,
        quorum=need,
        tolerates=tolerates,
        design_tolerance=tolerance(voter_count),
        quorum_ok=quorum_ok,
        state=state,
        leader_id=leader_id,
        leader_name=leader_name,
        leaders_seen=tuple(leaders),
        cluster_id=cluster_ids[0] if len(cluster_ids) == 1 else "",
        cluster_ids_seen=tuple(cluster_ids),
        not_in_plan=not_in_plan,
        not_in_cluster=not_in_cluster,
        certificates=certs,
        problems=tuple(problems),
        warnings=tuple(warnings),
        checked_at=now,
        duration_s=duration_s,
    )


def _cert_rows(
    local: Mapping[str, CertInfo], rows: Sequence[MemberHealth], now: dt.datetime
) -> tuple[CertExpiry, ...]:
    out = [
        CertExpiry(
            name, "local", i.common_name, i.not_after, i.days_left(now), i.fingerprint_sha256
        )
        for name, i in local.items()
    ]
    for m in rows:
        i = m.served_cert
        if i is not None:
            out.append(
                CertExpiry(
                    f"{m.name} (served)",
                    "served",
                    i.common_name,
                    i.not_after,
                    i.days_left(now),
                    i.fingerprint_sha256,
                )
            )
    return tuple(out)


def _findings(
    rows: Sequence[MemberHealth],
    leaders: Sequence[str],
    cluster_ids: Sequence[str],
    leader_id: str,
    not_in_plan: Sequence[str],
    not_in_cluster: Sequence[str],
    certs: Sequence[CertExpiry],
    quorum_ok: bool,
) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    for m in rows:
        if not m.in_plan or m.in_cluster is False:
            continue  # a planned node that is not a member yet cannot answer as one
        if not m.reachable:
            problems.append(f"{m.name} is unreachable: {m.error or 'no answer'}")
        elif not m.healthy:
            problems.append(f"{m.name} is unhealthy: {m.error or 'health false'}")
        if m.cert_problem:
            problems.append(f"{m.name} {m.cert_problem}")
    if len(leaders) > 1:
        problems.append(f"members disagree on the leader: {', '.join(leaders)}")
    elif not leader_id and quorum_ok:
        problems.append("no member reports a leader")
    if len(cluster_ids) > 1:
        problems.append(f"members belong to different clusters: {', '.join(cluster_ids)}")
    if not_in_plan:
        problems.append(f"in the cluster but not in the plan: {', '.join(not_in_plan)}")
    warnings: list[str] = []
    if not_in_cluster:
        # Planned ahead of `hawizard etcd add`: the cluster itself is fine, so say what to do
        # rather than turn the banner red. `converged` still waits for these nodes.
        warnings.append(
            f"in the plan but not a member yet: {', '.join(not_in_cluster)} "
            "(add with `hawizard etcd add PLAN NODE`)"
        )
    running = [m for m in rows if m.in_plan and m.reachable and m.version]
    if len({m.version for m in running}) > 1:
        # A rolling upgrade under way (or interrupted): healthy, but say so everywhere.
        by = ", ".join(f"{m.name} {m.version}" for m in running)
        warnings.append(
            f"members run different etcd versions ({by}): fine only during a rolling upgrade; "
            "`hawizard etcd upgrade PLAN` finishes it"
        )
    for c in certs:
        if c.expired:
            problems.append(f"certificate {c.name} expired {-c.days_left} days ago")
        elif c.expiring:
            warnings.append(f"certificate {c.name} expires in {c.days_left} days")
    return problems, warnings
