"""etcd/member.py: the one way a member is stopped, started and restarted (recorded, not run,
in a dry run: the commands are what the runner shows). `caught_up` is tested with the upgrade
rules, the hand-over against a real etcd in tests/ops/test_rotate_leader.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from hawizard.etcd import member


@dataclass
class Recorder:
    """Stands in for a Host: records the argv and timeout of every command."""

    calls: list[tuple[list[str], float | None]] = field(default_factory=list)

    def run(self, argv, timeout=None):
        self.calls.append((list(argv), timeout))


def test_stop_start_restart_are_the_systemctl_commands():
    host = Recorder()
    member.stop(host, timeout=120)
    member.start(host, no_block=True)
    member.start(host, timeout=60)
    member.restart(host, timeout=90)
    assert host.calls == [
        (["systemctl", "stop", "etcd"], 120),
        (["systemctl", "start", "--no-block", "etcd"], None),
        (["systemctl", "start", "etcd"], 60),
        (["systemctl", "restart", "etcd"], 90),
    ]
