"""The check's own probes against real servers on loopback: an apiserver stand-in
(`openssl s_server` with the plan's apiserver certificate, requiring a client certificate)
answers /metrics to the monitoring certificate, and its served certificate reaches item 4."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import time

import pytest

from hawizard import pki
from hawizard.ops.check import apiserver_metrics, served_rows
from hawizard.plan import SSH, Cluster, MonitoringSettings, Node, PKISettings, Plan
from hawizard.readiness import items as I

ADDRESS = "127.0.0.57"  # a loopback address of its own, so :6443 is free


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl")
def test_apiserver_metrics_with_the_monitoring_cert_and_its_served_cert(tmp_path):
    if not _port_free(ADDRESS, 6443):
        pytest.skip(f"{ADDRESS}:6443 is taken")
    plan = Plan(
        nodes=(Node("m1", ADDRESS, ssh=SSH()),),
        cluster=Cluster(name="probe"),
        pki=PKISettings(dir=str(tmp_path / "pki")),
        monitoring=MonitoringSettings(enabled=True),
    )
    pki.create(plan)
    layout = pki.paths(plan)
    server = subprocess.Popen(
        [
            "openssl", "s_server", "-quiet", "-www",
            "-accept", f"{ADDRESS}:6443",
            "-cert", str(layout.apiserver.cert), "-key", str(layout.apiserver.key),
            "-Verify", "1", "-verify_return_error", "-CAfile", str(layout.kubernetes_ca.cert),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while _port_free(ADDRESS, 6443):
            assert time.monotonic() < deadline, "openssl s_server did not listen"
            time.sleep(0.05)
        probe = apiserver_metrics(plan, plan.nodes[0])
        assert probe.ok, probe.detail
        assert probe.served_cert.common_name == "kube-apiserver"
        rows = served_rows({"m1": probe}, dt.datetime.now(dt.UTC))
        item = I.certificates(None, rows)
        assert item.verdict is I.Verdict.OK and "1 served" in item.evidence[0]
    finally:
        server.terminate()
        server.wait(timeout=10)
    # nothing listening: skipped as not running, never a failure of the item
    down = apiserver_metrics(plan, plan.nodes[0])
    assert down.skipped and "not running" in down.detail
