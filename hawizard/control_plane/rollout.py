"""The control-plane rollout as phases of steps, run by `hawizard apply` after etcd.

1. binaries   per master, in parallel: download (sha256 checked on the node) or upload, or
              with `install = "none"` only check they are there;
2. files      per master, in parallel: certificates and keys, kubeconfigs, encryption config,
              audit policy and the three units under `/etc/kubernetes` and `/etc/systemd`;
3. start      one master per phase (`start = true` only): enable and (re)start the services
              whose inputs changed, wait for `/livez` and `/readyz`, then the next master;
(The load balancer in front of the masters is its own domain, `hawizard.balancer`; `apply`
runs its phase after these, see `hawizard.ops.phases`.)

What to restart is decided from the node, not from this run's memory: after a service is
started and healthy, a stamp with the sha256 of everything it reads (unit, binary, certs,
kubeconfig, configs) is written to `/var/lib/hawizard/`. A run that changed files but failed
before the restart still restarts on the next run, and a converged cluster restarts nothing.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hawizard import pki
from hawizard.control_plane import render
from hawizard.control_plane.binaries import (
    ARCHES,
    DOWNLOAD_TIMEOUT,
    BinaryError,
    LocalBinaries,
    download_script,
    release_url,
)
from hawizard.control_plane.probe import ApiserverHealth, probe_apiserver
from hawizard.control_plane.render import FILES, SERVICES
from hawizard.plan import KUBE_BINARIES, Node, Plan
from hawizard.remote_files import RemoteFile, directory, file_states, files_step
from hawizard.steps import Phase, Step, say

__all__ = [
    "STAMP_DIR",
    "ApiserverNotReady",
    "ControlPlaneRollout",
    "control_plane_rollout_phases",
    "service_inputs",
]

STAMP_DIR = "/var/lib/hawizard"
READY_TIMEOUT = 180.0  # seconds for one apiserver to answer /livez and /readyz
SERVICE_TIMEOUT = 60.0  # seconds for controller-manager / scheduler to report healthy
# The controllers' own health ports (HTTPS, self-signed, /healthz open without auth).
HEALTH_PORTS = {"kube-controller-manager": 10257, "kube-scheduler": 10259}


class ApiserverNotReady(Exception):
    pass


def service_inputs(service: str) -> tuple[str, ...]:
    """Every file a service reads at start: a change to any of them needs a restart."""
    common = (FILES.unit(service), FILES.binary(service))
    if service == "kube-apiserver":
        return (
            *common,
            FILES.ca_cert,
            FILES.apiserver_cert,
            FILES.apiserver_key,
            FILES.sa_key,
            FILES.sa_pub,
            FILES.etcd_ca_cert,
            FILES.etcd_client_cert,
            FILES.etcd_client_key,
            FILES.encryption_config,
            FILES.audit_policy,
        )
    if service == "kube-controller-manager":
        return (
            *common,
            FILES.ca_cert,
            FILES.ca_key,
            FILES.sa_key,
            FILES.kubeconfig("controller-manager"),
        )
    return (*common, FILES.kubeconfig("scheduler"))


@dataclass
class ControlPlaneRollout:
    plan: Plan
    masters: tuple[Node, ...] = ()
    ready_timeout: float = READY_TIMEOUT
    # (plan, node, timeout) -> health, raising ApiserverNotReady; replaceable for tests.
    wait_ready: Callable[[Plan, Node, float], ApiserverHealth] | None = None
    _pending: dict[tuple[str, str], list[RemoteFile]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: LocalBinaries | None = None

    def __post_init__(self) -> None:
        if not self.masters:
            self.masters = self.plan.control_plane_nodes
        if self.wait_ready is None:
            self.wait_ready = wait_apiserver_ready
        cp = self.plan.control_plane
        if cp.install == "download":
            missing = [b for b in KUBE_BINARIES if not cp.sha256.get(b)]
            if missing:
                raise BinaryError(
                    f"control_plane.install = 'download' needs control_plane.sha256 for "
                    f"{', '.join(missing)} (the .sha256 file next to each binary at "
                    f"{release_url(cp.kubernetes_version, 'amd64', missing[0])}.sha256)"
                )
        elif cp.install == "upload":
            source = self.plan.resolve(cp.binaries) if cp.binaries else None
            if source is None or not source.exists():
                raise BinaryError(
                    f"control_plane.install = 'upload' needs control_plane.binaries: a folder "
                    f"with {', '.join(KUBE_BINARIES)} or kubernetes-server-linux-amd64.tar.gz "
                    f"({source or 'not set'} does not exist)"
                )
            self._local = LocalBinaries(source, cp.sha256)

    # --- phases --------------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        ms = self.masters
        phases = [
            Phase("control-plane binaries", [self._binaries_step(m) for m in ms]),
            Phase("control-plane files", [s for m in ms for s in self._file_steps(m)]),
        ]
        if self.plan.control_plane.start:
            phases += [
                Phase(f"control-plane start: {m.name}", [self._start_step(m, s) for s in SERVICES])
                for m in ms
            ]
        return phases

    # --- binaries ------------------------------------------------------------------------

    def _binaries_step(self, m: Node) -> Step:
        install = self.plan.control_plane.install
        paths = [FILES.binary(b) for b in KUBE_BINARIES]
        key = (m.name, "binaries")

        def check(host) -> bool:
            # ~300 MB of binaries per master: hashed once, then known from the digest cache
            # while they are unchanged (`hawizard.digest_cache`).
            states = file_states(host, paths, cached=set(paths))
            if install == "none":
                missing = [p for p in paths if p not in states]
                if missing and self.plan.control_plane.start:
                    raise BinaryError(
                        f"{', '.join(missing)} missing on {m.name} with control_plane.install = "
                        "'none': install them, or let hawizard do it ('download' or 'upload')"
                    )
                for p in missing:
                    say(host, f"{p} is not installed (install = 'none', start = false: staged)")
                return False
            want = {p: self._expected_sha(b) for p, b in zip(paths, KUBE_BINARIES, strict=True)}
            stale = [
                RemoteFile(p, b"", 0o755)
                for p, sha in want.items()
                if states.get(p) != (0o755, "root", "root", sha)
            ]
            with self._lock:
                self._pending[key] = stale
            return bool(stale)

        def apply(host) -> None:
            stale = self._pending[key]
            if install == "download":
                self._download(host, [p.path for p in stale])
            else:
                assert self._local is not None
                for f in stale:
                    name = Path(f.path).name
                    if host.compress:
                        data = self._local.gzipped(name)
                    else:  # the plan's ssh.compress = false: a link faster than gunzip
                        data = self._local.files()[name].read_bytes()
                    host.put(data, f.path, mode=0o755, gzipped=host.compress)
                    size = f"{len(data) // (1 << 20)} MiB{' gzipped' if host.compress else ''}"
                    say(host, f"uploaded {f.path} ({size})")

        return Step(m.name, "kubernetes binaries", check, apply)

    def _expected_sha(self, name: str) -> str:
        if self.plan.control_plane.install == "download":
            return self.plan.control_plane.sha256[name].lower()
        assert self._local is not None
        return self._local.sha256(name)

    def _download(self, host, targets: list[str]) -> None:
        machine = host.probe(["uname", "-m"], check=True).stdout.strip()
        arch = ARCHES.get(machine)
        if arch is None:
            raise BinaryError(f"{host.name}: no Kubernetes release for architecture {machine!r}")
        cp = self.plan.control_plane
        for target in targets:
            name = Path(target).name
            url = release_url(cp.kubernetes_version, arch, name)
            script = download_script(url, cp.sha256[name], target)
            host.run(script, timeout=DOWNLOAD_TIMEOUT + 60)
            say(host, f"downloaded {url} (sha256 checked) to {target}")

    # --- files ---------------------------------------------------------------------------

    def _file_steps(self, m: Node) -> list[Step]:
        return [
            self._files_step(m, "kubernetes directories", self._dirs),
            self._files_step(m, "kubernetes certificates and keys", self._certs),
            self._files_step(m, "kubeconfigs, encryption and audit config", self._configs),
            self._files_step(m, "control-plane units", self._units, reload=True),
        ]

    def _dirs(self, m: Node) -> list[RemoteFile]:
        return [
            directory(FILES.kube_dir, 0o755),
            directory(FILES.pki_dir, 0o700),
            directory(FILES.etcd_pki_dir, 0o700),
            directory(FILES.audit_log_dir, 0o700),
        ]

    def _certs(self, m: Node) -> list[RemoteFile]:
        layout = pki.paths(self.plan)
        k8s_ca, api, etcd_client = (
            layout.kubernetes_ca,
            layout.apiserver,
            layout.apiserver_etcd_client,
        )
        return [
            RemoteFile(FILES.ca_cert, k8s_ca.cert.read_bytes(), 0o644),
            # Only because kube-controller-manager signs certificates with it.
            RemoteFile(FILES.ca_key, k8s_ca.key.read_bytes(), 0o600),
            RemoteFile(FILES.apiserver_cert, api.cert.read_bytes(), 0o644),
            RemoteFile(FILES.apiserver_key, api.key.read_bytes(), 0o600),
            RemoteFile(FILES.sa_key, layout.sa_key.read_bytes(), 0o600),
            RemoteFile(FILES.sa_pub, layout.sa_pub.read_bytes(), 0o644),
            # The etcd CA certificate to verify the members; never the etcd CA key.
            RemoteFile(FILES.etcd_ca_cert, pki.trusted_ca_pem(self.plan), 0o644),
            RemoteFile(FILES.etcd_client_cert, etcd_client.cert.read_bytes(), 0o644),
            RemoteFile(FILES.etcd_client_key, etcd_client.key.read_bytes(), 0o600),
        ]

    def _configs(self, m: Node) -> list[RemoteFile]:
        layout = pki.paths(self.plan)
        ca = layout.kubernetes_ca.cert.read_bytes()
        local = f"https://127.0.0.1:{render.APISERVER_PORT}"
        kubeconfigs = {
            # The controllers talk to their own node's apiserver: no dependency on the LB.
            "controller-manager": (
                layout.controller_manager,
                "system:kube-controller-manager",
                local,
            ),
            "scheduler": (layout.scheduler, "system:kube-scheduler", local),
            "admin": (layout.admin, "admin", render.endpoint_url(self.plan)),
        }
        files = [
            RemoteFile(FILES.encryption_config, layout.encryption_config.read_bytes(), 0o600),
            RemoteFile(FILES.audit_policy, render.render_audit_policy().encode(), 0o644),
        ]
        for who, (pair, user, server) in kubeconfigs.items():
            text = render.render_kubeconfig(
                cluster=self.plan.cluster.name,
                server=server,
                user=user,
                ca_pem=ca,
                cert_pem=pair.cert.read_bytes(),
                key_pem=pair.key.read_bytes(),
            )
            files.append(RemoteFile(FILES.kubeconfig(who), text.encode(), 0o600))
        return files

    def _units(self, m: Node) -> list[RemoteFile]:
        texts = {
            "kube-apiserver": render.render_apiserver_unit(self.plan, m),
            "kube-controller-manager": render.render_controller_manager_unit(self.plan),
            "kube-scheduler": render.render_scheduler_unit(self.plan),
        }
        return [RemoteFile(FILES.unit(s), t.encode(), 0o644) for s, t in texts.items()]

    def _files_step(
        self,
        m: Node,
        title: str,
        files: Callable[[Node], list[RemoteFile]],
        *,
        reload: bool = False,
    ) -> Step:
        def after(host, _written: list[RemoteFile]) -> None:
            if reload:
                host.run(["systemctl", "daemon-reload"])

        return files_step(m.name, title, lambda: files(m), after=after)

    # --- start ---------------------------------------------------------------------------

    def _start_step(self, m: Node, service: str) -> Step:
        stamp = f"{STAMP_DIR}/{service}.inputs"
        digest_cmd = (
            f"sha256sum -- {' '.join(shlex.quote(p) for p in service_inputs(service))} 2>&1"
            " | sha256sum | cut -c1-64"
        )

        def check(host) -> bool:
            out = host.probe(
                f'echo "active=$(systemctl is-active {service} 2>/dev/null)"; '
                f'echo "enabled=$(systemctl is-enabled {service} 2>/dev/null)"; '
                f'echo "applied=$(cat {stamp} 2>/dev/null)"; '
                f'echo "current=$({digest_cmd})"'
            ).stdout
            state = dict(line.partition("=")[::2] for line in out.splitlines())
            return not (
                state.get("active") == "active"
                and state.get("enabled") == "enabled"
                and state.get("applied") == state.get("current")
            )

        def apply(host) -> None:
            current = host.probe(digest_cmd, check=True).stdout.strip()
            host.run(["systemctl", "enable", service])
            host.run(["systemctl", "restart", service], timeout=120)
            if not host.dry_run:
                if service == "kube-apiserver":
                    health = self.wait_ready(self.plan, m, self.ready_timeout)
                    say(host, f"kube-apiserver on {m.name}: {health.state.value}")
                else:
                    _wait_service(host, service, SERVICE_TIMEOUT)
            host.ensure_dir(STAMP_DIR, mode=0o700)
            host.put(current + "\n", stamp, mode=0o600)

        return Step(m.name, f"start {service}", check, apply)


def control_plane_rollout_phases(plan: Plan, **kwargs) -> list[Phase]:
    """The control-plane phases alone (`hawizard.ops.phases` adds the load balancer's)."""
    return ControlPlaneRollout(plan, **kwargs).phases()


def wait_apiserver_ready(plan: Plan, node: Node, timeout: float) -> ApiserverHealth:
    """Poll one apiserver until `/livez` and `/readyz` both answer 200, or raise."""
    deadline = time.monotonic() + timeout
    while True:
        health = probe_apiserver(plan, node)
        if health.ok:
            return health
        if time.monotonic() >= deadline:
            detail = "; ".join(health.failed_checks) or health.error
            raise ApiserverNotReady(
                f"kube-apiserver on {node.name} not ready after {timeout:g} s: "
                f"{health.state.value}{f' ({detail})' if detail else ''} — see "
                f"`journalctl -u kube-apiserver` on {node.name}"
            )
        time.sleep(2)


def _wait_service(host, service: str, timeout: float) -> None:
    """Wait until the service is active and its /healthz says ok (curl on the node)."""
    port = HEALTH_PORTS[service]
    script = (
        f"systemctl is-active --quiet {service} && "
        f"{{ ! command -v curl >/dev/null || "
        f"curl -fsk --max-time 3 https://127.0.0.1:{port}/healthz >/dev/null; }}"
    )
    deadline = time.monotonic() + timeout
    while host.probe(script).exited != 0:
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"{service} on {host.name} not healthy after {timeout:g} s — see "
                f"`journalctl -u {service}` on {host.name}"
            )
        time.sleep(2)
    say(host, f"{service} healthy")
