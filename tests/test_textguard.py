"""The renderers' second wall (issue 12): a plan that skipped validation still cannot inject.

Plans here are built in code without `validate`, the way a future field or a bug in the
validator would let a value through; every renderer must raise `UnsafeValue` instead of
writing a unit, config or kubeconfig whose lines were broken out of.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from hawizard import plan as P
from hawizard.balancer import render as lb
from hawizard.control_plane import render as cp
from hawizard.etcd import render as er
from hawizard.etcd.render import ClusterState
from hawizard.textguard import UnsafeValue, config_value, plain_lines, unit_word

INJECT = "\nExecStartPre=+/bin/sh -c 'touch /pwned'"


def plan_with(*, address="10.1.2.12", name="infra1", data_dir="/var/lib/etcd", cluster="prod"):
    nodes = (
        P.Node("infra0", "10.1.2.11"),
        P.Node(name, address),
        P.Node("infra2", "10.1.2.13"),
    )
    return P.Plan(
        nodes=nodes,
        cluster=P.Cluster(name=cluster, control_plane_endpoint="10.1.2.10:8443"),
        etcd=P.EtcdSettings(data_dir=data_dir),
        control_plane=P.ControlPlaneSettings(load_balancer="infra0"),
    )


def renderings(plan: P.Plan):
    member = plan.nodes[1]
    yield lambda: er.render_unit(plan)
    yield lambda: er.render_config(plan, member, ClusterState.NEW)
    yield lambda: cp.render_apiserver_unit(plan, plan.nodes[0])
    yield lambda: cp.render_controller_manager_unit(plan)
    yield lambda: cp.render_scheduler_unit(plan)
    yield lambda: lb.render_haproxy_config(plan)
    yield lambda: lb.render_keepalived_config(plan, plan.nodes[0], "eth0")


HOSTILE = [
    {"address": "fe80::1%eth0" + INJECT},  # reaches every master's kube-apiserver unit
    {"address": "fe80::1%$(reboot)"},
    {"name": "infra1\n"},
    {"name": "infra1" + INJECT},
    {"data_dir": "/var/lib/etcd" + INJECT},
    {"data_dir": "/var/lib/%n etcd"},
    {"cluster": "prod\nExecStartPre=+/bin/true"},
    {"cluster": "prod%i"},
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: repr(h)[:40])
def test_the_injected_plan_is_refused_by_validate(hostile):
    assert any(p.severity is P.Severity.ERROR for p in P.validate(plan_with(**hostile)))


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: repr(h)[:40])
def test_the_injected_plan_is_refused_by_the_renderers(hostile):
    plan = plan_with(**hostile)
    raised = 0
    for render in renderings(plan):
        try:
            text = render()
        except UnsafeValue:
            raised += 1
            continue
        for line in text.split("\n"):  # what did render must still be one directive a line
            assert "ExecStartPre" not in line and "\r" not in line
            assert not line.startswith(("ExecStartPre", "+"))
    assert raised, "no renderer noticed the hostile value"


def test_a_valid_plan_renders_unchanged():
    plan = plan_with()
    for render in renderings(plan):
        assert render()


def test_kubeconfig_refuses_line_breaks_in_names():
    with pytest.raises(UnsafeValue):
        cp.render_kubeconfig(
            cluster="prod\nusers: []",
            server="https://10.1.2.10:8443",
            user="admin",
            ca_pem=b"x",
            cert_pem=b"y",
            key_pem=b"z",
        )


@pytest.mark.parametrize(
    "word", ["a b", "a\tb", "a\nb", "%n", "$HOME", "a;b", "#a", "'x'", '"x"', "a\\b", "", "\x00"]
)
def test_unit_word_refuses_anything_that_needs_quoting(word):
    with pytest.raises(UnsafeValue):
        unit_word(word, "test")


def test_config_value_and_plain_lines_refuse_line_breaks():
    for bad in ("a\nb", "a\rb", "a\u2028b", "a\x85b", "a\x00b", "a\u202eb"):
        with pytest.raises(UnsafeValue):
            config_value(bad, "test")
        if "\n" not in bad:  # plain_lines splits on newlines: the rest must not appear
            with pytest.raises(UnsafeValue):
                plain_lines(bad, "test")
    assert config_value("ok value: [1]", "test") == "ok value: [1]"


def test_replace_keeps_render_pure():
    plan = plan_with()
    bad = replace(plan, etcd=replace(plan.etcd, data_dir="/x\n[Service]"))
    with pytest.raises(UnsafeValue):
        er.render_unit(bad)
    assert er.render_unit(plan)  # the good plan is untouched
