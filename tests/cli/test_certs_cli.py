"""`hawizard certs create | check`: exit codes, tables, JSON and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard import plan as P
from hawizard.cli import main

JSON_CERT_KEYS = {
    "name",
    "ca",
    "is_ca",
    "cert_path",
    "key_path",
    "status",
    "problems",
    "expected_sans",
    "expected_usages",
    "chains_to_ca",
    "sans_match",
    "subject",
    "common_name",
    "organizations",
    "issuer",
    "sans",
    "serial",
    "not_before",
    "not_after",
    "days_left",
    "fingerprint_sha256",
    "key_type",
    "key_usage",
    "extended_key_usage",
}


def write_plan(tmp_path: Path, nodes: int = 3, **changes) -> Path:
    members = tuple(P.Node(f"infra{i}", f"10.1.2.{11 + i}") for i in range(nodes))
    plan = P.Plan(
        nodes=members,
        cluster=P.Cluster(name="prod", control_plane_endpoint="10.1.2.10:6443"),
        pki=P.PKISettings(dir="pki"),  # relative: next to the plan file
        **changes,
    )
    path = tmp_path / "plan.toml"
    P.dump(plan, path)
    return path


@pytest.fixture
def plan_file(tmp_path) -> Path:
    return write_plan(tmp_path)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")


def test_create_then_check(plan_file, tmp_path, capsys):
    assert main(["certs", "create", str(plan_file)]) == 0
    out = capsys.readouterr().out
    assert "etcd/server-infra0" in out and "created" in out
    assert "16 created" in out
    assert (tmp_path / "pki/etcd/ca.pem").exists()  # pki.dir relative to the plan file

    assert main(["certs", "create", str(plan_file)]) == 0
    assert "16 kept" in capsys.readouterr().out

    assert main(["certs", "check", str(plan_file)]) == 0
    out = capsys.readouterr().out
    for text in (
        "kubernetes/apiserver",
        "kubernetes.default.svc.cluster.local",
        "system:kube-scheduler",
    ):
        assert text in out
    assert "364d" in out or "365d" in out
    assert "9y" in out  # the CAs
    assert "PRIVATE KEY" not in out


def test_check_json(plan_file, capsys):
    assert main(["certs", "create", str(plan_file)]) == 0
    capsys.readouterr()
    assert main(["certs", "check", str(plan_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"pki_dir", "checked_at", "ok", "status", "certificates", "files"}
    assert data["ok"] is True and data["status"] == "ok"
    assert len(data["certificates"]) == 14
    assert all(set(c) == JSON_CERT_KEYS for c in data["certificates"])
    apiserver = next(c for c in data["certificates"] if c["name"] == "kubernetes/apiserver")
    assert apiserver["ca"] == "kubernetes" and apiserver["chains_to_ca"] is True
    assert "10.96.0.1" in apiserver["sans"] and apiserver["status"] == "ok"
    assert set(data["files"][0]) == {"name", "path", "status", "problems", "detail"}


def test_check_before_create_exits_1_and_says_what_to_run(plan_file, capsys):
    assert main(["certs", "check", str(plan_file)]) == 1
    captured = capsys.readouterr()
    assert "missing" in captured.out
    assert f"hawizard certs create {plan_file}" in captured.err
    assert main(["certs", "check", str(plan_file), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["status"] == "missing"
    assert all(c["subject"] is None and c["status"] == "missing" for c in data["certificates"])


def test_moved_node_mismatch_then_renew(plan_file, tmp_path, capsys):
    assert main(["certs", "create", str(plan_file)]) == 0
    plan = P.load(plan_file)
    nodes = list(plan.nodes)
    nodes[2] = replace(nodes[2], address="10.1.2.77")
    P.dump(plan.with_nodes(tuple(nodes)), plan_file)
    capsys.readouterr()

    assert main(["certs", "check", str(plan_file)]) == 1
    captured = capsys.readouterr()
    assert "mismatch" in captured.out and "missing 10.1.2.77" in captured.out
    assert "--renew" in captured.err

    assert main(["certs", "create", str(plan_file)]) == 1
    captured = capsys.readouterr()
    assert "reported" in captured.out and "mismatch" in captured.out
    assert f"hawizard certs create {plan_file} --renew" in captured.err

    assert main(["certs", "create", str(plan_file), "--renew"]) == 0
    assert "3 renewed" in capsys.readouterr().out
    assert main(["certs", "check", str(plan_file)]) == 0


def test_expired_cert_fails_check(plan_file, tmp_path, capsys):
    import datetime as dt

    from hawizard import pki

    plan = P.load(plan_file)
    pki.create(plan, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
    assert main(["certs", "check", str(plan_file)]) == 1
    out = capsys.readouterr().out
    assert "expired" in out


def test_broken_ca_makes_create_fail(plan_file, tmp_path, capsys):
    (tmp_path / "pki/etcd").mkdir(parents=True)
    (tmp_path / "pki/etcd/ca-key.pem").write_text("x")
    assert main(["certs", "create", str(plan_file)]) == 1
    captured = capsys.readouterr()
    assert "failed" in captured.out and "ca.pem" in captured.out
    assert "Traceback" not in captured.out + captured.err


def test_unwritable_pki_dir_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    plan_file = write_plan(tmp_path)
    text = plan_file.read_text().replace('dir = "pki"', 'dir = "blocker/pki"')
    plan_file.write_text(text)
    assert main(["certs", "create", str(plan_file)]) == 2
    err = capsys.readouterr().err
    assert "cannot write the PKI" in err and "Traceback" not in err


@pytest.mark.parametrize("action", ["create", "check"])
def test_bad_plan_input(tmp_path, capsys, action):
    assert main(["certs", action, str(tmp_path / "nope.toml")]) == 2
    assert "cannot read the plan" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('version = 1\n[[nodes]]\nname = "a"\naddress = "10.1.2.300"\n')
    assert main(["certs", action, str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not an IP address" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [["certs", "--help"], ["certs", "create", "--help"], ["certs", "check", "--help"]],
)
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "usage: hawizard certs" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["certs"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["certs", "create"])
    assert exc.value.code == 2
    assert "plan" in capsys.readouterr().err


def test_python_m_hawizard(plan_file):
    run = [sys.executable, "-m", "hawizard", "certs"]
    res = subprocess.run(
        [*run, "create", str(plan_file)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [*run, "check", str(plan_file), "--json"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and json.loads(res.stdout)["ok"] is True


def test_check_names_the_command_that_fixes_an_expiring_cert(tmp_path, capsys):
    """etcd leaves are fixed on the running cluster by `certs rotate`, Kubernetes leaves by
    `create --renew` + `apply`; a valid certificate gets no hint."""
    import datetime as dt

    from hawizard import pki

    path = write_plan(tmp_path, nodes=1)
    plan = P.load(path)
    plan = replace(plan, pki=replace(plan.pki, cert_days=30))
    P.dump(plan, path)
    plan = P.load(path)
    pki.create(plan, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=25))
    capsys.readouterr()
    assert main(["certs", "check", str(path)]) == 0  # expiring is a warning
    err = capsys.readouterr().err
    assert f"etcd/server-infra0 (expiring): fix with hawizard certs rotate {path}" in err
    assert f"kubernetes/admin (expiring): fix with hawizard certs create {path} --renew" in err
    assert "etcd/ca (" not in err


def test_rotate_refuses_an_unknown_ca_before_touching_anything(plan_file, capsys):
    assert main(["certs", "create", str(plan_file)]) == 0
    capsys.readouterr()
    assert main(["certs", "rotate", str(plan_file), "--ca", "root", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "unknown CA 'root'" in err and "--ca etcd" in err
    assert "checking the cluster" not in err  # refused before any probe
    assert not plan_file.with_name(f"{plan_file.stem}.rotate.json").exists()
