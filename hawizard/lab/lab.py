"""A lab: several systemd nodes on this host, brought up, faulted and torn down as one.

`Lab` is the Python API the CLI and the tests share. Every change goes through the lab's state
record (state.json) under a file lock, so two commands on the same lab never race and `down`
always knows exactly what to remove.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from enum import StrEnum
from pathlib import Path

from hawizard.lab import network, node, preflight, proc, repo, rootfs, state
from hawizard.lab.errors import LabError
from hawizard.lab.layout import MAX_NODES, check_name, layout
from hawizard.lab.plan_writer import lab_plan, write_lab_plan
from hawizard.lab.run import run, ssh_keygen
from hawizard.lab.state import LABS_ROOT, LabRecord, NodeRecord
from hawizard.lab.status import LabNode, LabStatus, NodeStatus
from hawizard.plan import Plan

DEFAULT_NAME = "lab"
DEFAULT_NODES = 3

Progress = Callable[[str], None]


class Fault(StrEnum):
    KILL_ETCD = "kill-etcd"
    STOP = "stop"
    START = "start"
    PARTITION = "partition"
    HEAL = "heal"


class Lab:
    """One named lab. Cheap to construct; all facts are read from its state dir when needed."""

    def __init__(self, name: str = DEFAULT_NAME, root: Path = LABS_ROOT) -> None:
        check_name(name)
        self.name = name
        self.root = root
        self._mutex = threading.Lock()  # record updates from parallel boot threads

    @classmethod
    def load(cls, name: str = DEFAULT_NAME, root: Path = LABS_ROOT) -> Lab:
        return cls(name, root)

    # --- paths ------------------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        return self.root / self.name

    @property
    def state_path(self) -> Path:
        return self.dir / state.STATE_FILE

    @property
    def plan_path(self) -> Path:
        return self.dir / "plan.toml"

    @property
    def key_path(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def pki_dir(self) -> Path:
        return self.dir / "pki"

    def disk(self, node_name: str) -> node.Disk:
        return node.Disk(self.dir / "nodes" / node_name)

    # --- facts ------------------------------------------------------------------------------

    @property
    def record(self) -> LabRecord | None:
        return state.load(self.state_path)

    @property
    def exists(self) -> bool:
        return self.state_path.exists()

    @property
    def nodes(self) -> tuple[LabNode, ...]:
        rec = self.record
        return tuple(LabNode(n.name, n.address) for n in rec.nodes) if rec else ()

    def node(self, name: str) -> NodeRecord:
        """A node by its name, or by its short name (`n2` for `lab-n2`)."""
        rec = self._require_record()
        names = {n.name for n in rec.nodes}
        if name not in names and f"{self.name}-{name}" in names:
            name = f"{self.name}-{name}"
        try:
            return rec.node(name)
        except KeyError as exc:
            raise LabError(str(exc.args[0]), "see `hawizard lab status`") from None

    def status(self) -> LabStatus:
        rec = self.record
        nodes = tuple(
            NodeStatus(
                name=n.name,
                address=n.address,
                running=node.running(n),
                partitioned=network.is_partitioned(n),
                ssh=self.ssh_command(n.name),
            )
            for n in (rec.nodes if rec else ())
        )
        return LabStatus(
            name=self.name,
            exists=rec is not None,
            state_dir=str(self.dir),
            subnet=rec.subnet if rec else "",
            gateway=rec.gateway if rec else "",
            bridge=rec.bridge if rec else "",
            plan=str(self.plan_path),
            key=str(self.key_path),
            known_hosts=str(self.known_hosts_path),
            nodes=nodes,
        )

    # --- up / down --------------------------------------------------------------------------

    def up(
        self,
        nodes: int | None = None,
        subnet: str | None = None,
        *,
        packages: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> LabStatus:
        """Bring every node up (building the base image and the package repository once);
        a no-op for running nodes. `packages` extends the repository's default set."""
        say = progress or (lambda _msg: None)
        preflight.require_host()
        if not self.exists:
            layout(self.name, nodes or DEFAULT_NODES, subnet)  # bad input: fail before any mkdir
        self._make_dirs()
        with self._locked():
            rec = self._planned_record(nodes, subnet)
            base = Path(rec.base) if rec.base and Path(rec.base).is_dir() else None
            if base is None:
                if not rootfs.cached_base().is_dir():
                    say("building the Debian base image with debootstrap (once, ~1 min)…")
                base = rootfs.ensure_base()
                rec = replace(rec, base=str(base))
            recipe = repo.RepoRecipe().with_packages(tuple(packages))
            if packages or not _offers(rec.repo, recipe.packages):
                if not (repo.cached_repo(recipe, base) / "Packages").is_file():
                    say(
                        f"building the lab's package repository ({len(recipe.packages)} "
                        "packages and their dependencies, once)…"
                    )
                rec = replace(rec, repo=str(repo.ensure_repo(recipe, base)))
            self._ensure_key()
            say(f"wiring {len(rec.nodes)} network namespaces on bridge {rec.bridge}…")
            network.ensure_bridge(rec)
            for n in rec.nodes:
                network.ensure_node_link(rec, n)
            state.save(rec, self.state_path)
            hosts = self._hosts_file(rec)
            authorized = self.key_path.with_name(self.key_path.name + ".pub").read_text()
            raised = preflight.ensure_inotify_instances()
            if raised is not None:
                say(
                    f"fs.inotify.max_user_instances raised from {raised} to "
                    f"{preflight.MIN_INOTIFY_INSTANCES} (every node's systemd needs several)"
                )
            say(f"booting {len(rec.nodes)} nodes…")
            to_boot = [n for n in rec.nodes if not node.running(n)]
            sources = repo.sources_entry()
            for n in to_boot:  # a running node's upper dir is live under its overlay: hands off
                node.prepare(self.disk(n.name), base, n, hosts, authorized, sources)
            self._write_known_hosts(rec)
            repo_dir = Path(rec.repo)
            self._parallel(lambda n: self._boot(base, n, repo_dir), to_boot)
            fresh = write_lab_plan(self.plan(balancer="vip"), self.plan_path)
            if fresh is not None:
                say(f"kept {self.plan_path}: you changed it; the lab's own plan is {fresh}")
        return self.status()

    def down(self, purge: bool = False) -> bool:
        """Power every node off and remove its namespace, veth, the bridge (and disks: purge).

        Idempotent; returns False when there was no such lab.
        """
        preflight.require_root()
        if not self.dir.exists():
            return False
        with self._locked():
            rec = self.record
            if rec is not None:
                self._parallel(self._power_off, [n for n in rec.nodes if n.pid or n.leader])
                for n in rec.nodes:
                    network.remove_node_link(n)
                network.remove_bridge(rec)
            for mountpoint in rootfs.mounts_below(self.dir):  # none expected: mounts are private
                run(["umount", "--lazy", mountpoint], check=False)
            if purge:
                shutil.rmtree(self.dir)
        return True

    # --- faults -----------------------------------------------------------------------------

    def fault(self, node_name: str, kind: Fault | str) -> str:
        """Provoke one fault on one node; return a sentence saying what happened."""
        kind = Fault(kind)
        actions = {
            Fault.KILL_ETCD: self.kill_etcd,
            Fault.STOP: self.stop,
            Fault.START: self.start,
            Fault.PARTITION: self.partition,
            Fault.HEAL: self.heal,
        }
        return actions[kind](node_name)

    def stop(self, node_name: str) -> str:
        with self._locked():
            n = self.node(node_name)
            if not node.running(n):
                return f"{node_name} is already off"
            self._power_off(n)
        return f"{node_name} powered off"

    def start(self, node_name: str) -> str:
        preflight.require_host()
        with self._locked():
            n = self.node(node_name)
            if node.running(n):
                return f"{node_name} is already running"
            self._start(n)
        return f"{node_name} booted; sshd answers on {n.address}:22"

    def reset(self, *node_names: str) -> None:
        """Give nodes a fresh disk (same name, address, host key) and heal them, e.g. between tests.

        Everything installed or written on them since `up` is gone; all nodes when none named.
        """
        preflight.require_host()
        with self._locked():
            rec = self._require_record()
            chosen = [self.node(name) for name in node_names] if node_names else list(rec.nodes)
            self._parallel(self._power_off, [n for n in chosen if node.running(n)])
            for n in chosen:
                node.wipe(self.disk(n.name))
                network.heal(n)
            self._parallel(self._start, chosen)

    def partition(self, node_name: str) -> str:
        network.partition(self._netns_node(node_name))
        return f"{node_name} is cut off: every packet in or out is dropped"

    def heal(self, node_name: str) -> str:
        network.heal(self._netns_node(node_name))
        return f"{node_name} is reachable again"

    def kill_etcd(self, node_name: str) -> str:
        n = self.node(node_name)
        show = ["systemctl", "show", "--property=MainPID", "--value", "etcd.service"]
        pid = node.exec_in(n, show).stdout.strip()
        if pid in ("", "0"):
            raise LabError(f"etcd is not running on {node_name}", "deploy etcd first")
        kill = ["systemctl", "kill", "--kill-whom=main", "--signal=SIGKILL", "etcd.service"]
        node.exec_in(n, kill)
        return f"SIGKILL sent to etcd (PID {pid} inside {node_name})"

    # --- inside the nodes -------------------------------------------------------------------

    def exec(
        self,
        node_name: str,
        argv: Sequence[str],
        *,
        timeout: float = 60.0,
        input: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` as root inside a node (via nsenter, no SSH); raise LabError on failure."""
        return node.exec_in(self.node(node_name), argv, timeout=timeout, input=input, check=check)

    def ssh_argv(self, node_name: str, *command: str) -> list[str]:
        """An `ssh` argument list with strict host-key checking, batch mode and a timeout."""
        n = self.node(node_name)
        return [
            "ssh",
            "-F",
            "none",
            "-i",
            str(self.key_path),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts_path}",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            f"root@{n.address}",
            *command,
        ]

    def ssh_command(self, node_name: str) -> str:
        """The short command line a person types to log in (printed by `lab up`)."""
        n = self.node(node_name)
        return (
            f"ssh -i {self.key_path} -o UserKnownHostsFile={self.known_hosts_path} root@{n.address}"
        )

    def plan(
        self,
        nodes: int | None = None,
        pki_dir: str | Path | None = None,
        balancer: str = "single",
    ) -> Plan:
        """A plan for the first `nodes` nodes (default all), certificates under `pki_dir`.

        `balancer`: "single" (haproxy on the first node) or "vip" (keepalived + haproxy on
        every node; the plan file `lab up` writes)."""
        return lab_plan(
            self._require_record(),
            key=self.key_path,
            known_hosts=self.known_hosts_path,
            pki_dir=Path(pki_dir) if pki_dir else self.pki_dir,
            nodes=nodes,
            source=self.plan_path,
            balancer=balancer,
        )

    # --- internals --------------------------------------------------------------------------

    def _require_record(self) -> LabRecord:
        rec = self.record
        if rec is None:
            raise LabError(f"lab {self.name!r} is not up", f"hawizard lab up --name {self.name}")
        return rec

    def _netns_node(self, node_name: str) -> NodeRecord:
        n = self.node(node_name)
        if not network.netns_exists(n.netns):
            raise LabError(f"{node_name} has no network namespace", "hawizard lab up first")
        return n

    def _planned_record(self, nodes: int | None, subnet: str | None) -> LabRecord:
        rec = self.record
        if rec is None:
            rec = layout(self.name, nodes or DEFAULT_NODES, subnet)
            self._check_conflicts(rec)
            return rec
        fresh = layout(self.name, nodes or len(rec.nodes), subnet or rec.subnet)
        if len(fresh.nodes) != len(rec.nodes) or fresh.subnet != rec.subnet:
            raise LabError(
                f"lab {self.name!r} already exists with {len(rec.nodes)} nodes on {rec.subnet}",
                f"hawizard lab down --name {self.name} --purge, then up again",
            )
        return rec

    def _check_conflicts(self, rec: LabRecord) -> None:
        """A new lab must not share a subnet or bridge with another lab or a host interface."""
        net = ipaddress.ip_network(rec.subnet)
        for other_state in self.root.glob(f"*/{state.STATE_FILE}"):
            other = state.load(other_state)
            if other is None or other.name == rec.name:
                continue
            if ipaddress.ip_network(other.subnet).overlaps(net) or other.bridge == rec.bridge:
                raise LabError(
                    f"lab {rec.name!r} would share {rec.subnet} with lab {other.name!r}",
                    "pick another --subnet inside 198.18.0.0/15 or another --name",
                )
        addrs = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
        for iface in addrs:
            for info in iface.get("addr_info", []):
                if ipaddress.ip_address(info["local"]) in net:
                    raise LabError(
                        f"{rec.subnet} is already used by interface {iface['ifname']}",
                        "pick another --subnet inside 198.18.0.0/15",
                    )

    def _make_dirs(self) -> None:
        for d in (self.root.parent, self.root, self.dir, self.pki_dir, self.dir / "nodes"):
            d.mkdir(mode=0o700, exist_ok=True)
        for d in (self.root, self.dir, self.pki_dir):
            os.chmod(d, 0o700)

    def _ensure_key(self) -> None:
        if not self.key_path.exists():
            ssh_keygen(self.key_path, f"hawizard-lab-{self.name}")
        os.chmod(self.key_path, 0o600)

    def _hosts_file(self, rec: LabRecord) -> str:
        lines = [rootfs.BASE_HOSTS.rstrip("\n")]
        lines += [f"{n.address}\t{n.name}" for n in rec.nodes]
        return "\n".join(lines) + "\n"

    def _write_known_hosts(self, rec: LabRecord) -> None:
        text = "".join(f"{n.address} {node.host_key(self.disk(n.name))}\n" for n in rec.nodes)
        tmp = self.known_hosts_path.with_name(".known_hosts.tmp")
        tmp.write_text(text)
        tmp.replace(self.known_hosts_path)

    def _boot(self, base: Path, n: NodeRecord, repo_dir: Path | None) -> None:
        disk = self.disk(n.name)
        if proc.alive(n.leader, n.leader_start):  # nspawn was killed, the node's systemd not
            node.kill(n)
        booted = node.boot(disk, base, n, repo_dir)
        self._update(booted)  # recorded at once: `down` can stop it even if we die now
        self._update(node.wait_ready(disk, booted))

    def _start(self, n: NodeRecord) -> None:
        rec = self._require_record()
        base = Path(rec.base)
        preflight.ensure_inotify_instances()
        network.ensure_bridge(rec)
        network.ensure_node_link(rec, n)
        authorized = self.key_path.with_name(self.key_path.name + ".pub").read_text()
        repo_dir = Path(rec.repo) if rec.repo and Path(rec.repo).is_dir() else None
        sources = repo.sources_entry() if repo_dir else None
        node.prepare(self.disk(n.name), base, n, self._hosts_file(rec), authorized, sources)
        self._boot(base, n, repo_dir)

    def _power_off(self, n: NodeRecord) -> None:
        self._update(node.power_off(n))

    def _update(self, n: NodeRecord) -> None:
        with self._mutex:
            rec = self._require_record()
            state.save(rec.with_node(n), self.state_path)

    def _parallel(self, fn: Callable[[NodeRecord], None], nodes: list[NodeRecord]) -> None:
        """Run `fn` for every node at once; raise the first failure after all finished."""
        if not nodes:
            return
        with ThreadPoolExecutor(max_workers=min(len(nodes), MAX_NODES)) as pool:
            futures = [pool.submit(fn, n) for n in nodes]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def _offers(repo_dir: str, packages: tuple[str, ...]) -> bool:
    """Whether a lab's recorded repository still offers every package this hawizard installs:
    a lab made by an older hawizard kept a repository without the packages added since (the
    firewall's nftables), and every apply on it then failed on the nodes."""
    index = Path(repo_dir) / "Packages" if repo_dir else None
    if index is None or not index.is_file():
        return False
    return set(packages) <= set(repo.package_names(Path(repo_dir)))
