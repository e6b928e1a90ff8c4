"""The lab's package repository: cache key, sources entry, index, host checks (no root needed)."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from hawizard.lab import LabError
from hawizard.lab.repo import (
    DEFAULT_PACKAGES,
    MOUNT_POINT,
    RepoRecipe,
    cached_repo,
    check_suite,
    ensure_repo,
    index,
    package_names,
    sources_entry,
)


def test_the_default_set_is_what_hawizard_installs():
    for name in ("etcd-server", "etcd-client", "haproxy", "keepalived", "prometheus-node-exporter"):
        assert name in DEFAULT_PACKAGES


def test_cache_key_is_packages_suite_and_base():
    base = Path("/cache/base-aaa")
    recipe = RepoRecipe()
    assert recipe.digest(base) == RepoRecipe().digest(base)
    assert recipe.with_packages(("vim",)).digest(base) != recipe.digest(base)
    assert RepoRecipe(suite="trixie").digest(base) != recipe.digest(base)
    assert recipe.digest(Path("/cache/base-bbb")) != recipe.digest(base)
    # The order the packages were named in does not matter; a duplicate is ignored.
    reordered = RepoRecipe(packages=tuple(reversed(DEFAULT_PACKAGES)))
    assert reordered.digest(base) == recipe.digest(base)
    assert recipe.with_packages(("haproxy",)).packages == recipe.packages
    assert cached_repo(recipe, base, Path("/c")).name == f"repo-{recipe.digest(base)}"


@pytest.mark.parametrize("bad", ["Etcd", "-x", "a b", "x;y", ""])
def test_bad_package_names_are_refused_with_the_rule(bad):
    with pytest.raises(LabError, match="not a Debian package name"):
        RepoRecipe().with_packages((bad,))


def test_the_nodes_only_source_is_the_read_only_mount():
    entry = sources_entry()
    lines = [line for line in entry.splitlines() if not line.startswith("#")]
    assert lines == [f"deb [trusted=yes] file:{MOUNT_POINT} ./"]


def test_another_suite_than_the_hosts_is_refused(tmp_path):
    release = tmp_path / "os-release"
    release.write_text('NAME="Debian"\nVERSION_CODENAME=bookworm\n')
    check_suite("bookworm", release)
    with pytest.raises(LabError, match="this host runs bookworm, the lab nodes trixie"):
        check_suite("trixie", release)


def test_cached_repo_is_returned_without_building(tmp_path):
    base = tmp_path / "base-x"
    recipe = RepoRecipe()
    ready = cached_repo(recipe, base, tmp_path)
    ready.mkdir()
    (ready / "Packages").write_text("")
    assert ensure_repo(recipe, base, tmp_path) == ready


@pytest.mark.skipif(shutil.which("dpkg-scanpackages") is None, reason="needs dpkg-dev")
def test_index_writes_packages_and_a_release_with_their_checksums(tmp_path):
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        "Package: hawizard-probe\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: test <t@example.invalid>\nDescription: test\n"
    )
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(
        ["dpkg-deb", "--build", str(root), str(repo / "hawizard-probe_1.0_all.deb")],
        check=True,
        capture_output=True,
    )
    index(repo, "bookworm")
    assert package_names(repo) == ["hawizard-probe"]
    assert gzip.decompress((repo / "Packages.gz").read_bytes()) == (repo / "Packages").read_bytes()
    release = (repo / "Release").read_text()
    assert "Suite: bookworm" in release
    digest = hashlib.sha256((repo / "Packages").read_bytes()).hexdigest()
    assert f" {digest} " in release


def test_inotify_limit_is_raised_only_when_too_low(tmp_path):
    from hawizard.lab.preflight import ensure_inotify_instances

    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    assert ensure_inotify_instances(limit, 1024) == 128
    assert limit.read_text().strip() == "1024"
    assert ensure_inotify_instances(limit, 1024) is None  # high enough: untouched
    limit.write_text("8192\n")
    assert ensure_inotify_instances(limit, 1024) is None
    assert limit.read_text().strip() == "8192"


def test_a_lab_repository_without_a_package_this_hawizard_installs_is_rebuilt(tmp_path):
    """Walking the demo on a lab made before the firewall existed: its recorded repository had
    no nftables, so `lab up` kept it and every etcd rollout failed at the firewall step."""
    from hawizard.lab.lab import _offers
    from hawizard.lab.repo import RepoRecipe

    wanted = RepoRecipe().packages
    old = tmp_path / "old"
    old.mkdir()
    old_index = "".join(f"Package: {p}\n\n" for p in wanted if p != "nftables")
    (old / "Packages").write_text(old_index)
    assert not _offers(str(old), wanted)
    (old / "Packages").write_text(old_index + "Package: nftables\n\n")
    assert _offers(str(old), wanted)
    assert not _offers("", wanted) and not _offers(str(tmp_path / "gone"), wanted)
