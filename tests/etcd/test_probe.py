"""Probes against a real 3-member etcd cluster on loopback (tests/fixtures/local_etcd.py).

The faults here are real processes and sockets: SIGKILL of a member, SIGSTOP (the kernel still
completes TCP handshakes, nothing answers), a listener that accepts and never answers, a TLS
server that answers too slowly, a member restarted with another member's (or a foreign CA's)
certificate. The real nft blackhole inside a node's namespace is covered by the lab tests
(tests/etcd/test_probe_lab.py, marked `lab`).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.local_etcd import LocalEtcd, silent_listener

from hawizard import pki
from hawizard.etcd import probe
from hawizard.etcd.probe import SshMode
from hawizard.health import ProbePath, State
from hawizard.plan import SSH, Node, Plan, Role

HEX = re.compile(r"^[0-9a-f]{1,16}$")
FAST = 1.0  # probe timeout for fault tests: short, but far above a healthy round (~20 ms)


def _etcdctl_status(cluster: LocalEtcd) -> dict[str, dict]:
    """etcdctl's own view, keyed by endpoint: an independent reference for ids and leader."""
    out = cluster.etcdctl("endpoint", "status", "-w", "json")
    assert out.returncode == 0, out.stderr
    return {row["Endpoint"]: row["Status"] for row in json.loads(out.stdout)}


def _wait_for(predicate, plan: Plan, timeout: float = 15.0):
    """Probe until `predicate(health)` holds; the last health either way."""
    deadline = time.monotonic() + timeout
    while True:
        health = probe.cluster_health(plan, FAST)
        if predicate(health) or time.monotonic() > deadline:
            return health
        time.sleep(0.1)


def test_healthy_cluster_fills_every_field(etcd_cluster: LocalEtcd) -> None:
    health = probe.cluster_health(etcd_cluster.plan)
    reference = _etcdctl_status(etcd_cluster)

    assert health.state is State.HEALTHY, health.problems
    assert (health.member_count, health.voter_count, health.healthy_count) == (3, 3, 3)
    assert (health.quorum, health.tolerates, health.design_tolerance) == (2, 1, 1)
    assert health.summary == "3/3 healthy · tolerates 1 more failure"
    assert health.converged and health.exit_code == 0
    assert [m.is_leader for m in health.members].count(True) == 1
    assert health.not_in_plan == () and health.not_in_cluster == ()
    for m in health.members:
        ref = reference[m.endpoint]
        assert HEX.match(m.id) and m.id == format(ref["header"]["member_id"], "x")
        assert m.is_leader == (ref["leader"] == ref["header"]["member_id"])
        assert m.version == "3.5.1"
        assert m.raft_term >= 1 and m.raft_index >= 1 and m.raft_applied_index >= 1
        assert m.db_size > 0 and 0 < m.db_size_in_use <= m.db_size
        assert 0 < m.connect_ms < 1000 and 0 < m.rtt_ms < 1000
        assert m.path is ProbePath.DIRECT and m.reachable and m.healthy and m.in_cluster
        assert m.error == "" and m.cert_problem == ""
        assert m.served_cert is not None and m.served_cert.common_name == m.name
        assert etcd_cluster.node(m.name).address in m.served_cert.ip_addresses
        assert m.client_urls == (etcd_cluster.client_url(m.name),)
    table = etcd_cluster.etcdctl("member", "list", "-w", "simple").stdout  # "id, started, …"
    assert sorted(line.split(",")[0] for line in table.splitlines()) == sorted(
        m.id for m in health.members
    )
    leader = next(m for m in health.members if m.is_leader)
    assert (health.leader_id, health.leader_name) == (leader.id, leader.name)
    assert HEX.match(health.cluster_id)
    assert health.cluster_id == format(next(iter(reference.values()))["header"]["cluster_id"], "x")
    local = {c.name for c in health.certificates if c.source == "local"}
    assert {"etcd/ca", "etcd/etcd-admin", "etcd/server-m1"} <= local
    served = [c for c in health.certificates if c.source == "served"]
    assert len(served) == 3 and all(360 <= c.days_left <= 366 for c in served)


