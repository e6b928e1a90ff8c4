"""Certificate rotation on a live 3-member lab cluster, judged by tools hawizard did not write.

One cluster (n1–n3) lives through the module, in order: refusals (nothing changes), a leaf
rotation of every member, a leaf rotation interrupted after the second member and resumed,
and an etcd CA rotation interrupted in phase 2 and resumed. During every rotation a client
(`hawizard.lab.kv_loop.KvLoop`: a new TLS connection per request, put + get every 100 ms,
retrying on the next endpoint) must see 0 failed requests and read back every value it wrote.
What members serve is read with `openssl s_client`, the membership and health with the venv's
`etcdctl`. The failure injected "after the second member" is an exception in a step inserted
into the phase list, the way the day-2 tests stop a change.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fixtures.etcdctl import etcdctl

from hawizard import pki
from hawizard.cli import main
from hawizard.control_plane.render import FILES as CP_FILES
from hawizard.etcd import render
from hawizard.etcd.probe import wait_healthy
from hawizard.etcd.rollout import etcd_phases
from hawizard.journal import Journal
from hawizard.lab.kv_loop import KvLoop, Trust
from hawizard.ops.rotate import assess, rotate, state_path
from hawizard.pki import load_certificate
from hawizard.pki.rotation import ca_files
from hawizard.plan import Plan, dump, load
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Phase, Runner, Step

pytestmark = pytest.mark.lab


@dataclass
class Cluster:
    lab: object
    path: Path
    folder: Path
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def plan(self) -> Plan:
        return load(self.path)


@pytest.fixture(scope="module")
def c(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rotate")
    (folder / "pki").mkdir(mode=0o700)
    path = folder / "plan.toml"
    dump(lab.plan(nodes=3, pki_dir=folder / "pki"), path)
    names = [n.name for n in lab.nodes[:3]]
    try:
        plan = load(path)
        pki.create(plan)
        result = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(etcd_phases(plan))
        assert result.ok, result.failures
        for name in names:  # masters with a control plane rolled out: their etcd pki dir
            lab.exec(name, ["install", "-d", "-m", "0700", CP_FILES.etcd_pki_dir])
        cluster = Cluster(lab, path, folder)
        out = etcdctl(plan, "put", "/rotate/before", "kept")
        assert out.returncode == 0, out.stderr
        cluster.keys["/rotate/before"] = "kept"
        yield cluster
    finally:
        lab.reset(*names)


# --- helpers ----------------------------------------------------------------------------------


def copy_trust(c: Cluster, name: str, ca: Path) -> Trust:
    """A client identity of its own (copies): the rotation rewrites the PKI's files under it."""
    layout = pki.paths(c.plan)
    d = c.folder / "client" / name
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    for src, dst in ((ca, "ca.pem"), (layout.etcd_admin.cert, "c.pem")):
        shutil.copyfile(src, d / dst)
    shutil.copyfile(layout.etcd_admin.key, d / "k.pem")
    (d / "k.pem").chmod(0o600)
    return Trust(d / "ca.pem", d / "c.pem", d / "k.pem")


def client(c: Cluster, trust: Trust) -> KvLoop:
    plan = c.plan
    return KvLoop([(n.address, plan.etcd.client_port) for n in plan.etcd_nodes], trust)


