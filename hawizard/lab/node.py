"""One lab node: its disk (an overlay upper dir), booting it with systemd-nspawn, powering it off.

The overlay is mounted inside a private mount namespace (`unshare --mount`) that exists only as
long as the node's process does, so a crashed lab never leaves a mount on the host. The node's
identity (hostname, hosts file, SSH host key, machine id, root's authorized key) is written into
the upper dir *before* boot: the lab knows the host key without racing sshd's first start.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from hawizard.lab import proc
from hawizard.lab.errors import LabError
from hawizard.lab.network import NETNS_DIR
from hawizard.lab.repo import MOUNT_POINT, SOURCES_PATH
from hawizard.lab.run import ssh_keygen
from hawizard.lab.state import NodeRecord

PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")  # nspawn's per-machine scratch dirs
POWEROFF_TIMEOUT = 30.0  # an etcd node takes 8-15 s to shut down cleanly
READY_TIMEOUT = 60.0
NODE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}


@dataclass(frozen=True)
class Disk:
    """A node's private storage on the host; `upper` survives stop/start and `lab down`."""

    dir: Path

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    @property
    def work(self) -> Path:
        return self.dir / "work"

    @property
    def merged(self) -> Path:
        return self.dir / "merged"

    @property
    def console(self) -> Path:
        return self.dir / "console.log"

    @property
    def host_key(self) -> Path:
        return self.upper / "etc/ssh/ssh_host_ed25519_key"


# --- identity ---------------------------------------------------------------------------------


def prepare(
    disk: Disk,
    base: Path,
    node: NodeRecord,
    hosts: str,
    authorized_key: str,
    sources: str | None = None,
) -> str:
    """Write the node's identity into its upper dir; return its public host key ("type key").

    `sources` is the node's one apt source (the lab's local repository), when it has one.
    """
    for d in (disk.dir, disk.work, disk.merged):
        d.mkdir(mode=0o700, exist_ok=True)
    disk.upper.mkdir(exist_ok=True)
    os.chmod(disk.upper, base.stat().st_mode & 0o7777)  # the upper dir's mode becomes `/`'s
    _write(disk, base, "etc/hostname", f"{node.name}\n", 0o644)
    _write(disk, base, "etc/hosts", hosts, 0o644)
    _write(disk, base, "root/.ssh/authorized_keys", authorized_key, 0o600)
    if sources is not None:
        _write(disk, base, SOURCES_PATH, sources, 0o644)
    machine_id = disk.upper / "etc/machine-id"
    if not machine_id.exists() or not machine_id.read_text().strip():
        _write(disk, base, "etc/machine-id", uuid.uuid4().hex + "\n", 0o444)  # stable per node
    if not disk.host_key.exists():
        _ensure_dir(disk, base, "etc/ssh")
        ssh_keygen(disk.host_key, f"root@{node.name}")
    return host_key(disk)


def host_key(disk: Disk) -> str:
    """The node's public SSH host key as "type base64" (a known_hosts entry minus the host)."""
    kind, key = disk.host_key.with_name(disk.host_key.name + ".pub").read_text().split()[:2]
    return f"{kind} {key}"


def wipe(disk: Disk) -> None:
    """Empty a stopped node's disk but keep its identity (host key, machine id)."""
    keep = [disk.host_key, disk.host_key.with_name(disk.host_key.name + ".pub")]
    keep.append(disk.upper / "etc/machine-id")
    saved = {p: (p.read_bytes(), p.stat().st_mode & 0o7777) for p in keep if p.exists()}
    for d in (disk.upper, disk.work):
        if d.exists():
            shutil.rmtree(d)
    disk.upper.mkdir()
    disk.work.mkdir(mode=0o700)
    for path, (data, mode) in saved.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)


def _write(disk: Disk, base: Path, rel: str, text: str, mode: int) -> None:
    _ensure_dir(disk, base, str(Path(rel).parent))
    target = disk.upper / rel
    tmp = target.with_name(f".{target.name}.hawizard")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(tmp, mode)
    tmp.replace(target)


def _ensure_dir(disk: Disk, base: Path, rel: str) -> None:
    """Create `rel` in the upper dir with the base's modes: overlay shows the upper's modes."""
    path = Path()
    for part in Path(rel).parts:
        path /= part
        upper = disk.upper / path
        if upper.is_dir():
            continue
        lower = base / path
        mode = lower.stat().st_mode & 0o7777 if lower.is_dir() else 0o700
        upper.mkdir()
        os.chmod(upper, mode)


