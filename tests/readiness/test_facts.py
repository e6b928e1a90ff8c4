"""The read-only facts script and its parsers: recorded apt/dnf/journald/timedatectl answers,
the dnf path by its construction, and the whole script run for real on this machine."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from hawizard.readiness import facts as F

APT_UPGRADE = """\
Reading package lists...
Building dependency tree...
Reading state information...
Calculating upgrade...
The following packages will be upgraded:
  libc-bin libc6 openssl
3 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
Inst libc6 [2.36-9+deb12u3] (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])
Inst libc-bin [2.36-9+deb12u3] (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])
Inst openssl [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian:12.5/stable [amd64])
Conf libc6 (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])
rc=0"""

DNF_CHECK_UPDATE = """\

kernel-core.x86_64                    5.14.0-427.13.1.el9_4          baseos
openssl.x86_64                        1:3.0.7-27.el9                 baseos
tzdata.noarch                         2024a-1.el9                    appstream
rc=100"""

DNF_SECURITY = """\
RHSA-2024:2264 Important/Sec. kernel-core-5.14.0-427.13.1.el9_4.x86_64
RHSA-2024:2447 Moderate/Sec.  openssl-1:3.0.7-27.el9.x86_64
RHSA-2024:2448 Moderate/Sec.  openssl-1:3.0.7-27.el9.x86_64
rc=0"""


def test_apt_counts_pending_security_kernel_and_unattended():
    sec = {
        "pkg": "apt",
        "kernel_running": "6.1.0-17-amd64",
        "updates": APT_UPGRADE,
        "kernels": "6.1.0-17-amd64\n6.1.0-18-amd64",
        "index_age": "3600",
        "reboot_required": "no",
        "unattended": 'install ok installed\nAPT::Periodic::Unattended-Upgrade "1";',
    }
    u = F.parse_updates(sec)
    assert (u.family, u.pending, u.security) == ("apt", 3, 2)
    assert u.packages == ("libc6", "libc-bin", "openssl")
    assert u.kernel_newest == "6.1.0-18-amd64" and u.needs_reboot
    assert u.unattended is True and u.index_age_s == 3600
    off = F.parse_updates({**sec, "unattended": 'APT::Periodic::Unattended-Upgrade "0";'})
    assert off.unattended is False
    same = F.parse_updates({**sec, "kernels": "6.1.0-17-amd64"})
    assert not same.needs_reboot
    broken = F.parse_updates({**sec, "updates": "E: Could not get lock\nrc=100"})
    assert broken.pending is None and "exit 100" in broken.error


def test_dnf_commands_are_read_only_and_complete():
    text = " ; ".join(F.dnf_commands("dnf"))
    assert "dnf -q -C check-update" in text  # -C: the cache only, no metadata download
    assert "dnf -q -C updateinfo list --security" in text
    assert "rpm -q kernel kernel-core" in text
    assert "dnf-automatic-install.timer" in text
    assert "yum -q -C check-update" in " ; ".join(F.dnf_commands("yum"))
    # nothing that changes the node: no install/upgrade/remove/metadata refresh
    mutating = r"\b(dnf|yum|rpm)( -\S+)* (install|upgrade|update|remove|erase|makecache|-[iUe])\b"
    assert not re.search(mutating, text)
    assert "set-ntp" not in text and "systemctl enable" not in text
    assert "apt-get -s -o Debug::NoLocking=1 upgrade" in " ; ".join(F.apt_commands())


def test_dnf_parsing():
    sec = {
        "pkg": "dnf",
        "kernel_running": "5.14.0-362.8.1.el9_3.x86_64",
        "updates": DNF_CHECK_UPDATE,
        "security": DNF_SECURITY,
        "kernels": "5.14.0-362.8.1.el9_3.x86_64\n5.14.0-427.13.1.el9_4.x86_64",
        "unattended": "dnf-automatic-install.timer enabled\ndnf-automatic.timer disabled\n"
        "yum-cron ",
    }
    u = F.parse_updates(sec)
    assert (u.family, u.pending, u.security) == ("dnf", 3, 2)
    assert u.packages == ("kernel-core", "openssl", "tzdata")
    assert u.needs_reboot and u.unattended is True
    none = F.parse_updates({**sec, "updates": "rc=0", "security": "rc=0"})
    assert (none.pending, none.security) == (0, 0)
    assert (
        F.parse_updates({**sec, "unattended": "dnf-automatic.timer disabled"}).unattended is False
    )


def test_journal_settings_later_files_win():
    sec = {
        "journald": "[Journal]\n#Storage=auto\nStorage=volatile\n[Journal]\nStorage=persistent\n"
        "SystemMaxUse=1G\nForwardToSyslog=yes",
        "journal_dir": "no",
        "forwarders": "rsyslog\nnot-a-forwarder",
    }
    j = F.parse_journal(sec)
    assert j.persistent and j.storage == "persistent" and j.max_use == "1G"
    assert j.forwarders == ("rsyslog",) and j.forward_to_syslog
    auto = F.parse_journal({"journald": "", "journal_dir": "yes"})
    assert auto.persistent and auto.storage == "auto" and auto.max_use == ""
    assert not F.parse_journal({"journald": "", "journal_dir": "no"}).persistent


def test_clock_and_unit_flags_and_etcd_config():
    c = F.parse_clock({"timedatectl": "Timezone=UTC\nNTP=yes\nNTPSynchronized=yes"})
    assert c.ntp_synchronized and c.ntp_service == "yes"
    assert F.parse_clock({}).ntp_synchronized is None
    unit = (
        "[Service]\nExecStart=/usr/local/bin/kube-apiserver \\\n  --a=1 \\\n  --b=x,y \\\n  --c\n"
    )
    assert F.unit_flags(unit) == {"a": "1", "b": "x,y", "c": "true"}
    conf = (
        'listen-client-urls: "https://10.0.0.1:2379"\n'
        "client-transport-security:\n"
        '  cert-file: "/etc/ssl/etcd/ssl/server.pem"\n  client-cert-auth: true\n'
        "peer-transport-security:\n"
        '  cert-file: "/etc/ssl/etcd/ssl/peer.pem"\n  client-cert-auth: false\n'
    )
    tls = F.parse_etcd_config(conf)
    assert tls.client_cert_auth and tls.client_tls and not tls.peer_cert_auth and tls.urls_https
    plain = F.parse_etcd_config(conf.replace("https://", "http://"))
    assert not plain.urls_https
    assert F.parse_etcd_config("") is None


def test_sections_round_trip():
    out = f"{F.MARK}a\n1\n2\n{F.MARK}b\n{F.MARK}c\nx\n"
    assert F.sections(out) == {"a": "1\n2", "b": "", "c": "x"}


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="an apt host")
def test_the_script_runs_for_real_here():
    """The script, as a node runs it, on this Debian machine: valid sh, every section back."""
    script = F.script()
    assert subprocess.run(["sh", "-n", "-c", script], timeout=10).returncode == 0
    r = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, timeout=F.UPDATES_TIMEOUT + 30
    )
    sec = F.sections(r.stdout)
    for name in ("machine_id", "os", "timedatectl", "kernel_running", "pkg", "updates"):
        assert name in sec, name
    u = F.parse_updates(sec)
    assert u.family == "apt" and u.pending is not None and u.security is not None, u
