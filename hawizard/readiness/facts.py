"""What `hawizard check` reads on every node, in one read-only shell script, and its parsers.

The script prints sections (`@@hawizard NAME` lines) so one SSH command per node answers every
item; each command inside is bounded (`timeout`) and none writes anything: `apt-get -s` only
simulates, `dnf -C` reads the cache. The package-manager part is built per family, so the dnf
path is tested by its construction and by parsing recorded dnf output.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

MARK = "@@hawizard "
ETCD_CONFIG = "/etc/etcd/etcd.conf.yml"
APISERVER_UNIT = "/etc/systemd/system/kube-apiserver.service"
FORWARDERS = (
    "rsyslog",
    "syslog-ng",
    "systemd-journal-upload",
    "fluent-bit",
    "td-agent-bit",
    "vector",
    "promtail",
    "filebeat",
    "otelcol",
    "otelcol-contrib",
)
UPDATES_TIMEOUT = 90  # seconds for the package manager's simulation


def _section(name: str, body: str) -> str:
    return f"echo {shlex.quote(MARK + name)}; {{ {body}; }} 2>/dev/null"


def apt_commands() -> list[str]:
    """Pending updates (simulated upgrade), installed kernels, unattended-upgrades."""
    return [
        _section(
            "updates",
            f"LANG=C timeout {UPDATES_TIMEOUT} apt-get -s -o Debug::NoLocking=1 upgrade; "
            'echo "rc=$?"',
        ),
        _section("kernels", "ls /boot | sed -n 's/^vmlinuz-//p' | sort -V"),
        _section(
            "index_age",
            "now=$(date +%s); t=$(stat -c %Y /var/lib/apt/lists/*_Packages* | sort -n | tail -1); "
            '[ -n "$t" ] && echo $((now - t))',
        ),
        _section("reboot_required", "test -e /var/run/reboot-required && echo yes || echo no"),
        _section(
            "unattended",
            "dpkg-query -W -f='${Status}\\n' unattended-upgrades; "
            "apt-config dump APT::Periodic::Unattended-Upgrade",
        ),
    ]


def dnf_commands(tool: str = "dnf") -> list[str]:
    """The same facts for dnf/yum hosts: check-update, security advisories, kernels, automatic."""
    q = shlex.quote(tool)
    return [
        _section(
            "updates",
            f'LANG=C timeout {UPDATES_TIMEOUT} {q} -q -C check-update; echo "rc=$?"',
        ),
        _section(
            "security",
            f'LANG=C timeout {UPDATES_TIMEOUT} {q} -q -C updateinfo list --security; echo "rc=$?"',
        ),
        _section(
            "kernels",
            "rpm -q kernel kernel-core --qf '%{VERSION}-%{RELEASE}.%{ARCH}\\n' "
            "| grep -v 'not installed' | sort -V",
        ),
        _section(
            "unattended",
            "for t in dnf-automatic-install.timer dnf-automatic.timer yum-cron; do "
            'echo "$t $(systemctl is-enabled $t 2>/dev/null)"; done; '
            "grep -h '^apply_updates' /etc/dnf/automatic.conf 2>/dev/null",
        ),
    ]


def kept_aside_section(data_dir: str = "/var/lib/etcd") -> str:
    """Old data dirs kept aside (`<data_dir>.before-restore-*` by a restore, `.replaced-*` by
    a member's re-join) and what killed runs left in the scratch folders: `KiB<TAB>path`."""
    data = shlex.quote(data_dir.rstrip("/"))
    return _section(
        "kept_aside",
        f"for d in {data}.before-restore-* {data}.replaced-* /var/lib/hawizard/tmp/* "
        '/var/tmp/hawizard-snapshot.* /var/tmp/hawizard-restore-*.db; do [ -e "$d" ] && '
        'du -sk -- "$d"; done',
    )


def parse_kept_aside(text: str) -> list[tuple[str, int]]:
    """(path, KiB) per line of the `kept_aside` section."""
    out = []
    for line in text.splitlines():
        size, _, path = line.partition("\t")
        if size.strip().isdigit() and path.startswith("/"):
            out.append((path, int(size)))
    return out


def script(data_dir: str = "/var/lib/etcd") -> str:
    """The whole read-only script: common facts, then the package manager's part."""
    common = [
        kept_aside_section(data_dir),
        _section("machine_id", "cat /etc/machine-id"),
        _section("os", '. /etc/os-release; echo "$PRETTY_NAME"'),
        _section("container", "systemd-detect-virt --container || true"),
        _section("etcd_config", f"cat {ETCD_CONFIG}"),
        _section("etcd_active", "systemctl is-active etcd"),
        _section("apiserver_unit", f"cat {APISERVER_UNIT}"),
        _section("apiserver_active", "systemctl is-active kube-apiserver"),
        _section(
            "journald",
            "cat /etc/systemd/journald.conf /etc/systemd/journald.conf.d/*.conf "
            "/run/systemd/journald.conf.d/*.conf",
        ),
        _section("journal_dir", "test -d /var/log/journal && echo yes || echo no"),
        _section(
            "forwarders",
            f"for s in {' '.join(FORWARDERS)}; do "
            'systemctl is-active --quiet "$s" && echo "$s"; done',
        ),
        _section("timedatectl", "timedatectl show"),
        _section("kernel_running", "uname -r"),
    ]
    apt = " ; ".join(apt_commands())
    dnf = " ; ".join(dnf_commands("dnf"))
    yum = " ; ".join(dnf_commands("yum"))
    pkg = (
        f"if command -v apt-get >/dev/null 2>&1; then echo {shlex.quote(MARK + 'pkg')}; "
        f"echo apt; {apt}; "
        f"elif command -v dnf >/dev/null 2>&1; then echo {shlex.quote(MARK + 'pkg')}; "
        f"echo dnf; {dnf}; "
        f"elif command -v yum >/dev/null 2>&1; then echo {shlex.quote(MARK + 'pkg')}; "
        f"echo yum; {yum}; fi"
    )
    return " ; ".join([*common, pkg]) + " ; true"


def sections(output: str) -> dict[str, str]:
    """The script's output split back into its sections (text without the marker lines)."""
    out: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith(MARK):
            current = line[len(MARK) :].strip()
            out.setdefault(current, [])
        elif current is not None:
            out[current].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


# --- parsers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Updates:
    family: str  # "apt", "dnf", "yum" or "" (unknown)
    pending: int | None  # None: could not be read
    security: int | None
    kernel_running: str = ""
    kernel_newest: str = ""  # newest installed kernel, "" when none is installed (a container)
    index_age_s: int | None = None  # apt: age of the newest package index; None = no index
    reboot_required: bool = False
    unattended: bool | None = None
    packages: tuple[str, ...] = ()  # a few names, for the evidence
    error: str = ""

    @property
    def needs_reboot(self) -> bool:
        newer = bool(self.kernel_newest) and self.kernel_newest != self.kernel_running
        return self.reboot_required or newer


_APT_INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) (.*)\)")


