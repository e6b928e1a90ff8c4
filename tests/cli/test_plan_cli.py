"""`hawizard plan …`: exit codes and messages, in-process and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hawizard import plan as P
from hawizard.cli import main

NODES = ["--node", "a=10.1.2.11", "--node", "b=10.1.2.12", "--node", "c=10.1.2.13:etcd"]


def test_init_writes_a_valid_plan(tmp_path):
    out = tmp_path / "plan.toml"
    args = [*NODES, "--endpoint", "10.1.2.10:8443", "--subnet", "10.1.2.0/24"]
    assert main(["plan", "init", "-o", str(out), *args]) == 0
    plan = P.load(out)
    assert [n.name for n in plan.nodes] == ["a", "b", "c"]
    assert plan.node("c").roles == (P.Role.ETCD,)
    assert plan.node("a").roles == P.DEFAULT_ROLES
    # two masters: the endpoint survives either one by default (keepalived moves the VIP)
    assert plan.load_balancer.mode == "vip" and 'mode = "vip"' in out.read_text()
    assert [n.name for n in plan.balancer_nodes] == ["a", "b"]
    assert main(["plan", "validate", str(out)]) == 0


def test_init_vip_default_names_the_flags_to_fix(tmp_path, capsys):
    out = tmp_path / "plan.toml"
    # a master's own address cannot be the VIP, and haproxy cannot share :6443 with it
    assert main(["plan", "init", "-o", str(out), *NODES, "--endpoint", "10.1.2.11:6443"]) == 2
    err = capsys.readouterr().err
    assert "--endpoint" in err and "nodes[0] (a)" in err and "use another port" in err
    assert not out.exists()
    # the operator's own balancer in front of the masters' apiservers: :6443 is fine there
    args = [*NODES, "--endpoint", "10.1.2.10:6443", "--balancer", "external"]
    assert main(["plan", "init", "-o", str(out), *args]) == 0
    assert P.load(out).balancer_mode == "external"


def test_init_one_master_writes_no_balancer_mode(tmp_path):
    out = tmp_path / "plan.toml"
    assert main(["plan", "init", "-o", str(out), "--node", "a=10.1.2.11"]) == 0
    assert P.load(out).load_balancer.mode == ""


def test_init_names_the_bad_flag(tmp_path, capsys):
    out = tmp_path / "plan.toml"
    rc = main(["plan", "init", "-o", str(out), "--node", "a=10.1.2.300", "--ssh-port", "0"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--node a=10.1.2.300" in err and "not an IP address" in err
    assert "--ssh-port" in err and "out of range" in err
    assert not out.exists()


def test_init_needs_endpoint_for_several_masters(tmp_path, capsys):
    rc = main(["plan", "init", "-o", str(tmp_path / "p.toml"), *NODES])
    assert rc == 2
    assert "--endpoint" in capsys.readouterr().err


def test_init_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "plan.toml"
    out.write_text("keep me")
    assert main(["plan", "init", "-o", str(out), "--node", "a=10.1.2.11"]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("spec", ["a", "a=", "=10.1.2.11", "a=10.1.2.11:worker"])
def test_init_bad_node_spec(tmp_path, capsys, spec):
    assert main(["plan", "init", "-o", str(tmp_path / "p.toml"), "--node", spec]) == 2
    err = capsys.readouterr().err
    assert spec in err
    assert "NAME=ADDRESS" in err or "roles are etcd and control-plane" in err


def test_init_ipv6_node(tmp_path):
    out = tmp_path / "plan.toml"
    assert main(["plan", "init", "-o", str(out), "--node", "a=[fd00::11]:etcd"]) == 0
    assert P.load(out).nodes[0].address == "fd00::11"


def test_validate_lists_every_problem_and_exits_1(tmp_path, capsys):
    out = tmp_path / "plan.toml"
    main(["plan", "init", "-o", str(out), *NODES, "--endpoint", "10.1.2.10:8443"])
    capsys.readouterr()
    text = out.read_text().replace('"10.1.2.12"', '"10.1.2.300"').replace("ca_days", "ca_dayz")
    out.write_text(text)
    assert main(["plan", "validate", str(out)]) == 1
    printed = capsys.readouterr().out
    assert f"{out}:" in printed
    assert "nodes[1].address" in printed and "pki.ca_dayz" in printed


def test_validate_json(tmp_path, capsys):
    out = tmp_path / "plan.toml"
    main(["plan", "init", "-o", str(out), "--node", "a=10.1.2.11", "--node", "b=10.1.2.12:etcd"])
    capsys.readouterr()
    assert main(["plan", "validate", "--json", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is True
    (warning,) = data["problems"]
    assert warning["severity"] == "warning" and "tolerates 0" in warning["message"]


def test_show_prints_quorum_table(tmp_path, capsys):
    out = tmp_path / "plan.toml"
    assert main(["plan", "init", "-o", str(out), *NODES, "--endpoint", "10.1.2.10:8443"]) == 0
    assert main(["plan", "show", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 etcd member(s), quorum 2, tolerates 1" in printed
    assert "10.1.2.10:8443" in printed


def test_missing_file_is_a_clean_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hawizard", "plan", "show", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "cannot read the plan" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_usage_error_exits_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "hawizard", "plan", "frobnicate"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [["--help"], ["plan", "--help"], ["plan", "init", "--help"]])
def test_help_everywhere(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 0
    assert "usage:" in capsys.readouterr().out
