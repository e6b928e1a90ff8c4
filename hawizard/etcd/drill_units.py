"""The timed restore drill's systemd units (pure renderers): `[backup] drill = "1d"` runs
`python -m hawizard etcd backup drill PLAN [--identity FILE]` that often (issue 28).

A sibling of the backup units (`etcd.backup.render_service` / `render_timer`), kept apart so
those keep their shape; the `[Service]` section is the same renderer's
(`etcd.backup.job_service_section`): the same quoting of ExecStart and, for a system unit,
the same sandbox (writable only the backup folder, where the drill leaves its signed
outcome; its throwaway etcd lives in the unit's private /tmp and on loopback).
"""

from __future__ import annotations

from pathlib import Path

from hawizard.etcd.backup import job_service_section
from hawizard.plan import Plan
from hawizard.plan.model import MAX_BACKUP_EVERY
from hawizard.textguard import plain_lines, unit_word

__all__ = ["drill_unit_name", "render_drill_service", "render_drill_timer"]


def drill_unit_name(plan: Plan) -> str:
    return f"hawizard-drill-{plan.cluster.name}"


def render_drill_service(
    plan: Plan,
    argv: list[str],
    *,
    user_unit: bool,
    folder: Path | None = None,
    home: str = "yes",
    timeout_s: int = 1800,
) -> str:
    """The oneshot service that runs one drill (`argv`: the full command)."""
    if not argv:
        raise ValueError("the drill command is empty")
    service = job_service_section(
        plan, argv, user_unit=user_unit, folder=folder, home=home, timeout_s=timeout_s
    )
    cluster = unit_word(plan.cluster.name, "cluster.name")
    text = f"""\
# written by hawizard: restore drills of cluster {cluster}'s newest off-site backup
[Unit]
Description=hawizard: restore drill of cluster {cluster}'s newest off-site backup
Documentation=man:systemd.service(5)
After=network-online.target

{service}
[Install]
WantedBy={"default.target" if user_unit else "multi-user.target"}
"""
    return plain_lines(text, f"{drill_unit_name(plan)}.service")


def render_drill_timer(plan: Plan, every_s: int) -> str:
    """Every `every_s` after the last run started; the first run one interval after enabling
    (a drill right after the first backup proves little the backup run did not check)."""
    if not 1 <= every_s <= MAX_BACKUP_EVERY:
        raise ValueError(f"every {every_s}s is out of range (1 s - 7 days)")
    cluster = unit_word(plan.cluster.name, "cluster.name")
    name = drill_unit_name(plan)
    text = f"""\
# written by hawizard: runs {name}.service every {every_s}s
[Unit]
Description=hawizard: restore drill of cluster {cluster}, every {every_s}s

[Timer]
OnActiveSec={every_s}s
OnUnitActiveSec={every_s}s
AccuracySec=1s
Unit={name}.service

[Install]
WantedBy=timers.target
"""
    return plain_lines(text, f"{name}.timer")
