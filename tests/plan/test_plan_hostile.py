"""Hostile plans, one class at a time: what `plan validate` must refuse (issue 12).

Each class is tested with the example that got through before and with siblings of it, since
the fix is for the class (control characters anywhere, scope ids, unplain remote paths, system
folders, `$`-anchored patterns), not for one string.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from hawizard import plan as P
from hawizard.plan import Severity

INJECT = "\nExecStartPre=+/bin/sh -c 'touch /pwned'"


def three_nodes(**etcd) -> P.Plan:
    nodes = tuple(P.Node(f"infra{i}", f"10.1.2.{11 + i}") for i in range(3))
    return P.Plan(
        nodes=nodes,
        cluster=P.Cluster(name="prod", control_plane_endpoint="10.1.2.10:6443"),
        pki=P.PKISettings(dir="/srv/hawizard-test/pki"),
        etcd=P.EtcdSettings(**etcd),
    )


def error_fields(plan: P.Plan) -> set[str]:
    return {p.field for p in P.validate(plan) if p.severity is Severity.ERROR}


def load_errors(text: str) -> list[P.Problem]:
    with pytest.raises(P.PlanError) as info:
        P.loads(text, "plan.toml")
    return [p for p in info.value.problems if p.severity is Severity.ERROR]


def with_node(plan: P.Plan, i: int, **changes) -> P.Plan:
    nodes = list(plan.nodes)
    nodes[i] = replace(nodes[i], **changes)
    return plan.with_nodes(tuple(nodes))


def test_baseline_is_valid():
    assert error_fields(three_nodes()) == set()


@pytest.mark.parametrize(
    "address",
    [
        "fe80::1%eth0" + INJECT,
        "fe80::1%eth0",
        "fe80::1%$(reboot)",
        "fe80::1%a'b",
        "10.1.2.11\n",
        "１０.1.2.11",  # full-width digits
    ],
)
def test_addresses_with_scope_ids_or_odd_characters_are_refused(address):
    assert "nodes[1].address" in error_fields(with_node(three_nodes(), 1, address=address))


@pytest.mark.parametrize("name", ["infra1\n", "infra1" + INJECT, "Infra1", "in fra", "[/x]"])
def test_node_and_cluster_names_are_matched_whole(name):
    assert "nodes[1].name" in error_fields(with_node(three_nodes(), 1, name=name))
    assert "cluster.name" in error_fields(replace(three_nodes(), cluster=P.Cluster(name=name)))


@pytest.mark.parametrize(
    "path",
    [
        "/var/lib/etcd" + INJECT,
        "/var/lib/etcd x",
        "/var/lib/et$cd",
        "/var/lib/%n",
        "/var/lib/etcd/",
        "/var/lib/../etc",
        "//var/lib/etcd",
        "/var/lib/etcd\0",
        "relative/etcd",
    ],
)
def test_remote_dirs_must_be_plain_normalised_paths(path):
    assert "etcd.data_dir" in error_fields(three_nodes(data_dir=path))
    assert "etcd.cert_dir" in error_fields(three_nodes(cert_dir=path))


@pytest.mark.parametrize("path", ["/", "/etc", "/usr", "/var", "/var/lib", "/tmp", "/etc/ssl"])
def test_system_folders_are_refused_as_etcd_dirs(path):
    assert "etcd.data_dir" in error_fields(three_nodes(data_dir=path))
    assert "etcd.cert_dir" in error_fields(three_nodes(cert_dir=path))


@pytest.mark.parametrize("folder", ["/", "/tmp", "/etc", "~", "/var/tmp", "/home", "~/"])
def test_shared_local_folders_are_refused_as_pki_dir(folder):
    plan = replace(three_nodes(), pki=P.PKISettings(dir=folder))
    assert "pki.dir" in error_fields(plan)


def test_pki_dir_with_unknown_user_or_too_long_is_an_error_not_a_crash():
    for folder in ("~nobody-such-user-xyz/pki", "/srv/" + "x" * 300):
        plan = replace(three_nodes(), pki=P.PKISettings(dir=folder))
        assert "pki.dir" in error_fields(plan)


@pytest.mark.parametrize("ep", ["10.1.2.10:²", "10.1.2.10:６４４３", "[fe80::1%eth0]:6443"])
def test_endpoint_port_must_be_ascii_digits_and_host_without_scope(ep):
    plan = replace(three_nodes(), cluster=P.Cluster(name="prod", control_plane_endpoint=ep))
    assert "cluster.control_plane_endpoint" in error_fields(plan)


def test_endpoint_error_does_not_crash_the_load_balancer_check():
    plan = replace(
        three_nodes(),
        cluster=P.Cluster(name="prod", control_plane_endpoint="10.1.2.10:²"),
        control_plane=P.ControlPlaneSettings(load_balancer="infra0"),
    )
    assert "cluster.control_plane_endpoint" in error_fields(plan)


@pytest.mark.parametrize("days", [0, 36501, 10**9])
def test_day_counts_beyond_a_certificate_are_refused(days):
    plan = replace(three_nodes(), pki=P.PKISettings(dir="/srv/x/pki", ca_days=days))
    assert "pki.ca_days" in error_fields(plan)


def test_control_characters_are_refused_in_every_string_field():
    base = P.dumps(three_nodes())
    for field in ('user = "root"', 'key = "~/.ssh/id_ed25519"', 'version = "3.5.17"'):
        text = base.replace(field, field[:-1] + '\\u0000"', 1)
        assert load_errors(text), field
    text = base.replace('name = "prod"', 'name = "prod\\u2028"')
    assert "cluster.name" in {p.field for p in load_errors(text)}


def test_ssh_user_is_a_login_name():
    bad = with_node(three_nodes(), 0, ssh=P.SSH(user="root -oProxyCommand=x"))
    assert "nodes[0].ssh.user" in error_fields(bad)


def test_unknown_pki_key_is_a_plan_error_not_a_traceback():
    text = P.dumps(three_nodes()).replace('key = "ecdsa-p256"', 'key = "dsa-512"')
    assert "pki.key" in {p.field for p in load_errors(text)}


def test_unknown_sha256_binary_is_refused():
    plan = replace(three_nodes(), control_plane=P.ControlPlaneSettings(sha256={"x\ny": "a" * 64}))
    assert any(f.startswith("control_plane.sha256") for f in error_fields(plan))


def test_deeply_nested_toml_is_a_plan_error():
    text = "version = 1\nx = " + "[" * 5000 + "]" * 5000 + "\n"
    assert load_errors(text)


def test_non_utf8_fifo_and_nul_plans_are_plan_errors(tmp_path):
    import os

    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'version = 1\n[cluster]\nname = "caf\xe9"\n')
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    for path in (latin, fifo, tmp_path, tmp_path / "missing.toml", "a\0b.toml"):
        with pytest.raises(P.PlanError) as info:
            P.load(path)
        assert info.value.problems[0].message.startswith(("cannot read", "not UTF-8")), path


def test_dump_leaves_no_temp_file_and_keeps_the_mode(tmp_path):
    path = tmp_path / "plan.toml"
    P.dump(three_nodes(), path)
    path.chmod(0o600)
    P.dump(three_nodes(), path)
    assert [p.name for p in tmp_path.iterdir()] == ["plan.toml"]
    assert path.stat().st_mode & 0o777 == 0o600
    assert P.load(path).etcd == three_nodes().etcd
