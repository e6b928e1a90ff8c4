"""`hawizard monitoring export PLAN DIR`: the monitoring files for a plan, written to a folder.

Writes `prometheus.yml` (etcd's plain metrics listeners, the apiservers over HTTPS with the
monitoring client certificate, haproxy's exporter, node exporters), `etcd-alerts.yml` and its
`promtool test rules` cases, `grafana-dashboard.json`, `monitoring-rbac.yaml` (what lets the
monitoring user read /metrics) and `tls/` (the Kubernetes CA certificate, the monitoring
certificate and its key, 0600 in a 0700 folder), so the folder is all a Prometheus needs.
Never the admin certificate: the monitoring one is in no group and may only GET /metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hawizard.control_plane.render import APISERVER_PORT
from hawizard.monitoring.bundle import monitoring_bundle
from hawizard.monitoring.prometheus import TLS_DIR
from hawizard.ops.refusal import Refused
from hawizard.pki import check, monitoring_spec
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
        # `expiring` is still valid (and all a plan with cert_days = 1 ever gets): exported, as
        # `certs check` passes it; missing, expired or mismatched ones are refused
        if report.status.is_failure:
            problem = "; ".join(report.problems) or str(report.status)
            raise Refused(
                f"the monitoring certificate is not usable: {problem}",
                "run `hawizard certs create PLAN` (`--renew` to re-issue it)",
            )
    bundle = monitoring_bundle(plan, apiserver_port=APISERVER_PORT)
    folder.mkdir(parents=True, exist_ok=True)
    if any(name.startswith(f"{TLS_DIR}/") for name in bundle):
        tls_dir = folder / TLS_DIR
        tls_dir.mkdir(mode=0o700, exist_ok=True)
        tls_dir.chmod(0o700)
    written = [_write(folder / name, f.data, f.mode) for name, f in bundle.items()]
    return Exported(folder, tuple(written))


def _write(path: Path, data: bytes, mode: int) -> Path:
    """Atomically, created with its final mode (a key is never readable by others, not even
    for a moment)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    tmp.replace(path)
    return path
