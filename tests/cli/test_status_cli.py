"""`hawizard status`: exit codes, the table, `--json` and `--watch`, against a real local etcd."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

from fixtures.local_etcd import LocalEtcd
from test_health import DOCUMENTED_KEYS, MEMBER_KEYS

from hawizard.cli import main, output
from hawizard.plan import dump


def _status(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["status", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_healthy_table_and_exit_0(etcd_cluster: LocalEtcd, capsys, monkeypatch) -> None:
    monkeypatch.setattr(output.console, "_width", 200)  # a wide terminal: no folded headers
    rc, out, _ = _status(capsys, str(etcd_cluster.plan_path))
    assert rc == 0
    assert "HEALTHY" in out and "3/3 healthy · tolerates 1 more failure" in out
    for column in ("endpoint", "id", "version", "db size", "leader", "learner", "raft term"):
        assert column in out
    assert "etcd/server-m1" in out and "m1 (served)" in out
    for name in etcd_cluster.names:
        assert etcd_cluster.client_url(name).removeprefix("https://") in out


def test_certificate_rows_are_one_line_at_80_columns(
    etcd_cluster: LocalEtcd, capsys, monkeypatch
) -> None:
    """A pipe's width: every certificate stays on one line with its name and expiry (the CN
    column used to fold "apiserver-etcd-client" over three lines)."""
    monkeypatch.setattr(output.console, "_width", 80)
    rc, out, _ = _status(capsys, str(etcd_cluster.plan_path), "--etcd-only")
    assert rc == 0
    table = out[out.index("certificate expiry") :].splitlines()
    rows = [line for line in table if line.startswith((" etcd/", " m"))]
    assert len(rows) == len(etcd_cluster.names) * 3 + 3  # served + server + peer, ca/admin/client
    for row in rows:
        assert len(row) <= 80 and row.split()[-2].count("-") == 2, row  # the expiry date
    assert any(
        r.split()[:2] == ["etcd/apiserver-etcd-client", "apiserver-etcd-client"] for r in rows
    )


def test_json_is_the_documented_schema(etcd_cluster: LocalEtcd, capsys) -> None:
    rc, out, _ = _status(capsys, str(etcd_cluster.plan_path), "--json")
    data = json.loads(out)
    assert rc == 0 and data["exit_code"] == 0 and data["state"] == "healthy"
    # status adds the apiservers, probed in the same round, to ClusterHealth's schema, and
    # the age of the last verified backup (issue 16)
    assert set(data) == DOCUMENTED_KEYS | {
        "apiservers",
        "control_plane_started",
        "last_verified_backup",
        "last_maintenance",  # issue 26: the last etcd defrag run's record (null: none yet)
    }
    assert set(data["last_verified_backup"]) == {
        "state",
        "age_s",
        "path",
        "every_s",
        "dir",
        "refused",
    }  # refused: records failing their signature (issue 25)
    assert data["last_verified_backup"]["state"] == "red"  # no backup taken here
    for row in data["apiservers"]:
        assert set(row) == {
            "node",
            "url",
            "state",
            "livez",
            "readyz",
            "failed_checks",
            "error",
            "latency_ms",
        }
        assert row["state"] == "not running"  # nothing listens on :6443 here
    assert [set(m) for m in data["members"]] == [MEMBER_KEYS] * 3
    assert sum(m["is_leader"] for m in data["members"]) == 1
    assert data["tolerates"] == 1 and data["quorum"] == 2


def test_json_and_text_show_the_last_maintenance(etcd_cluster: LocalEtcd, capsys) -> None:
    from hawizard.ops.maintenance import record_path, result_record, write_last

    report = {"members": [{"name": "m1", "db_before": 412 * 1024**2, "db_after": 98 * 1024**2}]}
    doc = result_record("defragmented", "blocked m1 1.20 s", if_needed=True, report=report)
    write_last(etcd_cluster.plan_path, doc)
    try:
        _, out, _ = _status(capsys, str(etcd_cluster.plan_path), "--json")
        last = json.loads(out)["last_maintenance"]
        assert last["outcome"] == "defragmented" and last["at"] == doc["at"]
        assert last["members"][0]["db_after"] == 98 * 1024**2
        assert "in_use_readings" not in last
        _, text, _ = _status(capsys, str(etcd_cluster.plan_path))
        assert "last maintenance: defragmented" in text and "m1 412 → 98 MiB" in text
    finally:
        record_path(etcd_cluster.plan_path).unlink()


def test_etcd_only_asks_etcd_alone(etcd_cluster: LocalEtcd, capsys, monkeypatch) -> None:
    """`--etcd-only` (issue 30): the members and their certificates, none of the other keys,
    the same exit code; the table shows the members and no apiserver section."""
    rc, out, _ = _status(capsys, str(etcd_cluster.plan_path), "--json", "--etcd-only")
    data = json.loads(out)
    assert rc == 0 and data["exit_code"] == 0 and data["state"] == "healthy"
    assert set(data) == DOCUMENTED_KEYS | {"scope"} and data["scope"] == "etcd"
    assert [set(m) for m in data["members"]] == [MEMBER_KEYS] * 3
    monkeypatch.setattr(output.console, "_width", 200)
    rc, out, _ = _status(capsys, str(etcd_cluster.plan_path), "--etcd-only")
    assert rc == 0 and "3/3 healthy" in out and "kube-apiservers" not in out
    etcd_cluster.stop("m3")
    rc, out, _ = _status(capsys, str(etcd_cluster.plan_path), "--json", "--etcd-only")
    assert rc == 1 and json.loads(out)["state"] == "degraded"


# What a scripted `status --etcd-only --json` must not import: the other faces, SSH, the
# other command groups and the probes it does not run (issue 30: each costs every poll).
HEAVY = (
    "textual",
    "rich",
    "paramiko",
    "fabric",
    "invoke",
    "hawizard.balancer",
    "hawizard.control_plane",
    "hawizard.etcd.backup",
    "hawizard.cli.apply_cmd",
    "hawizard.cli.restore_cmd",
    "hawizard.tui",
)


def test_etcd_only_process_imports_nothing_heavy(etcd_cluster: LocalEtcd) -> None:
    """A whole `hawizard status --json --etcd-only` process, counted by module, not timed."""
    script = (
        "import contextlib, io, sys\n"
        "from hawizard.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    rc = main(sys.argv[1:])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}\n"
        f"               or m.startswith({HEAVY!r}))\n"
        "print(rc, heavy, '\\n' in out.getvalue())\n"
    )
    argv = ["status", str(etcd_cluster.plan_path), "--json", "--etcd-only"]
    done = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "0 [] True", done.stderr
    full = subprocess.run(
        [sys.executable, "-c", script, *argv[:-1]], capture_output=True, text=True, timeout=60
    )
    assert "hawizard.etcd.backup" in full.stdout  # the check can see an import when one is made


def test_ssh_fallback_keeps_the_direct_path_when_it_works(etcd_cluster: LocalEtcd, capsys):
    rc, out, _ = _status(capsys, str(etcd_cluster.plan_path), "--json", "--ssh-fallback")
    assert rc == 0 and {m["path"] for m in json.loads(out)["members"]} == {"direct"}


def test_one_member_down_exits_1(etcd_cluster: LocalEtcd, capsys) -> None:
    victim = etcd_cluster.followers()[0]
    etcd_cluster.kill(victim)
    rc, out, _ = _status(capsys, str(etcd_cluster.plan_path), "--timeout", "1")
    assert rc == 1
    assert "DEGRADED" in out and "2/3 healthy · tolerates 0 more failures" in out
    assert f"{victim} is unreachable: connection refused" in out


def test_quorum_lost_exits_2(etcd_cluster: LocalEtcd, capsys) -> None:
    etcd_cluster.kill("m1")
    etcd_cluster.kill("m2")
    rc, out, _ = _status(capsys, str(etcd_cluster.plan_path), "--json", "--timeout", "1")
    data = json.loads(out)
    assert rc == 2 and data["state"] == "quorum_lost" and data["exit_code"] == 2
    assert data["quorum_ok"] is False and data["tolerates"] == 0


def test_served_cert_mismatch_exits_1(etcd_cluster: LocalEtcd, capsys) -> None:
    etcd_cluster.restart("m2", serve_cert_of="m3")
    etcd_cluster.wait_healthy()
    rc, out, _ = _status(capsys, str(etcd_cluster.plan_path), "--json")
    data = json.loads(out)
    assert rc == 1
    m2 = next(m for m in data["members"] if m["name"] == "m2")
    assert m2["healthy"] and m2["cert_problem"] == "serves m3's certificate instead of its own"
    assert m2["served_cert"]["common_name"] == "m3"


def test_missing_client_certificate_is_a_usage_error(etcd_cluster: LocalEtcd, tmp_path, capsys):
    plan = replace(etcd_cluster.plan, pki=replace(etcd_cluster.plan.pki, dir=str(tmp_path)))
    path = tmp_path / "plan.toml"
    dump(plan, path)
    rc, out, err = _status(capsys, str(path))
    assert rc == 2 and out == ""
    assert "etcd-admin.pem" in err and "hawizard certs create" in err


def test_bad_timeout_is_rejected(etcd_cluster: LocalEtcd, capsys) -> None:
    try:
        rc = main(["status", str(etcd_cluster.plan_path), "--timeout", "0"])
    except SystemExit as exc:
        rc = exc.code
    assert rc == 2
    assert "must be more than 0 seconds" in capsys.readouterr().err


def _run_watch(
    cluster: LocalEtcd, *extra: str, lines: int, after_first=None
) -> tuple[int, list[str]]:
    """Start `hawizard status --watch` for real, read `lines` lines (20 s at most, from a
    reader thread so a silent child cannot hang the test), then Ctrl-C it. `after_first` runs
    once the first line is in (to change the cluster under the watch)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hawizard", "status", str(cluster.plan_path), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    got: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [got.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    out: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while len(out) < lines and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                out.append(got.get(timeout=0.2))
                if after_first is not None and len(out) == 1:
                    after_first()
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return proc.returncode, out


