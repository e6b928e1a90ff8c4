"""The recording workload: clients that write and read etcd and keep every answer.

Two writers, as a cluster's clients are in practice:

- **short**: a new TLS connection for every request, each request started on the next
  endpoint (a short-lived client: a controller, a cron job); it reuses `KvLoop.request`;
- **long**: one TLS connection kept open for as long as it works, moved to the next endpoint
  only when it breaks (a long-lived client, like an apiserver).

Each writer writes unique keys, and every third write overwrites its own register key
(`…/<writer>/reg`), so "reads never go back" is tested on a key with many values too. After
every acknowledged put it reads the key back. Every attempt becomes a `history.Write` (with
etcd's revision when acknowledged), every successful read a `history.Read`: the checker
works on those, not on counters.

Standard library plus `KvLoop` (also standard library only).
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from dataclasses import dataclass, field

from hawizard.lab.kv_loop import KvLoop, Trust, _b64, _unb64
from hawizard.lab.prove.history import Read, Write

__all__ = ["Recorder"]

WRITERS = ("short", "long")


@dataclass
class Recorder:
    """`with Recorder(endpoints, trust, prefix) as rec: ...` then `rec.writes`, `rec.reads`."""

    endpoints: list[tuple[str, int]]
    trust: Trust
    prefix: str = "/prove/"
    interval: float = 0.05
    request_deadline: float = 10.0
    writes: list[Write] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _short: KvLoop | None = None

    def __post_init__(self) -> None:
        self._short = KvLoop(
            list(self.endpoints),
            self.trust,
            rotate=True,
            request_deadline=self.request_deadline,
            prefix=self.prefix,
        )
        self._long = _LongConnection(self)

    def use(self, trust: Trust) -> None:
        """Trust something else from the next request on (both writers)."""
        assert self._short is not None
        with self._lock:
            self.trust = trust
        self._short.use(trust)

    def __enter__(self) -> Recorder:
        for name in WRITERS:
            thread = threading.Thread(target=self._run, args=(name,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.request_deadline * 3)
        self._long.close()

    def request(self, writer: str, path: str, body: dict) -> dict:
        assert self._short is not None
        if writer == "short":
            return self._short.request(path, body)
        return self._long.request(path, body)

    # --- the loop ----------------------------------------------------------------------------

    def _run(self, writer: str) -> None:
        n = 0
        while not self._stop.is_set():
            started = time.monotonic()
            key = f"{self.prefix}{writer}/" + ("reg" if n % 3 == 2 else f"{n:06d}")
            value = f"{writer}:{n}"
            self._write(writer, key, value, n)
            n += 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _write(self, writer: str, key: str, value: str, seq: int) -> None:
        t0 = time.monotonic()
        try:
            answer = self.request(writer, "/v3/kv/put", {"key": _b64(key), "value": _b64(value)})
            revision = int(answer.get("header", {}).get("revision", 0)) or None
        except Exception as exc:  # every kind of failure counts, and is kept for the report
            self.writes.append(Write(key, value, seq, t0, time.monotonic(), None))
            self.errors.append(f"{time.strftime('%H:%M:%S')} {key}: {exc}")
            return
        self.writes.append(Write(key, value, seq, t0, time.monotonic(), revision or 0))
        r0 = time.monotonic()
        try:
            got = self.request(writer, "/v3/kv/range", {"key": _b64(key)})
        except Exception:  # a failed read proves nothing either way
            return
        kvs = got.get("kvs") or []
        read = _unb64(kvs[0].get("value", "")) if kvs else None
        self.reads.append(Read(key, read, r0, time.monotonic()))

    # --- afterwards --------------------------------------------------------------------------

    def final(self) -> dict[str, str]:
        """Every key under the prefix and its value, in one range read (any endpoint)."""
        assert self._short is not None
        end = self.prefix[:-1] + chr(ord(self.prefix[-1]) + 1)
        body = {"key": _b64(self.prefix), "range_end": _b64(end)}
        got = self._short.request("/v3/kv/range", body)
        return {_unb64(kv["key"]): _unb64(kv.get("value", "")) for kv in got.get("kvs") or []}

    def delete(self, key: str) -> None:
        """Delete `key` behind the writers' backs (the self-test of the checker)."""
        assert self._short is not None
        self._short.request("/v3/kv/deleterange", {"key": _b64(key)})


class _LongConnection:
    """One kept-open TLS connection, moved to the next endpoint only when it breaks."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.at = 1 % max(1, len(rec.endpoints))
        self.conn: http.client.HTTPSConnection | None = None
        self.trust: Trust | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, path: str, body: dict) -> dict:
        deadline = time.monotonic() + self.rec.request_deadline
        problems: list[str] = []
        while True:
            try:
                return self._once(path, body)
            except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as exc:
                problems.append(f"{self.rec.endpoints[self.at][0]}: {exc or type(exc).__name__}")
                self.close()
                self.at = (self.at + 1) % len(self.rec.endpoints)
            if time.monotonic() >= deadline:
                raise RuntimeError("no endpoint served it: " + "; ".join(problems[-3:]))
            time.sleep(0.05)

    def _once(self, path: str, body: dict) -> dict:
        trust = self.rec.trust
        if self.conn is None or trust is not self.trust:
            self.close()
            host, port = self.rec.endpoints[self.at]
            self.conn = http.client.HTTPSConnection(host, port, context=trust.context(), timeout=1)
            self.trust = trust
        self.conn.request(
            "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = self.conn.getresponse()
        data = json.loads(response.read(1 << 20))
        if response.status != 200 or "error" in data:
            raise ValueError(f"HTTP {response.status}: {data.get('message') or data}")
        return data