# --- power ------------------------------------------------------------------------------------


def boot(disk: Disk, base: Path, node: NodeRecord, repo: Path | None = None) -> NodeRecord:
    """Start the node in the background; return its record with the nspawn PID filled in.

    `repo` (the lab's package repository) appears read-only at `repo.MOUNT_POINT` inside.
    """
    for path in (base, disk.upper, disk.work, *([repo] if repo else [])):
        if "," in str(path) or ":" in str(path):
            raise LabError(f"{path} contains ',' or ':', which overlayfs cannot take")
    opts = f"lowerdir={base},upperdir={disk.upper},workdir={disk.work}"
    mount = ["mount", "-t", "overlay", "overlay", "-o", opts, str(disk.merged)]
    # CAP_NET_ADMIN: keepalived adds and removes the API endpoint's virtual IP on eth0
    # (`ip addr add` answers "Operation not permitted" without it). Granted to the node only,
    # and harmless there: every node has its own network namespace, so what it changes stays
    # inside that namespace and never reaches the host's or another node's network.
    nspawn = [
        "systemd-nspawn",
        f"--directory={disk.merged}",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--machine={node.name}",
        f"--network-namespace-path={NETNS_DIR / node.netns}",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=passive",
        "--capability=CAP_NET_ADMIN",
    ]
    # A node powered off the hard way (its nspawn killed) leaves nspawn's propagation dir
    # behind; on a host whose /run is no tmpfs the next nspawn for that machine refuses to
    # start ("Attempted to remove disk file system under ..."). The node is not running here,
    # so an empty leftover is stale: remove it (rmdir never removes anything else).
    with contextlib.suppress(OSError):
        os.rmdir(PROPAGATE_DIR / node.name)
    if repo is not None:
        nspawn.append(f"--bind-ro={repo}:{MOUNT_POINT}")
    script = f"{shlex.join(mount)} || exit 1\n{supervisor_script(nspawn, node.name)}"
    with open(disk.console, "ab") as log:
        child = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal must not kill the nodes
            close_fds=True,
        )
    child.returncode = 0  # we reap it ourselves (proc.reap); keep Popen from warning later
    return replace(node, pid=child.pid, start_time=proc.start_time(child.pid), leader=0)


#: systemd-nspawn's exit status when the node's systemd asked for a reboot (systemd-nspawn(1)).
REBOOT_EXIT = 133


def supervisor_script(nspawn: Sequence[str], machine: str) -> str:
    """sh that runs the node and boots it again whenever it asks to reboot.

    A node that runs `systemctl reboot` makes nspawn exit with 133; a real machine would come
    back, so the lab does too: same disk (the overlay stays mounted in this mount namespace),
    same network namespace (address, MAC), same host key. Any other exit ends the node. The
    shell stays the node's recorded process: SIGTERM to it (`power_off`) is passed on to the
    running nspawn, by its PID, as a clean poweroff, and no reboot follows. Before booting
    again it removes nspawn's empty propagation dir, as `boot` does (see there).
    """
    run = shlex.join(nspawn)
    stale = shlex.quote(str(PROPAGATE_DIR / machine))
    return (
        "stop=; child=\n"
        'trap \'stop=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null\' TERM INT HUP\n'
        "while :; do\n"
        f"  {run} &\n"
        "  child=$!\n"
        '  wait "$child"; rc=$?\n'
        '  while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done\n'
        f'  if [ -n "$stop" ] || [ "$rc" -ne {REBOOT_EXIT} ]; then exit "$rc"; fi\n'
        '  echo "hawizard lab: the node asked for a reboot; booting it again"\n'
        f"  rmdir {stale} 2>/dev/null\n"
        "done\n"
    )


