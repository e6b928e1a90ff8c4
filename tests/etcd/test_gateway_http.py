"""The probe's little HTTP/1.1 (`etcd.gateway_http`) against answers written byte by byte on
a real socket pair: Content-Length, chunked, close-delimited, keep-alive, and the answers it
must refuse rather than misread."""

from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawizard.etcd.gateway_http import BadResponse, GatewayConnection


def serve(answers: list[bytes]) -> tuple[GatewayConnection, list[bytes]]:
    """A connection whose peer reads one request per answer and writes that answer in
    small pieces (then closes when told to by a None answer)."""
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    seen: list[bytes] = []

    def peer() -> None:
        with theirs:
            for answer in answers:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf += theirs.recv(4096)
                head, _, body = buf.partition(b"\r\n\r\n")
                if b"Content-Length: 2" in head and len(body) < 2:
                    body += theirs.recv(2)
                seen.append(head + b"|" + body)
                for i in range(0, len(answer), 7):  # dribbled: the reader must assemble it
                    theirs.sendall(answer[i : i + 7])

    threading.Thread(target=peer, daemon=True).start()
    return GatewayConnection("127.0.0.11", 2379, ours), seen


def test_content_length_and_keep_alive_then_close():
    conn, seen = serve(
        [
            b'HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{"health":"tr"}',
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
        ]
    )
    assert conn.request("POST", "/v3/maintenance/status", b"{}", 1 << 20) == (
        200,
        b'{"health":"tr"}',
    )
    assert conn.sock is not None  # kept alive
    assert conn.request("GET", "/health", None, 1 << 20) == (503, b"{}")
    assert conn.sock is None  # the server said close
    post, get = seen
    assert post.startswith(b"POST /v3/maintenance/status HTTP/1.1\r\nHost: 127.0.0.11:2379")
    assert b"Content-Length: 2" in post and post.endswith(b"|{}")
    assert get.startswith(b"GET /health HTTP/1.1") and b"Content-Length" not in get


def test_chunked_with_extensions_and_trailers():
    body = b'4;x=1\r\n{"a"\r\n3\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n'
    conn, _ = serve([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body])
    assert conn.request("GET", "/health", None, 100) == (200, b'{"a":1}')


def test_an_answer_without_a_length_ends_with_the_connection():
    conn, _ = serve([b'HTTP/1.0 200 OK\r\n\r\n{"x":1}'])
    assert conn.request("GET", "/health", None, 100) == (200, b'{"x":1}')
    assert conn.sock is None


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP/1.1 status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9999\r\n\r\n", "at most 100 read"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", "closed in the middle"),
    ],
)
def test_what_it_cannot_read_is_refused_by_name(answer, why):
    conn, _ = serve([answer])
    with pytest.raises(BadResponse, match=why):
        conn.request("GET", "/health", None, 100)


@given(st.binary(max_size=300))
def test_any_bytes_are_an_answer_or_a_bad_response(junk):
    conn, _ = serve([b"HTTP/1.1 200 OK\r\n" + junk])
    try:
        status, body = conn.request("GET", "/health", None, 1000)
    except BadResponse:
        return
    assert status == 200 and len(body) <= 1000
