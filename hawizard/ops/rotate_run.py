"""The phases of a rotation, for the engine: re-issue the leaves locally, then one member at
a time upload, restart (the leader hands over first), wait until every member is healthy and
the member serves exactly the certificate just issued; masters get their apiserver→etcd
client certificate the same way. A CA rotation is three such rolling phases (trust both,
leaves from the new CA, trust the new CA alone).

Every member step decides from the node itself (files, a `rotation-pending` marker, the
served certificate) whether it still has work, so a resumed run never restarts a member that
was done. `ops.rotate.assess` builds a `Rotation`; `ops.rotate` runs it.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.serialization import Encoding

from hawizard import pki
from hawizard.control_plane.render import FILES as CP_FILES
from hawizard.control_plane.rollout import wait_apiserver_ready
from hawizard.etcd import member as etcd_member
from hawizard.etcd import render
from hawizard.etcd.probe import ClientTLS, cluster_health
from hawizard.health import ClusterHealth
from hawizard.ops.rotate_state import RotationState, clear_state, write_state
from hawizard.pki import rotation
from hawizard.pki.inspection import load_certificate
from hawizard.pki.served import served_certificate
from hawizard.pki.specs import CA, CertSpec, leaf_specs
from hawizard.plan import Node, Plan
from hawizard.remote_files import RemoteFile, stale_files, write_files
from hawizard.steps import Phase, Step

__all__ = ["APISERVER_MARKER", "ETCD_MARKER", "HEALTH_TIMEOUT", "Rotation"]

HEALTH_TIMEOUT = 120.0
FAST_PROBE = 0.5
ETCD_MARKER = "/etc/etcd/rotation-pending"
APISERVER_MARKER = "/etc/kubernetes/rotation-pending"


@dataclass
class Rotation:
    """What `assess` decided: run `phases()` on the engine between `begin()` and `finish()`."""

    plan: Plan
    kind: str
    ca: CA | None
    names: list[str]  # leaves to re-issue (leaf rotation)
    members: list[Node]  # in restart order: followers first, the leader last
    masters: list[Node]
    skipped: list[str]
    notes: list[str]
    health: ClusterHealth
    resume: bool = False
    state: RotationState | None = None
    health_timeout: float = HEALTH_TIMEOUT

    @property
    def title(self) -> str:
        if self.kind == "ca":
            return f"rotate the {self.ca} CA on {len(self.members)} members"
        return f"rotate {len(self.names)} certificates on {len(self.members)} members"

    # --- local state ------------------------------------------------------------------------

    def begin(self, *, dry_run: bool = False) -> None:
        """Record the rotation before anything changes (never in a dry run)."""
        if dry_run:
            return
        if self.state is None:
            self.state = RotationState(
                id=uuid.uuid4().hex[:12],
                kind=self.kind,
                ca=self.ca.value if self.ca else None,
                started=datetime.now(UTC).isoformat(timespec="seconds"),
                names=list(self.names),
                skipped=list(self.skipped),
            )
            write_state(self.plan, self.state)
        if self.kind == "ca" and not self.state.new_ca:
            assert self.ca is not None
            old, new = rotation.start_ca_rotation(self.plan, self.ca)
            self.state.old_ca, self.state.new_ca = f"{old:x}", f"{new:x}"
            write_state(self.plan, self.state)

    def finish(self, ok: bool) -> None:
        if ok:
            clear_state(self.plan)

    @property
    def phase(self) -> int:
        return self.state.phase if self.state else 1

    def _set_phase(self, phase: int) -> None:
        assert self.state is not None
        self.state.phase = phase
        write_state(self.plan, self.state)

    # --- phases -----------------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        if self.kind == "ca":
            return self._ca_phases()
        phases = [Phase("re-issue certificates", [self._reissue_step(self.names)])]
        phases += [
            Phase(f"rotate {m.name}", [self._member_step(m, f"rotate/{m.name}", leaves=True)])
            for m in self.members
            if self._member_names(m) & set(self.names)
        ]
        if "etcd/apiserver-etcd-client" in self.names:
            phases += [
                Phase(f"apiserver etcd client: {m.name}", [self._master_step(m, "rotate")])
                for m in self.masters
            ]
        return phases

    def _ca_phases(self) -> list[Phase]:
        phases: list[Phase] = []
        for n, what, local in (
            (1, "trust old and new CA", None),
            (2, "certificates from the new CA", self._promote_step()),
            (3, "trust the new CA only", self._drop_old_step()),
        ):
            if local is not None:
                phases.append(Phase(f"phase {n}: {what} (local)", [local]))
            for m in self.members:
                step = self._member_step(m, f"ca{n}/{m.name}", leaves=n == 2, phase=n)
                phases.append(Phase(f"phase {n}: {what}: {m.name}", [step]))
            for m in self.masters:
                phases.append(
                    Phase(f"phase {n}: {what}: apiserver {m.name}", [self._master_step(m, n)])
                )
        return phases

    # --- local steps ------------------------------------------------------------------------

    def _reissue_step(self, names: list[str]) -> Step:
        specs = {s.name: s for s in leaf_specs(self.plan)}

        def todo() -> list[str]:
            issued = self.state.serials if self.state else {}
            return [n for n in names if issued.get(n) != _serial_hex(specs[n])]

        def check(local) -> bool:
            return bool(todo())

        def apply(local) -> None:
            assert self.state is not None
            by = rotation.issuer(pki.paths(self.plan).etcd_ca)
            for name in todo():
                cert = rotation.reissue(self.plan, specs[name], by)
                self.state.serials[name] = f"{cert.serial_number:x}"
                write_state(self.plan, self.state)
                local.output(f"{name}: new serial {cert.serial_number:x}")

        return Step(None, f"re-issue {len(names)} certificates", check, apply)

    def _promote_step(self) -> Step:
        assert self.ca is not None
        ca = self.ca

        def leaves() -> list[CertSpec]:
            return [s for s in leaf_specs(self.plan) if s.ca is ca]

        def check(local) -> bool:
            if self.phase > 2:
                return False
            if self.state is None:  # dry run
                return True
            current = load_certificate(rotation.ca_files(self.plan, ca).current.cert)
            return f"{current.serial_number:x}" != self.state.new_ca or not all(
                rotation.chains_to_current(self.plan, s) for s in leaves()
            )

        def apply(local) -> None:
            assert self.state is not None
            rotation.promote_next_ca(
                self.plan, ca, int(self.state.old_ca, 16), int(self.state.new_ca, 16)
            )
            files = rotation.ca_files(self.plan, ca)
            local.output(f"old {ca} CA kept as {files.retired(int(self.state.old_ca, 16)).cert}")
            by = rotation.issuer(files.current)
            for spec in leaves():
                if not rotation.chains_to_current(self.plan, spec):
                    cert = rotation.reissue(self.plan, spec, by)
                    self.state.serials[spec.name] = f"{cert.serial_number:x}"
                    local.output(f"{spec.name}: new serial {cert.serial_number:x}")
            self._set_phase(2)

        return Step(None, f"the new {ca} CA replaces the old one locally", check, apply)

    def _drop_old_step(self) -> Step:
        assert self.ca is not None
        ca = self.ca

        def check(local) -> bool:
            return self.phase < 3

        def apply(local) -> None:
            rotation.stop_trusting_old_ca(self.plan, ca)
            self._set_phase(3)

        return Step(None, f"stop trusting the old {ca} CA locally", check, apply)

    # --- one member -------------------------------------------------------------------------

    def _member_names(self, m: Node) -> set[str]:
        return {f"etcd/server-{m.name}", f"etcd/peer-{m.name}"}

    def _member_files(self, m: Node, leaves: bool) -> list[RemoteFile]:
        layout = pki.paths(self.plan)
        files = render.member_files(self.plan, m)
        out = [RemoteFile(files.ca, _trusted(self.plan), 0o644)]
        if leaves:
            server, peer = layout.etcd_server(m), layout.etcd_peer(m)
            out += [
                RemoteFile(files.server_cert, server.cert.read_bytes(), 0o644),
                RemoteFile(files.server_key, server.key.read_bytes(), 0o600, "etcd", "etcd"),
                RemoteFile(files.peer_cert, peer.cert.read_bytes(), 0o644),
                RemoteFile(files.peer_key, peer.key.read_bytes(), 0o600, "etcd", "etcd"),
            ]
        return out

    def _serves_local(self, m: Node) -> bool:
        """Both listeners of `m` present the certificates of the local PKI, byte for byte."""
        layout = pki.paths(self.plan)
        admin = layout.etcd_admin
        for port, pair in (
            (self.plan.etcd.client_port, layout.etcd_server(m)),
            (self.plan.etcd.peer_port, layout.etcd_peer(m)),
        ):
            try:
                served = served_certificate(
                    m.address, port, client_cert=admin.cert, client_key=admin.key
                )
                local = load_certificate(pair.cert)
            except (OSError, ValueError):
                return False
            if served.public_bytes(Encoding.DER) != local.public_bytes(Encoding.DER):
                return False
        return True

    def _member_step(self, m: Node, key: str, *, leaves: bool, phase: int = 0) -> Step:
        stale: list[RemoteFile] = []

        def check(host) -> bool:
            if phase and self.phase != phase and self.state is not None:
                return False  # another phase of the rotation (a resumed run)
            if host.dry_run and self.state is None:
                return True  # nothing re-issued yet: everything would change
            stale[:] = stale_files(host, self._member_files(m, leaves))
            if stale or host.exists(ETCD_MARKER):
                return True
            return leaves and not self._serves_local(m)

        def apply(host) -> None:
            if host.dry_run:
                etcd_member.restart(host)
                return
            host.put(b"", ETCD_MARKER, mode=0o644)
            write_files(host, stale)
            self._hand_over_leadership(m, host)
            etcd_member.restart(host, timeout=self.health_timeout)
            self._wait_healthy()
            if leaves and not self._serves_local(m):
                raise RuntimeError(
                    f"{m.name} restarted but does not serve the new certificates "
                    f"(check {render.member_files(self.plan, m).server_cert} on {m.name})"
                )
            host.run(["rm", "-f", ETCD_MARKER])
            if host.on_output is not None:
                serial = load_certificate(pki.paths(self.plan).etcd_server(m).cert).serial_number
                host.on_output(f"cluster healthy; {m.name} serves serial {serial:x}")

        title = "new certificates, restart" if leaves else "new trust, restart"
        return Step(m.name, title, check, apply, key=key)

    def _hand_over_leadership(self, m: Node, host) -> None:
        """The leader passes leadership to a healthy follower first, so its restart costs the
        clients no election (best effort: a failed transfer only means a short election)."""
        try:
            target = etcd_member.hand_over_leadership(
                self.plan, m, avoid=self.skipped, tls=self._tls()
            )
            if target is not None and host.on_output is not None:
                host.on_output(f"leadership handed to {target}")
        except Exception as exc:  # best effort, see docstring
            if host.on_output is not None:
                host.on_output(f"leadership not handed over ({exc}); restarting anyway")

    # --- one master -------------------------------------------------------------------------

    def _master_files(self) -> list[RemoteFile]:
        pair = pki.paths(self.plan).apiserver_etcd_client
        return [
            RemoteFile(CP_FILES.etcd_ca_cert, _trusted(self.plan), 0o644),
            RemoteFile(CP_FILES.etcd_client_cert, pair.cert.read_bytes(), 0o644),
            RemoteFile(CP_FILES.etcd_client_key, pair.key.read_bytes(), 0o600),
        ]

    def _master_step(self, m: Node, phase: int | str) -> Step:
        """Only on masters the control plane was rolled out to (its etcd pki dir exists);
        kube-apiserver is restarted only when it runs, and then waited for."""
        stale: list[RemoteFile] = []
        n = phase if isinstance(phase, int) else 0

        def check(host) -> bool:
            if n and self.phase != n and self.state is not None:
                return False
            if not host.exists(CP_FILES.etcd_pki_dir):
                return False
            if host.dry_run and self.state is None:
                return True
            stale[:] = stale_files(host, self._master_files())
            return bool(stale) or host.exists(APISERVER_MARKER)

        def apply(host) -> None:
            if host.dry_run:
                host.run(["systemctl", "try-restart", "kube-apiserver"])
                return
            host.put(b"", APISERVER_MARKER, mode=0o644)
            write_files(host, stale)
            active = host.probe(["systemctl", "is-active", "kube-apiserver"]).exited == 0
            if active:
                host.run(["systemctl", "restart", "kube-apiserver"], timeout=120)
                wait_apiserver_ready(self.plan, m, self.health_timeout)
            host.run(["rm", "-f", APISERVER_MARKER])

        return Step(m.name, "apiserver etcd client", check, apply, key=f"api{phase}/{m.name}")

    # --- health -----------------------------------------------------------------------------

    def _tls(self) -> ClientTLS:
        return ClientTLS.for_plan(self.plan)

    def _wait_healthy(self) -> ClusterHealth:
        """Every member but the skipped ones healthy, one leader; mostly short probe rounds
        (a starting member holds the TLS handshake until it is ready)."""
        deadline = time.monotonic() + self.health_timeout
        full = self.plan.etcd.probe_timeout
        for round_no in itertools.count():
            timeout = full if round_no % 4 == 3 else min(FAST_PROBE, full)
            health = cluster_health(self.plan, timeout, tls=self._tls())
            if _healthy_but(health, self.skipped):
                return health
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"etcd is not healthy after {self.health_timeout:g}s ({health.summary}): "
                    + "; ".join(list(health.problems)[:4])
                )
            time.sleep(0.25)
        raise AssertionError("unreachable")  # pragma: no cover


def _healthy_but(health: ClusterHealth, skipped: list[str]) -> bool:
    if not skipped:
        return health.converged
    rows = [m for m in health.members if m.in_plan and m.name not in skipped]
    return (
        bool(rows)
        and all(m.reachable and m.healthy and m.in_cluster for m in rows)
        and bool(health.leader_id)
        and not health.leader_disagreement
    )


def _trusted(plan: Plan) -> bytes:
    try:
        return pki.trusted_ca_pem(plan)
    except OSError:
        return b""  # a dry run before the new CA exists


def _serial_hex(spec: CertSpec) -> str:
    try:
        return f"{load_certificate(spec.paths.cert).serial_number:x}"
    except (OSError, ValueError):
        return ""
