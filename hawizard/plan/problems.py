"""What every plan check shares: a `Problem` (file:line, field, fix), the `PlanError`
that carries them, the patterns and limits fields are held to, the small field checks
(address, port, remote and local paths) and `_Locator`, which finds where a field is
written in the TOML text."""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hawizard.plan.model import (
    KeyType,
    Plan,
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


#: An absolute path on the nodes or the operator's machine, plain characters only.
_PATH = re.compile(r"^/[A-Za-z0-9._/-]+$")
