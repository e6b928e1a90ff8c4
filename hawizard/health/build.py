"""Building the health model: raw probe answers (`ProbeResult`) plus the local PKI's
certificates → one `ClusterHealth`, by the rules in `hawizard.health`'s docstring. Pure: no
network, no clock but the one passed in."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hawizard.health.model import (
    _ALARM,
    CertExpiry,
    ClusterHealth,
    MemberHealth,
    ProbeResult,
    State,
)
from hawizard.pki.inspection import CertInfo
from hawizard.plan import Plan, quorum, tolerance

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

    rows = _rows(plan, results, listed, expected_served)
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


def _rows(
    plan: Plan,
    results: Sequence[ProbeResult],
    listed: list[_ListedMember] | None,
    expected_served: Mapping[str, CertInfo],
) -> list[MemberHealth]:
    """One row per probed member (matched to the member list), then one per listed member
    that was not probed (in the cluster, not in the plan, or never started)."""
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

    return rows


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
