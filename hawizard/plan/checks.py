"""Plan validation: every problem at once, each naming file:line, the field and the fix.

Two passes. `check_raw` looks at the parsed TOML (unknown keys, wrong types, missing fields) so
the dataclasses are only ever built from well-formed data; `validate` checks meaning (addresses,
names, ports, quorum) on a `Plan`, so the wizard can run it on a plan that never was a file.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import posixpath
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from hawizard.localfs import is_system_folder
from hawizard.plan.checks_balancer import check_balancer, suggest_endpoint
from hawizard.plan.model import (
    DEFAULT_QUOTA_BACKEND_BYTES,
    KUBE_BINARIES,
    MAX_QUOTA_BACKEND_BYTES,
    EtcdSettings,
    KeyType,
    Plan,
    calendar_problem,
    every_seconds,
    quorum,
    tolerance,
)

SUPPORTED_VERSIONS = (1,)
# Every pattern is used with `fullmatch`: `$` alone would let a trailing newline through.
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SSH_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")
# A path on the nodes: it lands in unit files and command lines, so plain characters only.
_REMOTE_PATH = re.compile(r"(/[A-Za-z0-9._+-]+)+")
# Folders that belong to the system: never an etcd data or cert dir, never the local PKI.
SYSTEM_DIRS = frozenset(
    {
        "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media",
        "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr",
        "/var", "/etc/ssl", "/etc/systemd", "/etc/systemd/system", "/etc/kubernetes",
        "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/share",
        "/var/lib", "/var/log", "/var/tmp", "/var/cache", "/var/run", "/dev/shm", "/run/user",
    }
)  # fmt: skip
# Days a certificate may be valid: far beyond any sane value, well within X.509's year 9999.
MAX_DAYS = 36500
_KEY_TYPES = tuple(k.value for k in KeyType)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    severity: Severity
    field: str
    message: str
    source: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.source
        if where and self.line:
            where = f"{where}:{self.line}"
        head = " ".join(part for part in (where, self.field) if part)
        return f"{head}: {self.message}" if head else self.message


class PlanError(Exception):
    """A plan that cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --- pass 1: the shape of the TOML -------------------------------------------------------

_STR, _INT, _NUM, _BOOL = "a string", "an integer", "a number", "true or false"
_TABLE = "a table"
_NAMES = "a list of node names"
_TARGETS = "a list of backup targets"
_RECIPIENTS = "a list of age recipients"
_TYPES: dict[str, tuple[type, ...]] = {
    _STR: (str,),
    _INT: (int,),
    _NUM: (int, float),
    _BOOL: (bool,),
}

_PACKAGES = "a list of package names"
_ADDRESSES = "a list of IP addresses or networks"
_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+._-]*$")

SCHEMA: dict[str, dict[str, str]] = {
    "cluster": {"name": _STR, "control_plane_endpoint": _STR, "known_hosts": _STR, "cni": _STR},
    "pki": {"dir": _STR, "key": _STR, "cert_days": _INT, "ca_days": _INT},
    "etcd": {
        "version": _STR,
        "install": _STR,
        "binaries": _STR,
        "packages": _PACKAGES,
        "cert_dir": _STR,
        "data_dir": _STR,
        "client_port": _INT,
        "peer_port": _INT,
        "metrics_port": _INT,
        "probe_timeout": _NUM,
        "quota_backend_bytes": _INT,
        "defrag_keep_revisions": _INT,
        "defrag_max_write_ms": _INT,
        "sha256": "a table of binary name = sha256",
    },
    "control_plane": {
        "kubernetes_version": _STR,
        "service_cidr": _STR,
        "cluster_domain": _STR,
        "install": _STR,
        "binaries": _STR,
        "sha256": "a table of binary name = sha256",
        "start": _BOOL,
        "load_balancer": _STR,
        "oidc": _TABLE,
    },
    "monitoring": {
        "enabled": _BOOL,
        "install": _BOOL,
        "prometheus_node": _STR,
        "scrape_interval": _INT,
        "node_exporter_port": _INT,
        "haproxy_metrics_port": _INT,
        "scrape_from": _ADDRESSES,
        "record_days": _INT,
        "record_mb": _INT,
    },
    "backup": {
        "every": _STR,
        "keep": _INT,
        "dir": _STR,
        "targets": _TARGETS,
        "recipients": _RECIPIENTS,
        "ssh_key": _STR,
        "s3_endpoint": _STR,
        "keep_daily": _INT,
        "keep_weekly": _INT,
        "drill": _STR,
        "drill_identity": _STR,
    },
    "maintenance": {"every": _STR, "defrag_above_mb": _INT, "defrag_in_use_below": _NUM},
    "load_balancer": {
        "mode": _STR,
        "nodes": _NAMES,
        "subnet": _STR,
        "virtual_router_id": _INT,
        "advert_interval": _NUM,
    },
}
# [control_plane.oidc]: issuer_url and client_id are required, the rest optional.
OIDC_KEYS = {
    "issuer_url": _STR,
    "client_id": _STR,
    "username_claim": _STR,
    "groups_claim": _STR,
    "username_prefix": _STR,
    "groups_prefix": _STR,
    "ca_file": _STR,
}
NODE_KEYS = {
    "name": _STR,
    "address": _STR,
    "roles": "a list of roles",
    "ssh": "a table",
    "etcd_install": _STR,
}
SSH_KEYS = {"user": _STR, "port": _INT, "key": _STR}
TOP_KEYS = {"version", "nodes", *SCHEMA}


