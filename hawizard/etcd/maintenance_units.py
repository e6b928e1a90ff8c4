"""The scheduled etcd maintenance's systemd units (pure renderers).

The service is the backup job's (`hawizard.etcd.backup.render_service`, with this job's name
and description), so whatever hardens the backup unit hardens this one too; only the timer is
its own: the maintenance runs on a calendar (`[maintenance] every`, e.g. `daily`), not every N
seconds, and `Persistent=true` catches up a run missed while the machine was off.
"""

from __future__ import annotations

from pathlib import Path

from hawizard.etcd import backup as b
from hawizard.plan import Plan, calendar_problem
from hawizard.textguard import plain_lines, unit_word

__all__ = ["WHAT", "render_service", "render_timer", "unit_name"]

WHAT = "etcd maintenance"
# Spreads the runs of several clusters' timers (and several operators' machines) so their
# defragmentations do not all start on the same second.
RANDOM_DELAY = "10min"


def unit_name(plan: Plan) -> str:
    return f"hawizard-maintenance-{unit_word(plan.cluster.name, 'cluster.name')}"


def render_service(
    plan: Plan, argv: list[str], *, user_unit: bool, folder: Path, home: str = "yes"
) -> str:
    """The oneshot service: `argv` is `python -m hawizard etcd defrag PLAN --yes --if-needed`;
    `folder` the plan's (the run's lock and record are written there: the only writable path
    of the root unit's sandbox). A defragmentation blocks each member for tens of seconds per
    GB, hence the long bound."""
    return b.render_service(
        plan,
        argv,
        user_unit=user_unit,
        timeout_s=3600,
        folder=folder,
        home=home,
        unit=unit_name(plan),
        what=WHAT,
    )


def render_timer(plan: Plan, calendar: str) -> str:
    """`OnCalendar=` the plan's expression; refused (ValueError) unless it is one
    (`plan.calendar_problem`: no quote, `%`, newline or anything but a calendar's characters)."""
    why = calendar_problem(calendar)
    if why:
        raise ValueError(f"maintenance.every: {why}")
    name = unit_name(plan)
    text = f"""\
# written by hawizard: runs {name}.service on the calendar {calendar}
[Unit]
Description=hawizard: {WHAT} of cluster {plan.cluster.name}, {calendar}

[Timer]
OnCalendar={calendar}
Persistent=true
RandomizedDelaySec={RANDOM_DELAY}
Unit={name}.service

[Install]
WantedBy=timers.target
"""
    return plain_lines(text, f"{name}.timer")
