"""`hawizard monitoring export PLAN DIR`: the monitoring files for a plan, written to a folder.

Writes `prometheus.yml` (etcd's plain metrics listeners, the apiservers over HTTPS with the
monitoring client certificate, haproxy's exporter, node exporters), `etcd-alerts.yml` and its
`promtool test rules` cases, `grafana-dashboard.json`, `monitoring-rbac.yaml` (what lets the
monitoring user read /metrics) and `tls/` (the Kubernetes CA certificate, the monitoring
certificate and its key, 0600 in a 0700 folder), so the folder is all a Prometheus needs.
Never the admin certificate: the monitoring one is in no group and may only GET /metrics.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from hawizard.control_plane.render import APISERVER_PORT
from hawizard.localfs import make_private_dirs
from hawizard.monitoring.bundle import monitoring_bundle
from hawizard.monitoring.prometheus import TLS_DIR
from hawizard.ops.refusal import Refused
from hawizard.pki import Status, check, monitoring_spec
from hawizard.plan import Plan


@dataclass(frozen=True)
class Exported:
    folder: Path
    files: tuple[Path, ...]


def export(plan: Plan, folder: Path) -> Exported:
    """Write every monitoring file for `plan` into `folder` (created if missing)."""
    masters = plan.control_plane_nodes
    if masters and not plan.monitoring.enabled:
        raise Refused(
            "the apiservers are scraped with a monitoring certificate the plan does not issue",
            "set `enabled = true` under [monitoring] in the plan, then run "
            "`hawizard certs create PLAN`",
        )
    if masters:
        spec = monitoring_spec(plan)
        report = check(plan).certificate(spec.name)
        if report.status is not Status.OK:
            problem = "; ".join(report.problems) or str(report.status)
            raise Refused(
                f"the monitoring certificate is not usable: {problem}",
                "run `hawizard certs create PLAN` (`--renew` to re-issue it)",
            )
    bundle = monitoring_bundle(plan, apiserver_port=APISERVER_PORT)
    holds_key = any(name.startswith(f"{TLS_DIR}/") for name in bundle)
    make_private_dirs(folder)
    fds: dict[str, int] = {}
    try:
        fds[""] = _open_own_dir(folder, None, str(folder), private=holds_key)
        written = []
        for name, f in bundle.items():
            sub, _, base = name.rpartition("/")
            if sub not in fds:
                fds[sub] = _open_own_dir(sub, fds[""], str(folder / sub), private=True)
            _write(fds[sub], base, f.data, f.mode)
            written.append(folder / name)
    finally:
        for fd in fds.values():
            os.close(fd)
    return Exported(folder, tuple(written))


def _open_own_dir(path: str | Path, parent_fd: int | None, label: str, *, private: bool) -> int:
    """A folder to write into, opened without following a symlink (issue 25: a planted `tls`
    symlink made export chmod its target and write the monitoring key into it). Created 0700
    when missing; refused when it is a symlink or someone else's; made 0700 when it holds a key.
    """
    if parent_fd is not None:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700, dir_fd=parent_fd)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(
                f"{label} is a symlink or not a folder; hawizard writes keys only into a real "
                "folder of its own",
                "remove it or give another folder",
            ) from None
        raise
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        os.close(fd)
        raise Refused(
            f"{label} belongs to uid {info.st_uid}, not to you; the monitoring key stays out of it",
            "give a folder of your own",
        )
    if private and stat.S_IMODE(info.st_mode) != 0o700:
        os.fchmod(fd, 0o700)
    return fd


def _write(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    """Atomically, created with its final mode (a key is never readable by others, not even
    for a moment), relative to an opened folder and never through a symlink."""
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(
        tmp,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        mode,
        dir_fd=dir_fd,
    )
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
