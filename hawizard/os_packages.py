"""OS package updates: which package manager a node has, what it would upgrade, the commands.

Pure: scripts and argv lists in, parsed answers out; `hawizard.ops.patch` runs them on nodes.
Two families:

- **apt** (Debian, Ubuntu). The list comes from `apt-get -s upgrade` (a simulation: no lock,
  nothing changes); each `Inst` line names the candidate's origin as `Label:Version/Archive`,
  e.g. `Debian-Security:12/stable-security`. *Security only* pins by origin as
  unattended-upgrades does (issue 25): both the simulation and the install read an APT
  preferences file (`SECURITY_PIN`, written by `security_pin_script`) that gives the
  `-security` archives priority 990, the installed versions 100 and every other origin
  -32768, so the candidate *is* the security archive's version even when the regular archive
  has a newer one (which the unpinned candidate would be, and the update was then skipped).
  The listed updates are installed with `apt-get install --only-upgrade` under the same pin, so
  nothing from the regular archive comes along.
  A reboot is wanted when `/run/reboot-required` exists (written by the packages' hooks).
- **dnf / yum** (RHEL family). `check-update [--security]` lists, `upgrade [--security]`
  upgrades (the advisories' own metadata decides what is a security fix), and
  `needs-restarting -r` (dnf-utils / yum-utils) exits 1 when a reboot is needed. This path is
  covered by command-construction tests only: there is no RPM source here to run it against.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "BOOT_ID_SCRIPT",
    "DETECT_SCRIPT",
    "Manager",
    "System",
    "Update",
    "list_argv",
    "parse_apt_simulation",
    "parse_detect",
    "parse_dnf_check_update",
    "parse_updates",
    "reboot_required_script",
    "refresh_argv",
    "security_pin_script",
    "upgrade_argv",
]


class Manager(StrEnum):
    APT = "apt"
    DNF = "dnf"
    YUM = "yum"
    UNKNOWN = "unknown"


#: Which package manager, and the distribution (os-release ID and codename), one per line.
DETECT_SCRIPT = (
    "if command -v apt-get >/dev/null 2>&1; then echo apt; "
    "elif command -v dnf >/dev/null 2>&1; then echo dnf; "
    "elif command -v yum >/dev/null 2>&1; then echo yum; else echo unknown; fi; "
    '. /etc/os-release 2>/dev/null; echo "${ID:-}"; echo "${VERSION_CODENAME:-}"'
)

#: Changes with every boot, a real machine's (kernel boot id) and a container's (the start
#: time of its PID 1: a container shares the host's kernel and so its boot id).
BOOT_ID_SCRIPT = "cat /proc/sys/kernel/random/boot_id; cut -d ' ' -f22 /proc/1/stat"

_NONINTERACTIVE = ("env", "DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_MODE=l")
# Keep the operator's changed config files, take the package's for untouched ones: no prompt.
_APT_CONF = ("-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold")


@dataclass(frozen=True)
class System:
    manager: Manager
    distro: str = ""  # os-release ID: debian, ubuntu, rhel, rocky...
    codename: str = ""

    @property
    def security_supported(self) -> bool:
        """Whether "security updates only" can be told apart here."""
        return self.manager in (Manager.DNF, Manager.YUM) or (
            self.manager is Manager.APT and self.distro in ("debian", "ubuntu")
        )


def parse_detect(text: str) -> System:
    lines = [line.strip() for line in text.splitlines()] + ["", "", ""]
    try:
        manager = Manager(lines[0])
    except ValueError:
        manager = Manager.UNKNOWN
    return System(manager, lines[1].lower(), lines[2].lower())


@dataclass(frozen=True)
class Update:
    name: str
    old: str  # installed version ("" when the tool does not say)
    new: str
    origins: tuple[str, ...] = ()  # apt: "Label:Version/Archive"; dnf: the repository
    security: bool = False

    def __str__(self) -> str:
        frm = f"{self.old} → " if self.old else ""
        return f"{self.name} {frm}{self.new}" + (" (security)" if self.security else "")


# Inst NAME [OLD] (NEW ORIGIN[, ORIGIN...] [ARCH]) [extra]
_INST = re.compile(r"^Inst (\S+)(?: \[([^\]]*)\])? \((\S+)(.*?)(?: \[[^\]]*\])?\)")


def _is_security_origin(origin: str) -> bool:
    archive = origin.rsplit("/", 1)[-1] if "/" in origin else origin
    return archive.endswith("-security") or origin.split(":", 1)[0].endswith("-Security")


def parse_apt_simulation(text: str) -> list[Update]:
    """The `Inst` lines of `apt-get -s upgrade` (other lines — Conf, notes — are skipped)."""
    out = []
    for line in text.splitlines():
        m = _INST.match(line.strip())
        if not m:
            continue
        name, old, new, rest = m.group(1), m.group(2) or "", m.group(3), m.group(4)
        origins = tuple(o.strip() for o in rest.split(",") if o.strip())
        security = any(_is_security_origin(o) for o in origins)
        out.append(Update(name, old, new, origins, security))
    return out


def parse_dnf_check_update(text: str, *, security: bool) -> list[Update]:
    """`dnf check-update` lines `name.arch  version  repo`; what follows "Obsoleting" is not
    an update of its own."""
    out = []
    for line in text.splitlines():
        if line.startswith("Obsoleting"):
            break
        parts = line.split()
        if len(parts) != 3 or "." not in parts[0] or line.startswith((" ", "Last metadata")):
            continue
        out.append(Update(parts[0].rsplit(".", 1)[0], "", parts[1], (parts[2],), security))
    return out


SECURITY_PIN = "/var/lib/hawizard/apt-security-only.pref"
# First matching record wins (apt_preferences(5)): installed stays installable, the security
# archives (Debian: n=bookworm-security, a=stable-security, l=Debian-Security; Ubuntu:
# a=jammy-security) are preferred, anything else is never a candidate.
SECURITY_PREFERENCES = """\
Package: *
Pin: release a=now
Pin-Priority: 100