def parse_apt(sec: dict[str, str], kernel_running: str) -> Updates:
    text = sec.get("updates", "")
    rc = _rc(text)
    if rc != 0:
        return Updates("apt", None, None, kernel_running, error=f"apt-get -s upgrade exit {rc}")
    names, security = [], 0
    for line in text.splitlines():
        m = _APT_INST.match(line)
        if m:
            names.append(m.group(1))
            if "security" in m.group(3).lower():
                security += 1
    kernels = [k for k in sec.get("kernels", "").splitlines() if k.strip()]
    status = sec.get("unattended", "")
    installed = "install ok installed" in status
    enabled = re.search(r'APT::Periodic::Unattended-Upgrade\s+"(\d+)"', status)
    unattended = installed and bool(enabled) and enabled.group(1) != "0"
    age = sec.get("index_age", "").strip()
    return Updates(
        "apt",
        len(names),
        security,
        kernel_running,
        kernels[-1] if kernels else "",
        int(age) if age.isdigit() else None,
        sec.get("reboot_required", "") == "yes",
        unattended,
        tuple(names[:5]),
    )


def parse_dnf(sec: dict[str, str], kernel_running: str, family: str = "dnf") -> Updates:
    text = sec.get("updates", "")
    rc = _rc(text)
    if rc not in (0, 100):  # 100 = updates available
        return Updates(family, None, None, kernel_running, error=f"{family} check-update exit {rc}")
    names = []
    for line in text.splitlines():
        if line.startswith(("rc=", "Obsoleting", " ")) or not line.strip():
            continue
        if line.startswith("Obsoleting Packages"):
            break
        parts = line.split()
        if len(parts) == 3:
            names.append(parts[0].rsplit(".", 1)[0])
    sec_text = sec.get("security", "")
    security_pkgs = set()
    if _rc(sec_text) == 0:
        for line in sec_text.splitlines():
            parts = line.split()
            if len(parts) >= 3 and not line.startswith("rc="):
                security_pkgs.add(parts[2])
        security: int | None = len(security_pkgs)
    else:
        security = None
    kernels = [k for k in sec.get("kernels", "").splitlines() if k.strip()]
    unattended_text = sec.get("unattended", "")
    unattended = any(
        line.split()[-1] == "enabled"
        for line in unattended_text.splitlines()
        if len(line.split()) == 2 and line.split()[0].endswith((".timer", "yum-cron"))
    )
    return Updates(
        family,
        len(names),
        security,
        kernel_running,
        kernels[-1] if kernels else "",
        None,
        False,
        unattended,
        tuple(names[:5]),
    )