def check_raw(raw: dict[str, Any], text: str, source: str) -> list[Problem]:
    """Shape errors in parsed TOML: unknown keys (with the likely intended one), types, gaps."""
    out: list[Problem] = []
    loc = _Locator(text)

    def err(field: str, message: str) -> None:
        out.append(Problem(Severity.ERROR, field, message, source, loc.line(field)))

    _unknown(raw, TOP_KEYS, "", err)
    version = raw.get("version")
    if version is None:
        err("version", f"missing; add `version = {SUPPORTED_VERSIONS[-1]}` at the top")
    elif not _is(version, _INT) or version not in SUPPORTED_VERSIONS:
        err(
            "version",
            f"{version!r} is not a supported plan version "
            f"(this hawizard reads version {', '.join(map(str, SUPPORTED_VERSIONS))})",
        )
    for section, keys in SCHEMA.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            err(section, f"must be a table: write it as [{section}]")
            continue
        _unknown(table, set(keys), section, err)
        for key, kind in keys.items():
            if key in table:
                _typed(table[key], kind, f"{section}.{key}", err)
    pki = raw.get("pki")
    if isinstance(pki, dict) and isinstance(pki.get("key"), str) and pki["key"] not in _KEY_TYPES:
        err("pki.key", f"{pki['key']!r} is not supported; use one of {', '.join(_KEY_TYPES)}")
    for section in ("control_plane", "etcd"):
        sha = raw[section].get("sha256") if isinstance(raw.get(section), dict) else None
        if isinstance(sha, dict):
            for name, digest in sha.items():
                if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                    err(f"{section}.sha256.{name}", "must be 64 lowercase hex digits (sha256sum)")
    oidc = raw["control_plane"].get("oidc") if isinstance(raw.get("control_plane"), dict) else None
    if isinstance(oidc, dict):
        _unknown(oidc, set(OIDC_KEYS), "control_plane.oidc", err)
        for key, kind in OIDC_KEYS.items():
            if key in oidc:
                _typed(oidc[key], kind, f"control_plane.oidc.{key}", err)
        for key in ("issuer_url", "client_id"):
            if key not in oidc:
                err(f"control_plane.oidc.{key}", f"missing; [control_plane.oidc] needs {key}")

    nodes = raw.get("nodes", [])
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        err("nodes", "must be an array of tables: write each node as [[nodes]]")
        return out
    if not nodes:
        err("nodes", "the plan has no nodes; add at least one [[nodes]] with name and address")
    for i, node in enumerate(nodes):
        where = f"nodes[{i}]"
        _unknown(node, set(NODE_KEYS), where, err)
        for key in ("name", "address"):
            if key not in node:
                err(f"{where}.{key}", f"missing; every node needs a {key}")
        for key in ("name", "address", "etcd_install"):
            if key in node:
                _typed(node[key], _STR, f"{where}.{key}", err)
        roles = node.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            err(f"{where}.roles", 'must be a list such as ["etcd", "control-plane"]')
        else:
            for role in roles:
                if role not in ("etcd", "control-plane"):
                    err(
                        f"{where}.roles",
                        f"unknown role {role!r}{_hint(role, {'etcd', 'control-plane'})} "
                        '(roles are "etcd" and "control-plane")',
                    )
            if not roles:
                err(f"{where}.roles", 'is empty; give the node "etcd", "control-plane" or both')
        ssh = node.get("ssh", {})
        if not isinstance(ssh, dict):
            err(f"{where}.ssh", 'must be a table such as { user = "root", port = 22 }')
            continue
        _unknown(ssh, set(SSH_KEYS), f"{where}.ssh", err)
        for key, kind in SSH_KEYS.items():
            if key in ssh:
                _typed(ssh[key], kind, f"{where}.ssh.{key}", err)
    out.extend(_secrets(raw, source, loc))
    out.extend(
        Problem(Severity.ERROR, path, message, source, loc.line(path))
        for path, message in _control_chars(raw)
    )
    return out


