"""The start watch's reading of systemd and of etcd's journal, on text captured from real
nodes (the lab test `test_replace_recycled_lab.py` provokes the exit itself)."""

from __future__ import annotations

from hawizard.etcd.start_watch import (
    UnitState,
    journal_command,
    meaningful_line,
    state_command,
)

# etcd 3.5.1 on a lab node started on the data of a member the cluster had removed (trimmed:
# the startup's info lines and most of the shutdown's), as `journalctl -o cat` printed it.
REMOVED = """\
{"level":"warn","ts":"2026-12-04T21:10:56.592Z","caller":"auth/store.go:1220","msg":"simple token is not cryptographically signed"}
{"level":"warn","ts":"2026-12-04T21:10:56.618Z","caller":"rafthttp/http.go:413","msg":"failed to find remote peer in cluster","local-member-id":"dbfcbb7be0a3b7aa","remote-peer-id-stream-handler":"dbfcbb7be0a3b7aa","remote-peer-id-from":"e9042a485b58fd6b","cluster-id":"4fe09fae86e3ee76"}
{"level":"info","ts":"2026-12-04T21:10:56.631Z","caller":"membership/cluster.go:472","msg":"removed member","cluster-id":"4fe09fae86e3ee76","local-member-id":"dbfcbb7be0a3b7aa","removed-remote-peer-id":"dbfcbb7be0a3b7aa"}
{"level":"warn","ts":"2026-12-04T21:10:56.641Z","caller":"etcdserver/server.go:1142","msg":"server error","error":"the member has been permanently removed from the cluster"}
{"level":"warn","ts":"2026-12-04T21:10:56.641Z","caller":"etcdserver/server.go:1143","msg":"data-dir used by this member must be removed"}
{"level":"warn","ts":"2026-12-04T21:10:56.641Z","caller":"etcdserver/server.go:2038","msg":"stopped publish because server is stopped","local-member-id":"dbfcbb7be0a3b7aa","local-member-attributes":"{Name:r3-n4 ClientURLs:[https://198.18.135.14:2379]}","publish-timeout":"7s","error":"etcdserver: server stopped"}
{"level":"info","ts":"2026-12-04T21:10:56.656Z","caller":"rafthttp/peer.go:335","msg":"stopped remote peer","remote-peer-id":"e9042a485b58fd6b"}
{"level":"info","ts":"2026-12-04T21:10:56.659Z","caller":"etcdmain/main.go:47","msg":"notifying init daemon"}
{"level":"info","ts":"2026-12-04T21:10:56.659Z","caller":"etcdmain/main.go:53","msg":"successfully notified init daemon"}
"""  # noqa: E501


# The same on another node: this time the shutdown also echoed a failed publish.
ECHOED = """\
{"level":"warn","ts":"2026-12-04T21:29:30.374Z","caller":"etcdserver/server.go:1142","msg":"server error","error":"the member has been permanently removed from the cluster"}
{"level":"warn","ts":"2026-12-04T21:29:30.374Z","caller":"etcdserver/server.go:1143","msg":"data-dir used by this member must be removed"}
{"level":"warn","ts":"2026-12-04T21:29:30.376Z","caller":"etcdserver/server.go:2048","msg":"failed to publish local member to cluster through raft","local-member-id":"731c86e3728d3c09","request-path":"/0/members/731c86e3728d3c09/attributes","publish-timeout":"7s","error":"etcdserver: request cancelled"}
{"level":"warn","ts":"2026-12-04T21:29:30.376Z","caller":"etcdserver/server.go:2038","msg":"stopped publish because server is stopped","local-member-id":"731c86e3728d3c09","publish-timeout":"7s","error":"etcdserver: server stopped"}
"""  # noqa: E501


def test_the_reason_is_quoted_not_the_shutdowns_echo():
    expected = "server error: the member has been permanently removed from the cluster"
    assert meaningful_line(REMOVED.splitlines()) == expected
    assert meaningful_line(ECHOED.splitlines()) == expected
    no_reason = [line for line in ECHOED.splitlines() if '"server error"' not in line]
    assert meaningful_line(no_reason) == "data-dir used by this member must be removed"


def test_a_fatal_line_wins_and_plain_text_falls_back_to_the_last_line():
    fatal = '{"level":"fatal","msg":"discovery failed","error":"cannot fetch cluster info"}'
    assert meaningful_line([*REMOVED.splitlines(), fatal]) == (
        "discovery failed: cannot fetch cluster info"
    )
    assert meaningful_line(["starting", "  open /x: no   such file  "]) == "open /x: no such file"
    assert meaningful_line([]) == ""
    assert len(meaningful_line(["x" * 1000])) == 300  # one short line, never a wall


def test_unit_states_as_systemctl_show_prints_them():
    dead = UnitState.parse(
        "MainPID=0\nResult=success\nNRestarts=0\nExecMainStatus=0\nActiveState=inactive\n"
        "SubState=dead\nJob=\nInvocationID=029afee7ae6e4554ae3ea8bb30cbe636\n"
    )
    assert dead.exited and not dead.crashing and dead.how == "exited with status 0"
    assert dead.invocation == "029afee7ae6e4554ae3ea8bb30cbe636"
    queued = UnitState.parse("ActiveState=inactive\nSubState=dead\nJob=1234\n")
    assert not queued.exited  # a --no-block start not run yet
    crashing = UnitState.parse(
        "ActiveState=activating\nSubState=auto-restart\nResult=exit-code\nExecMainStatus=1\n"
    )
    assert crashing.crashing and crashing.how.startswith("crashed (exit-code, status 1)")
    earlier = UnitState.parse("ActiveState=active\nSubState=running\nMainPID=9\nNRestarts=3\n")
    assert not earlier.crashing and not earlier.exited  # restarted before, running now
    waiting = UnitState.parse("ActiveState=activating\nSubState=start\nMainPID=812\nNRestarts=0\n")
    assert not waiting.exited and not waiting.crashing  # a bootstrapping member, peers pending


def test_commands_are_quoted():
    assert state_command("etcd").startswith("systemctl show etcd -p ActiveState,")
    assert journal_command("etcd", "ab12") == (
        "journalctl --no-pager -o cat -n 300 _SYSTEMD_INVOCATION_ID=ab12"
    )
    assert journal_command("e;tc", "").endswith("-u 'e;tc'")
    assert "'_SYSTEMD_INVOCATION_ID=a b'" in journal_command("etcd", "a b")
