"""The control-plane rollout against real lab nodes (systemd as PID 1, sshd, haproxy).

The lab's plan stages the control plane (`install = "none"`, `start = false`): no Kubernetes
binary exists here, so what is checked is everything around them — files and modes on every
master, units parsed by the node's own systemd, haproxy running on the first node with every
master as a backend, a reload that keeps an open connection, the apiserver probe reporting
"not running", and a second apply that changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shlex
import socket
import ssl
import subprocess
import time

import pytest

from hawizard import pki
from hawizard.control_plane.probe import ApiserverState, probe_apiservers
from hawizard.lab import Lab
from hawizard.ops.phases import control_plane_phases
from hawizard.plan import Plan
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Runner

pytestmark = pytest.mark.lab

# (path, mode, is_dir): written here independently of the code under test.
EXPECTED = [
    ("/etc/kubernetes", "755", True),
    ("/etc/kubernetes/pki", "700", True),
    ("/etc/kubernetes/pki/etcd", "700", True),
    ("/var/log/kubernetes", "700", True),
    ("/etc/kubernetes/pki/ca.pem", "644", False),
    ("/etc/kubernetes/pki/ca-key.pem", "600", False),
    ("/etc/kubernetes/pki/apiserver.pem", "644", False),
    ("/etc/kubernetes/pki/apiserver-key.pem", "600", False),
    ("/etc/kubernetes/pki/sa.key", "600", False),
    ("/etc/kubernetes/pki/sa.pub", "644", False),
    ("/etc/kubernetes/pki/etcd/ca.pem", "644", False),
    ("/etc/kubernetes/pki/etcd/apiserver-etcd-client.pem", "644", False),
    ("/etc/kubernetes/pki/etcd/apiserver-etcd-client-key.pem", "600", False),
    ("/etc/kubernetes/encryption-config.yaml", "600", False),
    ("/etc/kubernetes/audit-policy.yaml", "644", False),
    ("/etc/kubernetes/controller-manager.kubeconfig", "600", False),
    ("/etc/kubernetes/scheduler.kubeconfig", "600", False),
    ("/etc/kubernetes/admin.kubeconfig", "600", False),
    ("/etc/systemd/system/kube-apiserver.service", "644", False),
    ("/etc/systemd/system/kube-controller-manager.service", "644", False),
    ("/etc/systemd/system/kube-scheduler.service", "644", False),
]
SERVICES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def run(plan: Plan, *, dry_run: bool = False, phases=None):
    events = []
    pool = HostPool(plan, dry_run=dry_run)
    result = Runner(pool, parallel=10, listener=events.append).run(
        phases if phases is not None else control_plane_phases(plan)
    )
    return result, events


def sh(lab: Lab, node: str, script: str, timeout: float = 60) -> str:
    return lab.exec(node, ["sh", "-c", script], timeout=timeout).stdout


@pytest.fixture(scope="module")
def staged(lab: Lab, tmp_path_factory):
    """One rollout of a 3-master lab plan; the masters get fresh disks afterwards."""
    pki_dir = tmp_path_factory.mktemp("cp-lab-pki")
    pki_dir.chmod(0o700)
    plan = lab.plan(nodes=3, pki_dir=pki_dir)
    assert not any(o.is_failure for o in pki.create(plan))
    masters = [n.name for n in plan.control_plane_nodes]
    try:
        dry, _ = run(plan, dry_run=True)
        assert dry.ok, dry.failures
        nothing = lab.exec(masters[0], ["test", "-e", "/etc/kubernetes"], check=False)
        assert nothing.returncode == 1  # the dry run wrote nothing
        start = time.monotonic()
        result, events = run(plan)
        print(f"first control-plane apply: {time.monotonic() - start:.1f} s")
        yield plan, result, events, dry
    finally:
        lab.reset(*masters)


def test_first_apply_stages_everything(staged):
    plan, result, events, _ = staged
    assert result.ok, result.failures
    assert result.phases_done == [
        "control-plane binaries",
        "control-plane files",
        "load balancer",
        "load balancer endpoint",
    ]  # start = false: no start phase
    changed = {(e.node, e.step) for e in events if e.kind is EventKind.CHANGED}
    for m in plan.control_plane_nodes:
        assert (m.name, "control-plane units") in changed
        assert (m.name, "kubernetes certificates and keys") in changed
    assert (plan.control_plane.load_balancer, "haproxy configuration") in changed
    said = [e.text for e in events if e.kind is EventKind.OUTPUT]
    assert any("kube-apiserver is not installed" in line for line in said)


def test_files_and_modes_on_every_master(staged, lab: Lab, tmp_path):
    plan, *_ = staged
    layout = pki.paths(plan)
    etcd_ca_key_sha = hashlib.sha256(layout.etcd_ca.key.read_bytes()).hexdigest()
    for m in plan.control_plane_nodes:
        paths = " ".join(shlex.quote(p) for p, _, _ in EXPECTED)
        out = sh(lab, m.name, f"stat -c '%n %a %U %G %F' -- {paths}").splitlines()
        got = {line.split()[0]: line.split()[1:] for line in out}
        for path, mode, is_dir in EXPECTED:
            kind = "directory" if is_dir else "regular"
            assert got[path][:3] == [mode, "root", "root"], (m.name, path, got[path])
            assert got[path][3].startswith(kind), (m.name, path)
        # Same bytes as the local PKI; the etcd CA key is nowhere under /etc/kubernetes.
        sums = sh(lab, m.name, "find /etc/kubernetes -type f -exec sha256sum {} +")
        digests = {line.split()[1]: line.split()[0] for line in sums.splitlines()}
        assert etcd_ca_key_sha not in digests.values()
        assert digests["/etc/kubernetes/pki/ca.pem"] == _sha(layout.kubernetes_ca.cert)
        assert digests["/etc/kubernetes/pki/ca-key.pem"] == _sha(layout.kubernetes_ca.key)
        assert digests["/etc/kubernetes/pki/etcd/ca.pem"] == _sha(layout.etcd_ca.cert)
        # Staged only: the units exist but nothing is enabled or running.
        for s in SERVICES:
            state = lab.exec(m.name, ["systemctl", "is-enabled", s], check=False).stdout.strip()
            active = lab.exec(m.name, ["systemctl", "is-active", s], check=False).stdout.strip()
            assert (state, active) == ("disabled", "inactive"), (m.name, s)
        unit = sh(lab, m.name, "cat /etc/systemd/system/kube-apiserver.service")
        assert f"--advertise-address={m.address} " in unit


def test_admin_kubeconfig_from_a_master_is_read_by_kubectl(staged, lab: Lab, tmp_path):
    plan, *_ = staged
    first = plan.control_plane_nodes[0]
    path = tmp_path / "admin.kubeconfig"
    path.write_text(sh(lab, first.name, "cat /etc/kubernetes/admin.kubeconfig"))
    proc = subprocess.run(
        ["kubectl", "config", "view", "--kubeconfig", str(path), "--raw", "-o",
         "jsonpath={.clusters[0].cluster.server} {.users[0].name}"],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    host, port = plan.endpoint_host_port
    assert proc.stdout == f"https://{host}:{port} admin"


def test_units_parse_with_the_nodes_systemd(staged, lab: Lab):
    plan, *_ = staged
    for m in plan.control_plane_nodes:
        # The installed units as they are: the only complaint allowed is the missing binary
        # (install = "none" and no Kubernetes binaries in this environment).
        units = " ".join(f"/etc/systemd/system/{s}.service" for s in SERVICES)
        proc = lab.exec(m.name, ["sh", "-c", f"systemd-analyze verify {units} 2>&1"], check=False)
        lines = [line for line in proc.stdout.splitlines() if any(s in line for s in SERVICES)]
        assert lines, "verify said nothing: the binaries cannot be there"
        assert all("is not executable: No such file or directory" in line for line in lines), (
            proc.stdout
        )
        # The same units pointed at a stub executable (for this check only): no complaint.
        script = (
            "set -e; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; "
            f"for s in {' '.join(SERVICES)}; do "
            '  printf "#!/bin/sh\\nexit 0\\n" > "$d/$s"; chmod 755 "$d/$s"; '
            '  sed "s#/usr/local/bin/#$d/#" /etc/systemd/system/$s.service > "$d/$s.service"; '
            "done; "
            f"systemd-analyze verify {' '.join(f'$d/{s}.service' for s in SERVICES)} 2>&1"
        )
        proc = lab.exec(m.name, ["sh", "-c", script], check=False)
        ours = [line for line in proc.stdout.splitlines() if any(s in line for s in SERVICES)]
        assert proc.returncode == 0 and ours == [], proc.stdout


def test_apiserver_probe_reports_not_running(staged):
    plan, *_ = staged
    start = time.monotonic()
    rows = probe_apiservers(plan, timeout=2.0)
    assert time.monotonic() - start < 5
    assert [r.node for r in rows] == [m.name for m in plan.control_plane_nodes]
    assert {r.state for r in rows} == {ApiserverState.NOT_RUNNING}, rows


def stats(lab: Lab, node: str) -> dict[str, dict[str, str]]:
    """haproxy's CSV stats for the apiserver backend's servers, read on the node with curl."""
    text = sh(lab, node, "curl -fsS --max-time 5 'http://127.0.0.1:8404/stats;csv'")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("# "))))
    return {
        r["svname"]: r
        for r in rows
        if r["pxname"] == "kube-apiserver" and r["svname"] not in ("FRONTEND", "BACKEND")
    }


def wait_for_states(lab: Lab, node: str, want: dict[str, str], timeout: float = 40) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = stats(lab, node)
        if {n: r["status"].split()[0] for n, r in got.items()} == want:
            return got
        assert time.monotonic() < deadline, {n: r["status"] for n, r in got.items()}
        time.sleep(1)


def test_haproxy_runs_with_every_master_as_a_checked_backend(staged, lab: Lab):
    plan, *_ = staged
    lb = plan.control_plane.load_balancer
    assert lb == plan.control_plane_nodes[0].name
    assert sh(lab, lb, "systemctl is-active haproxy; systemctl is-enabled haproxy").split() == [
        "active",
        "enabled",
    ]
    assert sh(lab, lb, "test -S /run/haproxy/admin.sock && stat -c %a /run/haproxy/admin.sock")
    # No apiserver runs, so every master's /healthz check fails: all DOWN, connection refused.
    rows = wait_for_states(lab, lb, {m.name: "DOWN" for m in plan.control_plane_nodes})
    assert all(r["check_status"] == "L4CON" for r in rows.values()), rows
    host, port = plan.endpoint_host_port
    listening = sh(lab, lb, "ss -Hltn")
    assert f"{host}:{port}" in listening


def test_reapply_changes_nothing(staged):
    plan, *_ = staged
    dry, _ = run(plan, dry_run=True)
    assert dry.ok and dry.recorded == {}, dry.recorded
    again, events = run(plan)
    assert again.ok and again.count("changed") == 0, [
        (e.node, e.step) for e in events if e.kind is EventKind.CHANGED
    ]


def test_removing_a_master_reloads_haproxy_without_dropping_connections(staged, lab: Lab):
    """A stand-in TLS server (`openssl s_server -www`, not an apiserver) on the second master's
    :6443 passes the /healthz check; a connection through the balancer is opened, the third
    master is removed from the plan (haproxy reloads), and the same connection still works."""
    plan, *_ = staged
    lb = plan.control_plane.load_balancer
    m1, m2, m3 = plan.control_plane_nodes
    layout = pki.paths(plan)
    standin = "hw-standin-apiserver"
    lab.exec(
        m2.name,
        ["systemd-run", f"--unit={standin}", "openssl", "s_server", "-quiet", "-www",
         "-accept", "6443", "-cert", "/etc/kubernetes/pki/apiserver.pem",
         "-key", "/etc/kubernetes/pki/apiserver-key.pem"],
    )  # fmt: skip
    pid = sh(lab, lb, "systemctl show -p MainPID --value haproxy").strip()
    fewer = lab.plan(nodes=2, pki_dir=plan.pki_dir)
    try:
        wait_for_states(lab, lb, {m1.name: "DOWN", m2.name: "UP", m3.name: "DOWN"})
        host, port = plan.endpoint_host_port
        ctx = ssl.create_default_context(cafile=str(layout.kubernetes_ca.cert))
        with (
            socket.create_connection((host, port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as conn,
        ):
            result, _ = run(fewer, phases=[p for p in control_plane_phases(fewer)
                                           if p.title == "load balancer"])  # fmt: skip
            assert result.ok and result.count("changed") == 1, result.failures
            # The reload took effect: the third master is gone from the backend...
            deadline = time.monotonic() + 20
            while m3.name in stats(lab, lb):
                assert time.monotonic() < deadline
                time.sleep(0.5)
            # ...by the same haproxy master process (reload, not restart)...
            assert sh(lab, lb, "systemctl show -p MainPID --value haproxy").strip() == pid
            # ...and the connection opened before the reload still carries a request.
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
            assert reply.startswith(b"HTTP/1.0 200"), reply[:200]
    finally:
        lab.exec(m2.name, ["systemctl", "stop", standin], check=False)
        restored, _ = run(plan, phases=[p for p in control_plane_phases(plan)
                                        if p.title == "load balancer"])  # fmt: skip
        assert restored.ok
    # The restore is a reload too: the new worker answers on the stats page a moment later.
    wanted = {m.name for m in plan.control_plane_nodes}
    deadline = time.monotonic() + 20
    while set(stats(lab, lb)) != wanted:
        assert time.monotonic() < deadline, stats(lab, lb)
        time.sleep(0.5)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dry_run_on_fresh_nodes_lists_every_upload_per_master(staged):
    plan, *_, dry = staged
    for m in plan.control_plane_nodes:
        uploads = [str(r) for r in dry.recorded[m.name] if r.kind == "upload"]
        for path, mode, is_dir in EXPECTED:
            if not is_dir:
                assert any(u.startswith(f"upload {path} (mode 0{mode}") for u in uploads), path
        assert not any(len(u) > 200 for u in uploads)  # summaries, never file contents
    lb = plan.control_plane.load_balancer
    assert any("/etc/haproxy/haproxy.cfg" in str(r) for r in dry.recorded[lb])
