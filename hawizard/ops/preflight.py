"""Preflight of one node, UI-free: the wizard's preflight screen (and any other face) calls
this instead of talking to hosts itself.

One SSH round trip reads the etcd facts (`etcd.preflight`) and, on a balancer node, the
balancer's (`balancer.preflight`, appended to the same script); both are judged into the
named checks the faces show. Connection problems come back as exceptions the face maps to
its own questions: `UnknownHostKey` (ask the operator to trust it), `Unreachable` (a changed
host key, a refused connection, sudo failing, a timeout).
"""

from __future__ import annotations

from typing import Any

from hawizard.etcd.preflight import Check, Verdict, gather_with, judge
from hawizard.plan import Node, Plan

__all__ = ["SSH_TIMEOUT", "Unreachable", "check_node", "trust_host_key"]

SSH_TIMEOUT = 5.0  # seconds: a dead node answers "unreachable" within this, never stalls


class Unreachable(Exception):
    """The node could not be checked; the message says why (never a traceback)."""


def check_node(plan: Plan, node: Node, sudo_password: Any = None) -> list[Check]:
    """The node's checks (etcd's, then the balancer's where it is one). Raises
    `remote.UnknownHostKey` for a key nobody trusted yet, `Unreachable` otherwise."""
    from hawizard.balancer import preflight as lb
    from hawizard.remote import Host, HostKeyError, RemoteError, Timeouts, UnknownHostKey

    timeouts = Timeouts(connect=SSH_TIMEOUT, banner=SSH_TIMEOUT, auth=SSH_TIMEOUT, command=30)
    balancer = node.name in {n.name for n in plan.balancer_nodes}
    host = Host.from_plan(plan, node, timeouts=timeouts, sudo_password=sudo_password)
    try:
        host.connect()
        facts, extra = gather_with(host, plan, lb.script(plan) if balancer else "")
    except UnknownHostKey:
        raise
    except (HostKeyError, RemoteError, OSError, ValueError) as exc:  # e.g. a changed key
        raise Unreachable(str(exc)) from None
    finally:
        host.close()
    checks = judge(plan, node, facts)
    if balancer:
        for name, verdict, detail in lb.judge(plan, node, lb.parse(extra), facts.listening):
            checks.append(Check(name, Verdict(verdict), detail))
    return checks


def trust_host_key(address: str, port: int, shown: str, known_hosts: Any) -> None:
    """Record exactly the key that was shown to the operator; a different key now (or none)
    raises `Unreachable`, and nothing is recorded."""
    from hawizard.hostkeys import add_known_host, fingerprint, scan_host_key

    try:
        key = scan_host_key(address, port, timeout=SSH_TIMEOUT)
    except Exception as exc:  # refused, timed out, not SSH: all mean "not trusted"
        raise Unreachable(f"cannot read the host key: {exc}") from None
    if fingerprint(key) != shown:
        raise Unreachable(
            f"the host key changed since it was shown ({fingerprint(key)}, shown {shown}): "
            "not trusted"
        )
    add_known_host(known_hosts, address, port, key)