def test_one_member_killed_leaves_quorum_without_tolerance(etcd_cluster: LocalEtcd) -> None:
    victim = etcd_cluster.followers()[0]
    etcd_cluster.kill(victim)
    health = probe.cluster_health(etcd_cluster.plan, FAST)
    assert health.state is State.DEGRADED and health.exit_code == 1
    assert (health.healthy_voters, health.tolerates, health.quorum_ok) == (2, 0, True)
    assert health.summary == "2/3 healthy · tolerates 0 more failures"
    dead = health.member(victim)
    assert not dead.reachable and not dead.healthy and dead.error == "connection refused"
    assert HEX.match(dead.id), "the member list still names the dead member"
    assert any(f"{victim} is unreachable" in p for p in health.problems)
    assert not health.converged


def test_two_members_down_is_quorum_lost(etcd_cluster: LocalEtcd) -> None:
    etcd_cluster.kill("m1")
    etcd_cluster.kill("m3")
    start = time.monotonic()
    health = probe.cluster_health(etcd_cluster.plan, FAST)
    assert time.monotonic() - start < FAST + 1
    assert health.state is State.QUORUM_LOST and health.exit_code == 2
    assert not health.quorum_ok and health.tolerates == 0 and health.healthy_voters == 0
    assert "quorum lost" in health.summary
    survivor = health.member("m2")
    assert survivor.reachable and not survivor.healthy and survivor.error


def test_a_new_leader_is_seen_after_the_leader_is_killed(etcd_cluster: LocalEtcd) -> None:
    before = probe.cluster_health(etcd_cluster.plan)
    old = before.leader_name
    etcd_cluster.kill(old)
    after = _wait_for(lambda h: h.leader_name not in ("", old), etcd_cluster.plan)
    assert after.leader_name not in ("", old), after.problems
    assert after.leader_id != before.leader_id
    assert after.member(after.leader_name).raft_term > before.member(after.leader_name).raft_term
    assert after.state is State.DEGRADED and after.tolerates == 0


def test_blackholed_member_costs_its_timeout_only(etcd_cluster: LocalEtcd) -> None:
    """Simulated with a never-answering listener on m3's address (the real nft blackhole is in
    the lab tests). The round must not wait for m3 longer than its timeout."""
    victim = etcd_cluster.followers()[0]
    etcd_cluster.kill(victim)
    node = etcd_cluster.node(victim)
    with silent_listener(node.address, etcd_cluster.plan.etcd.client_port) as held:
        start = time.monotonic()
        health = probe.cluster_health(etcd_cluster.plan, FAST)
        took = time.monotonic() - start
        assert held, "the probe really connected to the silent listener"
    assert FAST <= took < FAST + 1
    dark = health.member(victim)
    assert not dark.reachable and "no answer within 1s" in dark.error and "TLS" in dark.error
    others = [m for m in health.members if m.name != victim]
    assert all(m.healthy for m in others), health.problems
    assert all(m.rtt_ms < 500 for m in others), "healthy members were not held up"
    assert health.state is State.DEGRADED


def test_stopped_process_is_a_blackhole_too(etcd_cluster: LocalEtcd) -> None:
    """SIGSTOP: the kernel still accepts the TCP connection, etcd never answers."""
    etcd_cluster.send_signal("m1", signal.SIGSTOP)
    try:
        start = time.monotonic()
        health = probe.cluster_health(etcd_cluster.plan, FAST)
        took = time.monotonic() - start
    finally:
        etcd_cluster.send_signal("m1", signal.SIGCONT)
    assert took < FAST + 1
    m1 = health.member("m1")
    assert not m1.healthy and "no answer within 1s" in m1.error


