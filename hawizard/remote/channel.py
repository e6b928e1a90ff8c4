"""The channel under every `Host` command: becoming root, stdin bytes, output, the timeout.

Commands run on the connection's transport through a raw channel rather than fabric's
`Connection.run`: invoke's runner only streams *text* into stdin, while uploads and the sudo
password need exact bytes on stdin, and a timed-out command must be cut off by closing the
channel. The sudo password goes through stdin, never on a command line.
"""

from __future__ import annotations

import select
import shlex
import threading
import time
from collections.abc import Callable

from hawizard._paramiko import paramiko
from hawizard.remote.errors import CommandTimeout, ConnectError, RemoteError

__all__ = ["SUDO_ASKPASS_STDIN", "SUDO_NOPASSWD", "HostChannel", "OutputSink", "SudoPassword"]

OutputSink = Callable[[str], None]
# The two ways to become root; the probes use these very prefixes (see `_sudo_prefix`).
# `-k` in both: a cached sudo timestamp never decides the mode.
SUDO_NOPASSWD = "sudo -n -k -- sh -c "
SUDO_ASKPASS_STDIN = "sudo -k -S -p '' -- sh -c "


class SudoPassword:
    """The sudo password, asked at most once per run through `ask`, kept in memory only.

    Shared by every Host of a run so the operator types it once; `ask(who)` receives
    "user@node" for the prompt. Never printed: repr hides it.
    """

    def __init__(self, ask: Callable[[str], str] | None = None, *, password: str | None = None):
        self._ask = ask
        self._value = password
        self._lock = threading.Lock()

    def get(self, who: str) -> str | None:
        with self._lock:
            if self._value is None and self._ask is not None:
                self._value = self._ask(who)
            return self._value

    def __repr__(self) -> str:
        return f"SudoPassword({'set' if self._value is not None else 'unset'})"


class _Lines:
    """Split a byte stream into lines for a sink, as they arrive."""

    def __init__(self, sink: OutputSink | None):
        self.sink = sink
        self.buf = b""

    def feed(self, data: bytes) -> None:
        if self.sink is None:
            return
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            self.sink(line.decode(errors="replace").rstrip("\r"))

    def flush(self) -> None:
        if self.sink is not None and self.buf:
            self.sink(self.buf.decode(errors="replace"))
        self.buf = b""


class HostChannel:
    """The channel part of `Host` (mixed into it): runs one command line on a new channel of
    the host's connection, as root when asked. Uses the Host's `connect`, `close`, `name`,
    `user`, `timeouts`, `sudo_password` and `_conn`/`_sudo_mode`."""

    def _sudo_prefix(self) -> tuple[str, bytes]:
        """How to become root here, decided once per host: (prefix, bytes to put on stdin).

        The probe runs `true` behind *exactly* the prefix the real commands get: a sudoers
        rule that treated the probe and the commands differently (NOPASSWD for `sh` only, say)
        could otherwise have the password line sent to a command that never asked for it,
        and land in an uploaded file.
        """
        if self.user == "root":
            return "", b""
        if self._sudo_mode is None:
            probe = SUDO_NOPASSWD + shlex.quote("true")
            exited, _, _ = self._raw(probe, b"", self.timeouts.command, None)
            self._sudo_mode = "nopasswd" if exited == 0 else "password"
            if self._sudo_mode == "password":
                self._check_password()
        if self._sudo_mode == "nopasswd":
            return SUDO_NOPASSWD, b""
        password = self.sudo_password.get(f"{self.user}@{self.name}") or ""
        return SUDO_ASKPASS_STDIN, password.encode() + b"\n"

    def _check_password(self) -> None:
        """Try the password once on its own, so a wrong one never eats real stdin data."""
        password = self.sudo_password.get(f"{self.user}@{self.name}")
        if password is None:
            raise RemoteError(
                self.name,
                "",
                f"sudo on {self.name} needs {self.user}'s password and none was given",
            )
        exited, _, err = self._raw(
            SUDO_ASKPASS_STDIN + shlex.quote("true"),
            password.encode() + b"\n",
            self.timeouts.command,
            None,
        )
        if exited != 0:
            self._sudo_mode = None
            last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise RemoteError(
                self.name,
                "",
                f"sudo refused for {self.user}@{self.name} (wrong password, or the user may "
                f"not use sudo): {last[0]}",
                exited=exited,
            )

    def _exec(
        self,
        text: str,
        *,
        sudo: bool,
        stdin: bytes | list[bytes] | None,
        timeout: float | None,
        stream: bool | str,
    ) -> tuple[int, bytes, bytes]:
        limit = self.timeouts.command if timeout is None else timeout
        prefix, secret = self._sudo_prefix() if sudo else ("", b"")
        full = prefix + shlex.quote(text) if prefix else text
        sink = self.on_detail if stream == "detail" else self.on_output if stream else None
        chunks = stdin if isinstance(stdin, list) else [stdin or b""]
        try:
            return self._raw(full, [c for c in (secret, *chunks) if c], limit, sink)
        except CommandTimeout as exc:
            raise CommandTimeout(self.name, text, exc.message) from None

    def _raw(
        self,
        full: str,
        stdin: bytes | list[bytes],
        limit: float,
        sink: OutputSink | None,
        *,
        out_sink: Callable[[bytes], None] | None = None,
    ) -> tuple[int, bytes, bytes]:
        """Run one command line on a new channel; (exit code, stdout, stderr). `stdin` may be
        a list of chunks, sent in order without joining them (large files stay shared)."""
        self.connect()
        assert self._conn is not None and self._conn.transport is not None
        try:
            chan = self._conn.transport.open_session(timeout=self.timeouts.connect)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise ConnectError(self.name, "", f"SSH session lost: {exc}") from None
        deadline = time.monotonic() + limit
        writer = None
        try:
            chan.exec_command(full)
            if stdin:
                writer = threading.Thread(target=_feed, args=(chan, stdin), daemon=True)
                writer.start()
            else:
                chan.shutdown_write()
            out, err = bytearray(), bytearray()
            out_lines, err_lines = _Lines(sink), _Lines(sink)
            while True:
                while chan.recv_ready():
                    chunk = chan.recv(65536)
                    if out_sink is not None:
                        out_sink(chunk)  # streamed, not kept
                        continue
                    out += chunk
                    out_lines.feed(chunk)
                while chan.recv_stderr_ready():
                    chunk = chan.recv_stderr(65536)
                    err += chunk
                    err_lines.feed(chunk)
                finished = chan.exit_status_ready() and (chan.eof_received or chan.closed)
                if finished and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandTimeout(self.name, full, f"command timed out after {limit:g} s")
                if chan.eof_received or chan.closed:  # only the exit status is still due
                    chan.status_event.wait(min(left, 0.1))
                else:
                    select.select([chan], [], [], min(left, 0.1))
            out_lines.flush()
            err_lines.flush()
            return chan.recv_exit_status(), bytes(out), bytes(err)
        finally:
            chan.close()
            if writer is not None:
                writer.join(timeout=1)


def _feed(chan: paramiko.Channel, data: bytes | list[bytes]) -> None:
    """Send stdin from its own thread so a command that talks before reading can't deadlock.

    Through a memoryview: paramiko's `sendall` slices what is left after every packet
    (`s = s[sent:]`), which for bytes copies the rest each time — quadratic, ~6 GB of copying
    for 20 MB in 32 KB packets, and all of it holding the GIL. A memoryview slice is free."""
    try:
        for chunk in [data] if isinstance(data, bytes) else data:
            chan.sendall(memoryview(chunk))
        chan.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the command ended early or the channel was closed on timeout
