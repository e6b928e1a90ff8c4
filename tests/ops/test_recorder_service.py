"""`[monitoring] record = true` (issue 31): the recorder's unit, its sandbox and quoting, what
`sync` does with it, and the unit's own command recording a real cluster."""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hawizard.ops import Refused
from hawizard.ops.recorder_service import EVERY_S, render, sync, unit_name
from hawizard.ops.recording import open_store
from hawizard.plan import Cluster, MonitoringSettings, Node, Plan, PlanError, Role, loads


def a_plan(path: Path, record: bool = True) -> Plan:
    return Plan(
        nodes=(Node("n1", "10.1.2.11", roles=(Role.ETCD,)),),
        cluster=Cluster(name="prod"),
        monitoring=MonitoringSettings(record=record),
        source=path,
    )


def exec_start(unit: str) -> list[str]:
    line = next(x for x in unit.splitlines() if x.startswith("ExecStart="))
    return [a.replace("%%", "%").replace("$$", "$") for a in shlex.split(line[10:])]


def test_the_system_unit_runs_status_record_sandboxed(tmp_path):
    plan = a_plan(tmp_path / "plan.toml")
    unit = render(plan, user_unit=False)
    argv = exec_start(unit)
    assert argv[1:4] == ["-m", "hawizard", "status"]
    assert argv[4] == str((tmp_path / "plan.toml").resolve())
    assert argv[5:] == ["--watch", str(EVERY_S), "--record"]
    for line in (
        "ProtectSystem=strict",
        f"ReadWritePaths={tmp_path.resolve()}",
        "NoNewPrivileges=yes",
        'CapabilityBoundingSet=""',
        "Restart=always",
        "StandardOutput=null",
        "WantedBy=multi-user.target",
    ):
        assert line in unit.splitlines(), line
    assert unit_name(plan) == "hawizard-record-prod"
    user = render(plan, user_unit=True)
    assert "ProtectSystem" not in user and "WantedBy=default.target" in user


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=30).filter(lambda s: "/" not in s and s not in (".", "..")))
def test_a_hostile_plan_folder_never_adds_a_line(tmp_path_factory, name):
    folder = tmp_path_factory.mktemp("plans") / name
    plan = a_plan(folder / "plan.toml")
    try:
        unit = render(plan, user_unit=True)
    except ValueError:
        return  # refused, naming the value: fine
    assert exec_start(unit)[4] == str(folder.resolve() / "plan.toml")
    directives = [x.split("=", 1)[0] for x in unit.splitlines() if x and not x.startswith("#")]
    assert directives.count("ExecStart") == 1
    assert all(d in {"[Unit]", "[Service]", "[Install]"} or d.isalpha() for d in directives)


def test_the_plan_field_is_validated_by_name():
    with pytest.raises(PlanError, match=r"monitoring\.record"):
        loads(
            'version = 1\n[cluster]\nname = "c"\n[monitoring]\nrecord = "yes"\n'
            '[[nodes]]\nname = "n1"\naddress = "10.1.2.11"\nroles = ["etcd"]\n'
        )


def test_sync_removes_what_it_wrote_and_says_when_systemd_is_missing(tmp_path):
    units = tmp_path / "units"
    plan = a_plan(tmp_path / "plan.toml")
    (tmp_path / "plan.toml").write_text("")
    # no systemd runs here (PID 1 is not systemd): the unit is written, the refusal says so
    with pytest.raises(Refused, match="systemd could not start it") as exc:
        sync(plan, user=True, units=units)
    assert str(units / "hawizard-record-prod.service") in exc.value.reason
    assert (units / "hawizard-record-prod.service").exists()
    done = sync(replace(plan, monitoring=MonitoringSettings(record=False)), user=True, units=units)
    assert done.action == "removed" and not done.unit.exists()
    again = sync(replace(plan, monitoring=MonitoringSettings(record=False)), user=True, units=units)
    assert again.action == "absent"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_reads_the_unit_without_complaint(tmp_path):
    plan = a_plan(tmp_path / "plan.toml")
    path = tmp_path / "hawizard-record-prod.service"
    path.write_text(render(plan, user_unit=False))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    bad = [
        line
        for line in (out.stderr + out.stdout).splitlines()
        if "hawizard-record-prod.service" in line and "Unknown" in line
    ]
    assert not bad, out.stderr


def test_the_units_command_records_a_real_cluster(etcd_cluster):
    """What the service runs, run here for a few rounds against real etcd members: rounds
    land in the plan's recording (systemd itself does not run on this machine)."""
    plan = replace(etcd_cluster.plan, source=etcd_cluster.plan_path)
    argv = exec_start(render(plan, user_unit=True))
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        time.sleep(3 * EVERY_S + 2)
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 130), err[-2000:]
    with open_store(plan, create=False) as store:
        recorded = list(store.rounds())
    assert len(recorded) >= 2, err[-2000:]
    assert {m.name for m in recorded[-1].health.members} == set(etcd_cluster.names)
