"""The API endpoint's rollout: one "load balancer" phase, run by `hawizard apply` after the
control plane.

- `vip`: on every balancer node, in parallel: haproxy and keepalived from the distribution's
  packages (nothing started by the install), the haproxy config and the keepalived config,
  each checked by the node's own program (`haproxy -c`, `keepalived -t`) before it replaces
  anything; the node's nftables table of hawizard's own, which accepts VRRP only from the
  peers (`hawizard.firewall`); then reload (never restart) what runs, start what does not.
- `single`: the same for haproxy on its one node.
- then (vip, single) a local step waits, bounded, until the endpoint is served: one VIP
  holder and a TCP answer (`endpoint_wait`), so `apply && status` exits 0.
- `external`: nothing on the nodes; the haproxy config is written next to the plan for the
  operator's own balancer.

Every step checks before it changes, so re-applying a converged endpoint changes nothing
and restarts nothing (the services' MainPIDs stay).
"""

from __future__ import annotations

import ipaddress
import shlex
from pathlib import Path

from hawizard import packages
from hawizard.balancer import render
from hawizard.balancer.endpoint_wait import endpoint_wait_step
from hawizard.firewall import firewall_step
from hawizard.pki.layout import write_file
from hawizard.plan import BalancerMode, Node, Plan
from hawizard.remote_files import RemoteFile, directory, stale_files, write_files
from hawizard.steps import Phase, Step, say

__all__ = [
    "LoadBalancerError",
    "balancer_phases",
    "balancer_steps",
    "external_haproxy_path",
    "node_interface",
]

INSTALL_TIMEOUT = 600.0
_DEFAULTS = render.render_keepalived_defaults().encode()
_DROPIN = render.render_keepalived_dropin().encode()


class LoadBalancerError(Exception):
    pass


def external_haproxy_path(plan: Plan) -> Path:
    """Where the haproxy config goes when the balancer is not one of the plan's nodes."""
    return plan.resolve("haproxy.cfg")


def balancer_phases(plan: Plan) -> list[Phase]:
    """The install/config steps, then (vip, single) a phase that waits until the endpoint is
    served: `apply` is done when `status` would find the endpoint up, not before."""
    phases = [Phase("load balancer", balancer_steps(plan))]
    if plan.balancer_mode in (BalancerMode.VIP, BalancerMode.SINGLE):
        phases.append(Phase("load balancer endpoint", [endpoint_wait_step(plan)]))
    return phases


def balancer_steps(plan: Plan) -> list[Step]:
    mode = plan.balancer_mode
    if mode not in (BalancerMode.VIP, BalancerMode.SINGLE):
        return [_external_balancer_step(plan, render.render_haproxy_config(plan))]
    steps: list[Step] = []
    for node in plan.balancer_nodes:
        text = render.render_haproxy_config(plan, node)  # its metrics on its own address
        if mode == BalancerMode.SINGLE:
            steps.append(_install_step(node.name, "install haproxy", ("haproxy",)))
            if plan.monitoring.enabled:  # haproxy's exporter: only the scrapers may reach it
                steps.append(firewall_step(plan, node, "metrics firewall (nftables)"))
            steps.append(_haproxy_config_step(node.name, text))
        else:
            packages = ("haproxy", "keepalived")
            steps.append(_install_step(node.name, "install haproxy and keepalived", packages))
            steps.append(_haproxy_config_step(node.name, text))
            steps.append(firewall_step(plan, node, "VRRP firewall (nftables)"))
            steps.append(_keepalived_step(plan, node))
    return steps


# --- packages --------------------------------------------------------------------------------


def _installed_cmd(packages: tuple[str, ...]) -> str:
    names = " ".join(shlex.quote(p) for p in packages)
    return (
        f"for p in {names}; do if command -v dpkg-query >/dev/null; then "
        "dpkg-query -W -f='${Status}\\n' \"$p\" 2>/dev/null | grep -qx 'install ok installed'"
        ' || exit 1; else rpm -q "$p" >/dev/null || exit 1; fi; done'
    )


def _install_step(node: str, title: str, packages: tuple[str, ...]) -> Step:
    def check(host) -> bool:
        return host.probe(_installed_cmd(packages)).exited != 0

    def apply(host) -> None:
        _install(host, packages)

    return Step(node, title, check, apply)


def _install(host, names: tuple[str, ...]) -> None:
    """Install with no service started: units masked (runtime) for the duration and, on Debian,
    a policy-rc.d answering 101, so the package's default config never runs before ours
    (`hawizard.packages`: also refreshes apt's lists when a package has no candidate yet, and
    names a package no source offers)."""
    try:
        packages.install(host, names, quiet_units=tuple(f"{n}.service" for n in names))
    except packages.PackageError as exc:
        raise LoadBalancerError(str(exc)) from None


# --- haproxy ---------------------------------------------------------------------------------