def has_control(text: str) -> bool:
    """Control, format or line-break characters: never part of a plan value."""
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text)


_CONTROL_FIX = (
    "holds a control or line-break character (a newline, NUL, tab...); "
    "plan values are single plain lines"
)


def _control_chars(raw: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string (and table key) holding a control character, by field path."""
    found: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            where = f"{path}.{key}" if path else str(key)
            if has_control(str(key)):
                found.append((where, f"key {key!r} {_CONTROL_FIX}"))
            found += _control_chars(value, where)
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            found += _control_chars(value, f"{path}[{i}]")
    elif isinstance(raw, str) and has_control(raw):
        found.append((path, f"{raw!r} {_CONTROL_FIX}"))
    return found


def _plan_strings(obj: Any, path: str = "") -> list[tuple[str, str]]:
    """(field path, value) of every string in a Plan, so the wizard's plans get checked too."""
    out: list[tuple[str, str]] = []
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.name == "source":
                continue
            out += _plan_strings(getattr(obj, f.name), f"{path}.{f.name}" if path else f.name)
    elif isinstance(obj, tuple) and path == "nodes":
        for i, value in enumerate(obj):
            out += _plan_strings(value, f"{path}[{i}]")
    elif isinstance(obj, (tuple, list)):
        out += [(path, str(v)) for v in obj]
    elif isinstance(obj, dict):
        for key, value in obj.items():
            out += [(f"{path}.{key}", str(key)), (f"{path}.{key}", str(value))]
    elif isinstance(obj, str):
        out.append((path, obj))
    return out


def _is(value: Any, kind: str) -> bool:
    types = _TYPES.get(kind)
    if types is None:
        return True
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _typed(value: Any, kind: str, field: str, err) -> None:
    if kind == "a table of binary name = sha256":
        if not isinstance(value, dict):
            err(field, 'must be a table such as { kube-apiserver = "<sha256>" }')
    elif kind == _TABLE:
        if not isinstance(value, dict):
            err(field, f"must be a table: write it as [{field}]")
    elif kind == _NAMES:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            err(field, f'must be a list of node names such as ["infra0", "infra1"], not {value!r}')
    elif kind in (_TARGETS, _RECIPIENTS):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            example = '"ssh://backup@host/srv/etcd"' if kind == _TARGETS else '"age1..."'
            err(field, f"must be {kind} such as [{example}], not {value!r}")
    elif kind == _ADDRESSES:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            err(field, f'must be a list such as ["10.1.2.50", "10.9.0.0/24"], not {value!r}')
    elif kind == _PACKAGES:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            err(field, 'must be a list of package names such as ["etcd-server", "etcd-client"]')
    elif not _is(value, kind):
        err(field, f"must be {kind}, not {value!r}")


def _unknown(table: dict, known: set[str], where: str, err) -> None:
    for key in table:
        if key not in known:
            path = f"{where}.{key}" if where else key
            err(path, f"unknown key{_hint(key, known)}; known keys: {', '.join(sorted(known))}")


def _hint(word: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_SECRET_MARKERS = ("-----BEGIN", "PRIVATE KEY")


def _secrets(raw: Any, source: str, loc: _Locator, path: str = "") -> list[Problem]:
    """A pasted key in any string value is refused: plans are meant to be versioned and shared."""
    found: list[Problem] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            found += _secrets(value, source, loc, f"{path}.{key}" if path else key)
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            found += _secrets(value, source, loc, f"{path}[{i}]")
    elif isinstance(raw, str) and any(m in raw for m in _SECRET_MARKERS):
        found.append(
            Problem(
                Severity.ERROR,
                path,
                "looks like a private key; the plan holds paths only, never key material "
                "(put the key in a 0600 file and give its path)",
                source,
                loc.line(path),
            )
        )
    return found


def sanitize(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw plan minus everything `check_raw` objected to, so meaning can still be checked.

    Lets one run report shape *and* meaning problems together instead of one pass at a time.
    """
    clean: dict[str, Any] = {"version": SUPPORTED_VERSIONS[-1]}
    for section, keys in SCHEMA.items():
        table = raw.get(section)
        if isinstance(table, dict):
            clean[section] = {
                k: v
                for k, v in table.items()
                if k in keys and _is(v, keys[k]) and _ok(section, k, v)
            }
    nodes = raw.get("nodes")
    clean["nodes"] = []
    if isinstance(nodes, list):
        for node in nodes:
            node = node if isinstance(node, dict) else {}
            out = {
                k: node[k]
                for k in ("name", "address")
                if isinstance(node.get(k), str) and not has_control(node[k])
            }
            out.setdefault("name", "")
            out.setdefault("address", "")
            if isinstance(node.get("etcd_install"), str):
                out["etcd_install"] = node["etcd_install"]
            roles = node.get("roles")
            if isinstance(roles, list) and roles:
                good = [r for r in roles if r in ("etcd", "control-plane")]
                if good:
                    out["roles"] = good
            ssh = node.get("ssh")
            if isinstance(ssh, dict):
                out["ssh"] = {
                    k: v
                    for k, v in ssh.items()
                    if k in SSH_KEYS
                    and _is(v, SSH_KEYS[k])
                    and not (isinstance(v, str) and has_control(v))
                }
            clean["nodes"].append(out)
    return clean


def _ok(section: str, key: str, value: Any) -> bool:
    if isinstance(value, str) and has_control(value):
        return False
    if (section, key) == ("pki", "key"):
        return value in ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-4096")
    if (section, key) == ("load_balancer", "nodes"):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if (section, key) in (("control_plane", "sha256"), ("etcd", "sha256")):
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if (section, key) == ("control_plane", "oidc"):
        return (
            isinstance(value, dict)
            and {"issuer_url", "client_id"} <= set(value)
            and all(k in OIDC_KEYS and isinstance(v, str) for k, v in value.items())
        )
    if (section, key) == ("etcd", "packages"):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return True


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

    names: dict[str, int] = {}
    addresses: dict[str, int] = {}
    for i, node in enumerate(plan.nodes):
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
                f"{node.ssh.user!r} is not a login name (letters, digits, '_', '.', '-'; "
                "at most 32)",
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

    members = len(plan.etcd_nodes)
    masters = len(plan.control_plane_nodes)
    if plan.nodes and members == 0:
        err("nodes", 'no node has the "etcd" role; give 3 or 5 nodes the "etcd" role')
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


_LABEL_FIX = "use lowercase letters, digits and '-', start and end alphanumeric, at most 63"
_ADDR_FIX = "(expected an IPv4 or IPv6 address, e.g. 10.1.2.13)"
_SCOPE_FIX = (
    "IPv6 scope ids (%…) are not supported; use a global or unique-local address (e.g. fd00::11)"
)


def _address_fix(node) -> str:
    """How to turn what was typed as a node address into one: node addresses are IPs because
    every node's etcd and apiserver certificates carry its exact IP as a SAN, and etcd peers,
    haproxy and keepalived dial that IP (a host name would be resolved differently per host)."""
    text = node.address
    inner = text.strip()
    if inner.startswith("[") and inner.endswith("]") and _ip(inner[1:-1]) is not None:
        return f"; write the IPv6 address without brackets: {inner[1:-1]}"
    if inner != text and _ip(inner) is not None:
        return f"; remove the spaces around it: {inner}"
    labels = inner.lower().rstrip(".").split(".")
    # a host name's last label starts with a letter (`198.18.7.13x` is a mistyped address)
    if labels[-1][:1].isalpha() and all(_LABEL.fullmatch(p) for p in labels):
        return (
            "; node addresses are IP addresses, not host names (each node's certificates "
            "carry its exact IP and the other nodes dial it): give the IP address "
            f"{inner} resolves to, e.g. 10.1.2.13"
        )
    return f" {_ADDR_FIX}"


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address without a scope id (`fe80::1%eth0` carries free text after the `%`)."""
    if not text.isascii() or "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _port(port: int, field: str, err) -> None:
    if not 1 <= port <= 65535:
        err(field, f"{port} is out of range (a TCP port is 1-65535)")


def _remote_dir(value: str, field: str, err) -> None:
    """A folder on the nodes: absolute, normalised, plain characters, not a system folder."""
    if not value.startswith("/"):
        err(field, f"{value!r} must be an absolute path on the nodes")
    elif not _REMOTE_PATH.fullmatch(value) or posixpath.normpath(value) != value:
        err(
            field,
            f"{value!r} must be a plain normalised path (letters, digits, '.', '_', '+', '-' "
            "between single slashes, no trailing slash, no '..'), e.g. /var/lib/etcd",
        )
    elif value in SYSTEM_DIRS or ".." in value.split("/"):
        err(field, f"{value} is a system folder; give a folder of its own, e.g. /var/lib/etcd")


def _local_path(plan: Plan, value: str, field: str, err) -> Path | None:
    """A path on this machine: `~user` that exists, no NUL, a length the kernel accepts."""
    try:
        path = plan.resolve(value)
    except (RuntimeError, KeyError, ValueError):
        err(field, f"{value!r}: cannot expand the `~` (no such user); give a full path")
        return None
    text = str(path)
    if len(os.fsencode(text)) >= 4096 or any(len(os.fsencode(p)) > 255 for p in path.parts):
        err(field, "is too long a path (at most 255 bytes per name, 4095 in all)")
        return None
    return path


def _pki_dir(plan: Plan, err) -> None:
    """The local PKI folder gets mode 0700: never a folder that is not hawizard's own."""
    if plan.pki.dir:
        path = _local_path(plan, plan.pki.dir, "pki.dir", err)
    else:  # the default beside the plan: its name can still be too long
        path = _local_path(plan, str(plan.pki_dir), "pki.dir", err)
    if path is None:
        return
    normal = Path(os.path.normpath(path))
    home = Path(os.path.expanduser("~"))
    if str(normal) in SYSTEM_DIRS or normal in (home, *home.parents):
        err(
            "pki.dir",
            f"{normal} is a shared folder (hawizard would make it 0700); give a folder of its "
            "own, e.g. ~/.local/share/hawizard/prod/pki (or leave pki.dir out: "
            "<plan name>.pki/ beside the plan)",
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


def _check_control_plane(plan: Plan, names: dict[str, int], add) -> None:
    cp = plan.control_plane

    def err(field: str, message: str) -> None:
        add(Severity.ERROR, field, message)

    try:
        net = ipaddress.ip_network(cp.service_cidr, strict=False)
        if net.num_addresses < 4:
            err("control_plane.service_cidr", f"{cp.service_cidr} is too small for services")
    except ValueError:
        err(
            "control_plane.service_cidr",
            f"{cp.service_cidr!r} is not a network (expected e.g. 10.96.0.0/12)",
        )
    if not all(_LABEL.fullmatch(p) for p in cp.cluster_domain.split(".")):
        err("control_plane.cluster_domain", f"{cp.cluster_domain!r} is not a DNS domain")
    for name in cp.sha256:
        if name not in KUBE_BINARIES:
            err(
                f"control_plane.sha256.{name}",
                f"unknown binary {name!r}; the checksums are for {', '.join(KUBE_BINARIES)}",
            )
    if not _VERSION.fullmatch(cp.kubernetes_version):
        err("control_plane.kubernetes_version", f"{cp.kubernetes_version!r} must look like 1.32.0")
    if cp.install not in ("download", "upload", "none"):
        err(
            "control_plane.install",
            f'{cp.install!r} is not an install method; use "download", "upload" or "none"',
        )
    elif cp.install == "upload" and not cp.binaries:
        err(
            "control_plane.binaries",
            'is required with install = "upload": a folder with the server binaries or '
            "kubernetes-server-linux-amd64.tar.gz",
        )
    elif cp.install == "download" and plan.control_plane_nodes:
        missing = [b for b in KUBE_BINARIES if b not in cp.sha256]
        if missing:
            err(
                "control_plane.sha256",
                f"missing checksums for {', '.join(missing)}; downloads are only used after "
                "their sha256 is checked (copy them from the release's .sha256 files)",
            )


_CNI = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.:@/#-]{0,64}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:@/+=-]{1,256}$")
_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")


def _check_oidc(plan: Plan, err) -> None:
    """`--oidc-*` flag values: each one token that a unit's ExecStart line carries verbatim."""
    o = plan.control_plane.oidc
    if o is None:
        return
    f = "control_plane.oidc"
    if not _URL.fullmatch(o.issuer_url):
        err(
            f"{f}.issuer_url",
            f"{o.issuer_url!r} must be an https:// URL without query or spaces "
            "(the provider's issuer, e.g. https://login.example.org/realms/ops)",
        )
    if not _CLIENT_ID.fullmatch(o.client_id):
        err(
            f"{f}.client_id",
            f"{o.client_id!r} must be the client id registered at the provider "
            "(letters, digits, and _ . : @ / + = -; no spaces)",
        )
    if not _CLAIM.fullmatch(o.username_claim):
        err(f"{f}.username_claim", f"{o.username_claim!r} is not a claim name (e.g. email, sub)")
    if o.groups_claim and not _CLAIM.fullmatch(o.groups_claim):
        err(f"{f}.groups_claim", f"{o.groups_claim!r} is not a claim name (e.g. groups)")
    for key in ("username_prefix", "groups_prefix"):
        if not _PREFIX.fullmatch(getattr(o, key)):
            err(f"{f}.{key}", f"{getattr(o, key)!r} may hold letters, digits, and _ . : @ / # -")
    if o.ca_file and (not o.ca_file.startswith("/") or not _PATH.fullmatch(o.ca_file)):
        err(
            f"{f}.ca_file",
            f"{o.ca_file!r} must be an absolute path on the masters without spaces "
            "(e.g. /etc/kubernetes/pki/oidc-ca.pem), or empty for the system trust store",
        )


_PATH = re.compile(r"^/[A-Za-z0-9._/-]+$")


def _check_monitoring(plan: Plan, names: dict[str, int], err) -> None:
    m = plan.monitoring
    if not 1 <= m.scrape_interval <= 3600:
        err("monitoring.scrape_interval", f"{m.scrape_interval} must be 1-3600 seconds (e.g. 15)")
    _port(m.node_exporter_port, "monitoring.node_exporter_port", err)
    if not 1 <= m.record_days <= 366:
        err("monitoring.record_days", f"{m.record_days} must be 1-366 days (e.g. 7)")
    if not 1 <= m.record_mb <= 100_000:
        err("monitoring.record_mb", f"{m.record_mb} must be 1-100000 MiB (e.g. 100)")
    _port(m.haproxy_metrics_port, "monitoring.haproxy_metrics_port", err)
    for i, source in enumerate(m.scrape_from):
        try:
            ipaddress.ip_network(source, strict=False)
        except ValueError:
            err(
                f"monitoring.scrape_from[{i}]",
                f"{source!r} is not an IP address or network (e.g. 10.1.2.50 or 10.9.0.0/24): "
                "the nodes' firewall lets only these scrape the metrics ports",
            )
    if m.prometheus_node and m.prometheus_node not in names:
        err(
            "monitoring.prometheus_node",
            f"{m.prometheus_node!r} is not a node in this plan; name the node to run Prometheus",
        )
    if m.install and not m.enabled:
        err(
            "monitoring.install",
            "needs enabled = true (Prometheus scrapes the apiservers with the monitoring "
            "certificate that enabled makes the PKI issue)",
        )
    elif m.install and not m.prometheus_node:
        err(
            "monitoring.prometheus_node",
            'is required with install = true: the node that runs Prometheus, e.g. "infra0"',
        )


def _check_backup(plan: Plan, err) -> None:
    bk = plan.backup
    if bk.every:
        try:
            every_seconds(bk.every)
        except ValueError as exc:
            err("backup.every", str(exc))
    if not 1 <= bk.keep <= 10000:
        err("backup.keep", f"{bk.keep} must be 1-10000 (the verified backups kept, e.g. 24)")
    if any(ord(c) < 32 or ord(c) == 127 for c in bk.dir):
        err("backup.dir", f"{bk.dir!r} holds a control character; give a plain folder path")
    elif bk.dir and is_system_folder(plan.resolve(bk.dir)):  # issue 25: root writes there
        err(
            "backup.dir",
            f"{bk.dir!r} is a system or shared folder; give a folder of your own, e.g. "
            '"backups" (beside the plan, created 0700)',
        )
    _check_offsite(plan, err)


def _check_offsite(plan: Plan, err) -> None:
    """`[backup]` targets, recipients and retention (issue 28): each error names the fix."""
    from hawizard.plan.backup_targets import BadTarget, check_recipient, parse_target

    bk = plan.backup
    for i, text in enumerate(bk.targets):
        try:
            parse_target(text)
        except BadTarget as exc:
            err(f"backup.targets[{i}]", str(exc))
    for i, text in enumerate(bk.recipients):
        why = check_recipient(text)
        if why:
            err(f"backup.recipients[{i}]", why)
    for name in ("keep_daily", "keep_weekly"):
        value = getattr(bk, name)
        if not 0 <= value <= 10000:
            err(f"backup.{name}", f"{value} must be 0-10000 (0: none kept by this rule)")
    if bk.drill:
        try:
            every_seconds(bk.drill)
        except ValueError as exc:
            err("backup.drill", str(exc))
        if not bk.targets:
            err("backup.drill", 'drills the newest off-site copy: set targets = ["..."] too')
        elif bk.recipients and not bk.drill_identity:
            err(
                "backup.drill_identity",
                "the backups are encrypted: name the age identity file the timed drill "
                'decrypts with, e.g. drill_identity = "/root/etcd-drill.age" (mode 0600)',
            )
    for name in ("ssh_key", "s3_endpoint", "drill_identity"):
        value = getattr(bk, name)
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            err(f"backup.{name}", f"{value!r} holds a control character; give a plain value")
    if bk.s3_endpoint and not bk.s3_endpoint.startswith(("http://", "https://")):
        err("backup.s3_endpoint", f"{bk.s3_endpoint!r}: give a URL, e.g. https://s3.example.org")
    elif "@" in bk.s3_endpoint.split("://", 1)[-1].split("/", 1)[0]:
        err(
            "backup.s3_endpoint",
            "holds credentials (user@ or key:secret@): never put them in the plan; give the "
            "bare URL and set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or ~/.aws/credentials",
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


# --- where a field is written ---------------------------------------------------------------


class _Locator:
    """Finds the line a dotted field path (`nodes[2].ssh.port`) is written on, if it is."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"-]+)\s*\]\]?")
    _KEY = re.compile(r"^\s*\"?([A-Za-z0-9_-]+)\"?\s*=\s*(.*)$")
    _INLINE = re.compile(r"([A-Za-z0-9_-]+)\s*=")

    def __init__(self, text: str):
        self.lines: dict[str, int] = {}
        context, counts = "", {}
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                name = header.group(2).replace('"', "")
                if header.group(1) == "[[":
                    counts[name] = counts.get(name, -1) + 1
                    context = f"{name}[{counts[name]}]"
                else:
                    head, _, rest = name.partition(".")
                    context = f"{head}[{counts[head]}].{rest}" if head in counts and rest else name
                self.lines.setdefault(context, number)
                continue
            key = self._KEY.match(line)
            if not key:
                continue
            path = f"{context}.{key.group(1)}" if context else key.group(1)
            self.lines.setdefault(path, number)
            if key.group(2).lstrip().startswith("{"):
                for inner in self._INLINE.findall(key.group(2)):
                    self.lines.setdefault(f"{path}.{inner}", number)

    def line(self, field: str) -> int | None:
        path = field
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return None