def served_serial(c: Cluster, node, port: int) -> int:
    """`openssl s_client` against a member's listener: the serial of what it serves."""
    admin = pki.paths(c.plan).etcd_admin
    hello = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{node.address}:{port}",
            "-cert",
            str(admin.cert),
            "-key",
            str(admin.key),
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
    )
    x509 = subprocess.run(
        ["openssl", "x509", "-noout", "-serial"],
        input=hello.stdout,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert x509.returncode == 0, hello.stderr[-500:]
    return int(x509.stdout.strip().split("=", 1)[1], 16)


def local_serials(plan: Plan) -> dict[tuple[str, int], int]:
    layout = pki.paths(plan)
    out = {}
    for n in plan.etcd_nodes:
        out[(n.name, plan.etcd.client_port)] = load_certificate(
            layout.etcd_server(n).cert
        ).serial_number
        out[(n.name, plan.etcd.peer_port)] = load_certificate(
            layout.etcd_peer(n).cert
        ).serial_number
    return out


def served_serials(c: Cluster) -> dict[tuple[str, int], int]:
    plan = c.plan
    return {
        (n.name, port): served_serial(c, n, port)
        for n in plan.etcd_nodes
        for port in (plan.etcd.client_port, plan.etcd.peer_port)
    }


def assert_consistent(c: Cluster) -> None:
    plan = c.plan
    health = etcdctl(plan, "endpoint", "health")
    assert (health.stdout + health.stderr).count("is healthy") == 3, health.stderr
    for key, value in c.keys.items():
        got = etcdctl(plan, "get", key, "--print-value-only")
        assert got.stdout.strip() == value, (key, got.stderr)
    assert served_serials(c) == local_serials(plan)
    assert not state_path(c.path).exists()
    for n in plan.etcd_nodes:
        marker = c.lab.exec(n.name, ["test", "-e", "/etc/etcd/rotation-pending"], check=False)
        assert marker.returncode != 0, n.name
    # every master holds the current apiserver->etcd client certificate and etcd CA
    layout = pki.paths(plan)
    for n in plan.control_plane_nodes:
        for remote, local in (
            (CP_FILES.etcd_client_cert, layout.apiserver_etcd_client.cert),
            (CP_FILES.etcd_client_key, layout.apiserver_etcd_client.key),
            (CP_FILES.etcd_ca_cert, layout.etcd_ca.cert),
        ):
            assert c.lab.exec(n.name, ["cat", remote]).stdout == local.read_text(), (n, remote)


def assert_client_clean(loop: KvLoop) -> None:
    assert loop.ok > 10, (loop.ok, loop.errors)
    assert loop.failed == 0, loop.errors
    assert loop.missing() == []


def main_pid(c: Cluster, node: str) -> str:
    argv = ["systemctl", "show", "-p", "MainPID", "--value", "etcd"]
    return c.lab.exec(node, argv).stdout.strip()


def run_phases(plan: Plan, phases: list[Phase], listener=None):
    return Runner(HostPool(plan), journal=Journal.for_plan(plan), listener=listener).run(phases)


def fail_after(phases: list[Phase], title: str) -> list[Phase]:
    def boom(_local) -> None:
        raise RuntimeError("injected failure")

    at = [p.title for p in phases].index(title) + 1
    return [*phases[:at], Phase("injected", [Step(None, "fail", None, boom)]), *phases[at:]]


# --- refusals: nothing changes --------------------------------------------------------------


def test_unknown_ca_is_refused(c, capsys):
    before = local_serials(c.plan)
    capsys.readouterr()
    code = main(["certs", "rotate", str(c.path), "--ca", "intermediate", "--yes", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["refused"], out
    assert "unknown CA 'intermediate'" in out["reason"] and "--ca etcd" in out["hint"]
    assert local_serials(c.plan) == before and not state_path(c.path).exists()


def test_member_down_refuses_ca_and_narrows_leaf_rotation(c, capsys):
    plan = c.plan
    n3 = plan.etcd_nodes[2].name
    before = local_serials(plan)
    ca_before = ca_files(plan, pki.CA.ETCD).current.cert.read_bytes()
    c.lab.exec(n3, ["systemctl", "stop", "etcd"])
    try:
        capsys.readouterr()
        code = main(["certs", "rotate", str(c.path), "--ca", "etcd", "--yes", "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 2 and out["refused"], out
        assert "degraded" in out["reason"] and n3 in out["reason"]
        assert not ca_files(plan, pki.CA.ETCD).next.cert.exists()
        assert ca_files(plan, pki.CA.ETCD).current.cert.read_bytes() == ca_before

        rot = assess(plan, all_leaves=True)
        assert rot.skipped == [n3]
        assert n3 not in [m.name for m in rot.members]
        assert not any(name.endswith(n3) for name in rot.names)
        assert any(n3 in note and "not rotated" in note for note in rot.notes)
        assert local_serials(plan) == before and not state_path(c.path).exists()
    finally:
        c.lab.exec(n3, ["systemctl", "start", "etcd"])
        wait_healthy(plan, timeout=60)


def test_dry_run_records_the_restarts_and_changes_nothing(c, capsys):
    plan = c.plan
    before = local_serials(plan)
    pids = {n.name: main_pid(c, n.name) for n in plan.etcd_nodes}
    capsys.readouterr()
    code = main(["certs", "rotate", str(c.path), "--ca", "etcd", "--dry-run", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["dry_run"], out
    recorded = out["result"]["recorded"]
    for n in plan.etcd_nodes:  # three rolling restarts per member, none performed
        assert sum("systemctl restart etcd" in r for r in recorded[n.name]) == 3
    assert {n.name: main_pid(c, n.name) for n in plan.etcd_nodes} == pids
    assert local_serials(plan) == before and not state_path(c.path).exists()
    assert not ca_files(plan, pki.CA.ETCD).next.cert.exists()


# --- leaf rotation ------------------------------------------------------------------------------


def test_leaf_rotation_keeps_every_request_served(c, capsys):
    plan = c.plan
    old = served_serials(c)
    assert old == local_serials(plan)
    with client(c, copy_trust(c, "leaf", pki.paths(plan).etcd_ca.cert)) as loop:
        capsys.readouterr()
        code = main(["certs", "rotate", str(c.path), "--all", "--yes", "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 0, out
    assert_client_clean(loop)
    assert out["kind"] == "leaf" and out["skipped"] == []
    new = served_serials(c)
    assert new == local_serials(c.plan)
    assert not set(new.values()) & set(old.values())  # no member serves an old serial
    assert_consistent(c)

    # converged: the same rotation without --all finds nothing due
    capsys.readouterr()
    code = main(["certs", "rotate", str(c.path), "--yes", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["rotated"] == [] and out["result"] is None


def test_interrupted_leaf_rotation_resumes(c, capsys):
    plan = c.plan
    old = served_serials(c)
    rot = assess(plan, all_leaves=True)
    order = [m.name for m in rot.members]
    with client(c, copy_trust(c, "leaf2", pki.paths(plan).etcd_ca.cert)) as loop:
        rot.begin()
        result = run_phases(plan, fail_after(rot.phases(), f"rotate {order[1]}"))
        assert not result.ok and state_path(c.path).exists()
        now = served_serials(c)
        for name in order[:2]:
            assert now[(name, plan.etcd.client_port)] != old[(name, plan.etcd.client_port)]
        assert now[(order[2], plan.etcd.client_port)] == old[(order[2], plan.etcd.client_port)]
        pids = {n: main_pid(c, n) for n in order[:2]}

        # a CA rotation is refused while this one is unfinished
        capsys.readouterr()
        code = main(["certs", "rotate", str(c.path), "--ca", "etcd", "--yes", "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 2 and "has not finished" in out["reason"], out

        code = main(["certs", "rotate", str(c.path), "--yes", "--json"])  # no --all: resumes
        out = json.loads(capsys.readouterr().out)
        assert code == 0, out
    assert_client_clean(loop)
    assert {n: main_pid(c, n) for n in order[:2]} == pids  # done members not restarted again
    assert not set(served_serials(c).values()) & set(old.values())
    assert_consistent(c)


# --- CA rotation --------------------------------------------------------------------------------


def test_interrupted_ca_rotation_resumes_and_ends_on_the_new_ca(c):
    plan = c.plan
    files = ca_files(plan, pki.CA.ETCD)
    old_ca = load_certificate(files.current.cert)
    old_only = copy_trust(c, "old-only", files.current.cert)
    order: list[str] = []
    members = {n.name: n for n in plan.etcd_nodes}
    seen_ca_files: list[set[bytes]] = []

    with client(c, old_only) as loop:
        switched: set[str] = set()

        def follow(event) -> None:
            """The operator's client follows the phases: the bundle from phase 1 on, its new
            certificate once the new CA signs them (phase 3 starts, the bundle still there)."""
            which = event.step[:7]
            phase_event = event.kind is EventKind.PHASE and which in ("phase 1", "phase 3")
            if phase_event and which not in switched and files.trust.exists():
                switched.add(which)
                loop.use(copy_trust(c, which.replace(" ", "-"), files.trust))
            if event.kind is EventKind.PHASE:  # no member ever trusts neither CA
                seen_ca_files.append(member_ca_files(c, members))

        def interrupted(p, phases):
            title = f"phase 2: certificates from the new CA: {order[1]}"
            return run_phases(p, fail_after(phases, title), follow)

        rot = assess(plan, ca="etcd")
        order[:] = [m.name for m in rot.members]
        _, result = rotate(plan, interrupted, ca="etcd")
        assert result is not None and not result.ok
        state = json.loads(state_path(c.path).read_text())
        assert state["kind"] == "ca" and state["phase"] == 2
        # the old CA is kept, renamed; the new one signs
        retired = files.retired(old_ca.serial_number)
        assert retired.cert.exists() and retired.key.exists()
        assert (retired.key.stat().st_mode & 0o777) == 0o600
        new_ca = load_certificate(files.current.cert)
        assert new_ca.serial_number != old_ca.serial_number

        _, result = rotate(c.plan, lambda p, phases: run_phases(p, phases, follow), ca="etcd")
        assert result is not None and result.ok, result.failures
        loop.use(copy_trust(c, "new-only", files.current.cert))
        loop.request("/v3/kv/put", {"key": "L3JvdGF0ZS9uZXc=", "value": "bmV3"})
    assert_client_clean(loop)
    assert not files.trust.exists() and not files.next.cert.exists()
    bundle = {old_ca.public_bytes(pki_encoding()), new_ca.public_bytes(pki_encoding())}
    for snapshot in seen_ca_files:
        for content in snapshot:  # every member's ca.pem held the old CA, the new, or both
            assert content and any(ca in content for ca in bundle)
    for n in c.plan.etcd_nodes:
        text = c.lab.exec(n.name, ["cat", render.member_files(c.plan, n).ca]).stdout.encode()
        assert text == new_ca.public_bytes(pki_encoding())
    assert_consistent(c)
    new_only = copy_trust(c, "new-only", files.current.cert)
    for n in c.plan.etcd_nodes:
        assert handshake(n, c.plan, new_only) == "ok"
        assert handshake(n, c.plan, old_only).startswith("refused")  # it distrusts them
        old_client = Trust(new_only.ca, old_only.cert, old_only.key)
        assert handshake(n, c.plan, old_client).startswith("refused")  # they distrust it


def pki_encoding():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


def member_ca_files(c: Cluster, members: dict) -> set[bytes]:
    plan = c.plan
    return {
        c.lab.exec(name, ["cat", render.member_files(plan, n).ca]).stdout.encode()
        for name, n in members.items()
    }


def handshake(node, plan: Plan, trust: Trust) -> str:
    """One request with this trust: "ok", or "refused: why"."""
    loop = KvLoop([(node.address, plan.etcd.client_port)], trust, request_deadline=2.0)
    try:
        loop.request("/v3/kv/range", {"key": "L3JvdGF0ZS9iZWZvcmU="})
    except RuntimeError as exc:
        return f"refused: {exc}"
    except ssl.SSLError as exc:  # pragma: no cover - request() wraps these
        return f"refused: {exc}"
    return "ok"
