"""Each checklist item judged from recorded facts: the verdict, the evidence naming the node or
member, and the fix. `hawizard.ops.check` only gathers; everything decided is tested here."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import replace

import pytest

from hawizard import plan as P
from hawizard.health import CertExpiry, ClusterHealth, MemberHealth, State
from hawizard.ops.check import Checklist, find_backups
from hawizard.readiness import items as I
from hawizard.readiness.facts import MARK, NodeFacts, script, sections
from hawizard.readiness.items import Verdict

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
ETCD_CONF = (
    'listen-client-urls: "https://10.1.2.11:2379"\n'
    "client-transport-security:\n"
    '  cert-file: "/etc/ssl/etcd/ssl/server.pem"\n  client-cert-auth: true\n'
    "peer-transport-security:\n"
    '  cert-file: "/etc/ssl/etcd/ssl/peer.pem"\n  client-cert-auth: true\n'
)
UNIT = (
    "ExecStart=/usr/local/bin/kube-apiserver \\\n"
    "  --authorization-mode=Node,RBAC \\\n"
    "  --etcd-servers=https://10.1.2.11:2379 \\\n"
    "  --etcd-certfile=/etc/kubernetes/pki/etcd/apiserver-etcd-client.pem \\\n"
    "  --encryption-provider-config=/etc/kubernetes/encryption-config.yaml \\\n"
    "  --audit-policy-file=/etc/kubernetes/audit-policy.yaml \\\n"
    "  --audit-log-path=/var/log/kubernetes/audit.log\n"
)


def three(**kw) -> P.Plan:
    nodes = tuple(P.Node(f"n{i}", f"10.1.2.{11 + i}") for i in range(1, 4))
    return P.Plan(
        nodes=nodes, cluster=P.Cluster(name="prod", control_plane_endpoint="10.9.9.9:6443"), **kw
    )


def node_facts(name: str, **sec) -> NodeFacts:
    base = {
        "machine_id": hashlib.md5(name.encode()).hexdigest(),  # noqa: S324 - a test id
        "etcd_config": ETCD_CONF,
        "apiserver_unit": UNIT,
        "apiserver_active": "active",
        "journald": "Storage=persistent\nSystemMaxUse=1G",
        "journal_dir": "yes",
        "forwarders": "rsyslog",
        "timedatectl": "NTP=yes\nNTPSynchronized=yes",
        "container": "none",
        "kernel_running": "6.1.0-18-amd64",
        "pkg": "apt",
        "updates": "rc=0",
        "kernels": "6.1.0-18-amd64",
        "index_age": "600",
        "reboot_required": "no",
        "unattended": 'install ok installed\nAPT::Periodic::Unattended-Upgrade "1";',
    }
    base.update(sec)
    return NodeFacts(name, base, clock_offset_s=0.01)


def all_facts(plan, **per_node) -> dict[str, NodeFacts]:
    return {n.name: per_node.get(n.name) or node_facts(n.name) for n in plan.nodes}


def health(plan, down: tuple[str, ...] = (), certs=()) -> ClusterHealth:
    members = tuple(
        MemberHealth(
            m.name,
            f"https://{m.address}:2379",
            True,
            True,
            m.name not in down,
            m.name not in down,
            is_leader=m.name == "n1",
            error="connection refused" if m.name in down else "",
        )
        for m in plan.etcd_nodes
    )
    n, ok = len(members), len(members) - len(down)
    q = n // 2 + 1
    return ClusterHealth(
        members, n, n, ok, ok, q, max(ok - q, 0), n - q, ok >= q,
        State.HEALTHY if not down else State.DEGRADED if ok >= q else State.QUORUM_LOST,
        leader_id="1", leader_name="n1", certificates=tuple(certs),
    )  # fmt: skip


def tls_ok(plan):
    return {m.name: I.TLSProbe(True, True) for m in plan.etcd_nodes}


def test_etcd_topology_healthy_is_ok_and_says_why():
    plan = three()
    item = I.etcd_topology(plan, health(plan), all_facts(plan), tls_ok(plan))
    assert item.verdict is Verdict.OK and item.fix == ""
    text = "\n".join(item.evidence)
    assert "3 members" in text and "5 members are recommended" in text
    assert "client and peer mTLS" in text and "refused by n1, n2, n3" in text


def test_a_down_member_is_named_and_lost_quorum_fails():
    plan = three()
    item = I.etcd_topology(plan, health(plan, down=("n2",)), all_facts(plan), tls_ok(plan))
    assert item.verdict is Verdict.WARN
    assert any("n2 is down" in e for e in item.evidence) and "replace" in item.fix
    lost = I.etcd_topology(plan, health(plan, down=("n2", "n3")), all_facts(plan), tls_ok(plan))
    assert lost.verdict is Verdict.FAIL and any("quorum lost" in e for e in lost.evidence)


def with_space(h: ClusterHealth, size: int, in_use: int, alarms=()) -> ClusterHealth:
    rows = tuple(
        replace(m, db_size=size, db_size_in_use=in_use, alarms=tuple(alarms)) for m in h.members
    )
    return replace(h, members=rows)


def test_fragmentation_quota_and_nospace_name_the_defrag_command():
    plan = replace(three(), source=None)
    mib = 1024**2
    quiet = I.etcd_topology(
        plan, with_space(health(plan), 300 * mib, 250 * mib), all_facts(plan), tls_ok(plan)
    )
    assert quiet.verdict is Verdict.OK  # 300 MiB, mostly in use: nothing to say
    small = I.etcd_topology(
        plan, with_space(health(plan), 40 * mib, 4 * mib), all_facts(plan), tls_ok(plan)
    )
    assert small.verdict is Verdict.OK  # fragmented but small: not worth a word
    frag = I.etcd_topology(
        plan, with_space(health(plan), 400 * mib, 100 * mib), all_facts(plan), tls_ok(plan)
    )
    assert frag.verdict is Verdict.WARN
    assert any("n2: 75 % of its 400 MiB DB is free pages" in e for e in frag.evidence)
    assert "hawizard etcd defrag PLAN" in frag.fix
    near = I.etcd_topology(
        plan, with_space(health(plan), 1600 * mib, 1500 * mib), all_facts(plan), tls_ok(plan)
    )
    assert near.verdict is Verdict.WARN
    assert any("78 % of the 2048 MiB quota" in e for e in near.evidence)
    small_quota = replace(plan, etcd=replace(plan.etcd, quota_backend_bytes=64 * mib))
    full = I.etcd_topology(
        small_quota,
        with_space(health(small_quota), 63 * mib, 60 * mib, alarms=("NOSPACE",)),
        all_facts(small_quota),
        tls_ok(small_quota),
    )
    assert full.verdict is Verdict.FAIL
    assert any("NOSPACE alarm" in e for e in full.evidence) and "etcd defrag" in full.fix


@pytest.mark.parametrize(
    ("count", "verdict"), [(1, Verdict.FAIL), (2, Verdict.FAIL), (4, Verdict.WARN), (5, Verdict.OK)]
)
def test_member_counts(count, verdict):
    nodes = tuple(P.Node(f"n{i}", f"10.1.2.{10 + i}") for i in range(1, count + 1))
    plan = P.Plan(nodes=nodes)
    item = I.etcd_topology(plan, None, {}, {})
    assert item.verdict is verdict


def test_same_machine_insecure_config_and_unenforced_tls_fail():
    plan = three()
    facts = all_facts(plan, n3=node_facts("n3", machine_id=node_facts("n1").sections["machine_id"]))
    item = I.etcd_topology(plan, health(plan), facts, tls_ok(plan))
    assert item.verdict is Verdict.FAIL and any(
        "n3 and n1 are the same machine" in e for e in item.evidence
    )
    weak = ETCD_CONF.replace("client-cert-auth: true", "client-cert-auth: false", 1)
    item = I.etcd_topology(
        plan, health(plan), all_facts(plan, n2=node_facts("n2", etcd_config=weak)), tls_ok(plan)
    )
    assert item.verdict is Verdict.FAIL and any(
        e.startswith("✖ n2 config: client TLS") for e in item.evidence
    )
    tls = {**tls_ok(plan), "n1": I.TLSProbe(False, True)}
    item = I.etcd_topology(plan, health(plan), all_facts(plan), tls)
    assert any("n1 client port accepted a client without a certificate" in e for e in item.evidence)


def test_control_plane_flags_from_the_units():
    plan = three()
    item = I.control_plane(plan, all_facts(plan))
    assert item.verdict is Verdict.WARN  # the balancer and anonymous access, never a failure
    assert any(
        "n1: Node,RBAC, audit log, encryption at rest, etcd over mTLS" in e for e in item.evidence
    )
    bad = UNIT.replace("Node,RBAC", "AlwaysAllow").replace("https://", "http://")
    item = I.control_plane(plan, all_facts(plan, n2=node_facts("n2", apiserver_unit=bad)))
    assert item.verdict is Verdict.FAIL
    assert any(
        "n2: --authorization-mode=AlwaysAllow, etcd not over mTLS" in e for e in item.evidence
    )
    strict = UNIT.replace("--audit-log-path", "--anonymous-auth=false \\\n  --audit-log-path")
    facts = {n.name: node_facts(n.name, apiserver_unit=strict) for n in plan.nodes}
    external = replace(plan, control_plane=P.ControlPlaneSettings())
    assert I.control_plane(external, facts).verdict is Verdict.OK
    one = P.Plan(nodes=(P.Node("n1", "10.1.2.11"),))
    assert (
        I.control_plane(one, {"n1": node_facts("n1", apiserver_unit=strict)}).verdict
        is Verdict.WARN
    )


def test_authentication_from_plan_and_units():
    plan = three()
    assert I.authentication(plan, all_facts(plan)).verdict is Verdict.WARN
    assert "[control_plane.oidc]" in I.authentication(plan, all_facts(plan)).fix
    oidc = P.OIDCSettings("https://login.example.org", "kubernetes")
    withoidc = replace(plan, control_plane=P.ControlPlaneSettings(oidc=oidc))
    assert I.authentication(withoidc, all_facts(plan)).verdict is Verdict.WARN  # not rolled out
    unit = UNIT.replace(
        "--audit-log-path", "--oidc-issuer-url=https://login.example.org \\\n  --audit-log-path"
    )
    facts = {n.name: node_facts(n.name, apiserver_unit=unit) for n in plan.nodes}
    assert I.authentication(withoidc, facts).verdict is Verdict.OK


def cert(name: str, days: int, source: str = "local") -> CertExpiry:
    return CertExpiry(name, source, name, NOW + dt.timedelta(days=days), days, "ab")


def test_certificate_thresholds():
    plan = three()
    ok = I.certificates(
        health(plan, certs=[cert("etcd/ca", 3000), cert("n1 (served)", 300, "served")])
    )
    assert ok.verdict is Verdict.OK and "1 local and 1 served" in ok.evidence[0]
    soon = I.certificates(health(plan, certs=[cert("etcd/ca", 3000), cert("etcd/server-n1", 30)]))
    assert soon.verdict is Verdict.WARN and "expires in 30 days" in soon.evidence[0]
    gone = I.certificates(health(plan, certs=[cert("etcd/server-n1", -2)]))
    assert gone.verdict is Verdict.FAIL and "--renew" in gone.fix
    assert I.certificates(None).verdict is Verdict.UNKNOWN


def test_backups_from_the_snapshot_folder(tmp_path):
    from hawizard.pki.record_key import ensure_key, sign

    plan = P.Plan(
        nodes=three().nodes,
        source=tmp_path / "plan.toml",
        pki=P.PKISettings(dir=str(tmp_path / "pki")),
    )
    assert find_backups(plan) == []
    assert I.backups(plan, [], NOW).verdict is Verdict.FAIL
    snaps = tmp_path / "snapshots"
    snaps.mkdir()
    db = snaps / "prod-20261202T110000Z.db"
    db.write_bytes(b"snapshot bytes")
    meta = {"sha256": hashlib.sha256(b"snapshot bytes").hexdigest(), "revision": 42,
            "taken_at": "2026-12-02T11:00:00+00:00"}  # fmt: skip
    (snaps / (db.name + ".json")).write_text(json.dumps(meta))
    assert [b.verified for b in find_backups(plan)] == [False]  # unsigned: not trusted
    (snaps / (db.name + ".json")).write_text(json.dumps(sign(ensure_key(plan), meta)))
    found = find_backups(plan)
    assert [b.verified for b in found] == [True]
    fresh = I.backups(plan, found, NOW)
    assert fresh.verdict is Verdict.OK and "revision 42" in fresh.evidence[0]
    assert I.backups(plan, found, NOW + dt.timedelta(days=2)).verdict is Verdict.WARN
    db.write_bytes(b"tampered")
    assert I.backups(plan, find_backups(plan), NOW).verdict is Verdict.FAIL


def test_monitoring_names_the_silent_member():
    plan = three()
    metrics = {m.name: I.MetricsProbe(True, "etcd_server_has_leader 1") for m in plan.etcd_nodes}
    api = {"n1": I.MetricsProbe(False, "kube-apiserver not running", skipped=True)}
    assert I.monitoring(plan, metrics, api, "prometheus.yml").verdict is Verdict.OK
    assert I.monitoring(plan, metrics, api, None).verdict is Verdict.WARN
    metrics["n3"] = I.MetricsProbe(False, "connection refused")
    item = I.monitoring(plan, metrics, api, "prometheus.yml")
    assert item.verdict is Verdict.FAIL and any(
        "n3 :2381/metrics: connection refused" in e for e in item.evidence
    )


def test_logs_patching_clock():
    plan = three()
    assert I.logs(plan, all_facts(plan)).verdict is Verdict.OK
    volatile = node_facts("n2", journald="Storage=volatile", forwarders="")
    item = I.logs(plan, all_facts(plan, n2=volatile))
    assert item.verdict is Verdict.WARN and any("n2 (Storage=volatile)" in e for e in item.evidence)
    assert I.patching(plan, all_facts(plan)).verdict is Verdict.OK
    inst = "Inst libc6 [1] (2 Debian-Security:12/stable-security [amd64])\nrc=0"
    pending = node_facts("n1", updates=inst, kernels="6.1.0-18-amd64\n6.1.0-20-amd64")
    item = I.patching(plan, all_facts(plan, n1=pending))
    assert item.verdict is Verdict.WARN
    assert any("n1 (apt): 1 pending, 1 security" in e for e in item.evidence)
    assert any("n1: reboot needed" in e for e in item.evidence)
    unread = {**all_facts(plan), "n3": NodeFacts("n3", error="connection refused")}
    assert any(e.startswith("? n3: not read") for e in I.patching(plan, unread).evidence)
    assert I.clock(plan, all_facts(plan)).verdict is Verdict.OK
    unsynced = node_facts("n2", timedatectl="NTP=no\nNTPSynchronized=no")
    assert I.clock(plan, all_facts(plan, n2=unsynced)).verdict is Verdict.FAIL
    container = node_facts(
        "n2", timedatectl="NTP=no\nNTPSynchronized=no", container="systemd-nspawn"
    )
    assert I.clock(plan, all_facts(plan, n2=container)).verdict is Verdict.OK
    skewed = node_facts("n3")
    skewed.clock_offset_s = 2.0
    item = I.clock(plan, all_facts(plan, n3=skewed))
    assert item.verdict is Verdict.FAIL and any("n3 +2000 ms" in e for e in item.evidence)


@pytest.mark.parametrize(
    ("cni", "verdict"),
    [
        ("", Verdict.UNKNOWN),
        ("cilium", Verdict.OK),
        ("calico", Verdict.OK),
        ("flannel", Verdict.WARN),
        ("weird", Verdict.UNKNOWN),
    ],
)
def test_network_policy_follows_the_plan_cni(cni, verdict):
    plan = replace(three(), cluster=P.Cluster(name="prod", cni=cni))
    item = I.network_policy(plan)
    assert item.verdict is verdict
    assert (item.fix == "") == (verdict is Verdict.OK)


def test_exit_codes_and_json():
    plan = three()
    rows = (I.image_scanning(plan), I.network_policy(plan))
    assert I.exit_code(rows) == 0  # unknowns do not fail
    warn = I.authentication(plan, all_facts(plan))
    assert I.exit_code((*rows, warn)) == 1
    fail = I.backups(plan, [], NOW)
    assert I.exit_code((*rows, warn, fail)) == 2
    doc = Checklist((*rows, warn, fail), NOW.isoformat(), 1.5, "plan.toml").to_json()
    assert doc["exit_code"] == 2 and doc["counts"] == {"ok": 0, "warn": 1, "fail": 1, "unknown": 2}
    assert [i["symbol"] for i in doc["items"]] == ["?", "?", "▲", "✖"]
    json.dumps(doc)


def test_script_sections_are_the_ones_the_judges_read():
    text = script()
    for name in (
        "machine_id",
        "container",
        "etcd_config",
        "apiserver_unit",
        "journald",
        "timedatectl",
    ):
        assert f"'{MARK}{name}'" in text
    assert sections(f"{MARK}pkg\napt\n") == {"pkg": "apt"}


def test_the_live_balancer_in_the_control_plane_item():
    from hawizard.balancer.probe import BalancerHealth, BalancerNodeState

    plan = three()
    node = BalancerNodeState("n1", "10.1.2.12", True, holds_vip=True)
    good = BalancerHealth("vip", "10.9.9.9:6443", "10.9.9.9", (node,), endpoint_ok=True)
    item = I.control_plane(plan, all_facts(plan), good)
    assert any("VIP 10.9.9.9 held by n1" in e and "answers" in e for e in item.evidence)
    split = BalancerHealth(
        "vip", "10.9.9.9:6443", "10.9.9.9", (node,), False, "refused",
        problems=("split brain: n1 and n2 both hold 10.9.9.9",),
    )  # fmt: skip
    item = I.control_plane(plan, all_facts(plan), split)
    assert item.verdict is Verdict.FAIL
    assert (
        any("balancer: split brain" in e for e in item.evidence) and "hawizard status" in item.fix
    )


def test_a_quota_forecast_under_7_days_warns_with_the_command():
    from hawizard.forecast import QuotaForecast

    plan = replace(three(), source=None)
    mib = 1024**2
    h = with_space(health(plan), 300 * mib, 250 * mib)
    soon = QuotaForecast(bytes_per_day=400 * mib, days_left=4.4, r2=0.97, points=9)
    item = I.etcd_topology(plan, h, all_facts(plan), tls_ok(plan), soon)
    assert item.verdict is Verdict.WARN
    assert any(
        "quota reached in ~4.4 days" in e and "9 maintenance readings" in e for e in item.evidence
    )
    assert "hawizard etcd defrag PLAN" in item.fix and "quota_backend_bytes" in item.fix
    later = replace(soon, days_left=30.0)
    assert I.etcd_topology(plan, h, all_facts(plan), tls_ok(plan), later).verdict is Verdict.OK
