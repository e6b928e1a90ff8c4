"""`hawizard status --watch --record` and `hawizard incident`, against a real local etcd: a
member killed and started again under a recording watch shows as "unhealthy" then "healthy
again", at the rounds that saw it."""

from __future__ import annotations

import datetime as dt
import json
import time

from fixtures.local_etcd import LocalEtcd
from test_status_cli import _run_watch

from hawizard import sidecars
from hawizard.cli import main
from hawizard.plan import dump


def _plan_copy(cluster: LocalEtcd, tmp_path):
    """The cluster's plan in a folder of the test's own, so its recording is the test's."""
    path = tmp_path / "plan.toml"
    dump(cluster.plan, path)
    cluster.plan_path, old = path, cluster.plan_path
    return path, old


def test_record_needs_watch(etcd_cluster: LocalEtcd, tmp_path, capsys):
    path, _ = _plan_copy(etcd_cluster, tmp_path)
    assert main(["status", str(path), "--record"]) == 2
    assert "--record needs --watch" in capsys.readouterr().err
    assert not sidecars.recorder_path(path).exists()


def test_incident_input_errors(etcd_cluster: LocalEtcd, tmp_path, capsys):
    path, _ = _plan_copy(etcd_cluster, tmp_path)
    assert main(["incident", str(path), "--since", "2m"]) == 2
    assert "nothing recorded for this plan yet" in capsys.readouterr().err
    assert main(["incident", str(path), "--since", "yesterday"]) == 2
    assert "--since 'yesterday' is neither a duration nor a time" in capsys.readouterr().err
    assert main(["incident", str(path), "--since", "1m", "--until", "2m"]) == 2
    assert "is before --since" in capsys.readouterr().err


def test_member_killed_and_restarted_under_a_recording_watch(
    etcd_cluster: LocalEtcd, tmp_path, capsys
):
    path, old = _plan_copy(etcd_cluster, tmp_path)
    victim = etcd_cluster.names[1]
    marks: dict[str, float] = {}

    def fault() -> None:
        marks["kill"] = time.time()
        etcd_cluster.kill(victim)
        time.sleep(1.5)
        etcd_cluster.start(victim)
        etcd_cluster.wait_healthy()
        marks["healthy"] = time.time()

    try:
        _rc, lines = _run_watch(
            etcd_cluster, "--watch", "0.3", "--json", "--record", lines=14, after_first=fault
        )
    finally:
        etcd_cluster.plan_path = old
    docs = [json.loads(line) for line in lines]
    states = [
        (d["checked_at"], {m["name"]: m["healthy"] for m in d["members"]}[victim]) for d in docs
    ]
    first_down = next(at for at, ok in states if not ok)
    first_up = next(at for at, ok in states if ok and at > first_down)

    assert main(["incident", str(path), "--since", "2m", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    mine = [e for e in doc["timeline"] if e["subject"] == victim]
    assert [e["kind"] for e in mine][:2] == ["unhealthy", "healthy"]
    assert mine[0]["text"].startswith(f"{victim} unhealthy")
    assert mine[1]["text"] == f"{victim} healthy again"
    # the very rounds the watch printed: within one round of the fault
    assert dt.datetime.fromisoformat(mine[0]["at"]) == dt.datetime.fromisoformat(first_down)
    assert dt.datetime.fromisoformat(mine[1]["at"]) == dt.datetime.fromisoformat(first_up)
    assert dt.datetime.fromisoformat(first_down).timestamp() >= marks["kill"] - 5.0
    assert doc["start"]["state"] == "healthy"

    assert main(["incident", str(path), "--since", "2m"]) == 0
    md = capsys.readouterr().out
    assert md.index(f"{victim} unhealthy") < md.index(f"{victim} healthy again")


def test_replay_input_errors(etcd_cluster: LocalEtcd, tmp_path, capsys):
    path, _ = _plan_copy(etcd_cluster, tmp_path)
    assert main(["dashboard", str(path), "--since", "2m"]) == 2
    assert "--since and --until choose what --replay shows" in capsys.readouterr().err
    assert main(["dashboard", str(path), "--replay"]) == 2
    assert "nothing recorded for this plan yet" in capsys.readouterr().err
    assert main(["dashboard", str(path), "--replay", "--until", "noon"]) == 2
    assert "--until 'noon' is neither" in capsys.readouterr().err
    from hawizard.ops.recording import open_store
    from hawizard.plan import load

    open_store(load(path)).close()
    assert main(["dashboard", str(path), "--replay", "--since", "1h"]) == 2
    assert "no round recorded between" in capsys.readouterr().err
