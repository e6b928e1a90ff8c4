"""The little HTTP/1.1 the probe speaks to etcd's JSON gateway, over its own TLS socket.

Three requests per member per round (`probe_member`): a POST with `{}` or a GET, answered
with a small JSON body. `http.client` did this before, at the price of importing `email`
(~8 ms of a 0.14 s `status --etcd-only` process, issue 30); this does just what the gateway
needs: one `sendall` per request (headers and body together, so no Nagle delay), the status
line, the headers it reads (Content-Length, chunked Transfer-Encoding, Connection: close),
and a body bounded by `limit`. Anything else is `BadResponse`, which the probe reports as
that member's error.
"""

from __future__ import annotations

import socket

__all__ = ["BadResponse", "GatewayConnection"]

MAX_HEAD = 64 << 10  # the status line and headers: a few hundred bytes in practice


class BadResponse(Exception):
    """Not an HTTP/1.1 answer this client can read (the message says what was wrong)."""


class GatewayConnection:
    """One keep-alive connection; `sock` becomes None when the server closes it after an
    answer (the caller opens a new one for the next request)."""

    def __init__(self, host: str, port: int, sock: socket.socket | None) -> None:
        self.host = host
        self.port = port
        self.sock = sock
        self._buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, method: str, url: str, body: bytes | None, limit: int) -> tuple[int, bytes]:
        """Send one request and read its answer: (status, body up to `limit` bytes)."""
        assert self.sock is not None
        head = [f"{method} {url} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: */*"]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self._buf = b""
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("ascii") + (body or b""))
        status, headers = self._head()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = self._chunked(limit)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise BadResponse(f"bad Content-Length {headers['content-length']!r}") from None
            if length < 0 or length > limit:
                raise BadResponse(f"an answer of {length} bytes (at most {limit} read)")
            data = self._exactly(length)
        else:
            data = self._until_close(limit)
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, data

    # --- reading ---------------------------------------------------------------------------

    def _more(self) -> bytes:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise BadResponse("the connection closed in the middle of an answer")
        return chunk

    def _head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self._buf:
            if len(self._buf) > MAX_HEAD:
                raise BadResponse("an answer whose headers never end")
            self._buf += self._more()
        head, _, self._buf = self._buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise BadResponse(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def _exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._buf += self._more()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            if len(self._buf) > MAX_HEAD:
                raise BadResponse("a chunk size line that never ends")
            self._buf += self._more()
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def _chunked(self, limit: int) -> bytes:
        out = b""
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BadResponse(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return out
            if len(out) + size > limit:
                raise BadResponse(f"an answer of more than {limit} bytes")
            out += self._exactly(size)
            self._exactly(2)  # the chunk's CRLF

    def _until_close(self, limit: int) -> bytes:
        assert self.sock is not None
        out = self._buf
        self._buf = b""
        while len(out) <= limit:
            chunk = self.sock.recv(65536)
            if not chunk:
                return out
            out += chunk
        raise BadResponse(f"an answer of more than {limit} bytes")
