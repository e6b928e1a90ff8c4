"""A real NOSPACE alarm, as the dashboard and `status` see it: a one-member etcd on loopback
with a tiny backend quota, filled until it refuses writes, then probed."""

from __future__ import annotations

from fixtures.local_etcd import LocalEtcd

from hawizard.etcd import probe
from hawizard.health_history import EventKind, History

QUOTA = 256 * 1024  # bytes: small enough to fill in a second


def test_a_full_backend_raises_nospace_in_the_health_model(tmp_path):
    with LocalEtcd(tmp_path, members=1, extra_args=(f"--quota-backend-bytes={QUOTA}",)) as etcd:
        etcd.wait_healthy()
        history = History()
        history.record(probe.cluster_health(etcd.plan))
        value = "x" * 60_000
        for i in range(64):
            done = etcd.etcdctl("put", f"/fill/{i}", value)
            if done.returncode != 0:
                break
        assert "database space exceeded" in done.stderr
        health = probe.cluster_health(etcd.plan)
        assert health.alarms == ("NOSPACE",)
        assert health.member("m1").alarms == ("NOSPACE",)
        assert "alarm NOSPACE" in health.details
        (event,) = [e for e in history.record(health) if e.kind is EventKind.ALARM]
        assert event.text == "alarm NOSPACE raised (m1)"
