"""`hawizard check` against nodes that do not answer: every item still present, unknowns where
nothing could be read, one JSON document, the exit code, and bounded time."""

from __future__ import annotations

import json
import time

from hawizard import pki
from hawizard.cli import main
from hawizard.plan import SSH, Cluster, Node, PKISettings, Plan, dump


def dead_plan(tmp_path) -> Plan:
    # 127.0.0.x: loopback addresses where nothing listens on these ports (refused at once)
    ssh = SSH(user="root", port=1, key=str(tmp_path / "no-key"))
    nodes = tuple(Node(f"n{i}", f"127.0.0.{10 + i}", ssh=ssh) for i in range(1, 4))
    plan = Plan(
        nodes=nodes,
        cluster=Cluster(
            name="dead",
            control_plane_endpoint="127.0.0.11:8443",
            known_hosts=str(tmp_path / "known_hosts"),
        ),
        pki=PKISettings(dir=str(tmp_path / "pki")),
    )
    dump(plan, tmp_path / "plan.toml")
    return plan


def test_check_json_on_unreachable_nodes(tmp_path, capsys):
    plan = dead_plan(tmp_path)
    (tmp_path / "known_hosts").write_text("")
    pki.create(plan)
    start = time.monotonic()
    code = main(["check", str(tmp_path / "plan.toml"), "--json"])
    took = time.monotonic() - start
    doc = json.loads(capsys.readouterr().out)  # exactly one document on stdout
    assert code == doc["exit_code"] == 2
    assert [i["number"] for i in doc["items"]] == list(range(1, 12))
    items = {i["key"]: i for i in doc["items"]}
    assert items["etcd"]["verdict"] == "fail"  # no member answers: quorum lost
    assert any("n1" in e and "down" in e for e in items["etcd"]["evidence"])
    assert items["backups"]["verdict"] == "fail"
    for key in ("logs", "patching", "clock"):
        assert items[key]["verdict"] == "unknown"
        assert all(e.startswith("? ") and "not read" in e for e in items[key]["evidence"])
    assert items["monitoring"]["verdict"] == "fail"
    assert took < 20, took


def test_check_table_and_bad_plan(tmp_path, capsys):
    dead_plan(tmp_path)
    (tmp_path / "known_hosts").write_text("")
    assert main(["check", str(tmp_path / "plan.toml")]) == 2
    out = capsys.readouterr().out
    for title in ("etcd topology", "Backups", "Network policy"):
        assert title in out
    assert "✖" in out and "?" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[cluster]\ncni = 'Not A Name'\n")
    assert main(["check", str(bad)]) == 2
    assert "cluster.cni" in capsys.readouterr().err
