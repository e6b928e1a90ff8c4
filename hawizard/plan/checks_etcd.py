"""Pass 2 of plan validation for `[etcd]` and `[maintenance]`: directories, ports, versions,
the quota and the defragmentation thresholds."""

from __future__ import annotations

from collections.abc import Callable

from hawizard.plan.model import (
    DEFAULT_QUOTA_BACKEND_BYTES,
    MAX_QUOTA_BACKEND_BYTES,
    EtcdSettings,
    Plan,
    calendar_problem,
)
from hawizard.plan.problems import _VERSION, _local_path, _port, _remote_dir
from hawizard.plan.schema import _PACKAGE_NAME, has_control


def _check_etcd(plan: Plan, err) -> None:
    e = plan.etcd
    uploads = e.install == "upload" or any(
        plan.etcd_install(n) == "upload" for n in plan.etcd_nodes
    )
    if e.install not in ("package", "upload"):
        err("etcd.install", f'{e.install!r} is not an install method; use "package" or "upload"')
    elif uploads and not e.binaries:
        err(
            "etcd.binaries",
            'is required with install = "upload": a folder holding etcd and etcdctl, '
            "or an etcd release tarball",
        )
    elif uploads and not has_control(e.binaries):
        binaries = _local_path(plan, e.binaries, "etcd.binaries", err)
        if binaries is not None and not binaries.exists():
            err("etcd.binaries", f"{binaries} does not exist on this machine")
    for name in e.sha256:
        if name not in ("etcd", "etcdctl", "etcdutl"):
            err(f"etcd.sha256.{name}", f"unknown binary {name!r}; pin etcd, etcdctl or etcdutl")
    if e.sha256 and not uploads:
        err("etcd.sha256", 'pins uploaded binaries: it needs install = "upload" (or remove it)')
    for i, name in enumerate(e.packages):
        if not _PACKAGE_NAME.fullmatch(name):
            err(
                f"etcd.packages[{i}]",
                f"{name!r} is not a package name (lower-case letters, digits, + - . _)",
            )
    if not _VERSION.fullmatch(e.version):
        err("etcd.version", f"{e.version!r} must look like 3.5.17")
    ports = {"client_port": e.client_port, "peer_port": e.peer_port}
    ports["metrics_port"] = e.metrics_port
    for key, port in ports.items():
        _port(port, f"etcd.{key}", err)
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            err(f"etcd.{key}", f"{port} is already etcd.{seen[port]}; each listener needs its own")
        seen.setdefault(port, key)
    for key in ("cert_dir", "data_dir"):
        _remote_dir(getattr(e, key), f"etcd.{key}", err)
    if e.cert_dir == e.data_dir:
        err("etcd.data_dir", "is the same folder as etcd.cert_dir; give each its own folder")
    if not 0 < e.probe_timeout <= 30:
        err("etcd.probe_timeout", f"{e.probe_timeout} must be between 0 and 30 seconds")
    _check_maintenance(e, err)


def _check_maintenance(e: EtcdSettings, err: Callable[[str, str], None]) -> None:
    """The quota and the defragmentation's limits (`hawizard etcd defrag`)."""
    gib = 1024**3
    if not 0 < e.quota_backend_bytes <= MAX_QUOTA_BACKEND_BYTES:
        err(
            "etcd.quota_backend_bytes",
            f"{e.quota_backend_bytes} must be a positive number of bytes of at most "
            f"{MAX_QUOTA_BACKEND_BYTES} (8 GiB, etcd's recommended maximum); "
            f"etcd's default is {DEFAULT_QUOTA_BACKEND_BYTES} (2 GiB)",
        )
    elif e.quota_backend_bytes < 16 * 1024**2:
        err(
            "etcd.quota_backend_bytes",
            f"{e.quota_backend_bytes} is below 16 MiB: etcd would refuse writes almost at once; "
            f"use e.g. {2 * gib} (2 GiB, etcd's default)",
        )
    if not 0 <= e.defrag_keep_revisions <= 1_000_000:
        err(
            "etcd.defrag_keep_revisions",
            f"{e.defrag_keep_revisions} must be between 0 and 1000000 revisions (default 1000)",
        )
    if not 10 <= e.defrag_max_write_ms <= 60_000:
        err(
            "etcd.defrag_max_write_ms",
            f"{e.defrag_max_write_ms} must be between 10 and 60000 milliseconds (default 500)",
        )


def _check_maintenance_schedule(plan: Plan, err) -> None:
    mt = plan.maintenance
    if mt.every and (why := calendar_problem(mt.every)):
        err("maintenance.every", why)
    if not 1 <= mt.defrag_above_mb <= 8192:
        err(
            "maintenance.defrag_above_mb",
            f"{mt.defrag_above_mb} must be 1-8192 (MiB of DB file below which a member is "
            "never defragmented, e.g. 100)",
        )
    ratio = mt.defrag_in_use_below
    if not (isinstance(ratio, int | float) and 0.05 <= ratio <= 0.95):
        err(
            "maintenance.defrag_in_use_below",
            f"{ratio} must be a share between 0.05 and 0.95 (defragment when less than this "
            "share of the DB file is in use, e.g. 0.5)",
        )
