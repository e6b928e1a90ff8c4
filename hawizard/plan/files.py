"""The plan as TOML text: read with `tomllib` (validated, every problem at once), written with
`tomli-w` atomically, so a plan is a file an operator can review, diff and version.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path

import tomli_w

from hawizard.localfs import atomic_write, read_regular_text
from hawizard.plan.checks import PlanError, Problem, Severity, check_raw, sanitize, validate
from hawizard.plan.model import (
    DEFAULT_ROLES,
    PLAN_VERSION,
    SSH,
    BackupSettings,
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
)


def loads(text: str, source: str | Path | None = None) -> Plan:
    """Parse and validate plan text; raise PlanError carrying *every* error found."""
    name = str(source) if source is not None else "plan.toml"
    try:
        raw = tomllib.loads(text)
        shape = check_raw(raw, text, name)
        path = Path(source) if source is not None else None
        plan = _from_raw(sanitize(raw) if shape else raw, path)
        reported = {p.field for p in shape}
        meaning = [p for p in validate(plan, text=text, source=name) if p.field not in reported]
    except tomllib.TOMLDecodeError as exc:
        raise PlanError([Problem(Severity.ERROR, "", f"not valid TOML: {exc}", name)]) from None
    except RecursionError:
        raise PlanError(
            [Problem(Severity.ERROR, "", "nested too deeply to be a plan (arrays or tables)", name)]
        ) from None
    problems = shape + meaning
    if any(p.severity is Severity.ERROR for p in problems):
        raise PlanError(
            sorted(problems, key=lambda p: (p.severity is not Severity.ERROR, p.line or 0))
        )
    return plan


def load(path: str | Path) -> Plan:
    path = Path(path)
    try:
        text = read_regular_text(path, limit=4 << 20)
        resolved = path.resolve()
    except UnicodeDecodeError as exc:
        raise PlanError(
            [
                Problem(
                    Severity.ERROR,
                    "",
                    f"not UTF-8 text (byte {exc.start}); save the plan as UTF-8",
                    str(path),
                )
            ]
        ) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        why = getattr(exc, "strerror", None) or str(exc)
        raise PlanError(
            [Problem(Severity.ERROR, "", f"cannot read the plan: {why}", str(path))]
        ) from None
    return loads(text, resolved)


def _from_raw(raw: dict, source: Path | None) -> Plan:
    nodes = []
    for n in raw.get("nodes", []):
        ssh = SSH(**n.get("ssh", {}))
        roles = tuple(Role(r) for r in n["roles"]) if "roles" in n else DEFAULT_ROLES
        extra = {"etcd_install": n["etcd_install"]} if "etcd_install" in n else {}
        nodes.append(Node(name=n["name"], address=n["address"], roles=roles, ssh=ssh, **extra))
    lb = dict(raw.get("load_balancer", {}))
    if "nodes" in lb:
        lb["nodes"] = tuple(lb["nodes"])
    pki = dict(raw.get("pki", {}))
    etcd = dict(raw.get("etcd", {}))
    if "packages" in etcd:
        etcd["packages"] = tuple(etcd["packages"])
    if "key" in pki:
        pki["key"] = KeyType(pki["key"])
    cp = dict(raw.get("control_plane", {}))
    if "oidc" in cp:
        cp["oidc"] = OIDCSettings(**cp["oidc"])
    return Plan(
        nodes=tuple(nodes),
        cluster=Cluster(**raw.get("cluster", {})),
        pki=PKISettings(**pki),
        etcd=EtcdSettings(**etcd),
        control_plane=ControlPlaneSettings(**cp),
        monitoring=_monitoring(raw.get("monitoring", {})),
        backup=_backup(raw.get("backup", {})),
        maintenance=MaintenanceSettings(**raw.get("maintenance", {})),
        load_balancer=LoadBalancerSettings(**lb),
        version=raw.get("version", PLAN_VERSION),
        source=source,
    )


def _monitoring(raw: dict) -> MonitoringSettings:
    section = dict(raw)
    if "scrape_from" in section:
        section["scrape_from"] = tuple(section["scrape_from"])
    return MonitoringSettings(**section)


def _backup(raw: dict) -> BackupSettings:
    section = dict(raw)
    for name in ("targets", "recipients"):
        if name in section:
            section[name] = tuple(section[name])
    return BackupSettings(**section)


# Optional settings written only when used, so a plan that does not use them reads the same.
_OPTIONAL = {
    ("pki", "dir"): "",  # `<plan-stem>.pki/` beside the plan
    ("ssh", "compress"): True,
    ("monitoring", "scrape_from"): (),
    ("monitoring", "record_days"): 7,
    ("monitoring", "record_mb"): 100,
    ("monitoring", "record"): False,
    ("cluster", "cni"): "",
    ("control_plane", "oidc"): None,
    ("etcd", "packages"): (),  # the distribution's default package names
    ("etcd", "quota_backend_bytes"): EtcdSettings().quota_backend_bytes,
    ("etcd", "defrag_keep_revisions"): EtcdSettings().defrag_keep_revisions,
    ("etcd", "defrag_max_write_ms"): EtcdSettings().defrag_max_write_ms,
    ("etcd", "sha256"): {},  # no pins
    ("backup", "targets"): (),
    ("backup", "recipients"): (),
    ("backup", "ssh_key"): "",
    ("backup", "s3_endpoint"): "",
    ("backup", "keep_daily"): 0,
    ("backup", "keep_weekly"): 0,
    ("backup", "drill"): "",
    ("backup", "drill_identity"): "",
}


def _section(obj: object, section: str = "") -> dict:
    out: dict = {}
    for name in obj.__dataclass_fields__:  # type: ignore[attr-defined]
        value = getattr(obj, name)
        if (section, name) in _OPTIONAL and value == _OPTIONAL[(section, name)]:
            continue
        if hasattr(value, "__dataclass_fields__"):
            value = _section(value)
        elif isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, tuple):
            value = [v.value if isinstance(v, StrEnum) else v for v in value]
        elif isinstance(value, dict):
            value = dict(value)
        out[name] = value
    return out


def dumps(plan: Plan) -> str:
    """TOML text for a plan; `loads(dumps(p)) == p` for every valid plan."""
    doc: dict = {"version": plan.version, "cluster": _section(plan.cluster, "cluster")}
    doc["nodes"] = [
        {
            "name": n.name,
            "address": n.address,
            "roles": [r.value for r in n.roles],
            "ssh": _section(n.ssh, "ssh"),
            **({"etcd_install": n.etcd_install} if n.etcd_install else {}),
        }
        for n in plan.nodes
    ]
    doc["pki"] = _section(plan.pki, "pki")
    doc["etcd"] = _section(plan.etcd, "etcd")
    doc["control_plane"] = _section(plan.control_plane, "control_plane")
    if plan.monitoring != MonitoringSettings():
        doc["monitoring"] = _section(plan.monitoring, "monitoring")
    if plan.backup != BackupSettings():
        doc["backup"] = _section(plan.backup, "backup")
    if plan.maintenance != MaintenanceSettings():
        doc["maintenance"] = _section(plan.maintenance)
    if plan.load_balancer != LoadBalancerSettings():
        doc["load_balancer"] = _section(plan.load_balancer)
    return tomli_w.dumps(doc)


def dump(plan: Plan, path: str | Path) -> None:
    """Write atomically (unique temp file, fsync, rename, fsync of the folder), so neither an
    interrupted save nor a `kill -9` leaves half a plan or a stale fixed-name temp file."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode & 0o777  # keep the operator's mode on a rewrite
    except OSError:
        mode = 0o644
    atomic_write(path, dumps(plan), mode)


def dump_with_backup(plan: Plan, path: str | Path) -> Path:
    """Write `plan` over `path`, keeping the previous text as `<name>.bak` (same mode), so an
    edit hawizard makes to the operator's plan can always be looked at and undone."""
    path = Path(path)
    backup = path.with_name(path.name + ".bak")
    atomic_write(backup, read_regular_text(path), os.stat(path).st_mode & 0o777)
    dump(plan, path)
    return backup
