"""Installing distribution packages on a node: apt-get, dnf or yum, the same way for every domain.

etcd (`etcd.install = "package"`), the balancer's haproxy and keepalived, and node exporters
all arrive this way, so one module owns the rules a package install must follow here:

- **check first**: a package already installed (dpkg/rpm database) is never installed again,
  so a re-run of `apply` runs no package manager at all;
- **no service starts before hawizard configures it**: the named units are masked for the
  duration of the install (`systemctl mask --runtime`, which beats any unit file and vanishes
  at reboot) and, on Debian, a `policy-rc.d` answering 101 stops maintainer scripts from
  starting anything. etcd started by its postinst with the package's default config would
  create a data dir of a one-node cluster that hawizard's member must then refuse;
- **a package the node's sources lack fails before anything changes**, naming the package
  and the node (apt: the candidate is looked up first, `apt-get update` only when it is
  missing, then looked up again).

The command builders are pure, so the dnf/yum paths are covered by tests even where no RPM
source exists (they are untested on real hosts; the README says so).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

MANAGERS = ("apt-get", "dnf", "yum")
INSTALL_TIMEOUT = 600.0
POLICY_RC_D = "/usr/sbin/policy-rc.d"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+.:@_-]*")
DETECT = (
    "for pm in apt-get dnf yum; do command -v $pm >/dev/null 2>&1 && { echo $pm; break; }; done"
)


class PackageError(Exception):
    """A package cannot be installed on a node: the message names the package and the node."""


def detect_manager(host) -> str:
    """The node's package manager ("apt-get", "dnf" or "yum"), or raise naming the node."""
    pm = host.probe(DETECT).stdout.strip()
    if pm not in MANAGERS:
        raise PackageError(f"{host.name}: no apt-get, dnf or yum to install packages with")
    return pm


def installed_command(manager: str, packages: Sequence[str]) -> str:
    """A read-only command that exits 0 only when every package is installed."""
    _check_names(packages)
    names = " ".join(shlex.quote(p) for p in packages)
    if manager == "apt-get":
        # `install ok installed` only: a removed-but-configured package has files left, no binary.
        return (
            f"for p in {names}; do dpkg-query -W -f='${{Status}}\\n' \"$p\" 2>/dev/null "
            "| grep -qx 'install ok installed' || exit 1; done"
        )
    return f"rpm -q {names} >/dev/null"


def available_command(manager: str, packages: Sequence[str]) -> str:
    """A read-only command printing the packages that no configured source offers (one a line)."""
    _check_names(packages)
    names = " ".join(shlex.quote(p) for p in packages)
    if manager == "apt-get":
        return (
            f'for p in {names}; do c=$(apt-cache policy "$p" 2>/dev/null '
            "| sed -n 's/^ *Candidate: //p'); "
            '{ [ -z "$c" ] || [ "$c" = "(none)" ]; } && echo "$p"; done; true'
        )
    return f'for p in {names}; do {manager} -q info "$p" >/dev/null 2>&1 || echo "$p"; done; true'


def install_command(manager: str, packages: Sequence[str], quiet_units: Sequence[str] = ()) -> str:
    """The install as one shell snippet: units masked and (Debian) policy-rc.d in place for the
    duration, both undone however the install ends."""
    _check_names(packages)
    _check_names(quiet_units)
    names = " ".join(shlex.quote(p) for p in packages)
    units = " ".join(shlex.quote(u) for u in quiet_units)
    undo = []
    lines = ["set -e"]
    if units:
        lines.append(f"systemctl mask --runtime --quiet {units}")
        undo.append(f"systemctl unmask --runtime --quiet {units}")
    if manager == "apt-get":
        lines.append(f"printf '#!/bin/sh\\nexit 101\\n' > {POLICY_RC_D}; chmod 755 {POLICY_RC_D}")
        undo.insert(0, f"rm -f {POLICY_RC_D}")
    if undo:
        lines.append(f"trap {shlex.quote('; '.join(undo))} EXIT")
    if manager == "apt-get":
        lines.append(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
            f"-o Dpkg::Options::=--force-confold {names}"
        )
    else:
        lines.append(f"{manager} install -y {names}")
    return "\n".join(lines)


def is_installed(host, packages: Sequence[str], manager: str | None = None) -> bool:
    manager = manager or detect_manager(host)
    return host.probe(installed_command(manager, packages)).exited == 0


def install(host, packages: Sequence[str], quiet_units: Sequence[str] = ()) -> None:
    """Install `packages` on `host` with nothing started; raise PackageError naming a package
    that no source offers (before anything changed on the node)."""
    manager = detect_manager(host)
    missing = _unavailable(host, manager, packages)
    if missing and manager == "apt-get":
        host.run(["apt-get", "update", "-q"], timeout=INSTALL_TIMEOUT, detail=True)
        missing = _unavailable(host, manager, packages)
    if missing:
        raise PackageError(
            f"{host.name}: package {', '.join(missing)} is not available from the node's "
            f"{manager} sources (nothing was installed on {host.name}); add it to the node's "
            "package repository, or use an install path that uploads it"
        )
    result = host.run(
        install_command(manager, packages, quiet_units), timeout=INSTALL_TIMEOUT, detail=True
    )
    on_output = getattr(host, "on_output", None)
    if on_output is not None and not host.dry_run:
        on_output(install_summary(packages, quiet_units, result.stdout + result.stderr))


def install_summary(packages: Sequence[str], quiet_units: Sequence[str], raw: str) -> str:
    """hawizard's one line for an install whose raw output went to the verbose view only: with
    units masked and policy-rc.d answering 101, dpkg prints "policy-rc.d denied execution of
    start" and "systemctl preset failed" — the intended effect, which reads as a failure."""
    held = f"; {', '.join(quiet_units)} left stopped until configured" if quiet_units else ""
    lines = len(raw.splitlines())
    return f"installed {', '.join(packages)}{held} ({lines} lines of installer output: verbose)"


def _unavailable(host, manager: str, packages: Sequence[str]) -> list[str]:
    if host.dry_run:
        return []
    return host.probe(available_command(manager, packages)).stdout.split()


def _check_names(names: Sequence[str]) -> None:
    """Package and unit names are plain ASCII words: nothing a shell would expand or split."""
    for name in names:
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a package or unit name")
