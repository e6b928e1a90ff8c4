"""`KvLoop` and `served_certificate` against a real local etcd (loopback, mutual TLS): the
client that judges rotations must itself be right — retry on the next endpoint when a member
is gone, count a request failed only when no member served it, read back what it wrote — and
the served-certificate fetch must see exactly the certificate a member presents."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.serialization import Encoding

from hawizard.lab.kv_loop import KvLoop, Trust
from hawizard.pki import CA, ca_specs, load_certificate
from hawizard.pki.issuing import make_ca
from hawizard.pki.keys import generate_key
from hawizard.pki.served import served_certificate


def trust_of(c) -> Trust:
    return Trust(c.layout.etcd_ca.cert, c.layout.etcd_admin.cert, c.layout.etcd_admin.key)


def endpoints(c) -> list[tuple[str, int]]:
    return [(c.node(n).address, c.plan.etcd.client_port) for n in c.names]


def test_served_certificate_is_the_members_own(etcd_cluster):
    c = etcd_cluster
    admin = c.layout.etcd_admin
    for name in c.names:
        for port, pair in (
            (c.plan.etcd.client_port, c.layout.etcd_server(name)),
            (c.plan.etcd.peer_port, c.layout.etcd_peer(name)),
        ):
            served = served_certificate(
                c.node(name).address, port, client_cert=admin.cert, client_key=admin.key
            )
            assert served.public_bytes(Encoding.DER) == load_certificate(pair.cert).public_bytes(
                Encoding.DER
            )


def test_loop_survives_a_member_going_away(etcd_cluster):
    c = etcd_cluster
    follower = c.followers()[0]
    first = [(c.node(follower).address, c.plan.etcd.client_port)]  # the loop starts there
    with KvLoop(first + endpoints(c), trust_of(c), interval=0.05) as loop:
        time.sleep(0.5)
        c.stop(follower)  # requests that land on it go to the next endpoint
        time.sleep(1.0)
    assert loop.failed == 0, loop.errors
    assert loop.ok >= 10 and loop.retries >= 1
    assert loop.missing() == []


def test_a_client_that_trusts_another_ca_fails_every_request(etcd_cluster, tmp_path):
    c = etcd_cluster
    other = make_ca(ca_specs(c.plan)[CA.ETCD], generate_key(c.plan.pki.key), 1)  # same name
    wrong = tmp_path / "other-ca.pem"
    wrong.write_bytes(other.cert.public_bytes(Encoding.PEM))
    trust = Trust(wrong, c.layout.etcd_admin.cert, c.layout.etcd_admin.key)
    with KvLoop(endpoints(c), trust, request_deadline=0.5) as loop:
        time.sleep(1.0)
    assert loop.ok == 0 and loop.failed >= 1
    assert "certificate verify failed" in loop.errors[0]
