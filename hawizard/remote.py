"""Remote execution: one SSH connection per host, and one door for every side effect.

A `Host` wraps one fabric `Connection` (paramiko underneath) that only one worker thread uses
at a time. Every call is bounded: connect, banner, auth, channel open and each command have a
timeout. Host keys are checked against the plan's known_hosts (`hostkeys`).

Commands run on the connection's transport through a raw channel rather than fabric's
`Connection.run`: invoke's runner only streams *text* into stdin, while uploads and the sudo
password need exact bytes on stdin, and a timed-out command must be cut off by closing the
channel. Nothing secret ever appears on a command line: file contents and the sudo password go
through stdin; commands are built from argv lists with `shlex.join`.

Side effects: `run(..., mutates=True)` and the upload helpers pass through `_side_effect`. A
`DryRunHost` records them there instead of executing them, while read-only `probe`s still run
for real so checks decide on the true state of the machine (k0sctl's "Wet").
"""

from __future__ import annotations

import gzip
import hashlib
import math
import select
import shlex
import tarfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hawizard import digest_cache, early_ssh
from hawizard._paramiko import give_invoke_back, paramiko
from hawizard.hostkeys import (
    HostKeyChanged,
    HostKeyError,
    KnownHostsPolicy,
    UnknownHostKey,
    fingerprint,
    host_entry,
    load_known_hosts,
)
from hawizard.plan import Node, Plan

if TYPE_CHECKING:
    import fabric

__all__ = [
    "CommandTimeout",
    "ConnectError",
    "DryRunHost",
    "Host",
    "HostKeyChanged",
    "HostKeyError",
    "HostPool",
    "Recorded",
    "RemoteError",
    "Result",
    "SudoPassword",
    "Timeouts",
    "UnknownHostKey",
    "Upload",
]

Command = Sequence[str] | str
OutputSink = Callable[[str], None]
# The two ways to become root; the probes use these very prefixes (see `_sudo_prefix`).
# `-k` in both: a cached sudo timestamp never decides the mode.
SUDO_NOPASSWD = "sudo -n -k -- sh -c "
SUDO_ASKPASS_STDIN = "sudo -k -S -p '' -- sh -c "

_TAIL = 10
# read_text_or_none: the exit code that means "no such file" (cat itself never exits with it).
_MISSING = 100


def _early_transport(sock, **kwargs) -> paramiko.Transport:
    """paramiko's Transport on a socket `early_ssh` opened: its identification line is the
    one already sent (the key exchange hashes it), and `EarlySocket` drops paramiko's copy."""
    transport = paramiko.Transport(sock, **kwargs)
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