Package: *
Pin: release a=/-security$/
Pin-Priority: 990

Package: *
Pin: release n=/-security$/
Pin-Priority: 990

Package: *
Pin: release l=Debian-Security
Pin-Priority: 990

Package: *
Pin: release *
Pin-Priority: -32768
"""
_PIN = ("-o", f"Dir::Etc::Preferences={SECURITY_PIN}")


def security_pin_script() -> str:
    """Write `SECURITY_PIN` (root's, 0644, atomically): what the security-only listing and
    install read. A file apt reads only when told to (`-o Dir::Etc::Preferences=`)."""
    q = shlex.quote
    return (
        f"mkdir -p /var/lib/hawizard && t=$(mktemp {q(SECURITY_PIN + '.XXXXXX')}) && "
        f'printf %s {q(SECURITY_PREFERENCES)} > "$t" && chmod 0644 "$t" && '
        f'mv -f -- "$t" {q(SECURITY_PIN)}'
    )


def list_argv(system: System, *, security_only: bool) -> list[str]:
    """Read-only: what would be upgraded. apt security only: the simulation under the
    security pin (`security_pin_script` first), so its candidates are the security archive's."""
    if system.manager is Manager.APT:
        pin = _PIN if security_only else ()
        return ["apt-get", "-s", "-q", *_APT_CONF, *pin, "upgrade"]
    if system.manager in (Manager.DNF, Manager.YUM):
        sec = ["--security"] if security_only else []
        # exit 100: updates are available; 0: none; anything else: an error
        return [system.manager.value, "-q", "check-update", *sec]
    raise ValueError(f"no supported package manager ({system.manager})")


def parse_updates(system: System, text: str, *, security_only: bool) -> list[Update]:
    if system.manager is Manager.APT:
        updates = parse_apt_simulation(text)
        return [u for u in updates if u.security] if security_only else updates
    return parse_dnf_check_update(text, security=security_only)


def refresh_argv(system: System) -> list[str]:
    """Fetch the package indexes (apt's lists, dnf's metadata)."""
    if system.manager is Manager.APT:
        return ["apt-get", "-q", "update"]
    return [system.manager.value, "-q", "makecache"]


def upgrade_argv(system: System, updates: list[Update], *, security_only: bool) -> list[str]:
    """The upgrade itself, non-interactive. apt security-only upgrades exactly the listed
    security updates; everything else upgrades what the tool itself picks."""
    if system.manager is Manager.APT:
        if security_only:
            names = sorted({u.name for u in updates if u.security})
            if not names:
                raise ValueError("no security update to install")
            return [*_NONINTERACTIVE, "apt-get", "-y", "-q", *_APT_CONF, *_PIN, "install",
                    "--only-upgrade", "--", *names]  # fmt: skip
        return [*_NONINTERACTIVE, "apt-get", "-y", "-q", *_APT_CONF, "upgrade"]
    if system.manager in (Manager.DNF, Manager.YUM):
        sec = ["--security"] if security_only else []
        return [system.manager.value, "-y", "upgrade", *sec]
    raise ValueError(f"no supported package manager ({system.manager})")


def reboot_required_script(system: System) -> str:
    """Prints `yes`, `no` or `unknown` (a dnf host without needs-restarting)."""
    if system.manager is Manager.APT:
        return "if [ -e /run/reboot-required ]; then echo yes; else echo no; fi"
    return (
        "if ! command -v needs-restarting >/dev/null 2>&1; then echo unknown; exit 0; fi; "
        "needs-restarting -r >/dev/null 2>&1; rc=$?; "
        "if [ $rc -eq 1 ]; then echo yes; elif [ $rc -eq 0 ]; then echo no; "
        "else echo unknown; fi"
    )


def shell(argv: list[str]) -> str:
    return shlex.join(argv)
