"""A client that writes and reads etcd all the time, to prove a change kept the cluster serving.

`KvLoop` puts a key and gets it back every `interval` seconds through etcd's JSON gateway
(`/v3/kv/put`, `/v3/kv/range`), opening a **new TLS connection for every request**, so a
member serving a certificate its client does not trust is noticed at once. Like etcd's own
clients it retries a request on the next endpoint when one does not answer, within a deadline
per request; a request counts as failed only when no endpoint served it in time. Afterwards
`missing()` reads back every value it wrote.

The trust it uses can be switched while it runs (`use(...)`), which is how a CA rotation is
followed: the bundle of old and new CA from phase 1, the new CA alone after phase 3.

Standard library only: the lab, the tests and the benchmarks use it alike.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KvLoop", "Trust"]


@dataclass(frozen=True)
class Trust:
    """What the client trusts (`ca`, a file of one or more PEM CAs) and who it is."""

    ca: Path
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False  # members are dialled by address, as etcdctl does
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(self.ca))
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


@dataclass
class KvLoop:
    """`with KvLoop(endpoints, trust) as loop: ...` then `loop.failed`, `loop.missing()`."""

    endpoints: list[tuple[str, int]]
    trust: Trust
    interval: float = 0.1
    attempt_timeout: float = 1.0
    request_deadline: float = 5.0
    prefix: str = "/kvloop/"
    rotate: bool = False  # start every request on the next endpoint (spread over all members)
    ok: int = 0
    failed: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    put_times: list[tuple[float, float]] = field(default_factory=list)  # (monotonic start, s)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _next: int = 0

    def use(self, trust: Trust) -> None:
        """Trust something else from the next request on (thread-safe)."""
        with self._lock:
            self.trust = trust

    def __enter__(self) -> KvLoop:
        self._thread = threading.Thread(target=self._run, name="kv-loop", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.request_deadline * 3)

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            started = time.monotonic()
            key, value = f"{self.prefix}{n:06d}", f"v{n}-{time.time():.3f}"
            n += 1
            try:
                put_started = time.monotonic()
                self.request("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})
                self.put_times.append((put_started, time.monotonic() - put_started))
                self.written[key] = value
                got = self.request("/v3/kv/range", {"key": _b64(key)})
                kvs = got.get("kvs") or []
                if not kvs or _unb64(kvs[0].get("value", "")) != value:
                    raise RuntimeError(f"read back {kvs!r} instead of {value!r}")
                self.ok += 1
            except Exception as exc:  # every kind of failure counts, and is kept for the report
                self.failed += 1
                self.errors.append(f"{time.strftime('%H:%M:%S')} {key}: {exc}")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def request(self, path: str, body: dict) -> dict:
        """One gateway request, retried on the next endpoint until `request_deadline`."""
        deadline = time.monotonic() + self.request_deadline
        problems: list[str] = []
        while True:
            with self._lock:
                trust = self.trust
                host, port = self.endpoints[self._next % len(self.endpoints)]
                if self.rotate:
                    self._next += 1
            try:
                return self._post(trust, host, port, path, body)
            except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as exc:
                problems.append(f"{host}: {exc or type(exc).__name__}")
                if not self.rotate:
                    with self._lock:
                        self._next += 1  # the next request also starts elsewhere
                self.retries += 1
            if time.monotonic() >= deadline:
                raise RuntimeError("no endpoint served it: " + "; ".join(problems[-3:]))
            time.sleep(0.05)

    def _post(self, trust: Trust, host: str, port: int, path: str, body: dict) -> dict:
        conn = http.client.HTTPSConnection(
            host, port, context=trust.context(), timeout=self.attempt_timeout
        )
        try:
            conn.request(
                "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            raw = response.read(1 << 20)
        finally:
            conn.close()
        data = json.loads(raw)
        if response.status != 200 or "error" in data:
            raise ValueError(f"HTTP {response.status}: {data.get('message') or data}")
        return data

    # --- afterwards -------------------------------------------------------------------------

    def missing(self) -> list[str]:
        """Keys this loop wrote whose value cannot be read back now (one range read)."""
        end = self.prefix[:-1] + chr(ord(self.prefix[-1]) + 1)
        got = self.request("/v3/kv/range", {"key": _b64(self.prefix), "range_end": _b64(end)})
        stored = {_unb64(kv["key"]): _unb64(kv.get("value", "")) for kv in got.get("kvs") or []}
        return [k for k, v in self.written.items() if stored.get(k) != v]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(text: str) -> str:
    return base64.b64decode(text).decode()
