"""artifacts: each large file is hashed and compressed once, and the gzip copy is cached on disk."""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
import zlib
from pathlib import Path

import pytest

from hawizard import artifacts
from hawizard.artifacts import Artifact


def test_hash_is_made_once_and_gzip_round_trips(tmp_path: Path) -> None:
    data = os.urandom(100_000) + b"\0" * 400_000
    a = Artifact("etcd", data, cache=tmp_path)
    assert a.sha256 == hashlib.sha256(data).hexdigest()
    assert gzip.decompress(a.gzipped()) == data
    assert a.gzipped() is a.gzipped()  # the same object: never compressed twice


def test_concurrent_callers_share_one_compression(tmp_path: Path, monkeypatch) -> None:
    # Counting calls needs a wrapper around zlib; compression itself stays real.
    calls: list[int] = []
    real = zlib.compressobj

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(artifacts.zlib, "compressobj", counting)
    a = Artifact("etcd", os.urandom(2_000_000), cache=tmp_path)
    threads = [threading.Thread(target=a.gzipped) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1


def test_disk_cache_is_used_by_the_next_run_and_is_private(tmp_path: Path, monkeypatch) -> None:
    data = b"binary" * 50_000
    first = Artifact("etcd", data, cache=tmp_path / "c")
    gz = first.gzipped()
    cached = tmp_path / "c" / f"{first.sha256}.{artifacts.GZIP_LEVEL}.gz"
    assert cached.read_bytes() == gz
    assert cached.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "c").stat().st_mode & 0o777 == 0o700

    def no_compression(*args, **kwargs):
        raise AssertionError("compressed although the cache holds the copy")

    monkeypatch.setattr(artifacts.zlib, "compressobj", no_compression)
    assert Artifact("etcd", data, cache=tmp_path / "c").gzipped() == gz


@pytest.mark.parametrize("junk", [b"", b"\x1f\x8b truncated", b"not gzip at all, long enough"])
def test_a_broken_cache_file_is_ignored(tmp_path: Path, junk: bytes) -> None:
    data = b"x" * 10_000
    a = Artifact("etcd", data, cache=tmp_path)
    (tmp_path / f"{a.sha256}.{artifacts.GZIP_LEVEL}.gz").write_bytes(junk)
    assert gzip.decompress(a.gzipped()) == data


def test_unwritable_cache_costs_only_the_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    a = Artifact("etcd", b"y" * 1000, cache=blocker / "sub")
    assert gzip.decompress(a.gzipped()) == b"y" * 1000


def test_cache_dir_follows_xdg(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert artifacts.cache_dir() == tmp_path / "hawizard" / "gzip"
