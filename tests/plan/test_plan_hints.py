"""Hints propose only what validation accepts (issue 23, item 7).

`suggest_endpoint` is the one source of every endpoint hint: the wizard's placeholders, the
validator's "e.g." and `plan init`'s refusals. With haproxy on the masters it never proposes
:6443 (kube-apiserver's), in vip mode it proposes a free address of the balancer subnet.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_strategies import valid_raw

from hawizard import plan as P
from hawizard.cli import main

ENDPOINT = "cluster.control_plane_endpoint"
NODES = ["--node", "a=198.18.7.11", "--node", "b=198.18.7.12", "--node", "c=198.18.7.13"]


def errors(plan: P.Plan) -> list[P.Problem]:
    return [p for p in P.validate(plan) if p.severity is P.Severity.ERROR]


def with_endpoint(plan: P.Plan, endpoint: str) -> P.Plan:
    return replace(plan, cluster=replace(plan.cluster, control_plane_endpoint=endpoint))


def lab_like(mode: str, subnet: str = "") -> P.Plan:
    nodes = tuple(P.Node(f"n{i}", f"198.18.7.{11 + i}") for i in range(3))
    return P.Plan(
        nodes=nodes,
        pki=P.PKISettings(dir="/nonexistent/pki"),
        load_balancer=P.LoadBalancerSettings(mode=mode, subnet=subnet),
    )


@pytest.mark.parametrize(
    ("mode", "subnet", "expected"),
    [
        ("vip", "198.18.7.0/24", "198.18.7.254:8443"),
        ("vip", "", "198.18.7.254:8443"),  # the balancer nodes' /24
        ("vip", "198.18.0.0/15", "198.19.255.254:8443"),
        ("single", "", "198.18.7.11:8443"),  # haproxy's own node
        ("external", "", "10.1.2.10:6443"),  # no haproxy beside kube-apiserver
    ],
)
def test_the_hint_for_each_mode_validates(mode, subnet, expected):
    plan = lab_like(mode, subnet)
    assert any(p.field == ENDPOINT for p in errors(plan))  # 3 masters: the endpoint is needed
    assert P.suggest_endpoint(plan) == expected
    assert errors(with_endpoint(plan, expected)) == []


def test_a_vip_hint_skips_addresses_the_nodes_use():
    nodes = tuple(P.Node(f"n{i}", f"198.18.7.{254 - i}") for i in range(3))
    plan = replace(lab_like("vip", "198.18.7.0/24"), nodes=nodes)
    assert P.suggest_endpoint(plan) == "198.18.7.251:8443"
    assert errors(with_endpoint(plan, P.suggest_endpoint(plan))) == []


def test_the_port_hint_avoids_etcd_ports_on_balancer_nodes():
    plan = lab_like("vip", "198.18.7.0/24")
    plan = replace(plan, etcd=replace(plan.etcd, client_port=8443, peer_port=9443))
    assert P.suggest_endpoint(plan) == "198.18.7.254:10443"
    assert errors(with_endpoint(plan, P.suggest_endpoint(plan))) == []


def test_refusals_propose_an_accepted_value():
    """The messages that refuse an endpoint name one that is then accepted."""
    plan = lab_like("vip", "198.18.7.0/24")
    for endpoint in ("", "198.18.7.254:6443", "198.18.7.11:8443", "10.9.9.9:8443", "nope"):
        (problem,) = [p for p in errors(with_endpoint(plan, endpoint)) if p.field == ENDPOINT]
        proposed = re.findall(r"\d+\.\d+\.\d+\.\d+:\d+", problem.message)
        assert proposed, problem.message
        assert errors(with_endpoint(plan, proposed[-1])) == [], (endpoint, problem.message)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(raw=valid_raw())
def test_any_valid_plan_stays_valid_with_the_hinted_endpoint(raw):
    with tempfile.TemporaryDirectory() as tmp:
        try:
            plan = P.loads(tomli_w.dumps(raw), Path(tmp) / "plan.toml")
        except P.PlanError:
            return  # drawn invalid on purpose (hostile addresses): nothing to hint for
        hinted = with_endpoint(plan, P.suggest_endpoint(with_endpoint(plan, "")))
        assert errors(hinted) == [], P.suggest_endpoint(plan)


@pytest.mark.parametrize("balancer", [[], ["--subnet", "198.18.7.0/24"], ["--balancer", "single"]])
def test_plan_init_proposes_an_endpoint_it_then_accepts(balancer, tmp_path, capsys):
    out = tmp_path / "plan.toml"
    assert main(["plan", "init", "-o", str(out), *NODES, *balancer]) == 2
    err = capsys.readouterr().err
    assert "--endpoint" in err and ":6443" not in err, err
    (proposed,) = re.findall(r'e\.g\. "([^"]+)"', err)
    assert main(["plan", "init", "-o", str(out), *NODES, *balancer, "--endpoint", proposed]) == 0
    assert main(["plan", "validate", str(out)]) == 0


def test_the_readme_example_plan_validates(tmp_path):
    """The README's annotated plan is the first one a reader copies: it must validate."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = re.search(r"```toml\n(version = 1\n\[cluster\].*?)```", readme, re.S)
    assert example is not None
    plan = P.loads(example.group(1), tmp_path / "plan.toml")
    assert plan.balancer_mode == "vip" and plan.endpoint_host_port[1] != 6443


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    subnet=st.one_of(
        st.sampled_from(["0.0.0.0/30", "198.18.7.0/31", "198.18.7.0/24", "fd00::/64", ""]),
        st.text(max_size=12),
    ),
    addresses=st.lists(
        st.one_of(st.ip_addresses().map(str), st.sampled_from(["", "node-1.example"])),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    mode=st.sampled_from(["vip", "single", "external", "", "bogus"]),
    port=st.integers(-1, 70000),
)
def test_a_hint_is_always_made(subnet, addresses, mode, port):
    """Any plan the wizard may hold (half-typed, contradictory) gets a hint, never a crash."""
    plan = lab_like(mode, subnet)
    nodes = tuple(P.Node(f"n{i}", a) for i, a in enumerate(addresses))
    plan = replace(plan, nodes=nodes, etcd=replace(plan.etcd, client_port=port))
    host, sep, hinted = P.suggest_endpoint(plan).rpartition(":")
    assert sep and host and 1 <= int(hinted) <= 65535
    P.validate(with_endpoint(plan, ""))  # every message that quotes a hint is made
