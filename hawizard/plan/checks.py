"""Plan validation: every problem at once, each naming file:line, the field and the fix.

Two passes. `check_raw` (`plan.schema`) looks at the parsed TOML (unknown keys, wrong types,
missing fields) so the dataclasses are only ever built from well-formed data; `validate`
checks meaning (addresses, names, ports, quorum) on a `Plan`, so the wizard can run it on a
plan that never was a file. Each section's meaning is checked in its own module
(`checks_etcd`, `checks_control_plane`, `checks_balancer`, `checks_operations`).
"""

from __future__ import annotations

from hawizard.plan.checks_balancer import check_balancer, suggest_endpoint
from hawizard.plan.checks_control_plane import _CNI, _check_control_plane, _check_oidc
from hawizard.plan.checks_etcd import _check_etcd, _check_maintenance_schedule
from hawizard.plan.checks_operations import _check_backup, _check_monitoring
from hawizard.plan.model import (
    KeyType,
    Plan,
    quorum,
    tolerance,
)
from hawizard.plan.problems import (
    _LABEL,
    _LABEL_FIX,
    _SCOPE_FIX,
    _SSH_USER,
    MAX_DAYS,
    PlanError,
    Problem,
    Severity,
    _address_fix,
    _ip,
    _local_path,
    _Locator,
    _pki_dir,
    _port,
)
from hawizard.plan.schema import (
    _CONTROL_FIX,
    SCHEMA,
    _plan_strings,
    check_raw,
    has_control,
    sanitize,
)

# The names the rest of hawizard imports from here (pass 1 lives in `schema`, the shared
# types in `problems`, each section's checks in `checks_<section>`).
__all__ = [
    "SCHEMA",
    "PlanError",
    "Problem",
    "Severity",
    "check_raw",
    "sanitize",
    "suggest_endpoint",
    "validate",
]

# --- pass 2: meaning ------------------------------------------------------------------------


def validate(plan: Plan, *, text: str | None = None, source: str | None = None) -> list[Problem]:
    """Every semantic problem with the plan (errors first, then warnings)."""

    loc = _Locator(text or "")
    src = source or (str(plan.source) if plan.source else "")
    out: list[Problem] = []

    def add(sev: Severity, field: str, message: str) -> None:
        out.append(Problem(sev, field, message, src, loc.line(field)))

    def err(field: str, message: str) -> None:
        add(Severity.ERROR, field, message)

    controlled: set[str] = set()
    for path, value in _plan_strings(plan):
        if has_control(value) and path not in controlled:
            controlled.add(path)
            err(path, f"{value!r} {_CONTROL_FIX}")

    if not _LABEL.fullmatch(plan.cluster.name):
        err("cluster.name", f"{plan.cluster.name!r} is not a valid name ({_LABEL_FIX})")

    names = _check_nodes(plan, err)
    _check_members(plan, add)
    masters = len(plan.control_plane_nodes)
    _check_endpoint(plan, masters, err)
    for field, value in (
        ("cluster.known_hosts", plan.cluster.known_hosts),
        ("control_plane.binaries", plan.control_plane.binaries),
    ):
        if value and not has_control(value):
            _local_path(plan, value, field, err)
    _check_pki(plan, err)
    _check_etcd(plan, err)
    _check_mixed_install(plan, add)
    _check_control_plane(plan, names, add)
    _check_oidc(plan, err)
    _check_monitoring(plan, names, err)
    _check_backup(plan, err)
    _check_maintenance_schedule(plan, err)
    if plan.cluster.cni and not _CNI.fullmatch(plan.cluster.cni):
        err(
            "cluster.cni",
            f"{plan.cluster.cni!r} is not a CNI name (lowercase letters, digits, '-', '.', "
            'e.g. "cilium" or "calico")',
        )
    check_balancer(plan, names, lambda sev, field, msg: add(Severity(sev), field, msg))
    out.sort(key=lambda p: p.severity is not Severity.ERROR)
    return out


def _check_nodes(plan: Plan, err) -> dict[str, int]:
    """Each node's name, address, roles, SSH login and install method; returns the valid,
    unique names with their index (what the section checks name nodes by)."""
    names: dict[str, int] = {}
    addresses: dict[str, int] = {}
    for i, node in enumerate(plan.nodes):
        _check_node(plan, i, node, names, addresses, err)
    return names


def _check_node(
    plan: Plan, i: int, node, names: dict[str, int], addresses: dict[str, int], err
) -> None:
    where = f"nodes[{i}]"
    if not _LABEL.fullmatch(node.name):
        err(f"{where}.name", f"{node.name!r} is not a valid node name ({_LABEL_FIX})")
    elif node.name in names:
        err(f"{where}.name", f"{node.name!r} is already used by nodes[{names[node.name]}]")
    else:
        names[node.name] = i
    addr = _ip(node.address)
    if "%" in node.address:
        err(f"{where}.address", f"{node.address!r}: {_SCOPE_FIX}")
    elif addr is None:
        err(f"{where}.address", f"{node.address!r} is not an IP address{_address_fix(node)}")
    elif str(addr) in addresses:
        err(
            f"{where}.address",
            f"{node.address} is already used by nodes[{addresses[str(addr)]}]; "
            "each node needs its own address",
        )
    else:
        addresses[str(addr)] = i
    if len(set(node.roles)) != len(node.roles):
        err(f"{where}.roles", "lists a role twice")
    if not node.ssh.user.strip():
        err(f"{where}.ssh.user", 'is empty; give the SSH login, e.g. "root"')
    elif not _SSH_USER.fullmatch(node.ssh.user):
        err(
            f"{where}.ssh.user",
            f"{node.ssh.user!r} is not a login name (letters, digits, '_', '.', '-'; at most 32)",
        )
    _port(node.ssh.port, f"{where}.ssh.port", err)
    if not node.ssh.key.strip():
        err(f"{where}.ssh.key", "is empty; give the path of the SSH private key")
    else:
        _local_path(plan, node.ssh.key, f"{where}.ssh.key", err)
    if node.etcd_install not in ("", "package", "upload"):
        err(
            f"{where}.etcd_install",
            f'{node.etcd_install!r} is not an install method; use "package" or "upload" '
            "(or leave it out to follow etcd.install)",
        )


