"""Package-manager commands and parsers (`hawizard.os_packages`), without a node.

The apt lines are the format `apt-get -s upgrade` printed on a lab node (and Debian's security
archive's own label); dnf and yum cannot run here (no RPM source), so their path is covered by
these command-construction tests only.
"""

from __future__ import annotations

import shlex

from hypothesis import given
from hypothesis import strategies as st

from hawizard import os_packages as pkg
from hawizard.os_packages import Manager, System, Update

DEBIAN = System(Manager.APT, "debian", "bookworm")
ROCKY = System(Manager.DNF, "rocky", "")

SIMULATION = """\
Reading package lists...
Calculating upgrade...
The following packages will be upgraded:
  hawizard-marker hawizard-other libssl3 tzdata
Inst hawizard-marker [1.0] (1.1 hawizard-tests-security:bookworm-security [all])
Inst hawizard-other [1.0] (1.1 hawizard-tests:bookworm [all])
Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable, Debian:12.11/stable [all])
Conf hawizard-marker (1.1 hawizard-tests-security:bookworm-security [all])
Conf libssl3 (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
"""


def test_apt_simulation_is_parsed_and_security_origins_recognised():
    updates = pkg.parse_apt_simulation(SIMULATION)
    assert [(u.name, u.old, u.new, u.security) for u in updates] == [
        ("hawizard-marker", "1.0", "1.1", True),
        ("hawizard-other", "1.0", "1.1", False),
        ("libssl3", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", True),
        ("tzdata", "2024a-0+deb12u1", "2025b-0+deb12u1", False),
    ]
    assert updates[2].origins == ("Debian-Security:12/stable-security",)
    assert updates[3].origins == ("Debian:12.11/stable", "Debian:12.11/stable")
    assert str(updates[0]) == "hawizard-marker 1.0 → 1.1 (security)"
    chosen = pkg.parse_updates(DEBIAN, SIMULATION, security_only=True)
    assert [u.name for u in chosen] == ["hawizard-marker", "libssl3"]
    assert len(pkg.parse_updates(DEBIAN, SIMULATION, security_only=False)) == 4


def test_apt_commands():
    assert pkg.list_argv(DEBIAN, security_only=True)[:3] == ["apt-get", "-s", "-q"]
    assert pkg.list_argv(DEBIAN, security_only=True)[-1] == "upgrade"
    updates = pkg.parse_apt_simulation(SIMULATION)
    security = pkg.upgrade_argv(DEBIAN, updates, security_only=True)
    assert security[:2] == ["env", "DEBIAN_FRONTEND=noninteractive"]
    # exactly the security updates, after `--` so no name is read as an option
    assert security[-5:] == ["install", "--only-upgrade", "--", "hawizard-marker", "libssl3"]
    assert "Dpkg::Options::=--force-confold" in security
    everything = pkg.upgrade_argv(DEBIAN, updates, security_only=False)
    assert everything[-1] == "upgrade" and "-y" in everything
    assert pkg.refresh_argv(DEBIAN) == ["apt-get", "-q", "update"]
    assert "/run/reboot-required" in pkg.reboot_required_script(DEBIAN)


def test_dnf_and_yum_commands():
    assert pkg.list_argv(ROCKY, security_only=True) == ["dnf", "-q", "check-update", "--security"]
    assert pkg.list_argv(ROCKY, security_only=False) == ["dnf", "-q", "check-update"]
    assert pkg.upgrade_argv(ROCKY, [], security_only=True) == ["dnf", "-y", "upgrade", "--security"]
    assert pkg.upgrade_argv(ROCKY, [], security_only=False) == ["dnf", "-y", "upgrade"]
    yum = System(Manager.YUM, "centos", "")
    assert pkg.upgrade_argv(yum, [], security_only=True) == ["yum", "-y", "upgrade", "--security"]
    assert pkg.refresh_argv(ROCKY) == ["dnf", "-q", "makecache"]
    script = pkg.reboot_required_script(ROCKY)
    assert "needs-restarting -r" in script and "echo unknown" in script
    listing = (
        "\nopenssl-libs.x86_64    1:3.0.7-27.el9    baseos\n"
        "kernel.x86_64          5.14.0-427.el9    baseos\n"
        "Obsoleting Packages\n"
        "grub2-tools.x86_64     1:2.06-80.el9     baseos\n"
    )
    updates = pkg.parse_updates(ROCKY, listing, security_only=True)
    assert [(u.name, u.new, u.origins, u.security) for u in updates] == [
        ("openssl-libs", "1:3.0.7-27.el9", ("baseos",), True),
        ("kernel", "5.14.0-427.el9", ("baseos",), True),
    ]


def test_detect_and_what_supports_security_only():
    assert pkg.parse_detect("apt\ndebian\nbookworm\n") == DEBIAN
    assert pkg.parse_detect("dnf\nrocky\n\n").manager is Manager.DNF
    assert pkg.parse_detect("zypper?\n").manager is Manager.UNKNOWN
    assert DEBIAN.security_supported and ROCKY.security_supported
    assert not System(Manager.APT, "raspbian", "").security_supported
    try:
        pkg.list_argv(System(Manager.UNKNOWN), security_only=False)
    except ValueError as exc:
        assert "no supported package manager" in str(exc)
    else:
        raise AssertionError("an unknown manager has no commands")


names = st.from_regex(r"[a-z0-9][a-z0-9+.-]{1,20}", fullmatch=True)
versions = st.from_regex(r"[0-9][A-Za-z0-9.+~:-]{0,15}", fullmatch=True)


@given(names, versions, versions, st.booleans())
def test_any_inst_line_parses_back_to_its_fields(name, old, new, security):
    origin = "Debian-Security:12/stable-security" if security else "Debian:12.4/stable"
    updates = pkg.parse_apt_simulation(f"Inst {name} [{old}] ({new} {origin} [amd64])\n")
    assert updates == [Update(name, old, new, (origin,), security)]
    argv = pkg.upgrade_argv(DEBIAN, updates, security_only=False)
    assert shlex.split(shlex.join(argv)) == argv


@given(st.text(max_size=300))
def test_the_parsers_never_raise_on_any_text(text):
    pkg.parse_apt_simulation(text)
    pkg.parse_dnf_check_update(text, security=True)
    pkg.parse_detect(text)


def test_security_only_pins_by_origin_like_unattended_upgrades(tmp_path):
    """Issue 25: the listing and the install read the security pin; the pin makes the
    `-security` archive's version the candidate. The preferences are checked by this machine's
    own apt (read-only simulation) when it has one."""
    import shutil
    import subprocess

    pin = f"Dir::Etc::Preferences={pkg.SECURITY_PIN}"
    assert pin in pkg.list_argv(DEBIAN, security_only=True)
    assert pin not in pkg.list_argv(DEBIAN, security_only=False)
    updates = pkg.parse_apt_simulation(SIMULATION)
    assert pin in pkg.upgrade_argv(DEBIAN, updates, security_only=True)
    assert pin not in pkg.upgrade_argv(DEBIAN, updates, security_only=False)
    script = pkg.security_pin_script()
    assert subprocess.run(["sh", "-n", "-c", script], timeout=10).returncode == 0
    if shutil.which("apt-get") is None:
        return
    prefs = tmp_path / "pin.pref"
    prefs.write_text(pkg.SECURITY_PREFERENCES)
    argv = ["apt-get", "-s", "-q", "-o", f"Dir::Etc::Preferences={prefs}", "upgrade"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    pinned = pkg.parse_apt_simulation(r.stdout)
    assert all(u.security for u in pinned), [u for u in pinned if not u.security][:3]
