"""Probes have a total deadline: a "dripping" TLS server cannot hold `status` (issue 12).

The server completes a real TLS handshake with the plan's apiserver certificate, then sends its
HTTP answer one byte every 0.8 s: each read gets a byte before a per-read timeout would fire,
so only a total deadline ends the probe. Loopback only.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

from hawizard import pki
from hawizard.cli import main
from hawizard.control_plane.probe import ApiserverState, probe_apiserver
from hawizard.plan import Cluster, EtcdSettings, Node, PKISettings, Plan, dump

ADDRESS = "127.12.0.21"  # its own loopback address: port 6443 there is ours


class DrippingTLSServer:
    """Handshakes properly, then drips `HTTP/1.1 200 OK...` at one byte per `every` seconds."""

    def __init__(self, plan: Plan, address: str, port: int, every: float = 0.8):
        layout = pki.paths(plan)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(layout.apiserver.cert), str(layout.apiserver.key))
        self.every = every
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(8)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
            tls.settimeout(60)
            tls.recv(4096)  # the request
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
                if self.stop.is_set():
                    break
                tls.sendall(bytes([byte]))
                time.sleep(self.every)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.fixture
def plan(tmp_path) -> Plan:
    p = Plan(
        nodes=(Node("m0", ADDRESS),),
        cluster=Cluster(name="drip"),
        pki=PKISettings(dir=str(tmp_path / "pki")),
        etcd=EtcdSettings(client_port=23790, peer_port=23800, metrics_port=23810),
    )
    assert not any(o.is_failure for o in pki.create(p))
    return p


def test_a_dripping_apiserver_is_unreachable_within_the_timeout(plan):
    with DrippingTLSServer(plan, ADDRESS, 16443):
        start = time.monotonic()
        row = probe_apiserver(plan, plan.nodes[0], timeout=1.5, port=16443)
        took = time.monotonic() - start
    assert row.state is ApiserverState.UNREACHABLE and "1.5" in row.error
    assert took < 2.5, f"probe took {took:.1f} s against a 1.5 s deadline"


def test_status_with_timeout_2_returns_within_3_s_against_a_dripping_server(plan, tmp_path, capsys):
    path = tmp_path / "plan.toml"
    dump(plan, path)
    with DrippingTLSServer(plan, ADDRESS, 6443):
        start = time.monotonic()
        rc = main(["status", str(path), "--timeout", "2"])
        took = time.monotonic() - start
    out = capsys.readouterr().out
    print(f"status --timeout 2 against a dripping apiserver: {took:.2f} s")
    assert rc == 2  # no etcd answers: quorum lost
    assert took < 3.0, f"status took {took:.1f} s"
    assert "m0" in out