def _read_request(conn: ssl.SSLSocket) -> bytes:
    """One whole HTTP request (headers and Content-Length body); b"" when the peer is gone."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    while length and len(body) < int(length.group(1)):
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        body += chunk
    return data


@contextmanager
def _slow_tls_server(
    cluster: LocalEtcd, name: str, delay: float, close: bool = False
) -> Iterator[None]:
    """Completes the TLS handshake with `name`'s cert, then answers every request after
    `delay` seconds: a deadline per call would let 3 calls take 3 x delay. With `close`, every
    answer says "Connection: close" and the server hangs up after it."""
    pair = cluster.layout.etcd_server(name)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pair.cert), str(pair.key))
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((cluster.node(name).address, cluster.plan.etcd.client_port))
    server.listen(4)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = server.accept()
            except OSError:
                continue
            try:
                raw.settimeout(5)
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    while not stop.is_set() and _read_request(conn):
                        time.sleep(delay)
                        body = b'{"health":"true","reason":""}'
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            b"%sContent-Length: %d\r\n\r\n%s"
                            % (b"Connection: close\r\n" if close else b"", len(body), body)
                        )
                        if close:
                            break
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
        server.close()


def test_deadline_is_per_member_not_per_call(etcd_cluster: LocalEtcd) -> None:
    etcd_cluster.kill("m2")
    with _slow_tls_server(etcd_cluster, "m2", delay=0.6):
        start = time.monotonic()
        health = probe.cluster_health(etcd_cluster.plan, FAST)
        took = time.monotonic() - start
    assert took < FAST + 0.6, f"three slow calls were allowed {took:.2f}s"
    m2 = health.member("m2")
    assert not m2.healthy and "no answer within 1s" in m2.error
    assert m2.served_cert is not None and m2.cert_problem == ""


def test_a_member_that_closes_after_each_answer_is_asked_again(etcd_cluster: LocalEtcd) -> None:
    etcd_cluster.kill("m2")
    with _slow_tls_server(etcd_cluster, "m2", delay=0, close=True):
        health = probe.cluster_health(etcd_cluster.plan, FAST)
    m2 = health.member("m2")
    assert m2.error == "" and m2.healthy, "all three calls answered over fresh connections"


def test_served_certificate_of_another_member_is_detected(etcd_cluster: LocalEtcd) -> None:
    etcd_cluster.restart("m3", serve_cert_of="m1")
    health = _wait_for(lambda h: h.member("m3").healthy, etcd_cluster.plan)
    m3 = health.member("m3")
    assert m3.healthy, "the member works; only its certificate is wrong"
    assert m3.served_cert.common_name == "m1"
    assert m3.cert_problem == "serves m1's certificate instead of its own"
    assert "m3 serves m1's certificate instead of its own" in health.problems
    assert health.state is State.DEGRADED and health.exit_code == 1
    served = {c.name: c for c in health.certificates if c.source == "served"}
    assert served["m3 (served)"].common_name == "m1"


def test_certificate_from_a_foreign_ca_is_shown_but_not_trusted(
    etcd_cluster: LocalEtcd, tmp_path: Path
) -> None:
    foreign = replace(etcd_cluster.plan, pki=replace(etcd_cluster.plan.pki, dir=str(tmp_path)))
    pki.create(foreign)
    etcd_cluster.restart("m3", server=pki.paths(foreign).etcd_server("m3"))
    health = _wait_for(
        lambda h: h.member("m3").served_cert is not None and h.member("m1").healthy,
        etcd_cluster.plan,
    )
    m3 = health.member("m3")
    assert not m3.reachable and "fails verification" in m3.error
    assert m3.served_cert is not None and m3.served_cert.common_name == "m3"
    assert "fails verification" in m3.cert_problem
    assert health.member("m1").healthy and health.state is State.DEGRADED


def test_members_outside_the_plan_and_planned_nodes_outside_the_cluster(
    etcd_cluster: LocalEtcd,
) -> None:
    plan = etcd_cluster.plan
    two = plan.with_nodes(plan.nodes[:2])
    health = probe.cluster_health(two, FAST)
    assert health.not_in_plan == ("m3",) and health.member_count == 3
    m3 = health.member("m3")
    assert not m3.in_plan and m3.in_cluster and m3.error == "not in the plan; not probed"
    assert health.tolerates == 0 and health.state is State.DEGRADED

    four = plan.with_nodes((*plan.nodes, Node("m4", "127.0.0.14", roles=(Role.ETCD,))))
    health = probe.cluster_health(four, FAST)
    assert health.not_in_cluster == ("m4",)
    assert health.member("m4").in_cluster is False and not health.member("m4").reachable
    assert health.healthy_voters == 3 and health.tolerates == 1
    # planned ahead of `etcd add`: a warning with the command, the cluster itself is healthy
    assert health.state is State.HEALTHY and not health.converged
    assert any("not a member yet: m4" in w and "etcd add" in w for w in health.warnings)


def test_wait_healthy_returns_once_converged(etcd_cluster: LocalEtcd) -> None:
    etcd_cluster.kill("m2")
    rounds: list = []
    timer = threading.Timer(1.0, etcd_cluster.start, args=("m2",))
    timer.start()
    try:
        health = probe.wait_healthy(
            etcd_cluster.plan, timeout=30, interval=0.2, on_round=rounds.append
        )
    finally:
        timer.join()
    assert health.converged and health.state is State.HEALTHY
    assert len(rounds) >= 2 and not rounds[0].converged and rounds[-1] is health


def test_wait_healthy_gives_up_with_the_reason(etcd_cluster: LocalEtcd) -> None:
    etcd_cluster.kill("m2")
    start = time.monotonic()
    with pytest.raises(probe.ClusterNotHealthy) as caught:
        probe.wait_healthy(etcd_cluster.plan, timeout=1.0, interval=0.3, probe_timeout=FAST)
    assert time.monotonic() - start < 1.0 + FAST + 1
    assert "m2 is unreachable: connection refused" in caught.value.reason
    assert "2/3 healthy" in str(caught.value)
    assert caught.value.health.member("m2").reachable is False


def test_round_is_concurrent_for_five_members() -> None:
    """Five members, two of them blackholed: still one timeout, not two."""
    with (
        tempfile.TemporaryDirectory(prefix="hawizard-etcd5-") as tmp,
        LocalEtcd(Path(tmp), members=5, name="five") as cluster,
    ):
        cluster.kill("m4")
        cluster.kill("m5")
        port = cluster.plan.etcd.client_port
        with (
            silent_listener(cluster.node("m4").address, port),
            silent_listener(cluster.node("m5").address, port),
        ):
            health = _wait_for(lambda h: h.healthy_voters == 3, cluster.plan)
            start = time.monotonic()
            health = probe.cluster_health(cluster.plan, FAST)
            took = time.monotonic() - start
    assert took < FAST + 1
    assert (health.voter_count, health.quorum, health.healthy_voters) == (5, 3, 3)
    assert health.tolerates == 0 and health.state is State.DEGRADED


def test_ssh_path_tunnels_to_the_member(sshd, tmp_path: Path) -> None:
    """The SSH path against a real sshd: only 127.0.0.1 has one, so the member lives there.
    (A member reachable *only* over SSH needs separate network views: a lab test.)"""
    with LocalEtcd(tmp_path / "etcd", members=1, addresses=["127.0.0.1"]) as cluster:
        known = tmp_path / "known_hosts"
        known.write_text(sshd.known_hosts_line())
        node = replace(cluster.plan.nodes[0], ssh=SSH("root", sshd.port, str(sshd.client_key)))
        plan = replace(
            cluster.plan,
            nodes=(node,),
            cluster=replace(cluster.plan.cluster, known_hosts=str(known)),
        )
        health = probe.cluster_health(plan, 5, ssh=SshMode.ALWAYS)
        m1 = health.member("m1")
        assert m1.path is ProbePath.SSH and m1.healthy and m1.error == ""
        assert m1.served_cert.common_name == "m1" and m1.cert_problem == ""
        assert health.state is State.HEALTHY and health.to_json()["members"][0]["path"] == "ssh"

        direct = probe.cluster_health(plan, 5, ssh=SshMode.FALLBACK)
        assert direct.member("m1").path is ProbePath.DIRECT, "SSH only when direct fails"

        cluster.kill("m1")
        both = probe.cluster_health(plan, FAST, ssh=SshMode.FALLBACK).member("m1")
        assert both.error.startswith("connection refused; over SSH: ")
        assert "refused" in both.error.split("over SSH: ")[1]

        known.write_text("")  # the host key is no longer trusted: no tunnel, and it says why
        untrusted = probe.cluster_health(plan, FAST, ssh=SshMode.ALWAYS).member("m1")
        assert not untrusted.reachable and untrusted.error.startswith("SSH tunnel: ")