def member_count_messages(plan: Plan) -> set[str]:
    """The messages `validate` gives about the number of etcd members: a face that shows the
    count's judgement already (the wizard's quorum hint) leaves them out of its problem list."""
    said: set[str] = set()
    _check_members(plan, lambda _severity, _field, message: said.add(message))
    return said


def _check_members(plan: Plan, add) -> None:
    """The number of etcd members: none is an error, an even or tiny count a warning."""
    members = len(plan.etcd_nodes)
    if plan.nodes and members == 0:
        add(
            Severity.ERROR,
            "nodes",
            'no node has the "etcd" role; give 3 or 5 nodes the "etcd" role',
        )
    elif members in (1, 2, 4, 6):
        add(
            Severity.WARNING,
            "nodes",
            f"{members} etcd member{'s' if members > 1 else ''}: quorum is {quorum(members)}, "
            f"so the cluster tolerates {tolerance(members)} failure"
            f"{'s' if tolerance(members) != 1 else ''}; "
            + (
                "use 3 members to survive one failure"
                if members < 3
                else f"{members - 1} members tolerate as many with less replication work"
            ),
        )
    elif members > 7:
        add(
            Severity.WARNING,
            "nodes",
            f"{members} etcd members: etcd recommends at most 7, more only slows writes",
        )


def _check_endpoint(plan: Plan, masters: int, err) -> None:
    ep = plan.cluster.control_plane_endpoint
    field = "cluster.control_plane_endpoint"
    if not ep:
        if masters >= 2:
            err(
                field,
                f"missing, but {masters} nodes have the control-plane role; set the load "
                f'balancer address, e.g. "{suggest_endpoint(plan)}"',
            )
        return
    host, sep, port = ep.rpartition(":")
    host = host.strip("[]")
    if "%" in host:
        err(field, f"{ep!r}: {_SCOPE_FIX}")
        return
    if not sep or not (port.isascii() and port.isdigit()):
        err(field, f"{ep!r} must be HOST:PORT, e.g. {suggest_endpoint(plan)} (IPv6 in brackets)")
        return
    _port(int(port), field, err)
    if _ip(host) is None and not all(_LABEL.fullmatch(part) for part in host.lower().split(".")):
        err(field, f"{host!r} is neither an IP address nor a DNS name")


def _endpoint_ok(plan: Plan) -> bool:
    found: list[str] = []
    _check_endpoint(plan, 0, lambda field, message: found.append(message))
    return not found


def _check_pki(plan: Plan, err) -> None:
    pki = plan.pki

    if pki.key not in set(KeyType):
        err("pki.key", f"{pki.key!r} is not supported; use one of {', '.join(KeyType)}")
    if not 1 <= pki.ca_days <= MAX_DAYS:
        err("pki.ca_days", f"{pki.ca_days} must be from 1 to {MAX_DAYS} days (default 3650)")
    if not 1 <= pki.cert_days <= MAX_DAYS:
        err("pki.cert_days", f"{pki.cert_days} must be from 1 to {MAX_DAYS} days (default 365)")
    elif pki.cert_days > pki.ca_days:
        err(
            "pki.cert_days",
            f"{pki.cert_days} days outlives the CA ({pki.ca_days} days); "
            "make it at most pki.ca_days",
        )
    if pki.dir and not pki.dir.strip():
        err(
            "pki.dir",
            "is blank; give a local folder for certificates and keys, or leave pki.dir out "
            "for <plan name>.pki/ beside the plan",
        )
    elif not has_control(pki.dir):
        _pki_dir(plan, err)


def _check_mixed_install(plan: Plan, add) -> None:
    """Package on some members and upload on others is allowed (e.g. while moving a cluster
    from one to the other), but the two usually carry different etcd versions: warn."""
    ways: dict[str, list[str]] = {}
    for n in plan.etcd_nodes:
        ways.setdefault(plan.etcd_install(n), []).append(n.name)
    if len(ways) > 1:
        add(
            Severity.WARNING,
            "nodes",
            f"etcd is installed from packages on {', '.join(ways.get('package', []))} and "
            f"uploaded to {', '.join(ways.get('upload', []))}: the distribution's etcd (Debian "
            "12: 3.4) and uploaded binaries (e.g. 3.5) may differ in version; etcd runs mixed "
            "versions only one minor apart and only during an upgrade. `apply` prints every "
            "member's version and warns when they differ",
        )
