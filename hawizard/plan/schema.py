"""Pass 1 of plan validation: the shape of the TOML (unknown keys, wrong types, missing
fields, control characters, secrets pasted into the plan), so the dataclasses are only ever
built from well-formed data. `SCHEMA` is the one description of every section's keys."""

from __future__ import annotations

import dataclasses
import difflib
import re
import unicodedata
from typing import Any

from hawizard.plan.problems import (
    _KEY_TYPES,
    _SHA256,
    SUPPORTED_VERSIONS,
    Problem,
    Severity,
    _Locator,
)

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
        "record": _BOOL,
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
SSH_KEYS = {"user": _STR, "port": _INT, "key": _STR, "compress": _BOOL}
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

    _raw_nodes(raw.get("nodes", []), err)
    out.extend(_secrets(raw, source, loc))
    out.extend(
        Problem(Severity.ERROR, path, message, source, loc.line(path))
        for path, message in _control_chars(raw)
    )
    return out


def _raw_nodes(nodes: Any, err) -> None:
    """The shape of `[[nodes]]`: an array of tables, each with its keys and types."""
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        err("nodes", "must be an array of tables: write each node as [[nodes]]")
        return
    if not nodes:
        err("nodes", "the plan has no nodes; add at least one [[nodes]] with name and address")
    for i, node in enumerate(nodes):
        _raw_node(f"nodes[{i}]", node, err)


def _raw_node(where: str, node: dict, err) -> None:
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
        return
    _unknown(ssh, set(SSH_KEYS), f"{where}.ssh", err)
    for key, kind in SSH_KEYS.items():
        if key in ssh:
            _typed(ssh[key], kind, f"{where}.ssh.{key}", err)


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
