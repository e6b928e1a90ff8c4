"""The plan: every choice the operator makes, as frozen dataclasses read from and written to TOML.

Every screen and every command reads and writes this one model, so a plan exported from the
wizard can be reviewed, versioned and applied headless. Secrets never live here: only paths.
The package keeps its parts one-way: `model` (dataclasses) <- `checks` (validation) <- `files`
(TOML in and out).
"""

from hawizard.plan.checks import PlanError, Problem, Severity, validate
from hawizard.plan.checks_balancer import suggest_endpoint
from hawizard.plan.files import dump, dump_with_backup, dumps, load, loads
from hawizard.plan.model import (
    DEFAULT_QUOTA_BACKEND_BYTES,
    DEFAULT_ROLES,
    KUBE_BINARIES,
    MAX_QUOTA_BACKEND_BYTES,
    PLAN_VERSION,
    SSH,
    BackupSettings,
    BalancerMode,
    Cluster,
    ControlPlaneSettings,
    EtcdSettings,
    KeyType,
    LoadBalancerSettings,
    MaintenanceSettings,
    MonitoringSettings,
    Node,
    OIDCSettings,
    PKISettings,
    Plan,
    Role,
    calendar_problem,
    every_seconds,
    quorum,
    tolerance,
)

__all__ = [
    "DEFAULT_QUOTA_BACKEND_BYTES",
    "DEFAULT_ROLES",
    "KUBE_BINARIES",
    "MAX_QUOTA_BACKEND_BYTES",
    "PLAN_VERSION",
    "SSH",
    "BackupSettings",
    "BalancerMode",
    "Cluster",
    "ControlPlaneSettings",
    "EtcdSettings",
    "KeyType",
    "LoadBalancerSettings",
    "MaintenanceSettings",
    "MonitoringSettings",
    "Node",
    "OIDCSettings",
    "PKISettings",
    "Plan",
    "PlanError",
    "Problem",
    "Role",
    "Severity",
    "calendar_problem",
    "dump",
    "dump_with_backup",
    "dumps",
    "every_seconds",
    "load",
    "loads",
    "quorum",
    "suggest_endpoint",
    "tolerance",
    "validate",
]