def test_watch_json_prints_one_document_per_round_until_ctrl_c(etcd_cluster: LocalEtcd):
    rc, lines = _run_watch(etcd_cluster, "--watch", "0.2", "--json", lines=3)
    docs = [json.loads(line) for line in lines]
    assert len(docs) == 3 and all(d["state"] == "healthy" for d in docs)
    assert docs[0]["checked_at"] < docs[1]["checked_at"] < docs[2]["checked_at"]
    assert rc == 0, "Ctrl-C ends the watch with the last round's exit code"


def test_watch_reports_one_leader_change_naming_the_new_leader(etcd_cluster: LocalEtcd):
    leader = next(n for n in etcd_cluster.names if n not in etcd_cluster.followers())
    rc, lines = _run_watch(
        etcd_cluster,
        "--watch",
        "0.3",
        "--json",
        lines=12,
        after_first=lambda: etcd_cluster.kill(leader),
    )
    docs = [json.loads(line) for line in lines]
    assert docs[0]["events"] == []  # the first round is the baseline
    events = [e for d in docs for e in d["events"]]
    changes = [e for e in events if e["kind"] == "leader"]
    assert len(changes) == 1, events
    new = changes[0]["subject"]
    assert new != leader and new in etcd_cluster.names
    assert changes[0]["text"].startswith(f"leader is now {new}")
    assert docs[-1]["leader"]["name"] == new
    assert any(e["kind"] == "unhealthy" and e["subject"] == leader for e in events)
    assert rc == 1  # the killed member leaves the cluster degraded


