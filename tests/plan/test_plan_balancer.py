"""The `[load_balancer]` section: modes, defaults, the VRRP id, and every rule with its message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hawizard import plan as P
from hawizard.plan import BalancerMode, LoadBalancerSettings, Severity


def vip_plan(endpoint: str = "10.1.2.10:8443", **lb) -> P.Plan:
    nodes = tuple(P.Node(f"infra{i}", f"10.1.2.{11 + i}") for i in range(3))
    lb.setdefault("mode", "vip")
    lb.setdefault("subnet", "10.1.2.0/24")
    return P.Plan(
        nodes=nodes,
        cluster=P.Cluster(name="prod", control_plane_endpoint=endpoint),
        load_balancer=LoadBalancerSettings(**lb),
    )


def problems(plan: P.Plan, severity: Severity | None = None) -> list[P.Problem]:
    return [p for p in P.validate(plan) if severity is None or p.severity is severity]


def load_errors(text: str) -> list[P.Problem]:
    with pytest.raises(P.PlanError) as info:
        P.loads(text, "plan.toml")
    return [p for p in info.value.problems if p.severity is Severity.ERROR]


def test_a_good_vip_plan_is_clean_and_round_trips():
    plan = vip_plan(nodes=("infra0", "infra1"), virtual_router_id=42, advert_interval=0.5)
    assert problems(plan) == []
    again = P.loads(P.dumps(plan))
    assert again == plan
    assert again.load_balancer.nodes == ("infra0", "infra1")
    assert [n.name for n in again.balancer_nodes] == ["infra0", "infra1"]
    assert again.virtual_router_id == 42


def test_vip_defaults_to_every_master_and_a_stable_router_id_per_cluster():
    plan = vip_plan()
    assert plan.balancer_mode == BalancerMode.VIP
    assert [n.name for n in plan.balancer_nodes] == ["infra0", "infra1", "infra2"]
    vrid = plan.virtual_router_id
    assert 1 <= vrid <= 255
    assert vip_plan().virtual_router_id == vrid  # deterministic
    other = replace(plan, cluster=replace(plan.cluster, name="staging"))
    assert other.virtual_router_id != vrid  # per cluster (these two names differ)


def test_older_plans_keep_their_meaning():
    nodes = tuple(P.Node(f"infra{i}", f"10.1.2.{11 + i}") for i in range(3))
    single = P.Plan(
        nodes=nodes,
        cluster=P.Cluster(control_plane_endpoint="10.1.2.11:8443"),
        control_plane=P.ControlPlaneSettings(load_balancer="infra0"),
    )
    assert single.balancer_mode == BalancerMode.SINGLE
    assert [n.name for n in single.balancer_nodes] == ["infra0"]
    (warning,) = problems(single, Severity.WARNING)
    assert "single point of failure" in warning.message
    external = replace(single, control_plane=P.ControlPlaneSettings())
    assert external.balancer_mode == BalancerMode.EXTERNAL
    assert external.balancer_nodes == ()


def test_vip_equal_to_a_node_address_names_the_node_and_the_fix():
    (error,) = problems(vip_plan("10.1.2.12:8443"), Severity.ERROR)
    assert error.field == "cluster.control_plane_endpoint"
    assert "nodes[1] (infra1)" in error.message
    assert "free address" in error.message


def test_vip_outside_the_subnet_is_an_error():
    (error,) = problems(vip_plan("10.9.9.10:8443"), Severity.ERROR)
    assert "outside the balancer nodes' subnet 10.1.2.0/24" in error.message
    assert "pick a free address in 10.1.2.0/24" in error.message


def test_vip_subnet_unknown_is_a_warning_with_a_guess():
    (warning,) = problems(vip_plan(subnet=""), Severity.WARNING)
    assert warning.field == "load_balancer.subnet"
    assert 'subnet = "10.1.2.0/24"' in warning.message


def test_vip_must_be_ipv4_and_not_the_network_address():
    (error,) = problems(vip_plan("lb.example.com:8443"), Severity.ERROR)
    assert "not an IPv4 address" in error.message
    (error,) = problems(vip_plan("10.1.2.0:8443"), Severity.ERROR)
    assert "network or broadcast" in error.message


def test_balancer_nodes_outside_the_subnet():
    # the VIP is fine there, but the nodes are not: every node is named, one error each
    errors = problems(vip_plan("10.1.3.10:8443", subnet="10.1.3.0/24"), Severity.ERROR)
    assert len(errors) == 3 and all("outside 10.1.3.0/24" in e.message for e in errors)
    assert {e.field for e in errors} == {"load_balancer.subnet"}


def test_vip_with_one_balancer_node_warns():
    (warning,) = problems(vip_plan(nodes=("infra2",)), Severity.WARNING)
    assert "nothing to fail over to" in warning.message


def test_vip_with_no_balancer_node_is_an_error():
    plan = vip_plan()
    etcd_only = tuple(replace(n, roles=(P.Role.ETCD,)) for n in plan.nodes)
    errors = problems(replace(plan, nodes=etcd_only), Severity.ERROR)
    assert [e.field for e in errors] == ["load_balancer.nodes"]
    assert "has no balancer node" in errors[0].message


def test_port_clash_with_the_apiserver_and_etcd():
    (error,) = problems(vip_plan("10.1.2.10:6443"), Severity.ERROR)
    assert "both listen on :6443" in error.message and "10.1.2.10:8443" in error.message
    (error,) = problems(vip_plan("10.1.2.10:2379"), Severity.ERROR)
    assert "etcd's client port" in error.message
    (error,) = problems(vip_plan("10.1.2.10:8404"), Severity.ERROR)
    assert "stats page" in error.message


def test_router_id_and_advert_interval_ranges():
    errors = problems(vip_plan(virtual_router_id=256, advert_interval=0), Severity.ERROR)
    assert {e.field for e in errors} == {
        "load_balancer.virtual_router_id",
        "load_balancer.advert_interval",
    }


def test_unknown_nodes_and_conflicting_legacy_key():
    errors = problems(vip_plan(nodes=("infra0", "nope", "infra0")), Severity.ERROR)
    assert ["'nope' is not a node" in e.message for e in errors] == [True, False]
    assert "'infra0' is listed twice" in errors[1].message
    legacy = replace(vip_plan(), control_plane=P.ControlPlaneSettings(load_balancer="infra0"))
    (error,) = problems(legacy, Severity.ERROR)
    assert error.field == "control_plane.load_balancer" and "leave it empty" in error.message


def test_external_mode_lists_no_nodes():
    (error,) = problems(vip_plan(mode="external", nodes=("infra0",)), Severity.ERROR)
    assert "runs no balancer on the nodes" in error.message


def test_single_mode_takes_one_node():
    (error,) = problems(
        vip_plan("10.1.2.11:8443", mode="single", nodes=("infra0", "infra1")), Severity.ERROR
    )
    assert 'use mode = "vip"' in error.message


def test_errors_in_the_file_name_the_line_the_field_and_the_fix():
    text = P.dumps(vip_plan("10.1.2.11:8443")).replace('mode = "vip"', 'mode = "vpi"')
    (error,) = load_errors(text)
    line = text.splitlines().index('mode = "vpi"') + 1
    assert str(error).startswith(f"plan.toml:{line} load_balancer.mode: 'vpi' is not")
    assert "did you mean 'vip'?" in error.message
    text = P.dumps(vip_plan("10.1.2.11:8443"))
    (error,) = load_errors(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "control_plane_endpoint" in t)
    assert str(error).startswith(f"plan.toml:{line} cluster.control_plane_endpoint: the VIP")


def test_shape_errors_in_the_section():
    text = P.dumps(vip_plan()).replace("virtual_router_id = 0", 'virtual_router_id = "x"')
    text = text.replace("nodes = []", 'nodes = "infra0"')
    errors = load_errors(text)
    assert {e.field for e in errors} == {
        "load_balancer.virtual_router_id",
        "load_balancer.nodes",
    }
    assert any("list of node names" in e.message for e in errors)


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (("10.1.2.10:8443", "10.1.2.11:8443"), "cluster.control_plane_endpoint", "nodes[0]"),
        (("10.1.2.10:8443", "10.9.9.9:8443"), "cluster.control_plane_endpoint", "outside"),
        (('mode = "vip"', 'mode = "vrrp"'), "load_balancer.mode", 'use "vip"'),
        (("nodes = []", 'nodes = ["ghost"]'), "load_balancer.nodes", "'ghost' is not a node"),
    ],
)
def test_bad_input_through_the_cli_names_line_field_and_fix(tmp_path, edit, field, words):
    """`hawizard plan validate` (and every command that loads a plan): exit 1, one line per
    problem with file:line, the field and the fix — never a traceback."""
    import subprocess
    import sys

    text = P.dumps(vip_plan())
    assert edit[0] in text
    path = tmp_path / "plan.toml"
    path.write_text(text.replace(edit[0], edit[1]))
    proc = subprocess.run(
        [sys.executable, "-m", "hawizard", "plan", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if edit[1] in t)
    assert f"plan.toml:{line} {field}:" in out.replace("\n", " "), out
    assert words in out


def test_vip_mode_with_no_balancer_node_through_the_cli(tmp_path):
    import subprocess
    import sys

    plan = vip_plan()
    plan = replace(plan, nodes=tuple(replace(n, roles=(P.Role.ETCD,)) for n in plan.nodes))
    path = tmp_path / "plan.toml"
    path.write_text(P.dumps(plan))
    proc = subprocess.run(
        [sys.executable, "-m", "hawizard", "plan", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in out
    assert "load_balancer.nodes" in out and "has no balancer node" in out
