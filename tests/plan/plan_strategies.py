"""Hypothesis strategies for plans, generated from the plan SCHEMA (valid ones and hostile
mutations), shared by the CI property test and the longer run in tests/bench/.

A plan is drawn as raw TOML data: a valid plan, then up to three mutations anywhere in it
(hostile strings, wrong types, odd numbers, deleted keys, unknown keys, any `SCHEMA` key with
a hostile value); sometimes the TOML text itself is broken or nested absurdly deep.
Every section the plan has is drawn (`load_balancer` in each mode, `backup`, `monitoring`,
`control_plane.oidc`, `cluster.cni`, `etcd.packages`, `nodes[].etcd_install`), with node
addresses in IPv4, IPv6 and hostile forms (host names, `localhost`, stray characters).
Only loopback addresses are ever dialled, so an `apply --dry-run` never leaves the host.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import tomli_w
from hypothesis import strategies as st

from hawizard.plan.checks import SCHEMA
from hawizard.plan.model import KUBE_BINARIES

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

LOOPBACK = [f"127.0.77.{j}" for j in range(1, 9)]
# Node addresses: every form an operator may type. Only loopback ones (LOOPBACK, `::1`) are
# ever dialled (`apply --dry-run`); the others are validated, rendered and shown only.
IPV6 = ["fd00::11", "fd00::12", "fd00::13", "fd00::14", "FD00::15", "fd00:0::16", "::1"]
HOSTILE_ADDRESSES = [
    "node-3.example",  # real inventories use host names: refused, naming the field
    "localhost",
    "[::1]",
    "::1 ",
    " 127.0.77.9",
    "127.0.77.9x",
    "127.0.77.256",
    "127.0.77.09",
    "127.0.77.0/24",
    "127.1",
    "0x7f.0.0.1",
    "١٢٧.0.0.1",  # Arabic-Indic digits
    "fe80::1%eth0",
    "::ffff:127.0.77.9",
    "0:0:0:0:0:0:0:1",
    "",
]
ADDRESS_STYLES = ("ipv4", "ipv4", "ipv4", "ipv6", "mixed", "hostile", "hostile")
MODES = (None, "", "vip", "vip", "single", "external", "legacy-single")
SHA = "0" * 64
OIDC_FULL = {
    "issuer_url": "https://login.example.org/realms/ops",
    "client_id": "kube",
    "username_claim": "email",
    "groups_claim": "groups",
    "username_prefix": "oidc:",
    "groups_prefix": "oidc:",
    "ca_file": "/etc/kubernetes/pki/oidc-ca.pem",
}

VALID: dict[str, dict[str, st.SearchStrategy]] = {
    "cluster": {
        "name": st.sampled_from(["prod", "t", "lab-1"]),
        "known_hosts": st.just("known_hosts"),
        "cni": st.sampled_from(["", "cilium", "calico", "flannel"]),
    },
    "pki": {
        "dir": st.sampled_from(["pki", "./pki2"]),
        "key": st.sampled_from(["ecdsa-p256", "ecdsa-p256", "ecdsa-p384", "rsa-2048"]),
        "cert_days": st.integers(1, 3650),
        "ca_days": st.integers(3650, 36500),
    },
    "etcd": {
        "version": st.sampled_from(["3.5.17", "3.4.23"]),
        "install": st.sampled_from(["package", "package", "upload"]),
        "binaries": st.just("."),  # exists (the plan's folder) but holds no etcd: refused late
        "packages": st.sampled_from([[], ["etcd-server", "etcd-client"], ["etcd"]]),
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
        "install": st.sampled_from(["none", "none", "download", "upload"]),
        "binaries": st.just("."),
        "sha256": st.just({b: SHA for b in KUBE_BINARIES}),
        "start": st.booleans(),
        "oidc": st.builds(
            lambda keep: {k: v for k, v in OIDC_FULL.items() if k in keep},
            st.sets(st.sampled_from(sorted(OIDC_FULL))).map(
                lambda s: s | {"issuer_url", "client_id"}
            ),
        ),
    },
    "monitoring": {
        "enabled": st.booleans(),
        "scrape_interval": st.sampled_from([15, 1, 3600]),
        "node_exporter_port": st.sampled_from([9100, 19100]),
        "haproxy_metrics_port": st.sampled_from([8405, 18405]),
    },
    "backup": {
        "every": st.sampled_from(["", "30s", "15m", "1h", "1d", "7d", "3600"]),
        "keep": st.sampled_from([1, 24, 10000]),
        "dir": st.sampled_from(["", "backups", "./bk"]),
    },
    "load_balancer": {
        "subnet": st.just(""),  # set with the mode below
        "virtual_router_id": st.integers(0, 255),
        "advert_interval": st.sampled_from([1.0, 0.5, 0.01, 40.95, 3]),
    },
    "maintenance": {
        "every": st.sampled_from(["", "daily", "weekly", "Sun *-*-* 03:00:00", "*-*-* 02:30"]),
        "defrag_above_mb": st.sampled_from([1, 100, 8192]),
        "defrag_in_use_below": st.sampled_from([0.05, 0.5, 0.95]),
    },
}


def _address(draw, style: str, i: int, v4: list[str], v6: list[str]) -> str:
    if style == "ipv6" or (style == "mixed" and draw(st.booleans())):
        return v6[i]
    if style == "hostile" and i == 0:  # the first node: a master in every mode
        return draw(st.sampled_from(HOSTILE_ADDRESSES))
    return v4[i]


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@st.composite
def valid_raw(draw) -> dict:
    """A plan meant to validate: the valid value of every key (some left to their default),
    every section, and a balancer mode whose endpoint fits it. One address style per plan:
    IPv4, IPv6, both, or one hostile address (a host name, `localhost`, a stray character),
    so those plans do not validate, in every balancer mode."""
    raw: dict = {"version": 1}
    for section, keys in VALID.items():
        table = {k: draw(v) for k, v in keys.items() if draw(st.integers(0, 9)) > 2}
        if table or draw(st.booleans()):
            raw[section] = table
    # files the commands write or read stay in the plan's folder (the defaults are in ~)
    raw.setdefault("pki", {}).setdefault("dir", "pki")
    raw.setdefault("cluster", {}).setdefault("known_hosts", "known_hosts")
    count = draw(st.sampled_from([1, 2, 3, 3, 4]))
    style = draw(st.sampled_from(ADDRESS_STYLES))
    v4 = draw(st.permutations(LOOPBACK))
    v6 = draw(st.permutations(IPV6))
    raw["nodes"] = [
        {
            "name": f"n{i}",
            "address": _address(draw, style, i, v4, v6),
            "roles": ["etcd", "control-plane"] if i < 3 else ["control-plane"],
            "ssh": {"user": "root", "port": 1, "key": "id_none"},  # port 1: refused at once
        }
        for i in range(count)
    ]
    for node in raw["nodes"]:
        if draw(st.integers(0, 5)) == 0:
            node["etcd_install"] = draw(st.sampled_from(["", "package", "upload"]))
        if draw(st.integers(0, 7)) == 0:
            node["roles"] = [draw(st.sampled_from(["etcd", "control-plane"]))]
    _installs(raw)
    _balancer(draw, raw)
    _monitoring(draw, raw)
    # a copy: mutations must not reach the lists and tables the strategies share between
    # examples (`st.just({...})`), or hypothesis sees data generation that depends on history
    return copy.deepcopy(raw)


def _installs(raw: dict) -> None:
    """What each install method needs: binaries to upload, checksums to download with."""
    etcd, cp = raw.get("etcd", {}), raw.get("control_plane", {})
    ways = {etcd.get("install"), *(n.get("etcd_install") for n in raw["nodes"])}
    if "upload" in ways:
        raw.setdefault("etcd", {})["binaries"] = "."
    if cp.get("install") == "upload":
        cp["binaries"] = "."
    elif cp.get("install") == "download":
        cp["sha256"] = {b: SHA for b in KUBE_BINARIES}


def _balancer(draw, raw: dict) -> None:
    """A mode with an endpoint it accepts (haproxy beside kube-apiserver: :8443)."""
    nodes = raw["nodes"]
    masters = [n for n in nodes if "control-plane" in n["roles"]]
    mode = draw(st.sampled_from(MODES))
    lb = raw.setdefault("load_balancer", {}) if mode is not None else raw.get("load_balancer")
    cluster = raw.setdefault("cluster", {})
    port = 6443
    host = "127.0.77.100"
    if mode == "legacy-single":
        raw.pop("load_balancer", None)
        name = draw(st.sampled_from(nodes))["name"]
        raw.setdefault("control_plane", {})["load_balancer"] = name
        host, port = _host(next(n["address"] for n in nodes if n["name"] == name)), 8443
    elif mode is not None:
        lb["mode"] = mode
    if mode in ("vip", "single") and masters:
        port = 8443
        if draw(st.booleans()):
            pick = draw(st.sampled_from([1, 2] if mode == "vip" else [1]))
            lb["nodes"] = [n["name"] for n in draw(st.permutations(masters))[:pick]]
        if mode == "single":
            names = lb.get("nodes") or [masters[0]["name"]]
            host = _host(next(n["address"] for n in nodes if n["name"] == names[0]))
        elif draw(st.integers(0, 2)):
            lb["subnet"] = draw(st.sampled_from(["127.0.77.0/24", "127.0.0.0/8"]))
    if mode == "external" and draw(st.booleans()):
        host = draw(st.sampled_from(["api.example", "[fd00::10]"]))
    if mode is None and lb is not None:
        lb.pop("subnet", None)
    if len(masters) >= 2 or mode == "vip" or draw(st.booleans()):
        cluster["control_plane_endpoint"] = f"{host}:{port}"


def _monitoring(draw, raw: dict) -> None:
    mon = raw.get("monitoring")
    if mon is not None and mon.get("enabled") and draw(st.booleans()):
        mon["install"] = True
        mon["prometheus_node"] = draw(st.sampled_from(raw["nodes"]))["name"]


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
