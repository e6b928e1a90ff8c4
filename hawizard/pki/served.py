"""Which certificate a TLS endpoint serves right now — the proof that a rotation took effect.

A restarted member that still serves its old certificate (a wrong path, an upload that did
not land) would look healthy to every health probe; only comparing what it *serves* with what
was issued tells the difference. The fetch does not verify the chain (the caller compares the
served certificate byte for byte with the one it issued, which is stronger), but it presents
the operator's client certificate, since etcd's listeners ask for one.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from cryptography import x509

__all__ = ["served_certificate"]


def served_certificate(
    address: str,
    port: int,
    *,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    timeout: float = 3.0,
) -> x509.Certificate:
    """The leaf certificate `address:port` presents in its handshake; raises OSError."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if client_cert is not None and client_key is not None:
        ctx.load_cert_chain(str(client_cert), str(client_key))
    with socket.create_connection((address, port), timeout=timeout) as raw:
        raw.settimeout(timeout)
        with ctx.wrap_socket(raw, server_hostname=address) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise OSError(f"{address}:{port} presented no certificate")
    return x509.load_der_x509_certificate(der)
