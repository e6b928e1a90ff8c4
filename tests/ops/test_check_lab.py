"""`hawizard check` and the exported monitoring against a real 3-member lab cluster.

- check on a freshly applied cluster: every item present with a verdict; etcd topology,
  certificates, monitoring (after `monitoring export`) and clock ✔; backups ✖ until a snapshot
  exists, then ✔; patching carries the numbers each node's apt gave; `--json` is one document.
- a powered-off member turns items 1 and 6 ▲/✖, naming it.
- the REAL Prometheus (Debian's package, on this machine's loopback only) scrapes the exported
  config: every etcd target up; `lab fault NODE stop` → up == 0 for that member within two
  scrape intervals, and etcdMembersDown pending, then firing once its `for:` has passed.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from fixtures.etcd_rollout import etcd_on_lab

from hawizard.cli import main
from hawizard.etcd.probe import wait_healthy
from hawizard.monitoring import ALERTS
from hawizard.plan import MonitoringSettings

pytestmark = pytest.mark.lab

SCRAPE_S = 2  # the plan's scrape interval for these tests
KEYS = [
    "etcd",
    "control_plane",
    "auth",
    "certificates",
    "backups",
    "monitoring",
    "logs",
    "patching",
    "clock",
    "image_scanning",
    "network_policy",
]


@pytest.fixture(scope="module")
def plan(lab, tmp_path_factory):
    from dataclasses import replace

    folder = tmp_path_factory.mktemp("check")
    (folder / "pki").mkdir(mode=0o700)
    base = lab.plan(nodes=3, pki_dir=folder / "pki")
    base = replace(base, monitoring=MonitoringSettings(enabled=True, scrape_interval=SCRAPE_S))
    names = [n.name for n in base.nodes]
    try:
        plan = etcd_on_lab(lab, folder, base=base)
        yield plan
    finally:
        lab.reset(*names)


def check(plan, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["check", str(plan.source), "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)  # one JSON document, nothing else on stdout


def by_key(doc: dict) -> dict[str, dict]:
    return {i["key"]: i for i in doc["items"]}


def test_check_on_a_fresh_cluster_then_with_a_snapshot(plan, capsys):
    assert main(["monitoring", "export", str(plan.source)]) == 0
    started = time.monotonic()
    code, doc = check(plan, capsys)
    took = time.monotonic() - started
    items = by_key(doc)
    assert [i["key"] for i in doc["items"]] == KEYS
    assert all(i["verdict"] in ("ok", "warn", "fail", "unknown") for i in doc["items"])
    for key in ("etcd", "certificates", "monitoring", "clock"):
        assert items[key]["verdict"] == "ok", items[key]
    assert (
        items["backups"]["verdict"] == "fail"
        and "hawizard etcd snapshot" in items["backups"]["fix"]
    )
    assert code == 2 == doc["exit_code"]
    patching = items["patching"]["evidence"]
    for node in plan.nodes:  # the numbers each node's own apt gave
        assert any(f"{node.name} (apt): " in e and " pending, " in e for e in patching), patching
    assert any("refused by" in e for e in items["etcd"]["evidence"])  # live mTLS enforcement
    with capsys.disabled():
        print(f"check took {took:.1f} s")
    assert took < 60, f"check took {took:.1f} s"

    capsys.readouterr()
    assert main(["etcd", "snapshot", str(plan.source)]) == 0
    _, doc = check(plan, capsys)
    assert by_key(doc)["backups"]["verdict"] == "ok", by_key(doc)["backups"]


def test_a_stopped_member_is_named_in_items_1_and_6(lab, plan, capsys):
    victim = plan.etcd_nodes[1].name
    lab.fault(victim, "stop")
    try:
        code, doc = check(plan, capsys)
        items = by_key(doc)
        assert items["etcd"]["verdict"] in ("warn", "fail")
        assert any(victim in e and "down" in e for e in items["etcd"]["evidence"])
        assert items["monitoring"]["verdict"] in ("warn", "fail")
        assert any(victim in e and "/metrics" in e for e in items["monitoring"]["evidence"])
        assert code == 2
    finally:
        lab.fault(victim, "start")
        wait_healthy(plan, timeout=90)


# --- the real Prometheus ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(port: int, path: str, **params) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())["data"]


def _etcd_up(port: int) -> dict[str, float]:
    rows = _api(port, "query", query='up{job="etcd"}')["result"]
    return {r["metric"]["member"]: float(r["value"][1]) for r in rows}


def _wait(what: str, fn, timeout: float, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not seen within {timeout:.0f} s")
        time.sleep(every)


@pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="scripts/setup.sh installs prometheus"
)
def test_real_prometheus_sees_a_member_go_down(lab, plan, tmp_path):
    out = tmp_path / "mon"
    assert main(["monitoring", "export", str(plan.source), str(out)]) == 0
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={out / 'prometheus.yml'}",
            f"--web.listen-address=127.0.0.1:{port}",  # loopback only
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    victim = plan.etcd_nodes[2].name
    stopped = False
    try:
        names = {m.name for m in plan.etcd_nodes}
        _wait(
            "all etcd targets up",
            lambda: (
                (up := _etcd_up(port)) and set(up) == names and all(v == 1 for v in up.values())
            ),
            timeout=60,
        )
        rules = _api(port, "rules")["groups"]
        assert {r["name"] for g in rules for r in g["rules"]} == {a.name for a in ALERTS}

        began = time.monotonic()
        lab.fault(victim, "stop")
        stopped = True
        down_at = time.monotonic()
        _wait(
            f"up == 0 for {victim}",
            lambda: _etcd_up(port).get(victim) == 0,
            timeout=2 * SCRAPE_S + 1,
        )
        seen_after = time.monotonic() - down_at
        print(
            f"up == 0 for {victim} seen {seen_after:.1f} s after the stop returned "
            f"({time.monotonic() - began:.1f} s after it began)"
        )
        assert seen_after <= 2 * SCRAPE_S + 1

        def alert_state() -> str | None:
            for a in _api(port, "alerts")["alerts"]:
                if (
                    a["labels"].get("alertname") == "etcdMembersDown"
                    and a["labels"].get("member") == victim
                ):
                    return a["state"]
            return None

        assert _wait(
            "etcdMembersDown pending", lambda: alert_state() == "pending", timeout=3 * SCRAPE_S
        )
        pending_at = time.monotonic()
        members_down = next(a for a in ALERTS if a.name == "etcdMembersDown")
        assert members_down.for_ == "1m"
        assert alert_state() == "pending"  # `for: 1m` has not passed yet
        _wait(
            "etcdMembersDown firing", lambda: alert_state() == "firing", timeout=60 + 4 * SCRAPE_S
        )
        fired_after = time.monotonic() - pending_at
        print(f"etcdMembersDown firing {fired_after:.1f} s after pending (for: 1m)")
        assert fired_after >= 60 - 2 * SCRAPE_S  # not before its `for:`
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        if stopped:
            lab.fault(victim, "start")
            wait_healthy(plan, timeout=90)
    assert Path(out / "prometheus.yml").exists()
