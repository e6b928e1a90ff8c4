"""Installing one etcd member: the `etcd` user, binaries (or the package), data and cert
dirs, certificates, configuration, marker and unit, and the installed version's check.

Mixed into `EtcdRollout` (`hawizard.etcd.rollout`, which orders the phases): these steps read
and write the facts preflight recorded on it (file states, the etcd user, versions) and mark
members for the later restart or rolling-upgrade phases. Per member, every file is one group:
compared with the states preflight read, and the stale ones written through one channel.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hawizard import packages, pki
from hawizard.etcd import render
from hawizard.etcd.binaries import load_binaries
from hawizard.etcd.preflight import MARKER_PATH, Facts, marker_text
from hawizard.etcd.render import ClusterState
from hawizard.firewall import firewall_step
from hawizard.plan import Node, Plan
from hawizard.remote_files import RemoteFile, directory, stale_files, write_files
from hawizard.steps import Step, say

__all__ = ["ETC_DIR", "MemberInstall"]

ETC_DIR = "/etc/etcd"


class MemberInstall:
    """The install steps of `EtcdRollout` (mixed into it; its fields hold the shared state)."""

    def _install_steps(self, m: Node) -> list[Step]:
        steps = []
        if self.plan.etcd_install(m) == "package":
            steps.append(Step(m.name, "install etcd package", self._package_missing, self._package))
        steps.append(self._member_files_step(m))
        steps.append(Step(m.name, "etcd version", self._version_check(m), _nothing))
        # metrics_port (plain HTTP, /health too) only from the node, the scrapers and here
        steps.append(firewall_step(self.plan, m))
        return steps

    def _member_files_step(self, m: Node) -> Step:
        """The `etcd` user and every file the member holds: compared with the states preflight
        read, and written (the user added first) through one channel."""
        stale: list[RemoteFile] = []

        def check(host) -> bool:
            with self._lock:
                states = self.file_states.pop(m.name, None)  # fresh from preflight: use once
            stale[:] = self._not_under_running_etcd(
                m, host, stale_files(host, self._files(m), states)
            )
            return bool(stale) or self._no_user(m, host)

        def apply(host) -> None:
            first = [_useradd(self.plan)] if self._no_user(m, host) else []
            with self._lock:
                self.version_texts.pop(m.name, None)  # binaries may change: read it afresh
            write_files(host, stale, first=first)
            facts = self.facts.get(m.name)
            if facts is not None:
                facts.etcd_user = True
            self._after_files(m, host, list(stale))

        title = "etcd user, binaries, certificates, configuration and unit"
        return Step(m.name, title, check, apply)

    def _not_under_running_etcd(self, m: Node, host, stale: list[RemoteFile]) -> list[RemoteFile]:
        """New binaries are never swapped under a running member: it would go on serving the
        old version until some crash or reboot switched it, in no order anyone chose. Such a
        member is marked instead, and the rolling-upgrade phase stops it, swaps its binaries
        and unit and starts it, one member at a time, the leader last."""
        facts = self.facts.get(m.name)
        if facts is None or not facts.etcd_active or self.plan.etcd_install(m) != "upload":
            return stale
        binaries = {f.path for f in self._binaries(m)}
        if not any(f.path in binaries for f in stale):
            return stale
        with self._lock:
            self.upgrade.add(m.name)
        say(
            host,
            "new etcd binaries for a running member: not swapped under it; the rolling upgrade "
            "phase does it, one member at a time, the leader last",
        )
        held = binaries | {render.UNIT_PATH}
        return [f for f in stale if f.path not in held]

    def _no_user(self, m: Node, host) -> bool:
        facts = self.facts.get(m.name)
        if facts is not None and facts.etcd_user is not None:
            return not facts.etcd_user  # preflight looked already, in its one round trip
        return host.probe(["id", "-u", "etcd"]).exited != 0

    def _package_names(self, host) -> tuple[str, str]:
        manager = self.facts[host.name].package_manager or packages.detect_manager(host)
        names = self.plan.etcd.packages or (
            ("etcd-server", "etcd-client") if manager == "apt-get" else ("etcd",)
        )
        return manager, names

    def _package_missing(self, host) -> bool:
        """Installed packages are never installed again: a re-run runs no package manager."""
        manager, names = self._package_names(host)
        return not packages.is_installed(host, names, manager)

    def _package(self, host) -> None:
        # etcd.service stays masked during the install (and, on Debian, policy-rc.d refuses
        # every start): the package's postinst must never start etcd with its default config,
        # which would create a one-node cluster's data dir before hawizard's config exists.
        _manager, names = self._package_names(host)
        with self._lock:
            self.version_texts.pop(host.name, None)
        packages.install(host, names, quiet_units=("etcd.service",))
        with self._lock:
            # The package made the `etcd` user and may have made dirs: what preflight read
            # about the member is out of date, so the files step looks again.
            self.file_states.pop(host.name, None)
            facts = self.facts.get(host.name)
            if facts is not None:
                facts.etcd_user = None
        # The package's unit stays disabled: hawizard's unit (same name, /etc) replaces it.
        host.run("systemctl disable --quiet etcd.service 2>/dev/null || true")

    def _version_check(self, m: Node) -> Callable:
        """Read the installed etcd's version from the binary itself; warn when the members
        run different minor versions (a mixed plan: package on some, upload on others)."""

        def check(host) -> bool:
            if host.dry_run:
                return False
            binary = render.etcd_binary(self.plan, m)
            with self._lock:
                out = self.version_texts.pop(m.name, None)  # what preflight read, if current
            if out is None:
                out = host.probe([binary, "--version"]).stdout
            match = re.search(r"etcd Version:\s*(\d+)\.(\d+)\.(\d+)", out)
            version = ".".join(match.groups()) if match else "unknown"
            say(host, f"{binary}: etcd {version}")
            with self._lock:
                self.versions[m.name] = version
                minors = {v.rsplit(".", 1)[0] for v in self.versions.values()}
                complete = len(self.versions) == len(self.members)
            if complete and len(minors) > 1:
                listed = ", ".join(f"{n} {v}" for n, v in sorted(self.versions.items()))
                say(
                    host,
                    f"warning: the members run different etcd versions ({listed}); etcd "
                    "supports that only one minor apart, during a rolling upgrade — "
                    "install one version everywhere",
                )
            return False

        return check

    def _files(self, m: Node) -> list[RemoteFile]:
        """Everything a member holds, in install order (a directory before its files)."""
        binaries = self._binaries(m) if self.plan.etcd_install(m) == "upload" else []
        return [*binaries, *self._data_dir(m), *self._certs(m), *self._config(m), *self._unit(m)]

    def _no_restart_paths(self, m: Node) -> set[str]:
        binaries = self._binaries(m) if self.plan.etcd_install(m) == "upload" else []
        return {self.plan.etcd.data_dir, *(f.path for f in binaries)}

    def _binaries(self, m: Node) -> list[RemoteFile]:
        source = self.plan.resolve(self.plan.etcd.binaries)
        return [
            RemoteFile(
                f"{render.UPLOAD_BIN_DIR}/{b.name}",
                b.data,
                0o755,
                gzipped=b.artifact.gzipped,
                sha256=b.sha256,
                remember=True,
            )
            for b in load_binaries(source)
        ]

    def _data_dir(self, m: Node) -> list[RemoteFile]:
        return [directory(self.plan.etcd.data_dir, 0o700, "etcd", "etcd")]

    # --- certificates and configuration ------------------------------------------------------

    def _certs(self, m: Node) -> list[RemoteFile]:
        layout = pki.paths(self.plan)
        files = render.member_files(self.plan, m)
        server, peer = layout.etcd_server(m), layout.etcd_peer(m)
        return [
            directory(self.plan.etcd.cert_dir, 0o700, "etcd", "etcd"),
            RemoteFile(files.ca, pki.trusted_ca_pem(self.plan), 0o644),
            RemoteFile(files.server_cert, server.cert.read_bytes(), 0o644),
            RemoteFile(files.server_key, server.key.read_bytes(), 0o600, "etcd", "etcd"),
            RemoteFile(files.peer_cert, peer.cert.read_bytes(), 0o644),
            RemoteFile(files.peer_key, peer.key.read_bytes(), 0o600, "etcd", "etcd"),
        ]

    def _config(self, m: Node) -> list[RemoteFile]:
        state = self.state.get(m.name, ClusterState.EXISTING)
        text = render.render_config(self.plan, m, state, self.membership)
        return [
            directory(ETC_DIR, 0o755),
            RemoteFile(render.CONFIG_PATH, text.encode(), 0o640, "root", "etcd"),
            RemoteFile(MARKER_PATH, marker_text(self.plan).encode(), 0o644),
        ]

    def _unit(self, m: Node) -> list[RemoteFile]:
        return [RemoteFile(render.UNIT_PATH, render.render_unit(self.plan, m).encode(), 0o644)]

    def _after_files(self, m: Node, host, written: list[RemoteFile]) -> None:
        """A running member changed here is restarted later, one member at a time. A changed
        unit of a service that is enabled already needs a `daemon-reload`; otherwise the
        start step's `enable` reloads."""
        facts = self.facts.get(m.name)
        if any(f.path == render.UNIT_PATH for f in written) and (
            facts is None or facts.etcd_enabled is not False
        ):
            host.run(["systemctl", "daemon-reload"])
        # New binaries and the data dir's mode are no settings: they restart nobody (a running
        # member's new binaries wait for the rolling-upgrade phase, see _not_under_running_etcd).
        settings = [f for f in written if f.path not in self._no_restart_paths(m)]
        if facts is not None and facts.etcd_active and _needs_restart(settings, facts):
            with self._lock:
                self.restart.add(m.name)


def _needs_restart(stale: list[RemoteFile], facts: Facts) -> bool:
    """Whether what changed matters to a running member: the initial-cluster lines and the
    marker only matter at a first start, so membership changes restart nobody."""
    for f in stale:
        if f.path == render.CONFIG_PATH and facts.config is not None:
            if render.settings(facts.config) != render.settings(f.data.decode()):
                return True
        elif f.path not in (MARKER_PATH, ETC_DIR):
            return True
    return False


def _nothing(_target) -> None:
    return None


def _useradd(plan: Plan) -> list[str]:
    return [
        "useradd",
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        plan.etcd.data_dir,
        "--shell",
        "/usr/sbin/nologin",
        "etcd",
    ]
