"""The package install commands for apt-get, dnf and yum, checked by content and by `sh -n`.

dnf and yum cannot run here (no RPM source on this machine), so their command construction is
all that is tested of them; the apt path also runs for real in tests/etcd/test_package_lab.py.
"""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawizard import packages


def sh_syntax_ok(script: str) -> bool:
    return subprocess.run(["sh", "-n", "-c", script], capture_output=True).returncode == 0


@pytest.mark.parametrize("manager", packages.MANAGERS)
def test_every_command_is_valid_shell(manager):
    for script in (
        packages.installed_command(manager, ["etcd-server", "etcd-client"]),
        packages.available_command(manager, ["etcd"]),
        packages.install_command(manager, ["haproxy"], ["haproxy.service"]),
    ):
        assert sh_syntax_ok(script), script


def test_apt_install_masks_the_unit_and_refuses_starts_until_done():
    script = packages.install_command("apt-get", ["etcd-server", "etcd-client"], ["etcd.service"])
    lines = script.splitlines()
    assert lines[0] == "set -e"
    assert "systemctl mask --runtime --quiet etcd.service" in lines[1]
    assert "exit 101" in script and packages.POLICY_RC_D in script
    trap = next(line for line in lines if line.startswith("trap"))
    assert "rm -f /usr/sbin/policy-rc.d" in trap and "unmask --runtime" in trap
    install = lines[-1]
    assert install.startswith("DEBIAN_FRONTEND=noninteractive apt-get install -y")
    assert install.endswith("etcd-server etcd-client")
    # The mask and the policy are in place before the install line runs.
    assert lines.index(install) > lines.index(trap)


@pytest.mark.parametrize("manager", ["dnf", "yum"])
def test_rpm_managers_install_without_policy_rc_d(manager):
    script = packages.install_command(manager, ["etcd"], ["etcd.service"])
    assert script.splitlines()[-1] == f"{manager} install -y etcd"
    assert "policy-rc.d" not in script
    assert "systemctl mask --runtime --quiet etcd.service" in script
    assert packages.installed_command(manager, ["etcd"]) == "rpm -q etcd >/dev/null"
    assert f"{manager} -q info" in packages.available_command(manager, ["etcd"])


def test_no_units_means_no_mask_and_apt_still_gets_its_policy():
    script = packages.install_command("apt-get", ["keepalived"])
    assert "systemctl mask" not in script and "policy-rc.d" in script
    assert "trap" not in packages.install_command("dnf", ["keepalived"])


@pytest.mark.parametrize(
    "bad", ["", "-y", "etcd; rm -rf /", "etcd server", "$(id)", "a\nb", "pkg'", "x`y`"]
)
def test_names_that_would_break_the_command_are_refused(bad):
    with pytest.raises(ValueError, match="is not a package or unit name"):
        packages.install_command("apt-get", [bad])
    with pytest.raises(ValueError):
        packages.installed_command("dnf", [bad])


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=4))
def test_any_accepted_name_stays_one_shell_word(names):
    try:
        script = packages.install_command("apt-get", names, names)
    except ValueError:
        return
    assert sh_syntax_ok(script)
    assert script.splitlines()[-1].split()[-len(names) :] == names
