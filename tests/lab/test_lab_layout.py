"""The lab's pure parts and its host checks: names, addresses, recipe hash, mirror, preflight."""

from __future__ import annotations

import ipaddress
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from hawizard.lab import LabError
from hawizard.lab.layout import LAB_RANGE, MAX_NODES, default_subnet, layout
from hawizard.lab.preflight import require_root, require_tools
from hawizard.lab.rootfs import Recipe, host_mirror
from hawizard.lab.state import load, save

RFC1123 = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def test_layout_names_addresses_and_interfaces_fit_linux_limits():
    lab = layout("hwtest", 9)
    net = ipaddress.ip_network(lab.subnet)
    assert net.subnet_of(LAB_RANGE) and net.prefixlen == 24
    assert lab.gateway == str(net.network_address + 1)
    assert [n.address for n in lab.nodes][:2] == [
        str(net.network_address + 11),
        str(net.network_address + 12),
    ]
    assert lab.nodes[0].name == "hwtest-n1"
    for n in lab.nodes:
        assert RFC1123.match(n.name)
        assert len(n.veth) <= 15 and len(lab.bridge) <= 15
    macs = [m for n in lab.nodes for m in (n.host_mac, n.node_mac)] + [lab.bridge_mac]
    assert len(set(macs)) == len(macs)
    assert all(int(m.split(":")[0], 16) & 0b11 == 0b10 for m in macs)  # local, unicast


def test_layout_is_stable_per_name_and_distinct_between_names():
    assert layout("a", 3) == layout("a", 3)
    a, b = layout("hwtest", 3), layout("hwdown", 2)
    assert a.subnet != b.subnet
    assert a.bridge != b.bridge
    assert not {n.veth for n in a.nodes} & {n.veth for n in b.nodes}
    assert not {n.netns for n in a.nodes} & {n.netns for n in b.nodes}
    subnets = {default_subnet(f"lab{i}") for i in range(50)}
    assert len(subnets) > 40  # spread over the 512 /24s of 198.18.0.0/15


def test_layout_rejects_bad_input_with_a_fix():
    for name in ("Lab", "1lab", "lab_x", "a-very-long-lab-name", ""):
        with pytest.raises(LabError, match="lab name"):
            layout(name, 3)
    with pytest.raises(LabError, match="1 to 9"):
        layout("lab", MAX_NODES + 1)
    with pytest.raises(LabError, match=r"198\.18\.0\.0/15"):
        layout("lab", 3, subnet="10.0.0.0/24")
    with pytest.raises(LabError, match="too small"):
        layout("lab", 9, subnet="198.18.7.0/28")
    assert layout("lab", 3, subnet="198.19.7.0/24").nodes[0].address == "198.19.7.11"


def test_state_round_trips_through_json(tmp_path: Path):
    lab = layout("hwtest", 3)
    lab = lab.with_node(replace(lab.nodes[1], pid=123, start_time=456))
    save(lab, tmp_path / "state.json")
    assert load(tmp_path / "state.json") == lab
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
    assert load(tmp_path / "missing.json") is None


def test_recipe_hash_changes_with_the_recipe():
    base = Recipe()
    assert base.digest() == Recipe().digest()
    assert replace(base, packages=(*base.packages, "vim")).digest() != base.digest()
    assert replace(base, revision=base.revision + 1).digest() != base.digest()
    assert "etcd" not in " ".join(base.packages)
    # Issue 14: haproxy left the image; hawizard installs it from the lab's package repository.
    assert "haproxy" not in base.packages and "haproxy.service" not in base.disabled_units


def test_host_mirror_reads_deb822_and_one_line_sources(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    assert host_mirror(tmp_path) is None  # nothing configured: debootstrap picks its default
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] file:///srv/one-line/debian bookworm main\n"
    )
    assert host_mirror(tmp_path) == "file:///srv/one-line/debian"
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: file:///srv/security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb deb-src\nURIs: file:///srv/main/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n"
    )
    assert host_mirror(tmp_path) == "file:///srv/main/debian"


def test_not_root_is_a_clear_error():
    # A fake euid (1000) stands in for a non-root user: the check must refuse with a fix.
    with pytest.raises(LabError) as exc:
        require_root(euid=1000)
    assert "needs root" in exc.value.message
    assert "sudo hawizard lab up" in exc.value.hint
    require_root(euid=0)  # root passes


def test_missing_tools_name_the_apt_command(tmp_path: Path):
    # The real lookup, on an empty PATH: every tool is missing.
    def empty_path(tool: str) -> str | None:
        return shutil.which(tool, path=str(tmp_path))

    with pytest.raises(LabError) as exc:
        require_tools(("systemd-nspawn", "debootstrap", "nft"), which=empty_path)
    assert "systemd-nspawn, debootstrap, nft" in exc.value.message
    assert exc.value.hint == "apt-get install -y debootstrap nftables systemd-container"
