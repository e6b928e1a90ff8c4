"""`hawizard certs rotate`: new certificates onto a running etcd cluster, one member at a time.

**Leaf rotation** (default): the etcd leaves that are expiring, expired or no longer match
the plan (or all of them with `all_leaves`) are re-issued locally — same subject and SANs,
new keys — then rolled out one member at a time: upload, restart, wait until every member
is healthy again *and* the member serves exactly the certificate just issued (client and
peer port), then the next. Followers go first; the leader hands its leadership to a
follower before its own restart. Masters get a new apiserver→etcd client certificate one at
a time the same way. A member that is down is skipped with a note (its certificates are left
as they are); without quorum nothing starts.

**CA rotation** (`ca="etcd"`), refused unless every member is healthy; three phases, each a
rolling restart with health waits (see `hawizard.pki.rotation` for the local files):
1. every member and master trusts the bundle old + new CA;
2. the new CA takes the old one's place locally (the old pair is kept, renamed), every etcd
   leaf is re-issued from it and rolled;
3. everyone trusts the new CA alone.
No member ever trusts neither CA: the bundle is in place on all of them before any of them
serves a certificate from the new CA, and the bundle is only dropped once all of them do.

Resumable: the rotation in flight is recorded in `<plan stem>.rotate.json` (its kind, phase
and the serials it issued) before anything changes; running the same command again continues
it, and a different rotation is refused until it finishes. Every member step decides from
the node itself (files, a `rotation-pending` marker written before the upload and removed
after the health wait, the served certificate) whether it still has work, so a member that
was done is never restarted again. The caller holds the plan lock (`rotate` does).
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from hawizard import pki, sidecars
from hawizard.control_plane.render import FILES as CP_FILES
from hawizard.control_plane.rollout import wait_apiserver_ready
from hawizard.etcd import member as etcd_member
from hawizard.etcd import render
from hawizard.etcd.probe import ClientTLS, cluster_health
from hawizard.health import ClusterHealth
from hawizard.ops.refusal import Refused
from hawizard.pki import rotation
from hawizard.pki.inspection import Status, ca_certificate, inspect_cert, load_certificate
from hawizard.pki.served import served_certificate
from hawizard.pki.specs import CA, CertSpec, leaf_specs
from hawizard.plan import Node, Plan
from hawizard.remote_files import RemoteFile, stale_files, write_files
from hawizard.steps import Phase, RunResult, Step

__all__ = [
    "CA_CHOICES",
    "Rotation",
    "RotationState",
    "assess",
    "check_ca",
    "command_for",
    "rotate",
    "state_path",
]

CA_CHOICES = ("etcd", "kubernetes")
HEALTH_TIMEOUT = 120.0
FAST_PROBE = 0.5
ETCD_MARKER = "/etc/etcd/rotation-pending"
APISERVER_MARKER = "/etc/kubernetes/rotation-pending"
_NEEDS_ROTATION = (Status.EXPIRING, Status.EXPIRED, Status.MISMATCH, Status.UNTRUSTED)


# --- the rotation in flight -------------------------------------------------------------------


@dataclass
class RotationState:
    """`<plan stem>.rotate.json`: written before the first change, removed after the last."""

    id: str
    kind: str  # "leaf" | "ca"
    ca: str | None
    started: str
    names: list[str]  # PKI names of the leaves re-issued (leaf rotation)
    phase: int = 1  # CA rotation: 1 trust both, 2 new leaves, 3 trust the new CA
    serials: dict[str, str] = field(default_factory=dict)  # PKI name -> hex serial issued
    old_ca: str = ""
    new_ca: str = ""
    skipped: list[str] = field(default_factory=list)


def state_path(plan_path: Path) -> Path:
    return sidecars.record_path(plan_path, "rotate")


def read_state(plan: Plan) -> RotationState | None:
    if plan.source is None:
        return None
    path = state_path(plan.source)
    try:
        data = sidecars.read_record(plan.source, "rotate")
        return None if data is None else RotationState(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise Refused(
            f"{path}: unreadable record of an unfinished rotation ({exc})",
            "check `hawizard certs check` and `hawizard status`; remove the file only when "
            "no rotation is in flight",
        ) from None


def _write_state(plan: Plan, state: RotationState) -> None:
    assert plan.source is not None
    sidecars.write_record(plan.source, "rotate", asdict(state))


def command_for(plan_label: str, ca: str | None, all_leaves: bool = False) -> str:
    tail = f" --ca {ca}" if ca else (" --all" if all_leaves else "")
    return f"hawizard certs rotate {plan_label}{tail}"


# --- judging the request ----------------------------------------------------------------------


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
            _write_state(self.plan, self.state)
        if self.kind == "ca" and not self.state.new_ca:
            assert self.ca is not None
            old, new = rotation.start_ca_rotation(self.plan, self.ca)
            self.state.old_ca, self.state.new_ca = f"{old:x}", f"{new:x}"
            _write_state(self.plan, self.state)

    def finish(self, ok: bool) -> None:
        if ok and self.plan.source is not None:
            sidecars.clear_record(self.plan.source, "rotate")

    @property
    def phase(self) -> int:
        return self.state.phase if self.state else 1

    def _set_phase(self, phase: int) -> None:
        assert self.state is not None
        self.state.phase = phase
        _write_state(self.plan, self.state)

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
                _write_state(self.plan, self.state)
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


# --- assess -----------------------------------------------------------------------------------


def check_ca(ca: str | None) -> None:
    """Refuse a `--ca` value that names no CA (before anything is probed or locked)."""
    if ca is not None and ca not in CA_CHOICES:
        raise Refused(
            f"unknown CA {ca!r}: hawizard rotates the 'etcd' or the 'kubernetes' CA",
            "use --ca etcd or --ca kubernetes, or no --ca for the leaf certificates",
        )


def assess(
    plan: Plan, *, ca: str | None = None, all_leaves: bool = False, now: datetime | None = None
) -> Rotation:
    """Judge the request against the PKI and a probe round; raise `Refused` when it must not
    go ahead (nothing has changed then)."""
    label = str(plan.source) if plan.source else "PLAN"
    check_ca(ca)
    if ca == "kubernetes":
        raise Refused(
            "rotating the Kubernetes CA is not supported yet (kubeconfigs, the apiserver "
            "serving certificate and kubelets would all need the three phases)",
            f"rotate the etcd CA with `{command_for(label, 'etcd')}`; Kubernetes leaves are "
            "renewed with `hawizard certs create --renew` and `hawizard apply`",
        )
    if plan.source is None:
        raise Refused("the plan has no file", "a rotation records its progress beside the plan")
    kind = "ca" if ca else "leaf"
    state = read_state(plan)
    if state is not None and (state.kind != kind or state.ca != ca):
        raise Refused(
            f"a {'CA' if state.kind == 'ca' else 'leaf'} rotation started {state.started} "
            "has not finished",
            f"run `{command_for(label, state.ca, state.kind == 'leaf')}` to finish it first",
        )
    try:
        health = cluster_health(plan)
    except OSError as exc:
        raise Refused(
            f"cannot use the operator's etcd client certificate ({exc})",
            f"hawizard certs check {label}",
        ) from None
    down = [m.name for m in health.members if m.in_plan and not (m.reachable and m.healthy)]
    if not health.quorum_ok:
        raise Refused(
            f"etcd has lost its quorum ({health.summary}): nothing can be rotated",
            f"hawizard status {label}",
        )
    if kind == "ca" and (down or not health.converged):
        why = f"{', '.join(down)} down" if down else "; ".join(list(health.problems)[:3])
        raise Refused(
            f"the cluster is degraded ({health.summary}; {why}): a CA rotation restarts every "
            "member three times and needs all of them",
            f"bring the cluster back first (`hawizard status {label}`), then run it again",
        )
    notes: list[str] = []
    skipped = list(state.skipped) if state else []
    for name in down:
        if name not in skipped:
            skipped.append(name)
    for name in skipped:
        notes.append(
            f"{name} is down: its certificates are not rotated now; run "
            f"`{command_for(label, None, True)}` again once it is back"
        )
    members = [n for n in plan.etcd_nodes if n.name not in skipped]
    leader = next((m.name for m in health.members if m.is_leader), "")
    members.sort(key=lambda n: n.name == leader)  # the leader last
    if kind == "ca":
        names: list[str] = []
    elif state is not None:
        names = list(state.names)
    else:
        names = _leaves_to_rotate(plan, skipped, all_leaves, now)
        if not names:
            notes.append("no etcd certificate is expiring or mismatched: nothing to rotate")
    return Rotation(
        plan,
        kind,
        CA(ca) if ca else None,
        names,
        members,
        [n for n in plan.control_plane_nodes if n.name not in skipped],
        skipped,
        notes,
        health,
        resume=state is not None,
        state=state,
    )


def _leaves_to_rotate(
    plan: Plan, skipped: list[str], all_leaves: bool, now: datetime | None
) -> list[str]:
    now = now or datetime.now(UTC)
    ca_cert = ca_certificate(pki.ca_specs(plan)[CA.ETCD])
    untouched = {f"etcd/{kind}-{name}" for name in skipped for kind in ("server", "peer")}
    names = []
    for spec in leaf_specs(plan):
        if spec.ca is not CA.ETCD or spec.name in untouched:
            continue
        report = inspect_cert(spec, ca_cert, plan.pki.key.value, now, plan.pki.cert_days)
        if all_leaves or report.status in _NEEDS_ROTATION:
            names.append(spec.name)
    return names


# --- the whole use case -------------------------------------------------------------------------


def rotate(
    plan: Plan,
    run: Callable[[Plan, list[Phase]], RunResult],
    *,
    ca: str | None = None,
    all_leaves: bool = False,
    dry_run: bool = False,
    confirm: Callable[[Rotation], bool] | None = None,
    command: str = "",
) -> tuple[Rotation, RunResult | None]:
    """Lock the plan, assess, (confirm,) record, run the phases, clear the record when done.

    `run(plan, phases)` runs phases on the engine (the face decides how progress is shown).
    Returns the rotation and the run's result (None when there was nothing to do or the
    operator said no). Raises `Refused` (also for a plan held by another command, and while
    another operation is in flight: `ops.operation.drive`).
    """
    from hawizard.ops.operation import drive

    command = command or command_for(str(plan.source), ca, all_leaves)
    op = RotateOperation(command, ca, all_leaves)
    ask = None if confirm is None else (lambda o: confirm(o.rotation))
    driven = drive(op, plan, lambda p, ph: run(p, list(ph)), dry_run=dry_run, confirm=ask)
    assert op.rotation is not None
    return op.rotation, driven.result


@dataclass
class RotateOperation:
    """A rotation as an Operation: judged (and resumed from `.rotate.json`) under the lock."""

    command: str
    ca: str | None = None
    all_leaves: bool = False
    title: str = "certificate rotation"
    record: str | None = "rotate"
    rotation: Rotation | None = None

    def assess(self, plan: Plan) -> bool:
        self.rotation = assess(plan, ca=self.ca, all_leaves=self.all_leaves)
        return not (self.rotation.kind == "leaf" and not self.rotation.names)

    def begin(self, dry_run: bool) -> None:
        assert self.rotation is not None
        self.rotation.begin(dry_run=dry_run)

    def phases(self) -> list[Phase]:
        assert self.rotation is not None
        return self.rotation.phases()

    def finish(self, ok: bool) -> None:
        assert self.rotation is not None
        self.rotation.finish(ok)