def test_watch_redraws_the_table(etcd_cluster: LocalEtcd) -> None:
    rc, lines = _run_watch(etcd_cluster, "--watch", "0.2", lines=120)
    text = "".join(lines)
    assert text.count("3/3 healthy") >= 2, "piped output gets one report per round"
    assert "etcd members" in text
    assert rc == 0


def test_apiservers_count_only_when_the_control_plane_should_run(
    etcd_cluster: LocalEtcd, tmp_path, capsys
) -> None:
    """Nothing listens on :6443 here, so every apiserver is "not running": a staged control
    plane (start = false) keeps a healthy etcd at exit 0, a started one makes it degraded."""
    from hawizard.plan import Role

    masters = tuple(
        replace(n, roles=(Role.ETCD, Role.CONTROL_PLANE)) for n in etcd_cluster.plan.nodes
    )
    base = replace(
        etcd_cluster.plan.with_nodes(masters),
        cluster=replace(etcd_cluster.plan.cluster, control_plane_endpoint="127.0.0.1:8443"),
    )
    # The fixture's plan is etcd-only, so it made no Kubernetes certificates; with masters the
    # plan needs them (apply makes them first), and the probes use the admin client cert.
    from hawizard import pki

    pki.create(base)
    for start, expected in ((False, 0), (True, 1)):
        plan = replace(base, control_plane=replace(base.control_plane, start=start))
        path = tmp_path / f"plan-{start}.toml"
        dump(plan, path)
        rc, out, _ = _status(capsys, str(path), "--json")
        data = json.loads(out)
        assert [a["state"] for a in data["apiservers"]] == ["not running"] * 3
        assert data["state"] == "healthy" and data["control_plane_started"] is start
        assert rc == expected and data["exit_code"] == expected


