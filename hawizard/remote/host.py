"""`Host`: one SSH connection per host, its commands, and one door for every side effect.

A `Host` wraps one fabric `Connection` (paramiko underneath) that only one worker thread uses
at a time. Every call is bounded: connect, banner, auth, channel open and each command have a
timeout. Host keys are checked against the plan's known_hosts (`hostkeys`). How a command
travels is `channel`'s part, files are `uploads`' part; both are mixed into `Host`.

Side effects: `run(..., mutates=True)` and the upload helpers pass through `_side_effect`. A
`DryRunHost` records them there instead of executing them, while read-only `probe`s still run
for real so checks decide on the true state of the machine (k0sctl's "Wet").
"""

from __future__ import annotations

import math
import shlex
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hawizard import early_ssh
from hawizard._paramiko import give_invoke_back, paramiko
from hawizard.hostkeys import (
    HostKeyChanged,
    HostKeyError,
    KnownHostsPolicy,
    fingerprint,
    host_entry,
    load_known_hosts,
)
from hawizard.plan import Node, Plan
from hawizard.remote.channel import HostChannel, OutputSink, SudoPassword
from hawizard.remote.errors import ConnectError, RemoteError
from hawizard.remote.uploads import HostFiles

if TYPE_CHECKING:
    import fabric

__all__ = ["Command", "DryRunHost", "Host", "Recorded", "Result", "Timeouts", "command_text"]

Command = Sequence[str] | str


def _transport(sock, **kwargs) -> paramiko.Transport:
    """paramiko's Transport, offering AES-GCM first: an AEAD cipher needs no separate HMAC
    pass, and paramiko frames every 32 KiB packet in the interpreter. Measured on the lab,
    etcd's 57.6 MB of binaries to five nodes at once: 1.28-1.41 s instead of 1.48-1.59 s
    uncompressed (local CPU 0.6 s instead of 0.8 s), 1.83-1.87 s instead of 1.92-2.04 s
    gzipped. OpenSSH offers the same ciphers by default."""
    transport = paramiko.Transport(sock, **kwargs)
    options = transport.get_security_options()
    preferred = options.ciphers
    options.ciphers = (
        *(c for c in preferred if "gcm" in c),
        *(c for c in preferred if "gcm" not in c),
    )
    return transport