@dataclass(frozen=True)
class Upload:
    """One entry of `Host.put_many`: a file (exact bytes, mode, owner) or a directory.

    `sha256` is of `data`; give it when it is known already (large files), so nothing hashes
    the same bytes twice. `gzipped` is a gzip copy of `data` to send instead (large files:
    SSH throughput here is bound by the interpreter, not the network)."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    is_dir: bool = False
    sha256: str = ""
    gzipped: bytes | Callable[[], bytes] | None = None  # a callable is asked only when sent
    remember: bool = False  # record its verified sha256 in the node's digest cache

    @property
    def digest(self) -> str:
        return self.sha256 or hashlib.sha256(self.data).hexdigest()

    def summary(self) -> str:
        if self.is_dir:
            return shlex.join(_install_dir_argv(self.path, self.mode, self.owner, self.group))
        gz = " gzipped" if self.gzipped is not None else ""
        return (
            f"{self.path} (mode {self.mode:04o}, {self.owner}:{self.group}, "
            f"{len(self.data)} bytes{gz})"
        )


def _install_dir_argv(path: str, mode: int, owner: str, group: str) -> list[str]:
    return ["install", "-d", "-m", f"{mode:04o}", "-o", owner, "-g", group, "--", path]


class RemoteError(Exception):
    """A remote operation failed: which host, which command, exit code, last output lines."""

    def __init__(
        self,
        host: str,
        command: str,
        message: str,
        *,
        exited: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ):
        self.host = host
        self.command = command
        self.exited = exited
        self.stdout = stdout
        self.stderr = stderr
        self.message = message
        super().__init__(self._render())

    def tail(self, n: int = _TAIL) -> list[str]:
        """The last lines of stderr, or of stdout when stderr is empty."""
        text = self.stderr.strip() or self.stdout.strip()
        return text.splitlines()[-n:] if text else []

    def _render(self) -> str:
        head = f"{self.host}: {self.message}"
        if self.command:
            head += f": {self.command}"
        return "\n".join([head, *(f"  | {line}" for line in self.tail())])


class CommandTimeout(RemoteError):
    pass


class ConnectError(RemoteError):
    pass


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


def command_text(command: Command) -> str:
    return command if isinstance(command, str) else shlex.join(command)


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


class Host:
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
    ):
        self.name = name
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
                **({"sock": early, "transport_factory": _early_transport} if early else {}),
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

    # --- files ---------------------------------------------------------------------------

    def put(
        self,
        data: bytes | str,
        remote_path: str,
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
        *,
        gzipped: bool = False,
    ) -> None:
        """Write a file with exact mode and owner. The bytes travel on stdin into a fresh
        `mktemp -d` (0700) dir under umask 077, `install` moves them into place, and the temp
        dir is removed whatever happened. The parent directory must exist (`ensure_dir`).

        `gzipped`: `data` is gzip-compressed and unpacked on the node. Large binaries go this
        way because SSH throughput here is bound by the interpreter, not the network."""
        if isinstance(data, str):
            data = data.encode()
        size = f"{len(data)} bytes{' gzipped' if gzipped else ''}"
        summary = f"{remote_path} (mode {mode:04o}, {owner}:{group}, {size})"
        if self._side_effect("upload", summary, True) is not None:
            return
        q = shlex.quote
        install = f'install -m {mode:04o} -o {q(owner)} -g {q(group)} -- "$d/f" {q(remote_path)}'
        script = (
            'umask 077; d=$(mktemp -d "${TMPDIR:-/tmp}/hawizard.XXXXXXXX") || exit 1; '
            f'{"gzip -dc" if gzipped else "cat"} > "$d/f" && {install}; rc=$?; '
            'rm -rf -- "$d"; exit $rc'
        )
        exited, _, err = self._exec(script, sudo=True, stdin=data, timeout=None, stream=False)
        if exited != 0:
            raise RemoteError(
                self.name,
                f"upload {summary}",
                f"upload failed with exit {exited}",
                exited=exited,
                stderr=err.decode(errors="replace"),
            )

    def put_many(
        self,
        uploads: Sequence[Upload],
        *,
        first: Sequence[Sequence[str]] = (),
        timeout: float | None = None,
        digests: str = digest_cache.PATH,
    ) -> None:
        """Write a group of files and directories, in order, through one channel.

        One gzip-compressed tar stream carries every file (a large file's cached gzip copy is
        sent as is: gzip streams concatenate) into a fresh `mktemp -d` (0700) dir; the node
        checks each file's sha256 before `install` puts anything in place with its mode and
        owner, and the temp dir is removed whatever happened. `first`: commands (argv) run
        after the checks and before the installs, e.g. adding the user that will own files.
        In a dry run each command, file and directory is recorded as `run`, `put` and
        `ensure_dir` record them. Uploads marked `remember` have their sha256 (checked) kept
        in the node's digest cache (`digests`) once installed."""
        recorded = [self._side_effect("run", shlex.join(argv), True) for argv in first]
        recorded += [
            self._side_effect("run" if u.is_dir else "upload", u.summary(), True) for u in uploads
        ]
        if not recorded or any(r is not None for r in recorded):
            return
        chunks, script = _bundle(uploads, first, digests)
        exited, _, err = self._exec(script, sudo=True, stdin=chunks, timeout=timeout, stream=False)
        if exited != 0:
            raise RemoteError(
                self.name,
                f"upload {len(uploads)} file(s): {', '.join(u.path for u in uploads)}",
                f"upload failed with exit {exited}",
                exited=exited,
                stderr=err.decode(errors="replace"),
            )

    def get(self, remote_path: str, *, sudo: bool = True) -> bytes:
        """A remote file's bytes (through sudo, so root-only files work)."""
        text = shlex.join(["cat", "--", remote_path])
        exited, out, err = self._exec(text, sudo=sudo, stdin=None, timeout=None, stream=False)
        if exited != 0:
            raise self._unreadable(text, exited, err)
        return out

    def _unreadable(self, command: str, exited: int, err: bytes) -> RemoteError:
        return RemoteError(
            self.name,
            command,
            f"cannot read file (exit {exited})",
            exited=exited,
            stderr=err.decode(errors="replace"),
        )

    def download(self, remote_path: str, write: Callable[[bytes], object]) -> int:
        """Stream a remote file (through sudo) into `write` as it arrives; its size in bytes.

        Nothing is held in memory beyond one chunk: a multi-gigabyte etcd snapshot goes
        straight to disk (and to a running sha256) instead of into a bytes object.
        """
        text = shlex.join(["cat", "--", remote_path])
        prefix, secret = self._sudo_prefix()
        full = prefix + shlex.quote(text) if prefix else text
        size = 0

        def sink(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            write(chunk)

        exited, _, err = self._raw(full, secret, self.timeouts.command, None, out_sink=sink)
        if exited != 0:
            raise self._unreadable(text, exited, err)
        return size

    def exists(self, path: str) -> bool:
        return self.probe(["test", "-e", path]).exited == 0

    def read_text_or_none(self, path: str) -> str | None:
        """The file's text, or None when it does not exist (other failures raise)."""
        q = shlex.quote(path)
        text = f"[ -e {q} ] || exit {_MISSING}; cat -- {q}"
        exited, out, err = self._exec(text, sudo=True, stdin=None, timeout=None, stream=False)
        if exited == _MISSING:
            return None
        if exited != 0:
            raise RemoteError(
                self.name,
                f"cat -- {q}",
                f"cannot read file (exit {exited})",
                exited=exited,
                stderr=err.decode(errors="replace"),
            )
        return out.decode(errors="replace")

    def _stat(self, path: str, *, want_hash: bool) -> tuple[int, str, str, str] | None:
        """(mode, owner, group, sha256 or "") of a path, or None when it is missing."""
        q = shlex.quote(path)
        text = f"[ -e {q} ] || exit {_MISSING}; stat -c '%a %U %G %u %g' -- {q}"
        if want_hash:
            text += f" && sha256sum < {q}"
        r = self.probe(text)
        if r.exited == _MISSING:
            return None
        if r.exited != 0:
            raise RemoteError(
                self.name, text, f"cannot inspect {path}", exited=r.exited, stderr=r.stderr
            )
        lines = r.stdout.splitlines()
        mode, user, grp, uid, gid = lines[0].split()
        digest = lines[1][:64] if want_hash and len(lines) > 1 else ""
        return int(mode, 8), f"{user}/{uid}", f"{grp}/{gid}", digest

    @staticmethod
    def _same_owner(actual: str, wanted: str) -> bool:
        return wanted in actual.split("/")

    def ensure_file(
        self,
        path: str,
        data: bytes | str,
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
    ) -> bool:
        """Upload only when content (sha256), mode or owner differ; True if it changed.

        The comparison is one remote command, so a converged host costs one round trip per
        file and a re-apply changes nothing (and restarts nothing)."""
        if isinstance(data, str):
            data = data.encode()
        st = self._stat(path, want_hash=True)
        if st is not None:
            cur_mode, cur_owner, cur_group, digest = st
            if (
                digest == hashlib.sha256(data).hexdigest()
                and cur_mode == mode
                and self._same_owner(cur_owner, owner)
                and self._same_owner(cur_group, group)
            ):
                return False
        self.put(data, path, mode=mode, owner=owner, group=group)
        return True

    def ensure_dir(
        self, path: str, mode: int = 0o755, owner: str = "root", group: str = "root"
    ) -> bool:
        """Create a directory (and missing parents) or fix its mode/owner; True if changed.
        Use 0700 for directories that hold keys."""
        st = self._stat(path, want_hash=False)
        if st is not None:
            cur_mode, cur_owner, cur_group, _ = st
            if (
                cur_mode == mode
                and self._same_owner(cur_owner, owner)
                and self._same_owner(cur_group, group)
            ):
                return False
        self.run(_install_dir_argv(path, mode, owner, group), stream=False)
        return True

    # --- the channel ---------------------------------------------------------------------

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


class DryRunHost(Host):
    """The same interface as Host; side effects are recorded instead of performed."""

    dry_run = True

    def _side_effect(self, kind: str, text: str, sudo: bool) -> Result | None:
        self.connect()  # a dry run against an unreachable host must fail, not look clean
        self.recorded.append(
            Recorded(kind, text, self.step, sudo=sudo and self.user != "root" and kind == "run")
        )
        return Result("", "", 0)


@dataclass
class HostPool:
    """One Host per node name for a whole run, created on first use, closed at the end.

    `get` is thread-safe; the runner hands each Host to one worker at a time.
    """

    plan: Plan
    dry_run: bool = False
    trust_new: bool = False
    sudo_password: SudoPassword = field(default_factory=SudoPassword)
    timeouts: Timeouts = field(default_factory=Timeouts)
    _hosts: dict[str, Host] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _aborted: bool = field(default=False, init=False, repr=False)

    def get(self, name: str) -> Host:
        with self._lock:
            host = self._hosts.get(name)
            if host is None:
                cls = DryRunHost if self.dry_run else Host
                host = cls.from_plan(
                    self.plan,
                    name,
                    trust_new=self.trust_new,
                    sudo_password=self.sudo_password,
                    timeouts=self.timeouts,
                )
                self._hosts[name] = host
                if self._aborted:
                    host.abort()
            return host

    def prewarm(self, names: Sequence[str]) -> None:
        """Start connecting to these nodes in the background (see `Host.prewarm`)."""
        for name in names:
            self.get(name).prewarm()

    def recorded(self) -> dict[str, list[Recorded]]:
        with self._lock:
            return {name: list(h.recorded) for name, h in self._hosts.items() if h.recorded}

    def close(self) -> None:
        with self._lock:
            hosts = list(self._hosts.values())
        for host in hosts:
            host.close()

    def abort(self) -> None:
        """Ctrl-C: end every host's command in flight and refuse new ones (thread-safe)."""
        with self._lock:
            self._aborted = True
            hosts = list(self._hosts.values())
        for host in hosts:
            host.abort()


#: A shell function printing the sha256 of stdin first on its line: openssl where there is one
#: (its SHA extensions make it ~4x cheaper than coreutils here), else sha256sum. Should openssl
#: fail half-way, sha256sum hashes the rest, the digest differs and the file counts as changed:
#: the safe side.
SHA256_SH = "sha256() { openssl dgst -sha256 -r 2>/dev/null || sha256sum; }"


def _bundle(
    uploads: Sequence[Upload],
    first: Sequence[Sequence[str]] = (),
    cache: str = digest_cache.PATH,
) -> tuple[list[bytes], str]:
    """(stdin chunks, remote script) for `put_many`. The stream is a tar archive of the files
    (named 0, 1, ... so no path from the plan ever reaches tar) compressed as a series of gzip
    members; the script unpacks it, checks every sha256, then installs in order."""
    q = shlex.quote
    chunks: list[bytes] = []
    pending = bytearray()  # small parts (headers, small files, padding) not compressed yet

    def flush() -> None:
        if pending:
            chunks.append(gzip.compress(bytes(pending), compresslevel=1, mtime=0))
            pending.clear()

    sums, installs, remembered = [], [], []
    for i, u in enumerate(uploads):
        if u.is_dir:
            installs.append(shlex.join(_install_dir_argv(u.path, u.mode, u.owner, u.group)))
            continue
        info = tarfile.TarInfo(str(i))
        info.size, info.mode = len(u.data), 0o600
        pending += info.tobuf(tarfile.USTAR_FORMAT)
        if u.gzipped is not None:
            flush()
            chunks.append(u.gzipped if isinstance(u.gzipped, bytes) else u.gzipped())
        else:
            pending += u.data
        pending += b"\0" * (-len(u.data) % tarfile.BLOCKSIZE)
        sums.append(
            f's=$(sha256 < "$d/{i}"); [ "${{s%% *}}" = {q(u.digest)} ] || '
            f"{{ echo {q(f'sha256 mismatch after upload: {u.path}')} >&2; exit 1; }}"
        )
        installs.append(
            f'install -m {u.mode:04o} -o {q(u.owner)} -g {q(u.group)} -- "$d/{i}" {q(u.path)}'
        )
        if u.remember and digest_cache.cacheable(u.path):
            remembered.append(
                f'remember_digest {q(u.path)} {q(u.digest)} "$(digest_key {q(u.path)})"'
            )
    pending += b"\0" * (2 * tarfile.BLOCKSIZE)
    flush()
    script = "\n".join(
        [
            "umask 077",
            'd=$(mktemp -d "${TMPDIR:-/tmp}/hawizard.XXXXXXXX") || exit 1',
            "trap 'rm -rf -- \"$d\"' EXIT",
            'gzip -dc | tar -x -f - -C "$d" || exit 1',
            SHA256_SH,
            *sums,
            "set -e",
            *(shlex.join(argv) for argv in first),
            *installs,
            *([digest_cache.shell(cache), "set +e", *remembered] if remembered else []),
        ]
    )
    return chunks, script