def test_every_member_state_has_its_colour() -> None:
    from hawizard.cli.status_cmd import _MEMBER_STYLE
    from hawizard.health import MemberState

    assert set(_MEMBER_STYLE) == {s.value for s in MemberState}


def test_watch_json_adds_the_quota_forecast_once_the_history_supports_one(capsys):
    """`--watch`'s rounds (here made with their own `checked_at`, 20 s apart, in-use size
    growing 1 GiB/day toward a 2 GiB quota) give a `quota_forecast` from the 6th round on."""
    import datetime as dt
    from dataclasses import replace

    from hawizard.cli.status_cmd import _watch
    from hawizard.health import ClusterHealth, MemberHealth, State
    from hawizard.ops.status import StatusReport

    start = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)
    count = {"n": 0}
    member = MemberHealth("m1", "https://127.0.0.1:2379", True, True, True, True, is_leader=True)

    def round_():
        i = count["n"]
        if i == 8:
            raise KeyboardInterrupt
        count["n"] += 1
        in_use = int(1024**3 + i * 20 * 1024**3 / 86400)
        row = replace(member, db_size=in_use, db_size_in_use=in_use)
        health = ClusterHealth(
            members=(row,),
            member_count=1,
            voter_count=1,
            healthy_count=1,
            healthy_voters=1,
            quorum=1,
            tolerates=0,
            design_tolerance=0,
            quorum_ok=True,
            state=State.HEALTHY,
            leader_id="1",
            leader_name="m1",
            checked_at=start + dt.timedelta(seconds=20 * i),
        )
        return StatusReport(health, (), False)

    _watch(round_, 0.0, True)
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(docs) == 8
    assert all("quota_forecast" not in d for d in docs[:5])  # too few points yet
    forecast = docs[-1]["quota_forecast"]
    assert abs(forecast["bytes_per_day"] - 1024**3) < 1024**2
    assert 0.99 <= forecast["days_left"] <= 1.0 and forecast["points"] == 8
