"""Preflight for etcd members: read the facts in one SSH round trip, judge them purely.

Nothing here changes a node. `gather` runs one read-only script; `judge` turns its answers
into named checks, so the wizard's preflight screen and `hawizard apply` show the same verdict.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from enum import StrEnum

from hawizard.etcd.render import cluster_token
from hawizard.plan import Node, Plan

MARKER_PATH = "/etc/etcd/hawizard-cluster"
MAX_CLOCK_SKEW = 2.0  # seconds; leases and TLS validity both suffer beyond this


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str


@dataclass
class Facts:
    """What one node told us about itself."""

    uid: int = -1
    pid1: str = ""
    os_id: str = ""
    os_like: str = ""
    package_manager: str = ""
    clock_skew: float = 0.0
    listening: dict[int, str] = field(default_factory=dict)  # port -> process name
    has_data: bool = False  # data dir holds a member/ directory
    marker: str | None = None  # our marker file's content, if any
    etcd_active: bool = False
    etcd_enabled: bool | None = None  # None: not read (a script without that line)
    # False: systemd had no etcd unit file at all (`is-enabled` printed nothing), so it
    # never loaded one and a new unit file needs no daemon-reload before its first start.
    etcd_unit_known: bool | None = None
    etcd_user: bool | None = None  # the `etcd` system user exists; None: not read
    config: str | None = None  # the config hawizard wrote, if any


def marker_text(plan: Plan) -> str:
    """Names the cluster a node's data belongs to, so a foreign data dir is never adopted."""
    return f"cluster={cluster_token(plan)}\n"


def _script(plan: Plan) -> str:
    q = shlex.quote
    data = plan.etcd.data_dir.rstrip("/")
    from hawizard.etcd.render import CONFIG_PATH

    return "\n".join(
        [
            'echo "uid=$(id -u)"',
            'echo "pid1=$(cat /proc/1/comm 2>/dev/null)"',
            '[ -r /etc/os-release ] && . /etc/os-release; echo "os_id=${ID:-}"; '
            'echo "os_like=${ID_LIKE:-}"',
            "for pm in apt-get dnf yum; do command -v $pm >/dev/null 2>&1 && "
            '{ echo "pkg=$pm"; break; }; done',
            'echo "time=$(date +%s.%N)"',
            "ss -Hltnp 2>/dev/null | while read -r _ _ _ local _ users; do "
            'echo "listen=${local##*:} ${users}"; done',
            f"[ -d {q(data + '/member')} ] && echo data=1 || echo data=0",
            f'[ -f {q(MARKER_PATH)} ] && echo "marker=$(head -c 200 {q(MARKER_PATH)})"',
            'echo "active=$(systemctl is-active etcd 2>/dev/null)"',
            'echo "enabled=$(systemctl is-enabled etcd 2>/dev/null)"',
            "id -u etcd >/dev/null 2>&1 && echo user=1 || echo user=0",
            f"[ -f {q(CONFIG_PATH)} ] && {{ echo config-begin; cat {q(CONFIG_PATH)}; "
            "echo; echo config-end; }",
            "true",
        ]
    )


_EXTRA = "@@hawizard-preflight-extra@@"


def gather(host, plan: Plan) -> Facts:
    """One read-only round trip (a probe: it runs in dry runs too)."""
    return gather_with(host, plan, "")[0]


def gather_with(host, plan: Plan, extra: str) -> tuple[Facts, str]:
    """The facts, and the output of `extra` (another read-only script) from the same round
    trip: the rollout reads its files' states here instead of in a command of its own."""
    script = _script(plan) + (f"\necho {_EXTRA}\n{extra}" if extra else "")
    before = time.time()
    result = host.probe(script, timeout=30, check=True)
    after = time.time()
    head, _, tail = result.stdout.partition(f"\n{_EXTRA}\n")
    return parse_facts(head, (before + after) / 2), tail


def parse_facts(text: str, local_time: float) -> Facts:
    facts = Facts()
    lines = text.splitlines()
    config: list[str] | None = None
    for line in lines:
        if config is not None:
            if line == "config-end":
                facts.config = "\n".join(config).rstrip("\n") + "\n"
                config = None
            else:
                config.append(line)
            continue
        if line == "config-begin":
            config = []
            continue
        key, _, value = line.partition("=")
        if key == "uid":
            facts.uid = int(value) if value.lstrip("-").isdigit() else -1
        elif key == "pid1":
            facts.pid1 = value.strip()
        elif key == "os_id":
            facts.os_id = value.strip().strip('"')
        elif key == "os_like":
            facts.os_like = value.strip().strip('"')
        elif key == "pkg":
            facts.package_manager = value.strip()
        elif key == "time":
            try:
                facts.clock_skew = float(value) - local_time
            except ValueError:
                facts.clock_skew = float("inf")
        elif key == "listen":
            port, _, users = value.partition(" ")
            if port.isdigit():
                name = users.split('"')[1] if users.count('"') >= 2 else "?"
                facts.listening[int(port)] = name
        elif key == "data":
            facts.has_data = value.strip() == "1"
        elif key == "marker":
            facts.marker = value.strip() + "\n"
        elif key == "active":
            facts.etcd_active = value.strip() == "active"
        elif key == "enabled":
            facts.etcd_enabled = value.strip() == "enabled"
            facts.etcd_unit_known = bool(value.strip())
        elif key == "user":
            facts.etcd_user = value.strip() == "1"
    return facts


def judge(plan: Plan, node: Node, facts: Facts) -> list[Check]:
    """Named checks for one member. FAIL stops the run before any change anywhere."""
    checks: list[Check] = []

    def add(name: str, ok: bool, detail: str, warn: bool = False) -> None:
        verdict = Verdict.OK if ok else (Verdict.WARN if warn else Verdict.FAIL)
        checks.append(Check(name, verdict, detail))

    add("sudo", facts.uid == 0, "commands run as root" if facts.uid == 0 else "sudo failed")
    add(
        "systemd",
        facts.pid1 == "systemd",
        "systemd is PID 1"
        if facts.pid1 == "systemd"
        else f"PID 1 is {facts.pid1 or 'unknown'}; etcd is run as a systemd service",
    )
    if plan.etcd_install(node) == "package":
        add(
            "package manager",
            bool(facts.package_manager),
            facts.package_manager or 'no apt-get, dnf or yum: use etcd.install = "upload"',
        )
    skew = abs(facts.clock_skew)
    add(
        "clock",
        skew <= MAX_CLOCK_SKEW,
        f"skew {facts.clock_skew:+.2f} s"
        + ("" if skew <= MAX_CLOCK_SKEW else f" exceeds {MAX_CLOCK_SKEW} s: fix NTP first"),
    )
    ours = facts.marker == marker_text(plan)
    for port in (plan.etcd.client_port, plan.etcd.peer_port, plan.etcd.metrics_port):
        holder = facts.listening.get(port)
        if holder is None:
            add(f"port {port}", True, "free")
        elif holder == "etcd" and ours:
            add(f"port {port}", True, "held by this cluster's etcd")
        else:
            add(f"port {port}", False, f"in use by {holder}; stop it or choose another port")
    if facts.has_data and not ours:
        add(
            "data dir",
            False,
            f"{plan.etcd.data_dir} holds etcd data that this cluster did not create "
            f"(no {MARKER_PATH} naming {cluster_token(plan)}). hawizard never overwrites etcd "
            "data: move it away after taking a snapshot, or set etcd.data_dir",
        )
    elif facts.has_data:
        add("data dir", True, "this cluster's member data is present")
    else:
        add("data dir", True, "empty: a new member")
    return checks


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.verdict is Verdict.FAIL]
