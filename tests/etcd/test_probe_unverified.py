"""The unverified probe context presents no client certificate (issue 12).

It only exists to *show* a certificate that failed verification. The operator's admin client
certificate is presented only to servers that proved they hold a cert of the cluster's CA.
The server here is a Python TLS server on loopback that records what the client presented.
"""

from __future__ import annotations

import socket
import ssl
import threading

from hawizard import pki
from hawizard.etcd.probe_member import ClientTLS, Target, _fetch_unverified
from hawizard.plan import Cluster, Node, PKISettings, Plan


def _server(plan: Plan, *, tls12: bool):
    layout = pki.paths(plan)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(layout.etcd_server("m0").cert), str(layout.etcd_server("m0").key))
    ctx.load_verify_locations(str(layout.etcd_ca.cert))
    ctx.verify_mode = ssl.CERT_REQUIRED if tls12 else ssl.CERT_OPTIONAL
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    presented: list[object] = []

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                presented.append(tls.getpeercert())
        except (OSError, ssl.SSLError) as exc:
            presented.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, presented, thread


def _plan(tmp_path) -> Plan:
    plan = Plan(
        nodes=(Node("m0", "127.0.0.1"),),
        cluster=Cluster(name="t"),
        pki=PKISettings(dir=str(tmp_path / "pki")),
    )
    pki.create(plan)
    return plan


def test_unverified_context_has_no_client_certificate(tmp_path):
    tls = ClientTLS.for_plan(_plan(tmp_path))
    assert tls.context().get_ca_certs()  # the verified one trusts the CA …
    unverified = tls.context(verify=False)
    assert unverified.verify_mode is ssl.CERT_NONE and not unverified.get_ca_certs()


def _fetch(plan, listener):
    from hawizard.etcd.probe import Deadline, connect_direct

    port = listener.getsockname()[1]
    ctx = ClientTLS.for_plan(plan).context(verify=False)
    return _fetch_unverified(Target("m0", "127.0.0.1", port), ctx, Deadline(3.0), connect_direct)


def test_tls13_server_sees_no_client_cert_and_its_cert_is_still_shown(tmp_path):
    plan = _plan(tmp_path)
    listener, presented, thread = _server(plan, tls12=False)
    with listener:
        served = _fetch(plan, listener)
        thread.join(5)
    assert served is not None and served.common_name == "m0"
    assert presented == [{}] or presented == [None]  # no client certificate at all


def test_tls12_server_requiring_a_client_cert_still_shows_its_cert(tmp_path):
    """TLS 1.2 ends the handshake when no client cert comes; the served certificate is read
    from the server's plain-text Certificate message instead."""
    plan = _plan(tmp_path)
    listener, presented, thread = _server(plan, tls12=True)
    with listener:
        served = _fetch(plan, listener)
        thread.join(5)
    assert served is not None and served.common_name == "m0"
    assert presented and isinstance(presented[0], ssl.SSLError)  # refused: nothing presented