def _early_transport(sock, **kwargs) -> paramiko.Transport:
    """`_transport` on a socket `early_ssh` opened: its identification line is the one
    already sent (the key exchange hashes it), and `EarlySocket` drops paramiko's copy."""
    transport = _transport(sock, **kwargs)
    transport.local_version = early_ssh.IDENT
    return transport


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `command` is the default per run; callers pass longer ones where needed."""

    connect: float = 10.0
    banner: float = 10.0
    auth: float = 10.0
    command: float = 120.0


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exited: int

    @property
    def ok(self) -> bool:
        return self.exited == 0


@dataclass(frozen=True)
class Recorded:
    """One side effect a dry run would have caused. Never carries file contents."""

    kind: str  # "run" or "upload"
    text: str  # the command line, or "PATH (mode 0600, root:root, 227 bytes)"
    step: str = ""  # the step title that asked for it
    sudo: bool = False

    def __str__(self) -> str:
        prefix = "sudo " if self.sudo and self.kind == "run" else ""
        return f"{'upload ' if self.kind == 'upload' else ''}{prefix}{self.text}"


def command_text(command: Command) -> str:
    return command if isinstance(command, str) else shlex.join(command)


class Host(HostChannel, HostFiles):
    """One machine reached over SSH. Not thread-safe by design: one worker uses it at a time."""

    dry_run = False

    def __init__(
        self,
        name: str,
        address: str,
        *,
        port: int = 22,
        user: str = "root",
        key_file: Path | None = None,
        known_hosts: Path,
        trust_new: bool = False,
        sudo_password: SudoPassword | None = None,
        timeouts: Timeouts = Timeouts(),
        compress: bool = True,
    ):
        self.name = name
        #: large uploads go gzip-compressed (the plan's `ssh.compress`)
        self.compress = compress
        self.address = address
        self.port = port
        self.user = user
        self.key_file = key_file
        self.known_hosts = known_hosts
        self.trust_new = trust_new
        self.sudo_password = sudo_password or SudoPassword()
        self.timeouts = timeouts
        #: Receives output lines of `run` (and streamed probes); the runner sets it per step.
        self.on_output: OutputSink | None = None
        #: Receives a tool's raw output that hawizard sums up in one line of its own (`run`
        #: with `detail=True`): shown in a verbose view only (the runner sets it per step).
        self.on_detail: OutputSink | None = None
        #: Title of the step being run, stamped on recorded side effects.
        self.step = ""
        self.recorded: list[Recorded] = []
        self._conn: fabric.Connection | None = None
        self._sudo_mode: str | None = None  # "root" | "nopasswd" | "password"
        self._prewarm: threading.Thread | None = None
        self._prewarm_error: Exception | None = None
        self._aborted = False

    @classmethod
    def from_plan(cls, plan: Plan, node: Node | str, **kwargs) -> Host:
        """A Host for a plan node: its address, SSH user/port/key, the plan's known_hosts."""
        if isinstance(node, str):
            node = plan.node(node)
        return cls(
            node.name,
            node.address,
            port=node.ssh.port,
            user=node.ssh.user,
            key_file=plan.resolve(node.ssh.key) if node.ssh.key else None,
            known_hosts=plan.resolve(plan.cluster.known_hosts),
            compress=node.ssh.compress,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}: {self.user}@{self.address}:{self.port})"

    # --- connection ----------------------------------------------------------------------

    def prewarm(self) -> None:
        """Start connecting in a background thread and return at once: the handshake then
        overlaps the caller's local work. The next `connect` (every command calls it) waits
        for it, and raises its error there, in the step that needs the host."""
        if self._prewarm is not None or (self._conn is not None and self._conn.is_connected):
            return

        def work() -> None:
            try:
                self.connect()
            except Exception as exc:
                self._prewarm_error = exc

        self._prewarm = threading.Thread(target=work, name=f"connect-{self.name}", daemon=True)
        self._prewarm.start()

    def _join_prewarm(self) -> Exception | None:
        pending = self._prewarm
        if pending is None or pending is threading.current_thread():
            return None
        pending.join()
        self._prewarm = None
        error, self._prewarm_error = self._prewarm_error, None
        return error

    def connect(self) -> None:
        """Open the SSH connection if it is not open (every command calls this lazily).

        paramiko's `SSHClient` makes the connection and fabric's `Connection` wraps it: the
        same thing `Connection.open()` does, in the other order, so the first SSH bytes are
        on the wire before fabric (and invoke) are even imported."""
        if self._aborted:
            raise ConnectError(self.name, "", "interrupted: no new commands after Ctrl-C")
        if (error := self._join_prewarm()) is not None:
            raise error
        if self._conn is not None and self._conn.is_connected:
            return
        self.close()
        key_exists = self.key_file is not None and self.key_file.is_file()
        connect_kwargs: dict = {
            "banner_timeout": self.timeouts.banner,
            "auth_timeout": self.timeouts.auth,
            "channel_timeout": self.timeouts.connect,
            "look_for_keys": not key_exists,
            "allow_agent": not key_exists,
        }
        if key_exists:
            connect_kwargs["key_filename"] = [str(self.key_file)]
        client = paramiko.SSHClient()
        client.get_host_keys().update(load_known_hosts(self.known_hosts))
        client.set_missing_host_key_policy(
            KnownHostsPolicy(self.known_hosts, trust_new=self.trust_new, record=not self.dry_run)
        )
        where = f"{self.user}@{self.address}:{self.port}"
        try:
            early = early_ssh.take(self.address, self.port)
            client.connect(
                hostname=self.address,
                port=self.port,
                username=self.user,
                timeout=max(1, math.ceil(self.timeouts.connect)),
                sock=early,  # None: paramiko opens the socket itself
                transport_factory=_early_transport if early else _transport,
                **connect_kwargs,
            )
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyChanged(
                host_entry(self.address, self.port),
                exc.key.get_name(),
                fingerprint(exc.key),
                self.known_hosts,
                f"{exc.expected_key.get_name()} {fingerprint(exc.expected_key)}",
            ) from None
        except paramiko.PasswordRequiredException:
            client.close()
            raise ConnectError(
                self.name,
                "",
                f"SSH key {self.key_file} is passphrase-protected; load it into ssh-agent "
                "and point the plan's ssh.key at a missing file to use the agent",
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise ConnectError(
                self.name, "", f"SSH login refused for {where} with key {self.key_file}: {exc}"
            ) from None
        except TimeoutError:
            client.close()
            raise ConnectError(
                self.name,
                "",
                f"cannot reach {where}: timed out after {self.timeouts.connect:g} s",
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise ConnectError(self.name, "", f"cannot connect to {where}: {reason}") from None
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        self._conn = self._wrap(client, connect_kwargs)

    def _wrap(self, client: paramiko.SSHClient, connect_kwargs: dict) -> fabric.Connection:
        """fabric's Connection for an SSHClient that is connected already (its `client` and
        `transport` are public attributes; `open()` would set exactly these two)."""
        import fabric

        give_invoke_back()
        conn = fabric.Connection(
            host=self.address,
            user=self.user,
            port=self.port,
            config=fabric.Config(overrides={"load_ssh_configs": False}),
            connect_timeout=max(1, math.ceil(self.timeouts.connect)),
            connect_kwargs=connect_kwargs,
        )
        conn.client = client
        conn.transport = client.get_transport()
        return conn

    def open_tunnel(self, address: str, port: int, timeout: float):
        """A `direct-tcpip` channel from this host to address:port (like `ssh -W`): for
        probing a service the operator's machine cannot reach directly. Connects first."""
        self.connect()
        assert self._conn is not None and self._conn.transport is not None
        return self._conn.transport.open_channel(
            "direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=timeout
        )

    def close(self) -> None:
        self._join_prewarm()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def abort(self) -> None:
        """From another thread, on Ctrl-C: end the command in flight (its channel closes, it
        returns at once) and refuse every later one, so an interrupted run stops promptly."""
        self._aborted = True
        conn = self._conn
        if conn is not None:
            conn.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- commands ------------------------------------------------------------------------

    def run(
        self,
        command: Command,
        *,
        sudo: bool = True,
        timeout: float | None = None,
        check: bool = True,
        stdin: bytes | str | None = None,
        mutates: bool = True,
        stream: bool = True,
        detail: bool = False,
    ) -> Result:
        """Run a command (argv list, or a shell snippet string). Output lines stream to
        `on_output`, or with `detail=True` to `on_detail` (raw tool output the caller sums up
        itself). `mutates=False` is the same as `probe`: it runs even in a dry run."""
        text = command_text(command)
        if mutates:
            done = self._side_effect("run", text, sudo)
            if done is not None:
                return done
        data = stdin.encode() if isinstance(stdin, str) else stdin
        exited, out, err = self._exec(
            text, sudo=sudo, stdin=data, timeout=timeout, stream="detail" if detail else stream
        )
        result = Result(out.decode(errors="replace"), err.decode(errors="replace"), exited)
        if check and exited != 0:
            raise RemoteError(
                self.name,
                text,
                f"command failed with exit {exited}",
                exited=exited,
                stdout=result.stdout,
                stderr=result.stderr,
            )
        return result

    def probe(
        self,
        command: Command,
        *,
        sudo: bool = True,
        timeout: float | None = None,
        check: bool = False,
        stdin: bytes | str | None = None,
        stream: bool = False,
    ) -> Result:
        """A read-only command: runs for real in a dry run too, so checks see the truth."""
        return self.run(
            command,
            sudo=sudo,
            timeout=timeout,
            check=check,
            stdin=stdin,
            mutates=False,
            stream=stream,
        )

    def _side_effect(self, kind: str, text: str, sudo: bool) -> Result | None:
        """The one door for side effects: None means "go ahead and do it"."""
        return None


class DryRunHost(Host):
    """The same interface as Host; side effects are recorded instead of performed."""

    dry_run = True

    def _side_effect(self, kind: str, text: str, sudo: bool) -> Result | None:
        self.connect()  # a dry run against an unreachable host must fail, not look clean
        self.recorded.append(
            Recorded(kind, text, self.step, sudo=sudo and self.user != "root" and kind == "run")
        )
        return Result("", "", 0)
