"""`[monitoring] record = true`: the flight recorder as a service on the operator's machine,
so history exists when nobody had the dashboard open (issue 31).

`apply` calls `sync`: with `record = true` it writes `hawizard-record-<cluster>.service`
(`hawizard status PLAN --watch 2 --record`, restarted if it stops) and enables it; with
`record = false` it removes a unit it wrote before. A second `apply` rewrites nothing and
restarts nothing when the unit is as it should be.

It runs where `apply` runs, not on a node: the recorder probes with the operator's etcd
client certificate and SSH keys, which never leave this machine. As a system unit it runs
as root under the same sandbox as the backup job (`etcd.backup._SANDBOX`: everything
read-only but the plan's folder, where the recording lives; no capabilities, no privilege
gain), and it is refused when the interpreter or hawizard's code could be changed by anyone
but root (`ops.local_units.foreign_writable`). Its output (a table every round) goes nowhere;
its errors go to the journal.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from hawizard.etcd import backup as b
from hawizard.ops import local_units
from hawizard.ops.refusal import Refused
from hawizard.plan import Plan
from hawizard.textguard import plain_lines, unit_word

__all__ = ["EVERY_S", "Synced", "render", "sync", "unit_name"]

EVERY_S = 2  # seconds between recorded rounds (the dashboard's default interval)


@dataclass(frozen=True)
class Synced:
    """What `sync` did: "installed", "updated", "unchanged", "removed" or "absent"."""

    action: str
    unit: Path
    note: str = ""


def unit_name(plan: Plan) -> str:
    return f"hawizard-record-{unit_word(plan.cluster.name, 'cluster.name')}"


def command(plan: Plan) -> list[str]:
    if plan.source is None:
        raise Refused("the plan has no file", "save the plan first; the recorder runs it by path")
    path = str(Path(plan.source).resolve())
    return [sys.executable, "-m", "hawizard", "status", path, "--watch", str(EVERY_S), "--record"]


def render(plan: Plan, *, user_unit: bool) -> str:
    """The unit text. Raises `ValueError` for a path that cannot go into a unit file."""
    argv = command(plan)
    exec_start = " ".join(b._exec_arg(a) for a in argv)
    folder = Path(argv[4]).parent  # the recording lives beside the plan
    cluster = unit_word(plan.cluster.name, "cluster.name")
    if user_unit:
        sandbox = "NoNewPrivileges=yes\n"
    else:
        reads = [Path(a) for a in argv if a.startswith("/")] + local_units.read_paths(plan)
        home = b.protect_home(reads)
        sandbox = b._SANDBOX.format(folder=unit_word(folder, "the plan's folder"), home=home)
    text = f"""\
# written by hawizard: the flight recorder of cluster {cluster}
[Unit]
Description=hawizard: flight recorder of cluster {cluster}, every {EVERY_S}s
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={exec_start}
Restart=always
RestartSec=5
StandardOutput=null
UMask=0077
Nice=10
{sandbox}
[Install]
WantedBy={"default.target" if user_unit else "multi-user.target"}
"""
    return plain_lines(text, f"{unit_name(plan)}.service")


def sync(plan: Plan, *, user: bool | None = None, units: Path | None = None) -> Synced:
    """Bring the recorder's unit to what `[monitoring] record` asks. Raises `Refused` (code
    others could change, a plan without a file, systemd refusing)."""
    user = os.geteuid() != 0 if user is None else user
    target = units or local_units.unit_dir(user=user)
    path = target / f"{unit_name(plan)}.service"
    if not plan.monitoring.record:
        if not path.exists():
            return Synced("absent", path)
        local_units.systemctl(user, "disable", "--now", path.name)  # best effort: it may not run
        path.unlink()
        local_units.systemctl(user, "daemon-reload")
        return Synced("removed", path)
    if not user:
        local_units.refuse_foreign_writable(local_units.code_paths(), "the recorder service")
    try:
        text = render(plan, user_unit=user)
    except ValueError as exc:
        raise Refused(f"monitoring.record: {exc}", "keep the plan in a plain folder") from None
    old = path.read_text() if path.exists() else None
    if old == text and local_units.systemctl(user, "is-active", "--quiet", path.name)[0]:
        return Synced("unchanged", path)
    target.mkdir(parents=True, exist_ok=True)
    local_units.write_unit(path, text)
    ok, why = local_units.systemctl(user, "daemon-reload")
    if ok:
        verb = "restart" if old is not None else "start"
        ok, why = local_units.systemctl(user, "enable", path.name)
        if ok:
            ok, why = local_units.systemctl(user, verb, path.name)
    if not ok:
        raise Refused(
            f"the recorder's unit is written ({path}) but systemd could not start it: {why}",
            "run hawizard where systemd runs, or start "
            f"`{' '.join(command(plan))}` under your own supervisor",
        )
    return Synced("installed" if old is None else "updated", path)
