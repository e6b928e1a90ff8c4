"""The control-plane rollout without nodes: how phases are built, what is refused before any
connection, and the external balancer's config written next to the plan by the real runner."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard.balancer import render as lb_render
from hawizard.balancer.rollout import external_haproxy_path
from hawizard.control_plane import render
from hawizard.control_plane.binaries import BinaryError
from hawizard.control_plane.rollout import service_inputs
from hawizard.ops.phases import control_plane_phases
from hawizard.plan import KUBE_BINARIES, Cluster, ControlPlaneSettings, Node, Plan, Role
from hawizard.remote import HostPool
from hawizard.steps import LOCAL, Runner


def make_plan(tmp_path: Path, **cp) -> Plan:
    nodes = (
        Node("m0", "127.0.0.81"),
        Node("m1", "127.0.0.82"),
        Node("e2", "127.0.0.83", (Role.ETCD,)),
    )
    return Plan(
        nodes=nodes,
        cluster=Cluster(name="rollouttest", control_plane_endpoint="127.0.0.80:8443"),
        control_plane=ControlPlaneSettings(**cp),
        source=tmp_path / "plan.toml",
    )


def test_staged_plan_has_no_start_phase(tmp_path):
    phases = control_plane_phases(make_plan(tmp_path, start=False, load_balancer="m0"))
    assert [p.title for p in phases] == [
        "control-plane binaries",
        "control-plane files",
        "load balancer",
        "load balancer endpoint",
    ]
    nodes = {s.node for p in phases[:2] for s in p.steps}
    assert nodes == {"m0", "m1"}  # masters only, never the etcd-only node
    assert [(s.node, s.title) for s in phases[2].steps] == [
        ("m0", "install haproxy"),
        ("m0", "haproxy configuration"),
    ]


def test_started_plan_has_one_start_phase_per_master(tmp_path):
    phases = control_plane_phases(make_plan(tmp_path, start=True))
    titles = [p.title for p in phases]
    assert titles[2:4] == ["control-plane start: m0", "control-plane start: m1"]
    for phase in phases[2:4]:
        assert len({s.node for s in phase.steps}) == 1  # one master per phase
        assert [s.title for s in phase.steps] == [
            "start kube-apiserver",
            "start kube-controller-manager",
            "start kube-scheduler",
        ]
    keys = [s.key for p in phases for s in p.steps]
    assert len(keys) == len(set(keys))  # the runner refuses duplicate journal keys


def test_download_without_sha256_is_refused_before_any_connection(tmp_path):
    with pytest.raises(BinaryError, match=r"control_plane\.sha256 for kube-apiserver"):
        control_plane_phases(make_plan(tmp_path, install="download"))
    sums = {n: hashlib.sha256(n.encode()).hexdigest() for n in KUBE_BINARIES}
    assert control_plane_phases(make_plan(tmp_path, install="download", sha256=sums))


def test_upload_without_binaries_is_refused(tmp_path):
    with pytest.raises(BinaryError, match=r"control_plane\.binaries"):
        control_plane_phases(make_plan(tmp_path, install="upload", binaries="missing-dir"))


def test_service_inputs_cover_what_each_service_reads(tmp_path):
    plan = make_plan(tmp_path)
    api = service_inputs("kube-apiserver")
    unit_text = render.render_apiserver_unit(plan, plan.nodes[0])
    for path in api:
        if path.startswith("/etc/kubernetes/"):
            assert path in unit_text, path  # every input is named by the unit...
    for flag in ("--etcd-keyfile=", "--encryption-provider-config=", "--audit-policy-file="):
        named = unit_text.split(flag, 1)[1].split()[0]
        assert named in api  # ...and the files the unit names are inputs
    assert render.FILES.ca_key in service_inputs("kube-controller-manager")
    assert render.FILES.ca_key not in api
    assert service_inputs("kube-scheduler") == (
        "/etc/systemd/system/kube-scheduler.service",
        "/usr/local/bin/kube-scheduler",
        "/etc/kubernetes/scheduler.kubeconfig",
    )


def test_external_balancer_config_is_written_next_to_the_plan(tmp_path):
    plan = make_plan(tmp_path, load_balancer="")
    [lb] = [p for p in control_plane_phases(plan) if p.title == "load balancer"]
    assert [s.node for s in lb.steps] == [None]  # local only: no node is touched
    target = external_haproxy_path(plan)
    assert target == tmp_path / "haproxy.cfg"

    dry = Runner(HostPool(plan, dry_run=True)).run([lb])
    assert dry.ok and not target.exists()
    assert [r.text for r in dry.recorded[LOCAL]] == ["haproxy config for an external balancer"]

    lines: list[str] = []
    first = Runner(HostPool(plan), listener=lambda e: lines.append(e.text)).run([lb])
    assert first.ok and first.count("changed") == 1
    assert target.read_text() == lb_render.render_haproxy_config(plan)
    assert any(f"wrote {target}" in line for line in lines)
    again = Runner(HostPool(plan)).run([lb])
    assert again.ok and again.count("changed") == 0

    moved = replace(plan, cluster=replace(plan.cluster, control_plane_endpoint="127.0.0.80:9443"))
    [lb2] = [p for p in control_plane_phases(moved) if p.title == "load balancer"]
    assert Runner(HostPool(moved)).run([lb2]).count("changed") == 1
    assert "bind 127.0.0.80:9443" in target.read_text()
