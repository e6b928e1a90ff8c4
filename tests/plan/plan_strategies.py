"""Hypothesis strategies for plans, generated from the plan SCHEMA (valid ones and hostile
mutations), shared by the CI property test and the longer run in tests/bench/.

A plan is drawn as raw TOML data: a valid plan, then up to three mutations anywhere in it
(hostile strings, wrong types, odd numbers, deleted keys, unknown keys, any `SCHEMA` key with
a hostile value); sometimes the TOML text itself is broken or nested absurdly deep.
Addresses are loopback only, so an `apply --dry-run` never leaves the host.
"""

from __future__ import annotations

import math
from pathlib import Path

import tomli_w
from hypothesis import strategies as st

from hawizard.plan.checks import SCHEMA

HOSTILE_STRINGS = [
    "",
    " ",
    "\n",
    "x\nExecStartPre=+/bin/sh -c 'id > /tmp/pwned'",
    "fe80::1%eth0\nExecStartPre=+/bin/true",
    "fe80::1%$(reboot)",
    "infra0\n",
    "[/]",
    "[bold]x[/bold]",
    "[/x]",
    "a\x00b",
    "a\rb",
    "a\u2028b",
    "a\u202eb",
    "%n%i",
    "$HOME",
    "'; rm -rf / #",
    '"quoted"',
    "\\",
    "~nosuchuser-xyz/pki",
    "/",
    "/etc",
    "/tmp",
    "/var/lib/etcd/",
    "/var/lib/../etc",
    "x" * 300,
    "²",
    "10.1.2.10:²",
    "-----BEGIN PRIVATE KEY-----",
    "é",
    "🙂",
]
ODD_NUMBERS = [0, -1, 1, 65535, 65536, 2**31, 2**63 - 1, -(2**63), 36500, 36501]
ODD_FLOATS = [math.nan, math.inf, -math.inf, 0.0, -0.5, 1e308, 30.0, 30.01]
WRONG_TYPES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.sampled_from(ODD_FLOATS),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.sampled_from(HOSTILE_STRINGS),
)

LOOPBACK = [f"127.0.{i}.{j}" for i in (77,) for j in range(1, 9)]

VALID: dict[str, dict[str, st.SearchStrategy]] = {
    "cluster": {
        "name": st.sampled_from(["prod", "t", "lab-1"]),
        "control_plane_endpoint": st.sampled_from(["", "127.0.77.100:8443", "[::1]:8443"]),
        "known_hosts": st.just("known_hosts"),
        "cni": st.just(""),
    },
    "pki": {
        "dir": st.sampled_from(["pki", "./pki2"]),
        "key": st.sampled_from(["ecdsa-p256", "ecdsa-p384", "rsa-2048"]),
        "cert_days": st.integers(1, 3650),
        "ca_days": st.integers(3650, 36500),
    },
    "etcd": {
        "version": st.sampled_from(["3.5.17", "3.4.23"]),
        "install": st.just("package"),
        "binaries": st.just(""),
        "cert_dir": st.sampled_from(["/etc/ssl/etcd/ssl", "/srv/etcd-pki"]),
        "data_dir": st.sampled_from(["/var/lib/etcd", "/srv/etcd.data"]),
        "client_port": st.just(2379),
        "peer_port": st.just(2380),
        "metrics_port": st.just(2381),
        "probe_timeout": st.sampled_from([0.5, 2.0]),
        "quota_backend_bytes": st.sampled_from([2 * 1024**3, 48 * 1024**2, 8 * 1024**3]),
        "defrag_keep_revisions": st.sampled_from([0, 1000]),
        "defrag_max_write_ms": st.sampled_from([10, 500, 60_000]),
    },
    "control_plane": {
        "kubernetes_version": st.just("1.32.0"),
        "service_cidr": st.sampled_from(["10.96.0.0/12", "fd00:10:96::/112"]),
        "cluster_domain": st.just("cluster.local"),
        "install": st.just("none"),
        "binaries": st.just(""),
        "sha256": st.just({}),
        "start": st.booleans(),
        "load_balancer": st.just(""),
    },
    "monitoring": {"enabled": st.just(False), "install": st.just(False)},
    "backup": {},
    "maintenance": {
        "every": st.sampled_from(["", "daily", "weekly", "Sun *-*-* 03:00:00", "*-*-* 02:30"]),
        "defrag_above_mb": st.sampled_from([1, 100, 8192]),
        "defrag_in_use_below": st.sampled_from([0.05, 0.5, 0.95]),
    },
}


