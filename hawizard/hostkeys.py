"""SSH host key trust: a known_hosts file is the only source of truth.

fabric's default accepts any host key (AutoAddPolicy), which makes a man in the middle
invisible. Here an unknown key stops the connection with its SHA256 fingerprint (the same text
`ssh-keygen -lf` prints) so the operator can compare it out of band, and a key that differs
from the recorded one is refused always — a reinstalled machine needs its old line removed by
hand, exactly like OpenSSH.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
from pathlib import Path

import paramiko

from hawizard.localfs import read_regular_bytes

__all__ = [
    "HostKeyChanged",
    "HostKeyError",
    "KnownHostsPolicy",
    "UnknownHostKey",
    "add_known_host",
    "fetch_host_key",
    "fingerprint",
    "host_entry",
    "load_known_hosts",
    "scan_host_key",
]

# Appends from parallel workers (several nodes, one file) must not interleave or duplicate.
_write_lock = threading.Lock()


class HostKeyError(Exception):
    """The server's identity could not be confirmed; nothing was sent to it."""

    def __init__(self, host: str, key_type: str, fingerprint: str, known_hosts: Path, msg: str):
        super().__init__(msg)
        self.host = host
        self.key_type = key_type
        self.fingerprint = fingerprint
        self.known_hosts = known_hosts


class UnknownHostKey(HostKeyError):
    def __init__(self, host: str, key_type: str, fingerprint: str, known_hosts: Path):
        super().__init__(
            host,
            key_type,
            fingerprint,
            known_hosts,
            f"{host}: unknown SSH host key {key_type} {fingerprint} (not in {known_hosts}). "
            "Compare the fingerprint with the machine's own (`ssh-keygen -lf "
            "/etc/ssh/ssh_host_*_key.pub` on its console), then trust it with "
            "--trust-new-hosts or in the wizard's prompt.",
        )


class HostKeyChanged(HostKeyError):
    def __init__(
        self, host: str, key_type: str, fingerprint: str, known_hosts: Path, expected: str
    ):
        super().__init__(
            host,
            key_type,
            fingerprint,
            known_hosts,
            f"{host}: SSH HOST KEY CHANGED — it now presents {key_type} {fingerprint}, "
            f"{known_hosts} records {expected}. This is refused even with --trust-new-hosts: "
            "someone may be intercepting the connection. If the machine was reinstalled, remove "
            f"its line (`ssh-keygen -R '{host}' -f {known_hosts}`) and connect again.",
        )
        self.expected = expected


def fingerprint(key: paramiko.PKey) -> str:
    """`SHA256:<base64 without padding>`, byte for byte what `ssh-keygen -l` shows."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def host_entry(address: str, port: int) -> str:
    """The name known_hosts uses: plain for port 22, `[address]:port` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def load_known_hosts(path: Path) -> paramiko.HostKeys:
    """Parse a known_hosts file (hashed entries included); a missing file is empty."""
    keys = paramiko.HostKeys()
    if path.exists():
        read_regular_bytes(path, limit=16 << 20)  # a FIFO or folder: refused, never waited on
        keys.load(str(path))
    return keys


def add_known_host(path: Path, address: str, port: int, key: paramiko.PKey) -> bool:
    """Append `key` for address:port (file 0600, folder 0700); False if it was already there."""
    entry = host_entry(address, port)
    with _write_lock:
        known = load_known_hosts(path).lookup(entry)
        if known is not None and known.get(key.get_name()) == key:
            return False
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        line = f"{entry} {key.get_name()} {key.get_base64()}\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write("\n" + line if torn else line)
        return True


class KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only when known_hosts has no key for the host.

    With `trust_new` the key is appended and accepted (trust on first use, chosen explicitly);
    otherwise the connection stops with `UnknownHostKey`. Changed keys never reach this policy:
    paramiko raises BadHostKeyException, which `remote` turns into `HostKeyChanged`.
    """

    def __init__(self, known_hosts: Path, *, trust_new: bool = False, record: bool = True):
        self.known_hosts = known_hosts
        self.trust_new = trust_new
        self.record = record  # False in a dry run: trusted for this run, nothing written

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey):
        if not self.trust_new:
            raise UnknownHostKey(hostname, key.get_name(), fingerprint(key), self.known_hosts)
        if self.record:
            address, port = _split_entry(hostname)
            add_known_host(self.known_hosts, address, port, key)
        client.get_host_keys().add(hostname, key.get_name(), key)


def _split_entry(entry: str) -> tuple[str, int]:
    if entry.startswith("[") and "]:" in entry:
        address, _, port = entry[1:].rpartition("]:")
        return address, int(port)
    return entry, 22


def scan_host_key(address: str, port: int = 22, timeout: float = 5.0) -> paramiko.PKey:
    """The key the server presents, fetched without authenticating (like ssh-keyscan)."""
    sock = socket.create_connection((address, port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    finally:
        transport.close()
        sock.close()


def fetch_host_key(address: str, port: int = 22, timeout: float = 5.0) -> tuple[str, str]:
    """(key type, SHA256 fingerprint) so a UI can show it before the operator trusts it.

    To trust exactly the key that was shown, keep `scan_host_key`'s key and pass it to
    `add_known_host` rather than reconnecting with trust_new.
    """
    key = scan_host_key(address, port, timeout)
    return key.get_name(), fingerprint(key)