def wait_ready(disk: Disk, node: NodeRecord, timeout: float = READY_TIMEOUT) -> NodeRecord:
    """Wait until the node's systemd runs and its sshd sends a banner; fill in the leader PID."""
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive(node.pid, node.start_time):
            raise LabError(
                f"node {node.name} stopped while booting: {_tail(disk.console)}",
                f"see {disk.console}",
            )
        if not node.leader:
            leader = _find_leader(node.pid)
            if leader:
                node = replace(node, leader=leader, leader_start=proc.start_time(leader))
        if node.leader and ssh_banner(node.address):
            return node
        if time.monotonic() > deadline:
            raise LabError(
                f"node {node.name}: sshd on {node.address}:22 did not answer within "
                f"{timeout:.0f} s",
                f"see {disk.console} and `hawizard lab status`",
            )
        time.sleep(0.1)


def ssh_banner(address: str, port: int = 22, timeout: float = 1.0) -> bool:
    """True when an SSH server answers on address:port with its banner."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def running(node: NodeRecord) -> bool:
    return proc.alive(node.pid, node.start_time)


def power_off(node: NodeRecord, timeout: float = POWEROFF_TIMEOUT) -> NodeRecord:
    """Clean poweroff (SIGTERM to nspawn), then, past `timeout`, SIGKILL the node's processes."""
    if proc.signal_if_ours(node.pid, node.start_time, signal.SIGTERM):
        deadline = time.monotonic() + timeout
        while proc.alive(node.pid, node.start_time) and time.monotonic() < deadline:
            time.sleep(0.1)
    if proc.alive(node.pid, node.start_time) or proc.alive(node.leader, node.leader_start):
        kill(node)
    return replace(node, pid=0, start_time=0, leader=0, leader_start=0)


def kill(node: NodeRecord, timeout: float = 10.0) -> None:
    """Last resort: SIGKILL the node's init (which ends its whole PID namespace) and nspawn."""
    tree = proc.descendants(node.pid) if proc.alive(node.pid, node.start_time) else []
    proc.signal_if_ours(node.leader, node.leader_start, signal.SIGKILL)
    for pid in reversed(tree):
        proc.signal_if_ours(pid, proc.start_time(pid), signal.SIGKILL)
    proc.signal_if_ours(node.pid, node.start_time, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while proc.alive(node.pid, node.start_time) or proc.alive(node.leader, node.leader_start):
        if time.monotonic() > deadline:
            raise LabError(
                f"node {node.name} (PID {node.pid}) survived SIGKILL for {timeout:.0f} s",
                f"check `ps -o pid,stat,cmd --ppid {node.pid}`",
            )
        time.sleep(0.1)


def _find_leader(node_pid: int) -> int:
    """The node's PID 1 (its systemd): below the supervisor shell, nspawn's child that is PID 1
    in its own namespace (it changes whenever the node reboots)."""
    for nspawn in proc.children(node_pid):
        for pid in proc.children(nspawn):
            if proc.ns_pid(pid) == 1:
                return pid
    return 0


def current(node: NodeRecord) -> NodeRecord:
    """The record with the node's systemd of now: after a reboot inside the node the recorded
    leader is gone while the node itself (its supervisor) still runs."""
    if proc.alive(node.leader, node.leader_start) or not proc.alive(node.pid, node.start_time):
        return node
    leader = _find_leader(node.pid)
    if not leader:
        return node
    return replace(node, leader=leader, leader_start=proc.start_time(leader))


# --- commands inside ------------------------------------------------------------------------


def exec_argv(node: NodeRecord, argv: Sequence[str]) -> list[str]:
    """`nsenter` into every namespace of the node's systemd, with its root and working dir."""
    node = current(node)
    if not proc.alive(node.leader, node.leader_start):
        raise LabError(f"node {node.name} is not running", f"hawizard lab fault {node.name} start")
    ns = ["--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--root", "--wd"]
    return ["nsenter", f"--target={node.leader}", *ns, "--", *argv]


def exec_in(
    node: NodeRecord,
    argv: Sequence[str],
    *,
    timeout: float = 60.0,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` inside the node as root, without SSH (tests and faults use this)."""
    try:
        result = subprocess.run(
            exec_argv(node, argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=NODE_ENV,
            check=False,
        )
    except subprocess.TimeoutExpired:
        what = f"{node.name}: `{shlex.join(argv)}`"
        raise LabError(f"{what} timed out after {timeout:.0f} s") from None
    if check and result.returncode != 0:
        raise LabError(
            f"{node.name}: `{shlex.join(argv)}` failed (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[-300:]}"
        )
    return result


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no console log)"
    return " / ".join(text.strip().splitlines()[-lines:])
