"""Has a starting etcd member begun to serve its peer port? For starting a new cluster's
members one after the other instead of all at once.

Why: at its first start, each member of a static bootstrap asks every other member whether it
was bootstrapped already (etcd's `isMemberBootstrapped`), one after the other, waiting up to
1 s on each. A member that is not running refuses the connection at once, and one that is
serving answers at once; but one that is itself still starting has its listener bound and
answers nothing, so the asker waits out the whole second. Started all at once, every member
waits on every other: 2 s for 3 members, 4 s for 5 (measured in the lab's journals: "starting
an etcd server" to raft's first line). Started in order, each as soon as the one before serves
its peer port, every question is answered at once.

The check is a TLS handshake with the operator's client certificate (signed by the cluster's
CA, so the member accepts it and logs no rejected connection): a member answers the handshake
only once it serves. An operator who cannot reach the peer port (a firewall between) loses at
most `timeout` per member, once: `reachable=False` comes back and the rest start at once.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass

CONNECT = 0.2  # s per attempt: a member on a sane network answers far sooner
HANDSHAKE = 0.25


@dataclass(frozen=True)
class PeerWait:
    serving: bool  # the member answered on its peer port
    reachable: bool  # the port could be reached at all (else nothing is learned from it)
    seconds: float


def wait_serving(
    context: ssl.SSLContext, address: str, port: int, timeout: float, pause: float = 0.03
) -> PeerWait:
    """Poll address:port until it completes a TLS handshake, at most `timeout` seconds."""
    start = time.monotonic()
    deadline = start + timeout
    reachable = False
    while True:
        try:
            with socket.create_connection((address, port), timeout=CONNECT) as raw:
                reachable = True  # accepted: bound at least; serving once it answers TLS
                raw.settimeout(HANDSHAKE)
                with context.wrap_socket(raw, server_hostname=None):
                    return PeerWait(True, True, time.monotonic() - start)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            pass  # closed without a word: a process going away, not one serving
        except ssl.SSLError:
            # It answered the handshake, if not with what we hoped: it serves.
            return PeerWait(True, True, time.monotonic() - start)
        except ConnectionRefusedError:
            reachable = True  # the node answered: etcd has not bound the port yet
        except OSError:
            pass  # timed out: not serving yet, or nothing gets through at all
        if time.monotonic() + pause >= deadline:
            return PeerWait(False, reachable, time.monotonic() - start)
        time.sleep(pause)


def answers_health(context: ssl.SSLContext, address: str, port: int, timeout: float) -> bool:
    """Does the member at address:port answer `GET /health` with `"health":"true"` on its
    client port (mTLS, the operator's certificate)? etcd says so only while the member is in a
    cluster with a leader, which a member about to exit (removed, wrong data) never is: a
    start watch can end on it instead of waiting out its whole stay."""
    from hawizard.etcd.gateway_http import BadResponse, GatewayConnection

    try:
        with socket.create_connection((address, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            with context.wrap_socket(raw, server_hostname=None) as tls:
                conn = GatewayConnection(address, port, tls)
                status, body = conn.request("GET", "/health", None, 4096)
    except (OSError, BadResponse):
        return False
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return status == 200 and isinstance(answer, dict) and answer.get("health") == "true"