def _haproxy_config_step(node: str, text: str) -> Step:
    cfg = RemoteFile(render.HAPROXY_CONFIG, text.encode(), 0o644)

    def check(host) -> bool:
        state = host.probe("systemctl is-active haproxy; systemctl is-enabled haproxy").stdout
        running = state.split() == ["active", "enabled"]
        return not running or bool(stale_files(host, [cfg]))

    def apply(host) -> None:
        changed = bool(stale_files(host, [cfg]))
        if changed:
            # Validate the new text with the node's own haproxy before it replaces anything.
            result = host.probe(["haproxy", "-c", "-f", "/dev/stdin"], stdin=text)
            if result.exited != 0 and not host.dry_run:
                raise LoadBalancerError(
                    f"{node}: haproxy -c rejected the rendered config (nothing replaced):\n"
                    + (result.stderr or result.stdout).strip()
                )
            host.put(text, cfg.path, mode=cfg.mode)
            say(host, f"wrote {cfg.path} (accepted by haproxy -c)")
        _run_service(host, "haproxy", changed)

    return Step(node, "haproxy configuration", check, apply)


def _run_service(host, service: str, changed: bool) -> None:
    """Enable; reload when running and its config changed (open connections and the VIP stay);
    start when not running. Never a restart."""
    host.run(["systemctl", "enable", "--quiet", service])
    active = host.probe(["systemctl", "is-active", service]).stdout.strip() == "active"
    if active and changed:
        host.run(["systemctl", "reload", service])
        say(host, f"{service} reloaded")
    elif not active:
        host.run(["systemctl", "start", service])
        say(host, f"{service} started")


# --- keepalived ------------------------------------------------------------------------------


def node_interface(ip_output: str, address: str) -> tuple[str, ipaddress.IPv4Network] | None:
    """(interface, network) holding `address`, from `ip -o -4 addr show` output."""
    for line in ip_output.splitlines():
        parts = line.split()
        if "inet" not in parts:
            continue
        cidr = parts[parts.index("inet") + 1]
        try:
            iface = ipaddress.IPv4Interface(cidr)
        except ValueError:
            continue
        if str(iface.ip) == address:
            return parts[1].split("@")[0], iface.network
    return None


def _keepalived_step(plan: Plan, node: Node) -> Step:
    vip, _ = plan.endpoint_host_port

    def files(host) -> list[RemoteFile]:
        found = node_interface(host.probe(["ip", "-o", "-4", "addr", "show"]).stdout, node.address)
        if found is None:
            raise LoadBalancerError(
                f"{node.name}: no interface holds the plan's address {node.address}; "
                "check nodes[].address"
            )
        iface, network = found
        if ipaddress.IPv4Address(vip) not in network:
            raise LoadBalancerError(
                f"{node.name}: the VIP {vip} is not on {iface}'s network {network}, so VRRP "
                "cannot move it here; pick a free address in "
                f"{network} (cluster.control_plane_endpoint) and set load_balancer.subnet"
            )
        text = render.render_keepalived_config(plan, node, iface)
        return [
            RemoteFile(render.KEEPALIVED_CONFIG, text.encode(), 0o644),
            RemoteFile(render.KEEPALIVED_DEFAULTS, _DEFAULTS, 0o644),
            directory(render.KEEPALIVED_DROPIN_DIR, 0o755),
            RemoteFile(render.KEEPALIVED_DROPIN, _DROPIN, 0o644),
        ]

    def check(host) -> bool:
        state = host.probe("systemctl is-active keepalived; systemctl is-enabled keepalived").stdout
        return state.split() != ["active", "enabled"] or bool(stale_files(host, files(host)))

    def apply(host) -> None:
        stale = stale_files(host, files(host))
        for f in stale:
            if f.path == render.KEEPALIVED_CONFIG:
                result = host.probe(["keepalived", "-t", "-f", "/dev/stdin"], stdin=f.data)
                if result.exited != 0 and not host.dry_run:
                    raise LoadBalancerError(
                        f"{node.name}: keepalived -t rejected the rendered config "
                        "(nothing replaced):\n" + (result.stderr or result.stdout).strip()
                    )
        write_files(host, stale)
        unit = {render.KEEPALIVED_DROPIN_DIR, render.KEEPALIVED_DROPIN}
        if any(f.path in unit for f in stale):
            host.run(["systemctl", "daemon-reload"])  # the restart policy only: no restart
        _run_service(host, "keepalived", any(f.path not in unit for f in stale))

    return Step(node.name, "keepalived configuration", check, apply)


# --- external --------------------------------------------------------------------------------


def _external_balancer_step(plan: Plan, text: str) -> Step:
    path = external_haproxy_path(plan)

    def check(local) -> bool:
        try:
            return path.read_text() != text
        except OSError:
            return True

    def apply(local) -> None:
        write_file(path, text.encode(), 0o644)
        host, port = plan.endpoint_host_port
        local.output(
            f"no load_balancer node in the plan: wrote {path} for your external balancer "
            f"(every master :{render.APISERVER_PORT} behind {_url(host, port)})"
        )

    return Step(None, "haproxy config for an external balancer", check, apply)


def _url(host: str, port: int) -> str:
    return f"https://{f'[{host}]' if ':' in host else host}:{port}"
