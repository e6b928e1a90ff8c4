"""The health model alone: `build()` from constructed probe results, no network.

The probe results carry JSON shaped exactly like etcd 3.5's gateway answers (64-bit ids as
decimal strings, zero values omitted), as captured from the local cluster.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hawizard.health import (
    ClusterHealth,
    ProbePath,
    ProbeResult,
    State,
    build,
    hex_id,
)
from hawizard.pki.inspection import CertInfo
from hawizard.plan import Node, Plan, Role

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
CLUSTER = "1400802389854326232"
IDS = {  # decimal, as the gateway sends them
    "m1": "1161557486549240716",
    "m2": "11357259950207910606",
    "m3": "10020320613607507204",
    "m4": "4000000000000000004",
    "m5": "5000000000000000005",
}


def plan_of(n: int) -> Plan:
    return Plan(
        nodes=tuple(Node(f"m{i}", f"10.0.0.{i}", roles=(Role.ETCD,)) for i in range(1, n + 1))
    )


def member_list(names, learners=()) -> dict:
    return {
        "header": {"cluster_id": CLUSTER},
        "members": [
            {
                "ID": IDS[n],
                "name": n,
                "peerURLs": [f"https://10.0.0.{n[1:]}:2380"],
                "clientURLs": [f"https://10.0.0.{n[1:]}:2379"],
                **({"isLearner": True} if n in learners else {}),
            }
            for n in names
        ],
    }


def answered(
    name: str,
    leader: str | None = "m1",
    *,
    members=("m1", "m2", "m3"),
    learners=(),
    health: bool = True,
    cluster: str = CLUSTER,
    errors=(),
    served: CertInfo | None = None,
) -> ProbeResult:
    status = {
        "header": {"cluster_id": cluster, "member_id": IDS[name], "raft_term": "2"},
        "version": "3.5.1",
        "dbSize": "36864",
        "dbSizeInUse": "24576",
        "raftIndex": "8",
        "raftTerm": "2",
        "raftAppliedIndex": "8",
    }
    if leader:
        status["leader"] = IDS[leader]
    if name in learners:
        status["isLearner"] = True
    if errors:
        status["errors"] = list(errors)
    return ProbeResult(
        name=name,
        endpoint=f"https://10.0.0.{name[1:]}:2379",
        host=f"10.0.0.{name[1:]}",
        connected=True,
        health={"health": "true", "reason": ""}
        if health
        else {"health": "false", "reason": "RAFT NO LEADER"},
        status=status,
        members=member_list(members, learners),
        served_cert=served,
        served_cert_verified=True if served else None,
        served_cert_names_host=True if served else None,
        connect_ms=2.0,
        rtt_ms=1.0,
    )


def down(name: str, error: str = "connection refused") -> ProbeResult:
    return ProbeResult(name, f"https://10.0.0.{name[1:]}:2379", f"10.0.0.{name[1:]}", error=error)


def cert(cn: str, fingerprint: str, days: int = 365, ip: str = "") -> CertInfo:
    return CertInfo(
        subject=f"CN={cn}",
        common_name=cn,
        organizations=(),
        issuer="CN=etcd-ca",
        dns_names=(cn, "localhost"),
        ip_addresses=(ip,) if ip else (),
        serial=1,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=days, hours=1),
        fingerprint_sha256=fingerprint,
        key_type="ecdsa-p256",
        is_ca=False,
        key_usage=(),
        extended_key_usage=("serverAuth", "clientAuth"),
    )


def health_of(results, n: int = 3, **kw) -> ClusterHealth:
    return build(plan_of(n), results, now=NOW, **kw)


def test_hex_ids_match_etcdctl() -> None:
    assert hex_id("11357259950207910606") == "9d9d17c059e9c2ce"
    assert hex_id(11357259950207910606) == "9d9d17c059e9c2ce"
    assert hex_id("0") == "" and hex_id(None) == ""


def test_all_healthy() -> None:
    h = health_of([answered(n) for n in ("m1", "m2", "m3")])
    assert h.state is State.HEALTHY and h.exit_code == 0 and h.converged
    counts = (h.member_count, h.voter_count, h.healthy_count, h.quorum, h.tolerates)
    assert counts == (3, 3, 3, 2, 1)
    assert h.summary == "3/3 healthy · tolerates 1 more failure"
    assert h.leader_name == "m1" and h.leader_id == hex_id(IDS["m1"])
    assert [m.is_leader for m in h.members] == [True, False, False]
    assert h.cluster_id == hex_id(CLUSTER) and not h.cluster_id_disagreement
    m = h.member("m2")
    assert m.id == "9d9d17c059e9c2ce"
    assert (m.raft_term, m.raft_index, m.db_size, m.db_size_in_use) == (2, 8, 36864, 24576)
    assert m.path is ProbePath.DIRECT and m.in_cluster and m.peer_urls
    assert h.problems == () and h.warnings == ()


def test_one_down_degrades_and_tolerates_nothing() -> None:
    h = health_of([answered("m1"), answered("m2"), down("m3")])
    assert h.state is State.DEGRADED and h.exit_code == 1
    assert (h.healthy_voters, h.tolerates, h.quorum_ok) == (2, 0, True)
    assert h.summary == "2/3 healthy · tolerates 0 more failures"
    assert h.member("m3").id == hex_id(IDS["m3"]), "known from the member list"
    assert h.problems == ("m3 is unreachable: connection refused",)
    assert not h.converged


def test_one_healthy_of_three_is_quorum_lost() -> None:
    h = health_of([answered("m1", leader=None, health=False), down("m2"), down("m3")])
    assert h.state is State.QUORUM_LOST and h.exit_code == 2
    assert not h.quorum_ok and h.tolerates == 0 and h.healthy_voters == 0
    assert h.summary == "0/3 healthy · quorum lost (needs 2)"
    assert h.member("m1").reachable and "RAFT NO LEADER" in h.member("m1").error


def test_nothing_reachable_falls_back_to_the_plan() -> None:
    h = health_of([down("m1"), down("m2", "no answer within 2s"), down("m3")])
    assert h.state is State.QUORUM_LOST
    assert h.member_count == 3 and h.voter_count == 3 and h.quorum == 2
    assert all(m.in_cluster is None for m in h.members)
    assert h.leader_id == "" and h.not_in_cluster == ()


@pytest.mark.parametrize(
    ("healthy", "tolerates", "state"),
    [
        (5, 2, State.HEALTHY),
        (4, 1, State.DEGRADED),
        (3, 0, State.DEGRADED),
        (2, 0, State.QUORUM_LOST),
    ],
)
def test_five_members(healthy: int, tolerates: int, state: State) -> None:
    names = ("m1", "m2", "m3", "m4", "m5")
    results = [answered(n, members=names) if i < healthy else down(n) for i, n in enumerate(names)]
    h = health_of(results, n=5)
    assert (h.voter_count, h.quorum, h.tolerates, h.state) == (5, 3, tolerates, state)
    assert h.design_tolerance == 2


def test_learner_is_not_a_voter() -> None:
    names = ("m1", "m2", "m3", "m4")
    results = [answered(n, members=names, learners=("m4",)) for n in names[:3]]
    # a learner refuses /health's quorum read; its status still answers
    results.append(answered("m4", members=names, learners=("m4",), health=False))
    h = health_of(results, n=4)
    assert (h.member_count, h.voter_count, h.quorum, h.healthy_voters) == (4, 3, 2, 3)
    assert h.tolerates == 1 and h.member("m4").is_learner and h.member("m4").healthy
    assert h.state is State.HEALTHY


def test_disagreements_are_problems() -> None:
    h = health_of([answered("m1", leader="m1"), answered("m2", leader="m2"), answered("m3")])
    assert h.leader_disagreement and h.leader_id == ""
    assert h.leaders_seen == tuple(sorted((hex_id(IDS["m1"]), hex_id(IDS["m2"]))))
    assert h.state is State.DEGRADED and not h.converged
    assert any("disagree on the leader" in p for p in h.problems)

    h = health_of([answered("m1"), answered("m2"), answered("m3", cluster="42")])
    assert h.cluster_id_disagreement and h.cluster_id == ""
    assert any("different clusters" in p for p in h.problems)


def test_plan_and_member_list_differences() -> None:
    four = ("m1", "m2", "m3", "m4")
    h = health_of([answered(n, members=four) for n in ("m1", "m2", "m3")])
    assert h.not_in_plan == ("m4",) and h.member_count == 4 and h.quorum == 3
    assert not h.member("m4").in_plan and h.member("m4").error == "not in the plan; not probed"
    assert h.tolerates == 0 and h.state is State.DEGRADED and not h.converged

    two = ("m1", "m2")
    h = health_of([answered(n, members=two) for n in two] + [down("m3")])
    assert h.not_in_cluster == ("m3",) and h.member("m3").in_cluster is False
    assert h.voter_count == 2 and h.quorum == 2 and h.tolerates == 0


def test_leaders_member_list_wins() -> None:
    stale = answered("m2", members=("m1", "m2", "m3", "m4"))  # a lagging member's view
    h = health_of([answered("m1"), stale, answered("m3")])
    assert h.member_count == 3 and h.not_in_plan == ()


def test_status_errors_and_transport_errors_are_reported() -> None:
    sick = answered("m2", health=False, errors=["etcdserver: no leader"])
    h = health_of([answered("m1"), sick, answered("m3")])
    assert not h.member("m2").healthy
    assert h.member("m2").error == "/health: RAFT NO LEADER; etcdserver: no leader"


def test_served_certificates_are_judged_against_the_local_pki() -> None:
    own = {n: cert(n, f"FP-{n}", ip=f"10.0.0.{n[1:]}") for n in ("m1", "m2", "m3")}
    results = [
        answered("m1", served=own["m1"]),
        answered("m2", served=own["m3"]),  # m3's cert on m2
        answered("m3", served=cert("m3", "FP-stale", ip="10.0.0.3")),  # an old m3 cert
    ]
    h = health_of(results, expected_served=own)
    assert h.member("m1").cert_problem == ""
    assert h.member("m2").cert_problem == "serves m3's certificate instead of its own"
    assert "differs from the local PKI" in h.member("m3").cert_problem
    assert h.state is State.DEGRADED and h.converged, "cert findings are not waited on"

    wrong_name = ProbeResult(
        **{
            **answered("m1").__dict__,
            "served_cert": cert("x", "FP-x"),
            "served_cert_verified": True,
            "served_cert_names_host": False,
        }
    )
    h = health_of([wrong_name, answered("m2"), answered("m3")], expected_served=own)
    assert "does not name 10.0.0.1" in h.member("m1").cert_problem

    untrusted = ProbeResult(
        **{
            **down("m1", "TLS: ...").__dict__,
            "served_cert": own["m1"],
            "served_cert_verified": False,
        }
    )
    h = health_of([untrusted, answered("m2"), answered("m3")], expected_served=own)
    assert "fails verification" in h.member("m1").cert_problem
    assert not h.member("m1").reachable


def test_certificate_expiry_rows() -> None:
    local = {
        "etcd/ca": cert("etcd-ca", "A", days=3000),
        "etcd/server-m1": cert("m1", "B", days=10),
        "etcd/etcd-admin": cert("etcd-admin", "C", days=-3),
    }
    served = cert("m1", "B", days=10)
    h = health_of(
        [answered("m1", served=served), answered("m2"), answered("m3")], local_certs=local
    )
    rows = {c.name: c for c in h.certificates}
    assert rows["etcd/ca"].days_left == 3000 and rows["etcd/ca"].source == "local"
    assert rows["etcd/server-m1"].expiring and not rows["etcd/server-m1"].expired
    assert rows["etcd/etcd-admin"].expired and rows["m1 (served)"].source == "served"
    assert "certificate etcd/etcd-admin expired 3 days ago" in h.problems
    assert "certificate etcd/server-m1 expires in 10 days" in h.warnings
    assert h.state is State.DEGRADED


DOCUMENTED_KEYS = {
    "schema",
    "checked_at",
    "duration_s",
    "state",
    "exit_code",
    "summary",
    "quorum_ok",
    "member_count",
    "voter_count",
    "healthy_count",
    "healthy_voters",
    "quorum",
    "tolerates",
    "design_tolerance",
    "leader",
    "leaders_seen",
    "leader_disagreement",
    "cluster_id",
    "cluster_ids_seen",
    "cluster_id_disagreement",
    "not_in_plan",
    "not_in_cluster",
    "converged",
    "problems",
    "warnings",
    "members",
    "certificates",
    "alarms",
}
MEMBER_KEYS = {
    "name",
    "state",
    "endpoint",
    "in_plan",
    "in_cluster",
    "reachable",
    "healthy",
    "is_leader",
    "is_learner",
    "id",
    "version",
    "raft_term",
    "raft_index",
    "raft_applied_index",
    "db_size",
    "db_size_in_use",
    "rtt_ms",
    "connect_ms",
    "path",
    "error",
    "cert_problem",
    "peer_urls",
    "client_urls",
    "alarms",
    "db_quota_pct",
    "served_cert",
}


def test_json_is_stable_and_documented() -> None:
    own = cert("m1", "FP-m1", ip="10.0.0.1")
    h = health_of(
        [answered("m1", served=own), answered("m2"), down("m3")],
        local_certs={"etcd/ca": cert("etcd-ca", "A")},
    )
    data = json.loads(json.dumps(h.to_json()))
    assert set(data) == DOCUMENTED_KEYS
    assert all(set(m) == MEMBER_KEYS for m in data["members"])
    for key in DOCUMENTED_KEYS | MEMBER_KEYS:
        assert f"`{key}`" in ClusterHealth.to_json.__doc__, f"{key} is not documented"
    assert data["schema"] == 1 and data["state"] == "degraded" and data["exit_code"] == 1
    assert data["leader"] == {"id": hex_id(IDS["m1"]), "name": "m1"}
    m1, _, m3 = data["members"]
    assert m1["served_cert"]["days_left"] == 365 and m1["path"] == "direct"
    assert m3["path"] is None and m3["raft_term"] is None and m3["error"] == "connection refused"
    assert data["certificates"][0]["name"] == "etcd/ca"
