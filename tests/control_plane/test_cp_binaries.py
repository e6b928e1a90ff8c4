"""Kubernetes binaries: the download script run for real (curl on a file:// URL, sha256sum,
install), and the upload source read from a folder or a server tarball built here.

Every "binary" in these tests is a STAND-IN: a small shell script under the real binary's
name. The Kubernetes server binaries are not obtainable in this environment; what is tested
is hawizard's own code (sha256 checks, tarball extraction), which does not care what the bytes
do.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from hawizard.control_plane.binaries import (
    BinaryError,
    LocalBinaries,
    download_script,
    extract_server_tarball,
    find_local_binaries,
    release_url,
    verify_sha256,
)
from hawizard.etcd.binaries import BinariesError
from hawizard.plan import KUBE_BINARIES


def stand_in(name: str) -> bytes:
    """Fake binary content, different per name (NOT a Kubernetes binary)."""
    return f"#!/bin/sh\necho 'stand-in for {name}, not the real binary'\n".encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_server_tarball(path: Path, *, extra: list[tarfile.TarInfo] | None = None) -> None:
    """A kubernetes-server-linux-amd64.tar.gz shaped archive holding stand-in binaries."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in [
            (tarfile.TarInfo("kubernetes/server/bin/kube-proxy"), stand_in("kube-proxy")),
            *((tarfile.TarInfo(f"kubernetes/server/bin/{n}"), stand_in(n)) for n in KUBE_BINARIES),
        ]:
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)


# --- download (on the node) ------------------------------------------------------------------


def test_release_url():
    assert release_url("v1.32.0", "amd64", "kube-apiserver") == (
        "https://dl.k8s.io/release/v1.32.0/bin/linux/amd64/kube-apiserver"
    )
    assert release_url("1.31.2", "arm64", "kubectl").endswith("/v1.31.2/bin/linux/arm64/kubectl")


def run_script(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs as root:root")
def test_download_script_installs_a_verified_file(tmp_path):
    src = tmp_path / "release" / "kube-apiserver"
    src.parent.mkdir()
    src.write_bytes(stand_in("kube-apiserver"))
    dest = tmp_path / "bin" / "kube-apiserver"
    dest.parent.mkdir()
    proc = run_script(download_script(src.as_uri(), sha(src.read_bytes()), str(dest)))
    assert proc.returncode == 0, proc.stderr
    assert dest.read_bytes() == src.read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o755


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs as root:root")
def test_download_script_refuses_a_wrong_sha256_and_keeps_the_old_binary(tmp_path):
    src = tmp_path / "kube-apiserver"
    src.write_bytes(stand_in("kube-apiserver") + b"tampered\n")
    dest = tmp_path / "installed"
    dest.write_bytes(b"the binary that was there before")
    wanted = sha(stand_in("kube-apiserver"))
    proc = run_script(download_script(src.as_uri(), wanted, str(dest)))
    assert proc.returncode == 1
    assert f"expected {wanted}, got {sha(src.read_bytes())}" in proc.stderr
    assert dest.read_bytes() == b"the binary that was there before"


def test_download_script_fails_on_a_missing_url(tmp_path):
    dest = tmp_path / "installed"
    env_tmp = tmp_path / "scratch"
    env_tmp.mkdir()
    script = download_script((tmp_path / "nope").as_uri(), "a" * 64, str(dest))
    proc = run_script(f"TMPDIR={env_tmp}; export TMPDIR\n{script}")
    assert proc.returncode != 0 and not dest.exists()
    assert list(env_tmp.iterdir()) == []  # the temp dir went away with the failure


def test_download_script_quotes_and_validates():
    with pytest.raises(BinaryError, match="not a sha256"):
        download_script("https://example.invalid/x", "abc", "/usr/local/bin/x")
    script = download_script("https://h/x;rm -rf /", "0" * 64, "/usr/local/bin/a b")
    assert "'https://h/x;rm -rf /'" in script and "'/usr/local/bin/a b'" in script


# --- upload source (local) --------------------------------------------------------------------


def test_tarball_extraction_of_stand_in_binaries(tmp_path):
    tarball = tmp_path / "kubernetes-server-linux-amd64.tar.gz"
    build_server_tarball(tarball)
    out = tmp_path / "out"
    out.mkdir()
    files = extract_server_tarball(tarball, out)
    assert set(files) == set(KUBE_BINARIES)
    for name, path in files.items():
        assert path == out / name
        assert path.read_bytes() == stand_in(name)
        assert path.stat().st_mode & 0o777 == 0o755
    assert not (out / "kube-proxy").exists()  # only what a master needs


def test_tarball_missing_a_binary_is_named(tmp_path):
    tarball = tmp_path / "partial.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        data = stand_in("kubectl")
        info = tarfile.TarInfo("kubernetes/server/bin/kubectl")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BinaryError, match="kubernetes/server/bin/kube-apiserver"):
        extract_server_tarball(tarball, tmp_path)


def test_tarball_link_member_is_refused(tmp_path):
    """A symlink where a binary should be could point anywhere: refused, nothing written."""
    link = tarfile.TarInfo("kubernetes/server/bin/kube-apiserver")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/shadow"
    tarball = tmp_path / "evil.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.addfile(link)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BinaryError, match="not a regular file"):
        extract_server_tarball(tarball, out)
    assert list(out.iterdir()) == []


def test_folder_source_plain_or_unpacked(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for n in KUBE_BINARIES:
        (flat / n).write_bytes(stand_in(n))
    assert find_local_binaries(flat) == {n: flat / n for n in KUBE_BINARIES}
    unpacked = tmp_path / "unpacked"
    (unpacked / "kubernetes/server/bin").mkdir(parents=True)
    for n in KUBE_BINARIES:
        (unpacked / "kubernetes/server/bin" / n).write_bytes(stand_in(n))
    assert find_local_binaries(unpacked)["kubectl"] == unpacked / "kubernetes/server/bin/kubectl"
    (flat / "kube-scheduler").unlink()
    with pytest.raises(BinaryError, match="kube-scheduler"):
        find_local_binaries(flat)


def test_local_binaries_checks_the_plans_sha256(tmp_path):
    tarball = tmp_path / "kubernetes-server-linux-amd64.tar.gz"
    build_server_tarball(tarball)
    good = {n: sha(stand_in(n)) for n in KUBE_BINARIES}
    local = LocalBinaries(tarball, good)
    assert local.sha256("kube-apiserver") == good["kube-apiserver"]
    assert local.files()["kubectl"].read_bytes() == stand_in("kubectl")

    bad = dict(good, **{"kube-scheduler": "f" * 64})
    with pytest.raises(BinaryError, match=r"kube-scheduler .*expected sha256 f{64}") as err:
        LocalBinaries(tarball, bad).files()
    assert isinstance(err.value, BinariesError)  # `hawizard apply` reports it like etcd's

    with pytest.raises(BinaryError, match="does not exist"):
        LocalBinaries(tmp_path / "missing.tar.gz").files()


def test_verify_sha256_ignores_binaries_without_an_expected_digest(tmp_path):
    f = tmp_path / "kubectl"
    f.write_bytes(stand_in("kubectl"))
    verify_sha256({"kubectl": f}, {})  # nothing expected: nothing to refuse
    verify_sha256({"kubectl": f}, {"kubectl": sha(stand_in("kubectl")).upper()})
    with pytest.raises(BinaryError):
        verify_sha256({"kubectl": f}, {"kubectl": "0" * 64})
