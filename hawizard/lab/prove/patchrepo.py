"""A security update for `lab prove`'s `patch`: a tiny marker package, installed at 1.0 on
every node, whose 1.1 (from a flat repository in the node, suite `bookworm-security`) asks for
a reboot — the way a kernel fix reaches a node. Built with `dpkg-deb` on the host.
"""

from __future__ import annotations

import hashlib
import io
import shlex
import shutil
import subprocess
import tarfile
from email.utils import formatdate
from pathlib import Path

__all__ = ["MARKER", "install_old"]

MARKER = "hawizard-prove-marker"
REPO_DIR = "/srv/hawizard-prove"
SOURCES = f"deb [trusted=yes] file:{REPO_DIR} ./\n"


def build_deb(out: Path, name: str, version: str, *, postinst: str = "") -> Path:
    """`name_version_all.deb` holding `/usr/share/doc/NAME/version` (and `postinst` if any):
    the smallest real package a patch run can update (the patch lab tests build theirs too)."""
    root = out / f".build-{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    doc = root / "usr/share/doc" / name
    doc.mkdir(parents=True)
    (doc / "version").write_text(f"{version}\n")
    (root / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: hawizard <prove@hawizard.invalid>\nSection: misc\nPriority: optional\n"
        f"Description: hawizard marker {version}\n"
    )
    if postinst:
        script = root / "DEBIAN/postinst"
        script.write_text(f"#!/bin/sh\nset -e\n{postinst}\n")
        script.chmod(0o755)
    deb = out / f"{name}_{version}_all.deb"
    build = ["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)]
    subprocess.run(build, check=True, capture_output=True, timeout=60)
    return deb


def _repo(folder: Path) -> bytes:
    """The repository (1.0 and 1.1, indexed) as a tar stream."""
    repo = folder / "patch-repo"
    shutil.rmtree(repo, ignore_errors=True)  # built afresh for every patch run
    repo.mkdir(parents=True)
    debs = [
        build_deb(repo, MARKER, "1.0"),
        build_deb(repo, MARKER, "1.1", postinst="touch /run/reboot-required"),
    ]
    stanzas = []
    for deb in debs:
        fields = subprocess.run(
            ["dpkg-deb", "--field", str(deb)], check=True, capture_output=True, text=True
        ).stdout.strip()
        data = deb.read_bytes()
        stanzas.append(
            f"{fields}\nFilename: ./{deb.name}\nSize: {len(data)}\n"
            f"SHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
    packages = "\n".join(stanzas).encode()
    (repo / "Packages").write_bytes(packages)
    (repo / "Release").write_text(
        "Origin: hawizard-prove\nLabel: hawizard-prove-security\nSuite: bookworm-security\n"
        f"Codename: bookworm-security\nDate: {formatdate(usegmt=True)}\n"
        f"SHA256:\n {hashlib.sha256(packages).hexdigest()} {len(packages)} Packages\n"
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in (*debs, repo / "Packages", repo / "Release"):
            tar.add(f, arcname=f.name)
    return buf.getvalue()


def install_old(lab, names: list[str], folder: Path) -> None:
    """Put the repository into each node and install the marker's 1.0 (1.1 is then due)."""
    from concurrent.futures import ThreadPoolExecutor

    from hawizard.lab.node import exec_argv

    tar = _repo(folder)
    unpack = ["sh", "-c", f"mkdir -p {REPO_DIR} && tar -x -C {REPO_DIR}"]
    old = shlex.quote(f"{MARKER}=1.0")  # a downgrade when an earlier patch run installed 1.1
    install = f"apt-get -q update && apt-get install -y -q --allow-downgrades {old}"

    def one(name: str) -> None:
        subprocess.run(exec_argv(lab.node(name), unpack), input=tar, check=True, timeout=60)
        lab.exec(
            name, ["sh", "-c", "cat > /etc/apt/sources.list.d/hawizard-prove.list"], input=SOURCES
        )
        lab.exec(name, ["sh", "-c", install], timeout=300)

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(one, names))