@st.composite
def valid_raw(draw) -> dict:
    """A plan that validates: the valid value of every key (some left to their default)."""
    raw: dict = {"version": 1}
    for section, keys in VALID.items():
        table = {k: draw(v) for k, v in keys.items() if draw(st.integers(0, 9))}
        if table or draw(st.booleans()):
            raw[section] = table
    count = draw(st.sampled_from([1, 3, 3, 4]))
    addresses = draw(st.permutations(LOOPBACK))
    raw["nodes"] = [
        {
            "name": f"n{i}",
            "address": addresses[i],
            "roles": ["etcd", "control-plane"] if i < 3 else ["control-plane"],
            "ssh": {"user": "root", "port": 1, "key": "id_none"},  # port 1: refused at once
        }
        for i in range(count)
    ]
    masters = sum("control-plane" in n["roles"] for n in raw["nodes"])
    if masters >= 2:
        raw.setdefault("cluster", {})["control_plane_endpoint"] = "127.0.77.100:8443"
    return raw


def _paths(raw, prefix=()) -> list[tuple]:
    """Every (container path, key) in the raw plan, tables and arrays alike."""
    out = []
    items = raw.items() if isinstance(raw, dict) else enumerate(raw)
    for key, value in items:
        out.append((*prefix, key))
        if isinstance(value, dict | list):
            out += _paths(value, (*prefix, key))
    return out


@st.composite
def mutated_raw(draw) -> dict:
    """A valid plan with 0 to 3 of its values replaced by hostile strings, wrong types or
    odd numbers, a key deleted, or an unknown key added."""
    raw = draw(valid_raw())
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
        path = draw(st.sampled_from(_paths(raw)))
        parent = raw
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.integers(0, 10))
        if action == 10:  # any key the schema knows, with a hostile or wrong value
            section = draw(st.sampled_from(sorted(SCHEMA)))
            key = draw(st.sampled_from(sorted(SCHEMA[section])))
            table = raw.setdefault(section, {})
            if isinstance(table, dict):
                table[key] = draw(st.one_of(st.sampled_from(HOSTILE_STRINGS), WRONG_TYPES))
        elif action == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == 1 and isinstance(parent, dict):
            parent[draw(st.sampled_from(["nmae", "x y", "é", "[/]"]))] = draw(WRONG_TYPES)
        elif action <= 6:
            parent[path[-1]] = draw(st.sampled_from(HOSTILE_STRINGS))
        elif action <= 8:
            parent[path[-1]] = draw(WRONG_TYPES)
        else:
            parent[path[-1]] = draw(st.sampled_from(ODD_NUMBERS + ODD_FLOATS))
    return raw


@st.composite
def plan_texts(draw) -> str:
    """TOML text of a drawn plan; now and then broken text, or deeply nested arrays."""
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.text(max_size=200))
    if kind == 1:
        depth = draw(st.integers(100, 3000))
        return "version = 1\nx = " + "[" * depth + "]" * depth + "\n"
    text = tomli_w.dumps(draw(mutated_raw()))
    if kind == 2:  # a byte-level cut anywhere
        cut = draw(st.integers(0, len(text)))
        text = text[:cut]
    return text


def write_plan(folder: Path, text: str | bytes) -> Path:
    path = folder / "plan.toml"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path