def parse_updates(sec: dict[str, str]) -> Updates:
    family = sec.get("pkg", "").strip()
    running = sec.get("kernel_running", "").strip()
    if family == "apt":
        return parse_apt(sec, running)
    if family in ("dnf", "yum"):
        return parse_dnf(sec, running, family)
    return Updates("", None, None, running, error="no apt-get, dnf or yum on the node")


def _rc(text: str) -> int | None:
    for line in reversed(text.splitlines()):
        if line.startswith("rc="):
            try:
                return int(line[3:])
            except ValueError:
                return None
    return None


@dataclass(frozen=True)
class Journal:
    persistent: bool
    storage: str  # the effective Storage= value ("auto" when unset)
    max_use: str  # SystemMaxUse=, "" when unset (journald's default: 10 % of the fs, ≤ 4 GiB)
    forward_to_syslog: bool
    forwarders: tuple[str, ...] = ()


def parse_journal(sec: dict[str, str]) -> Journal:
    settings: dict[str, str] = {}
    for line in sec.get("journald", "").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        settings[key.strip()] = value.strip()  # later files win, as in journald
    storage = settings.get("Storage", "auto") or "auto"
    has_dir = sec.get("journal_dir", "") == "yes"
    persistent = storage == "persistent" or (storage == "auto" and has_dir)
    forwarders = tuple(x for x in sec.get("forwarders", "").split() if x in FORWARDERS)
    return Journal(
        persistent,
        storage,
        settings.get("SystemMaxUse", ""),
        settings.get("ForwardToSyslog", "").lower() in ("yes", "true", "1", "on"),
        forwarders,
    )


@dataclass(frozen=True)
class Clock:
    ntp_synchronized: bool | None
    ntp_service: str  # "active", "inactive", "n/a" or ""
    timezone: str = ""


def parse_clock(sec: dict[str, str]) -> Clock:
    values = dict(
        line.partition("=")[::2] for line in sec.get("timedatectl", "").splitlines() if "=" in line
    )
    sync = values.get("NTPSynchronized")
    return Clock(
        None if sync is None else sync == "yes",
        values.get("NTP", ""),
        values.get("Timezone", ""),
    )


@dataclass(frozen=True)
class EtcdTLS:
    """What a member's live config file says about TLS (None: no config file)."""

    client_cert_auth: bool
    peer_cert_auth: bool
    client_tls: bool
    peer_tls: bool
    urls_https: bool


def parse_etcd_config(text: str) -> EtcdTLS | None:
    if not text.strip():
        return None
    block = ""
    found: dict[str, dict[str, str]] = {
        "client-transport-security": {},
        "peer-transport-security": {},
    }
    https = True
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            key, _, value = line.partition(":")
            block = key.strip() if not value.strip() else ""
            if key.strip() in ("listen-client-urls", "listen-peer-urls", "advertise-client-urls"):
                https = https and "http://" not in value
            continue
        if block in found:
            k, _, v = line.strip().partition(":")
            found[block][k.strip()] = v.strip().strip('"')
    c, p = found["client-transport-security"], found["peer-transport-security"]
    return EtcdTLS(
        c.get("client-cert-auth") == "true",
        p.get("client-cert-auth") == "true",
        bool(c.get("cert-file")),
        bool(p.get("cert-file")),
        https,
    )


def unit_flags(text: str) -> dict[str, str]:
    """`--flag=value` pairs of a unit's ExecStart (continuation lines joined)."""
    joined = text.replace("\\\n", " ")
    flags: dict[str, str] = {}
    for line in joined.splitlines():
        if not line.strip().startswith("ExecStart="):
            continue
        for token in line.split()[1:]:
            if token.startswith("--"):
                name, _, value = token[2:].partition("=")
                flags[name] = value if _ else "true"
    return flags


@dataclass
class NodeFacts:
    """Everything read from one node; `error` set when the node could not be read at all."""

    name: str
    sections: dict[str, str] = field(default_factory=dict)
    error: str = ""
    clock_offset_s: float | None = None  # node clock minus this machine's, mid round trip
    clock_uncertainty_s: float | None = None

    @property
    def ok(self) -> bool:
        return not self.error
