"""The start path (`start = true`, `install = "upload"`) on lab nodes, with STAND-IN binaries.

No Kubernetes binary is obtainable here. Each "binary" uploaded below is a shell script under
the real name that execs `openssl s_server -www` on the port the real service would serve
(6443 for kube-apiserver with the apiserver certificate, 10257/10259 on loopback for the
controllers), so it answers every HTTPS GET with 200. That is enough to exercise hawizard's
own code for real: upload with sha256 check, enable + start under systemd, one master at a
time, waiting for `/livez` and `/readyz` with the admin client cert, the restart stamps, and
haproxy seeing the masters come UP. It says nothing about a real kube-apiserver's flags.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace

import pytest

from hawizard import pki
from hawizard.control_plane.probe import ApiserverState, probe_apiservers
from hawizard.lab import Lab
from hawizard.ops.phases import control_plane_phases
from hawizard.plan import KUBE_BINARIES
from hawizard.remote import HostPool
from hawizard.steps import EventKind, Runner

pytestmark = pytest.mark.lab

SERVICES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
CERT = "-cert /etc/kubernetes/pki/apiserver.pem -key /etc/kubernetes/pki/apiserver-key.pem"
STAND_INS = {
    "kube-apiserver": f"exec openssl s_server -quiet -www -accept 6443 {CERT}",
    "kube-controller-manager": f"exec openssl s_server -quiet -www -accept 127.0.0.1:10257 {CERT}",
    "kube-scheduler": f"exec openssl s_server -quiet -www -accept 127.0.0.1:10259 {CERT}",
    "kubectl": "echo 'stand-in kubectl'",
}


def stand_in(name: str) -> bytes:
    return (
        f"#!/bin/sh\n# STAND-IN for {name} (hawizard tests only), not the real binary.\n"
        f"{STAND_INS[name]}\n"
    ).encode()


def run(plan):
    events = []
    result = Runner(HostPool(plan), listener=events.append).run(control_plane_phases(plan))
    return result, events


def main_pids(lab: Lab, node: str) -> dict[str, str]:
    out = lab.exec(
        node, ["systemctl", "show", "-p", "MainPID", "--value", *SERVICES], check=True
    ).stdout
    return dict(zip(SERVICES, out.split(), strict=True))


@pytest.fixture(scope="module")
def started(lab: Lab, tmp_path_factory):
    work = tmp_path_factory.mktemp("cp-start")
    (work / "pki").mkdir(mode=0o700)
    bins = work / "bin"
    bins.mkdir()
    for name in KUBE_BINARIES:
        (bins / name).write_bytes(stand_in(name))
        (bins / name).chmod(0o755)
    plan = lab.plan(nodes=3, pki_dir=work / "pki")
    plan = replace(
        plan,
        control_plane=replace(
            plan.control_plane,
            install="upload",
            binaries=str(bins),
            sha256={n: hashlib.sha256(stand_in(n)).hexdigest() for n in KUBE_BINARIES},
            start=True,
        ),
    )
    assert not any(o.is_failure for o in pki.create(plan))
    masters = [n.name for n in plan.control_plane_nodes]
    try:
        start = time.monotonic()
        result, events = run(plan)
        print(f"first apply with start = true: {time.monotonic() - start:.1f} s")
        yield plan, result, events
    finally:
        lab.reset(*masters)


def test_services_start_one_master_at_a_time(started, lab: Lab):
    plan, result, events = started
    assert result.ok, result.failures
    masters = [m.name for m in plan.control_plane_nodes]
    assert result.phases_done == [
        "control-plane binaries",
        "control-plane files",
        *(f"control-plane start: {m}" for m in masters),
        "load balancer",
        "load balancer endpoint",
    ]
    # Every service of a master is up before the next master's first service starts.
    starts = [
        (e.node, e.step, e.kind)
        for e in events
        if e.step.startswith("start kube-") and e.kind in (EventKind.STARTED, EventKind.CHANGED)
    ]
    assert [n for n, _, _ in starts] == [m for m in masters for _ in range(6)]
    for m in plan.control_plane_nodes:
        for s in SERVICES:
            state = lab.exec(m.name, ["systemctl", "is-active", s], check=False).stdout.strip()
            assert state == "active", (m.name, s)
        binary = lab.exec(m.name, ["cat", "/usr/local/bin/kube-apiserver"]).stdout
        assert "STAND-IN for kube-apiserver" in binary


def test_probe_sees_every_apiserver_ready(started):
    plan, _, _ = started
    rows = probe_apiservers(plan, timeout=2.0)
    assert {r.state for r in rows} == {ApiserverState.READY}, rows


def test_haproxy_sees_the_masters_up(started, lab: Lab):
    plan, _, _ = started
    lb = plan.control_plane.load_balancer
    deadline = time.monotonic() + 40
    while True:
        out = lab.exec(
            lb, ["curl", "-fsS", "--max-time", "5", "http://127.0.0.1:8404/stats;csv"]
        ).stdout
        states = {
            f[1]: f[17]
            for f in (line.split(",") for line in out.splitlines())
            if len(f) > 17 and f[0] == "kube-apiserver" and f[1] not in ("FRONTEND", "BACKEND")
        }
        if set(states.values()) == {"UP"}:
            break
        assert time.monotonic() < deadline, states
        time.sleep(1)
    assert set(states) == {m.name for m in plan.control_plane_nodes}


def test_reapply_restarts_nothing_and_a_changed_input_restarts_only_its_readers(started, lab: Lab):
    plan, _, _ = started
    masters = [m.name for m in plan.control_plane_nodes]
    before = {m: main_pids(lab, m) for m in masters}
    again, _ = run(plan)
    assert again.ok and again.count("changed") == 0
    assert {m: main_pids(lab, m) for m in masters} == before

    # A file edited on a node is put back; the running apiserver read the right content at
    # its start (the stamp says so), so nothing restarts.
    lab.exec(masters[1], ["sh", "-c", "echo '# drift' >> /etc/kubernetes/audit-policy.yaml"])
    fixed, events = run(plan)
    assert fixed.ok, fixed.failures
    changed = sorted((e.node, e.step) for e in events if e.kind is EventKind.CHANGED)
    assert changed == [(masters[1], "kubeconfigs, encryption and audit config")]
    assert {m: main_pids(lab, m) for m in masters} == before

    # A new service range changes the apiserver and controller-manager units only: those two
    # restart on every master, one master at a time; the scheduler keeps running.
    wider = replace(plan, control_plane=replace(plan.control_plane, service_cidr="10.97.0.0/16"))
    changed_run, events = run(wider)
    assert changed_run.ok, changed_run.failures
    changed = [(e.node, e.step) for e in events if e.kind is EventKind.CHANGED]
    assert sorted(changed) == sorted(
        (m, step)
        for m in masters
        for step in ("control-plane units", "start kube-apiserver", "start kube-controller-manager")
    )
    restarts = [n for n, step in changed if step.startswith("start ")]
    assert restarts == [m for m in masters for _ in range(2)]  # in master order
    after = {m: main_pids(lab, m) for m in masters}
    for m in masters:
        assert after[m]["kube-apiserver"] != before[m]["kube-apiserver"]
        assert after[m]["kube-controller-manager"] != before[m]["kube-controller-manager"]
        assert after[m]["kube-scheduler"] == before[m]["kube-scheduler"]
        unit = lab.exec(m, ["cat", "/etc/systemd/system/kube-apiserver.service"]).stdout
        assert "--service-cluster-ip-range=10.97.0.0/16" in unit
