"""The runner against a real sshd: several plan nodes on 127.0.0.1, each its own connection.

Parallelism is judged from event timestamps (overlap of started/finished), not wall time.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard.journal import Journal
from hawizard.plan import SSH, Node
from hawizard.remote import Host, HostPool, Timeouts
from hawizard.steps import LOCAL, Event, EventKind, Failure, Local, Phase, Runner, Step

FAST = Timeouts(connect=2, banner=2, auth=2, command=20)


class Events(list):
    def __call__(self, event: Event) -> None:
        self.append(event)

    def of(self, kind: EventKind, node: str | None = None) -> list[Event]:
        return [e for e in self if e.kind is kind and (node is None or e.node == node)]

    def spans(self) -> dict[tuple[str | None, str], tuple[float, float]]:
        start = {(e.node, e.step): e.at for e in self.of(EventKind.STARTED)}
        ends = (EventKind.CHANGED, EventKind.UNCHANGED, EventKind.FAILED)
        return {(e.node, e.step): (start[e.node, e.step], e.at) for e in self if e.kind in ends}


def _max_running(spans: dict) -> int:
    points = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    running = peak = 0
    for _, delta in points:
        running += delta
        peak = max(peak, running)
    return peak


def _sleep(seconds: float):
    def apply(host: Host) -> None:
        host.run(["sleep", str(seconds)])

    return apply


def test_different_nodes_run_in_parallel(ssh_plan) -> None:
    plan = ssh_plan(nodes=4)
    events = Events()
    steps = [Step(n.name, "sleep", None, _sleep(1)) for n in plan.nodes]
    result = Runner(HostPool(plan, timeouts=FAST), parallel=4, listener=events).run(
        [Phase("wait", steps)]
    )
    assert result.ok, result.failures
    spans = events.spans()
    assert len(spans) == 4
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values())  # all overlap
    assert all(e - s >= 1.0 for s, e in spans.values())
    assert {n: s.changed for n, s in result.nodes.items()} == {f"node{i}": 1 for i in range(4)}


def test_parallel_bounds_how_many_nodes_run_at_once(ssh_plan) -> None:
    plan = ssh_plan(nodes=4)
    events = Events()
    steps = [Step(n.name, "sleep", None, _sleep(0.4)) for n in plan.nodes]
    Runner(HostPool(plan, timeouts=FAST), parallel=2, listener=events).run([Phase("p", steps)])
    assert _max_running(events.spans()) == 2


def test_events_come_in_order_per_step(ssh_plan) -> None:
    plan = ssh_plan(nodes=1)
    events = Events()
    steps = [
        Step("node0", "already fine", lambda h: False, _sleep(5)),
        Step(
            "node0", "talk", lambda h: h.probe(["true"]).ok, lambda h: h.run("echo one; echo two")
        ),
    ]
    result = Runner(HostPool(plan), listener=events).run([Phase("greet", steps)])
    got = [(e.kind, e.step, e.text) for e in events]
    assert got == [
        (EventKind.PHASE, "greet", "1/1"),
        (EventKind.STARTED, "already fine", ""),
        (EventKind.UNCHANGED, "already fine", ""),
        (EventKind.STARTED, "talk", ""),
        (EventKind.OUTPUT, "talk", "one"),
        (EventKind.OUTPUT, "talk", "two"),
        (EventKind.CHANGED, "talk", ""),
    ]
    assert all(e.phase == "greet" for e in events)
    assert (result.nodes["node0"].changed, result.nodes["node0"].unchanged) == (1, 1)


def test_a_failed_phase_is_the_last_one_started(ssh_plan) -> None:
    plan = ssh_plan(nodes=2)
    events = Events()

    def broken(host: Host) -> None:
        host.run("echo preparing; echo 'disk full' >&2; exit 2")

    phases = [
        Phase(
            "first",
            [
                Step("node0", "break", None, broken),
                Step("node0", "after break", None, _sleep(0)),
                Step("node1", "fine", None, _sleep(0.3)),
            ],
        ),
        Phase("second", [Step("node0", "never", None, _sleep(0))]),
    ]
    result = Runner(HostPool(plan), listener=events).run(phases)
    assert not result.ok
    assert result.phases_done == ["first"] and result.phases_not_started == ["second"]
    [failure] = result.failures
    assert isinstance(failure, Failure)
    assert (failure.node, failure.step) == ("node0", "break")
    assert "exit 2" in failure.error and "node0" in failure.error
    assert failure.output == ("preparing", "disk full")
    assert result.nodes["node0"].failed == 1 and result.nodes["node0"].not_run == 2
    assert result.nodes["node1"].changed == 1  # the other node finished its phase
    assert [e.step for e in events.of(EventKind.PHASE)] == ["first"]
    assert [e.step for e in events.of(EventKind.FAILED)] == ["break"]
    assert "after break" not in {e.step for e in events}


def test_resume_skips_done_once_steps_and_rechecks_the_rest(ssh_plan, tmp_path: Path) -> None:
    plan = ssh_plan(nodes=1)
    work = tmp_path / "remote"
    work.mkdir()
    ran = work / "bootstrapped"
    conf = work / "conf"
    checks: list[str] = []
    fail_start = [True]

    def config_needed(host: Host) -> bool:
        checks.append("config")
        return not host.exists(str(conf))

    def start(host: Host) -> None:
        host.run(["false"] if fail_start[0] else ["true"])

    def phases() -> list[Phase]:
        return [
            Phase(
                "bootstrap",
                [
                    Step("node0", "config", config_needed, lambda h: h.put(b"x", str(conf))),
                    Step(
                        "node0",
                        "bootstrap",
                        None,
                        lambda h: h.run(f"echo once >> {ran}"),
                        key="node0/bootstrap-new-cluster",
                        once=True,
                    ),
                ],
            ),
            Phase("start", [Step("node0", "start", None, start)]),
        ]

    first = Runner(HostPool(plan), journal=Journal.for_plan(plan)).run(phases())
    assert [f.step for f in first.failures] == ["start"]
    journal = Journal.for_plan(plan)
    assert journal.resuming and journal.path.stat().st_mode & 0o777 == 0o600
    assert journal.done_once("node0/bootstrap-new-cluster") is not None

    fail_start[0] = False
    events = Events()
    second = Runner(HostPool(plan), journal=Journal.for_plan(plan), listener=events).run(phases())
    assert second.ok, second.failures
    assert ran.read_text() == "once\n"  # not bootstrapped twice
    assert checks == ["config", "config"]  # normal steps re-check on resume
    skipped = [e for e in events.of(EventKind.UNCHANGED) if e.step == "bootstrap"]
    assert len(skipped) == 1 and "journal" in skipped[0].text
    assert [e.step for e in events.of(EventKind.CHANGED)] == ["start"]
    after = Journal.for_plan(plan)
    assert not after.resuming and after.done_once("node0/bootstrap-new-cluster") is not None


def test_dry_run_records_per_host_and_changes_nothing(ssh_plan, tmp_path: Path) -> None:
    plan = ssh_plan(nodes=2)
    work = tmp_path / "remote"
    work.mkdir()
    (work / "node1.conf").write_text("ok\n")
    (work / "node1.conf").chmod(0o644)
    local_applied: list[str] = []

    def write_conf(host: Host) -> None:
        host.ensure_dir(str(work / "ssl"), mode=0o700)
        host.ensure_file(str(work / f"{host.name}.conf"), "ok\n", mode=0o644)
        host.run(["systemctl", "restart", "etcd"])

    def conf_differs(host: Host) -> bool:
        return host.read_text_or_none(str(work / f"{host.name}.conf")) != "ok\n"

    events = Events()
    phases = [
        Phase("files", [Step(n.name, "config", conf_differs, write_conf) for n in plan.nodes]),
        Phase("wait", [Step(None, "wait until healthy", None, lambda _: local_applied.append(1))]),
    ]
    pool = HostPool(plan, dry_run=True)
    result = Runner(pool, journal=Journal.for_plan(plan), listener=events).run(phases)
    assert result.ok and result.dry_run
    assert sorted(p.name for p in work.iterdir()) == ["node1.conf"]  # nothing created
    assert local_applied == []
    assert [str(r) for r in result.recorded["node0"]] == [
        f"install -d -m 0700 -o root -g root -- {work}/ssl",
        f"upload {work}/node0.conf (mode 0644, root:root, 3 bytes)",
        "systemctl restart etcd",
    ]
    assert "node1" not in result.recorded  # its check said nothing would change
    assert [r.text for r in result.recorded[LOCAL]] == ["wait until healthy"]
    assert {e.text for e in events.of(EventKind.CHANGED)} == {"would change"}
    assert (result.nodes["node0"].changed, result.nodes["node1"].unchanged) == (1, 1)
    assert not Journal.for_plan(plan).path.exists()  # a dry run writes nothing, here either


def test_one_connection_per_host_for_the_whole_run(ssh_plan) -> None:
    plan = ssh_plan(nodes=2)
    seen: dict[str, set] = {"node0": set(), "node1": set()}
    hosts: list[Host] = []

    def note(host: Host) -> None:
        host.run(["true"])
        seen[host.name].add((id(host), id(host._conn.transport)))
        hosts.append(host)

    phases = [Phase(f"p{i}", [Step(n, f"note {i}", None, note) for n in seen]) for i in range(3)]
    assert Runner(HostPool(plan)).run(phases).ok
    assert all(len(s) == 1 for s in seen.values())  # same Host, same transport, 3 phases
    assert all(h._conn is None for h in hosts)  # closed at the end


def test_local_steps_run_here_and_report_output(ssh_plan, tmp_path: Path) -> None:
    plan = ssh_plan(nodes=1)
    events = Events()

    def wait(local: Local) -> None:
        local.output("3/3 members healthy")
        (tmp_path / "waited").write_text("yes")

    result = Runner(HostPool(plan), listener=events).run(
        [Phase("health", [Step(None, "wait until healthy", None, wait)])]
    )
    assert result.ok and (tmp_path / "waited").read_text() == "yes"
    assert [(e.node, e.text) for e in events.of(EventKind.OUTPUT)] == [
        (None, "3/3 members healthy")
    ]
    assert result.nodes[LOCAL].changed == 1


def test_unreachable_node_fails_its_steps_only(ssh_plan) -> None:
    plan = ssh_plan(nodes=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plan = replace(plan, nodes=(*plan.nodes, Node("dead", "127.0.0.1", ssh=SSH(port=port))))
    steps = [Step(n.name, "touch", lambda h: h.probe(["true"]).ok, _sleep(0)) for n in plan.nodes]
    result = Runner(HostPool(plan, timeouts=FAST)).run([Phase("p", steps)])
    assert [(f.node, "cannot connect" in f.error) for f in result.failures] == [("dead", True)]
    assert result.nodes["node0"].changed == 1


def test_bad_step_lists_are_rejected_before_anything_runs(ssh_plan) -> None:
    plan = ssh_plan(nodes=1)
    runner = Runner(HostPool(plan))
    with pytest.raises(ValueError, match="no node named 'ghost'"):
        runner.run([Phase("p", [Step("ghost", "x", None, _sleep(0))])])
    with pytest.raises(ValueError, match="share the journal key"):
        runner.run([Phase("p", [Step("node0", "x", None, _sleep(0))] * 2)])


def test_cancel_lets_the_running_step_finish_and_starts_nothing_else(ssh_plan) -> None:
    plan = ssh_plan(nodes=1)
    events = Events()
    runner = Runner(HostPool(plan), listener=events)

    def listen(event: Event) -> None:
        events(event)
        if event.kind is EventKind.STARTED:
            runner.cancel()  # e.g. the TUI's "stop" key, while step one runs

    runner.listener = listen
    steps = [Step("node0", f"s{i}", None, _sleep(0.2)) for i in range(2)]
    result = runner.run([Phase("p1", steps), Phase("p2", [Step("node0", "s2", None, _sleep(0))])])
    assert [e.step for e in events.of(EventKind.CHANGED)] == ["s0"]
    assert result.nodes["node0"].not_run == 2 and result.phases_not_started == ["p2"]
    assert not result.ok


def test_ctrl_c_stops_a_run_within_seconds_and_the_journal_resumes(ssh_plan, tmp_path) -> None:
    """Issue 12: SIGINT used to let every lane finish its phase (112 s measured). Now the
    runner stops scheduling, gives steps in flight a short grace, cuts their SSH commands,
    and returns `interrupted`; finished steps are in the journal for the re-run."""
    import _thread
    import threading
    import time

    plan = ssh_plan(nodes=2)
    journal = Journal(tmp_path / "j.json", "fp")
    quick = [Step(n.name, "quick", None, lambda h: h.run("true")) for n in plan.nodes]
    slow = [Step(n.name, "slow", None, _sleep(60)) for n in plan.nodes]
    later = [Step(n.name, "later", None, lambda h: h.run("true")) for n in plan.nodes]
    started: set[str] = set()
    at: list[float] = []

    def ctrl_c_once_both_sleep(event: Event) -> None:
        if event.kind is EventKind.STARTED and event.step == "slow":
            started.add(event.node)
            if started == {"node0", "node1"}:  # Ctrl-C 0.5 s into both slow steps
                threading.Timer(
                    0.5, lambda: (at.append(time.monotonic()), _thread.interrupt_main())
                ).start()

    runner = Runner(
        HostPool(plan, timeouts=FAST), parallel=2, journal=journal, listener=ctrl_c_once_both_sleep
    )
    result = runner.run([Phase("quick", quick), Phase("slow", slow), Phase("later", later)])
    took = time.monotonic() - at[0]
    print(f"runner returned {took:.2f} s after Ctrl-C")
    assert result.interrupted and not result.ok
    assert sorted(result.interrupted_at) == ["node0: slow", "node1: slow"]
    assert result.phases_not_started == ["later"]
    assert took < 5.0, f"an interrupted run took {took:.1f} s to return after Ctrl-C"
    assert all("interrupted" in f.error for f in result.failures)
    again = Journal(tmp_path / "j.json", "fp")
    assert again.resuming
    assert {again.previous(f"node{i}/quick") is not None for i in range(2)} == {True}


def test_raw_tool_output_is_a_detail_kept_for_a_failure(ssh_plan) -> None:
    """`run(detail=True)` streams a tool's raw output as detail events (a verbose view's lines,
    not the default log's), the step's own `say` line stays a plain one, and a failure still
    shows the raw lines: they are what the operator needs then."""
    from hawizard.steps import say

    plan = ssh_plan(nodes=1)
    events = Events()
    noise = "echo 'policy-rc.d denied execution of start.'; echo 'error: preset failed' >&2"

    def install(host) -> None:
        host.run(noise, detail=True)
        say(host, "installed haproxy")

    def broken(host) -> None:
        host.run(noise + "; echo 'E: dpkg was interrupted' >&2; exit 100", detail=True)

    result = Runner(HostPool(plan), listener=events).run(
        [
            Phase("p", [Step("node0", "install", None, install)]),
            Phase("q", [Step("node0", "broken", None, broken)]),
        ]
    )
    lines = [(e.step, e.text, e.detail) for e in events.of(EventKind.OUTPUT)]
    assert ("install", "installed haproxy", False) in lines
    assert ("install", "policy-rc.d denied execution of start.", True) in lines
    assert ("install", "error: preset failed", True) in lines
    assert not [t for s, t, d in lines if not d and "denied" in t]
    [failure] = result.failures
    assert "E: dpkg was interrupted" in failure.output
