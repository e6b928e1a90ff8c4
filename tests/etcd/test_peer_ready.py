"""peer_ready against real listeners on loopback: a real etcd member's peer port (mutual TLS,
the project's PKI), a listener that accepts and never answers (an etcd still starting), and a
closed port (an etcd not started yet)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from fixtures.local_etcd import LocalEtcd, silent_listener

from hawizard.etcd.peer_ready import answers_health, wait_serving
from hawizard.etcd.probe import ClientTLS


def test_a_serving_member_answers_at_once_and_logs_no_rejection(tmp_path: Path) -> None:
    with LocalEtcd(tmp_path, members=1) as etcd:
        name = etcd.names[0]
        context = ClientTLS.for_plan(etcd.plan).context()
        waited = wait_serving(context, etcd.node(name).address, etcd.plan.etcd.peer_port, 5.0)
        assert waited.serving and waited.reachable
        assert waited.seconds < 1.0  # no retry was needed: the first handshake was answered
        # the operator's client certificate is one of the cluster's: no rejected handshake
        assert "rejected connection" not in etcd.log(name)


def test_a_bound_but_silent_port_is_not_serving_and_the_wait_is_bounded(tmp_path: Path) -> None:
    with LocalEtcd(tmp_path, members=1) as etcd:
        context = ClientTLS.for_plan(etcd.plan).context()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with silent_listener("127.0.0.1", port) as held:
        start = time.monotonic()
        waited = wait_serving(context, "127.0.0.1", port, 0.8)
        elapsed = time.monotonic() - start
        assert held  # connections were accepted: bound, as a starting etcd's listener is
    assert not waited.serving and waited.reachable
    assert 0.8 <= elapsed < 2.0


def test_a_closed_port_is_reachable_but_not_serving(tmp_path: Path) -> None:
    with LocalEtcd(tmp_path, members=1) as etcd:
        context = ClientTLS.for_plan(etcd.plan).context()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: refused
    waited = wait_serving(context, "127.0.0.1", port, 0.3)
    assert not waited.serving and waited.reachable


def test_a_member_with_a_leader_answers_health(tmp_path: Path) -> None:
    with LocalEtcd(tmp_path, members=1) as etcd:
        name = etcd.names[0]
        context = ClientTLS.for_plan(etcd.plan).context()
        address, port = etcd.node(name).address, etcd.plan.etcd.client_port
        assert answers_health(context, address, port, 2.0)
        # the peer port speaks TLS too, but has no /health: not an answer
        assert not answers_health(context, address, etcd.plan.etcd.peer_port, 2.0)


def test_silence_a_closed_port_and_a_foreign_ca_are_not_healthy(tmp_path: Path) -> None:
    with LocalEtcd(tmp_path / "a", members=1) as etcd:
        address, port = etcd.node(etcd.names[0]).address, etcd.plan.etcd.client_port
        with LocalEtcd(tmp_path / "b", members=1, addresses=["127.0.0.2"]) as other:
            foreign = ClientTLS.for_plan(other.plan).context()
            assert not answers_health(foreign, address, port, 2.0)  # chain not verified
        context = ClientTLS.for_plan(etcd.plan).context()
    assert not answers_health(context, address, port, 0.5)  # stopped: refused
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        silent = probe.getsockname()[1]
    with silent_listener("127.0.0.1", silent):
        start = time.monotonic()
        assert not answers_health(context, "127.0.0.1", silent, 0.4)
        assert time.monotonic() - start < 1.5  # bounded by its timeout
