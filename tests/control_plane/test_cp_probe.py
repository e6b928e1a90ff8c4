"""Apiserver probes against STAND-IN HTTPS servers on loopback.

No kube-apiserver can run here, so each "apiserver" is a small Python HTTPS server that serves
`/livez` and `/readyz?verbose` like kube-apiserver does, with the plan's real apiserver
certificate and requiring a client certificate from the plan's Kubernetes CA. The code under
test — TLS with the admin cert, timeouts, the state of each master — is hawizard's own.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hawizard import pki
from hawizard.control_plane.probe import ApiserverState, probe_apiserver, probe_apiservers
from hawizard.plan import Cluster, Node, PKISettings, Plan

READY_BODY = (
    "[+]ping ok\n[+]etcd ok\n[+]poststarthook/rbac/bootstrap-roles ok\nreadyz check passed\n"
)
NOT_READY_BODY = (
    "[+]ping ok\n[-]etcd failed: reason withheld\n"
    "[-]poststarthook/rbac/bootstrap-roles failed: not finished\nreadyz check failed\n"
)


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


class StandInApiserver:
    """An HTTPS server answering like kube-apiserver's health endpoints (not the real one)."""

    def __init__(self, plan: Plan, address: str, port: int, *, ready: bool):
        layout = pki.paths(plan)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(layout.apiserver.cert), str(layout.apiserver.key))
        ctx.load_verify_locations(str(layout.kubernetes_ca.cert))
        ctx.verify_mode = ssl.CERT_REQUIRED  # like kube-apiserver with --client-ca-file
        self.clients: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                cert = self.connection.getpeercert()
                cn = dict(x[0] for x in cert["subject"])["commonName"]
                outer.clients.append(cn)
                if self.path == "/livez":
                    status, body = 200, "ok"
                elif self.path == "/readyz?verbose":
                    status, body = (200, READY_BODY) if ready else (500, NOT_READY_BODY)
                else:
                    status, body = 404, "not found"
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class SilentListener:
    """Accepts TCP connections and never says anything: a hung or blackholed apiserver."""

    def __init__(self, address: str, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(8)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()


@pytest.fixture
def plan(tmp_path) -> Plan:
    nodes = tuple(Node(f"m{i}", f"127.0.0.{71 + i}") for i in range(4))
    p = Plan(
        nodes=nodes,
        cluster=Cluster(name="probetest", control_plane_endpoint="127.0.0.70:18443"),
        pki=PKISettings(dir=str(tmp_path / "pki")),
    )
    assert not any(o.is_failure for o in pki.create(p))
    return p


def test_every_state_of_a_master(plan):
    port = free_port("127.0.0.71")
    m0, m1, _m2, m3 = plan.nodes
    with (
        StandInApiserver(plan, m0.address, port, ready=True) as ready,
        StandInApiserver(plan, m1.address, port, ready=False) as not_ready,
        SilentListener(m3.address, port),
    ):
        start = time.monotonic()
        rows = probe_apiservers(plan, timeout=1.0, port=port)
        elapsed = time.monotonic() - start
    by_node = {r.node: r for r in rows}
    assert [r.node for r in rows] == ["m0", "m1", "m2", "m3"]  # plan order

    assert by_node["m0"].state is ApiserverState.READY and by_node["m0"].ok
    assert by_node["m0"].livez is True and by_node["m0"].readyz is True
    assert by_node["m0"].failed_checks == () and by_node["m0"].latency_ms is not None

    assert by_node["m1"].state is ApiserverState.NOT_READY and not by_node["m1"].ok
    assert by_node["m1"].livez is True and by_node["m1"].readyz is False
    assert by_node["m1"].failed_checks == (
        "[-]etcd failed: reason withheld",
        "[-]poststarthook/rbac/bootstrap-roles failed: not finished",
    )

    assert by_node["m2"].state is ApiserverState.NOT_RUNNING  # nothing listens: refused
    assert by_node["m2"].error == "connection refused"

    assert by_node["m3"].state is ApiserverState.UNREACHABLE  # no TLS answer in time
    assert "1 s" in by_node["m3"].error

    # The probe presented the admin client certificate (the servers demand one).
    assert ready.clients == ["admin", "admin"] and not_ready.clients == ["admin", "admin"]
    # Concurrent: the hung master costs one timeout, not one per master.
    assert elapsed < 2.5, elapsed


def test_a_staged_control_plane_is_not_running_not_an_error(plan):
    port = free_port("127.0.0.71")
    rows = probe_apiservers(plan, timeout=1.0, port=port)
    assert {r.state for r in rows} == {ApiserverState.NOT_RUNNING}
    assert all(
        r.url == f"https://{n.address}:{port}" for r, n in zip(rows, plan.nodes, strict=True)
    )


def test_wrong_ca_is_a_tls_error(plan, tmp_path):
    """An apiserver whose certificate is not from the plan's CA is an error, not 'ready'."""
    port = free_port("127.0.0.71")
    other = Plan(
        nodes=plan.nodes,
        cluster=plan.cluster,
        pki=PKISettings(dir=str(tmp_path / "other-pki")),
    )
    assert not any(o.is_failure for o in pki.create(other))
    with StandInApiserver(other, "127.0.0.71", port, ready=True):
        row = probe_apiserver(plan, plan.nodes[0], timeout=1.0, port=port)
    assert row.state is ApiserverState.ERROR and row.error.startswith("TLS:")


def test_missing_admin_certificate_is_reported_per_row(plan):
    pki.paths(plan).admin.key.unlink()
    rows = probe_apiservers(plan, timeout=0.5, port=free_port("127.0.0.71"))
    assert len(rows) == 4
    assert all(r.state is ApiserverState.ERROR for r in rows)
    assert all("no admin client certificate" in r.error for r in rows)
