"""The node-side digest cache against a real sshd on 127.0.0.1: a file that was not written
since its digest was recorded is not hashed again; any write (even one that puts mtime back)
is hashed afresh; a dry run writes no cache."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawizard import digest_cache
from hawizard.remote import Host, Upload
from hawizard.remote_files import file_states, parse_states, states_script

FAKE = "f" * 64  # a digest no file here has: seeing it proves the cache answered


@pytest.fixture
def host(ssh_plan):
    with Host.from_plan(ssh_plan(), "node0") as h:
        yield h


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "node"
    d.mkdir()
    return d / "etcd", d / "cache" / "sha256-cache"


def _states(host: Host, path: Path, cache: Path, *, record: bool) -> dict:
    script = states_script([str(path)], cached={str(path)}, record=record, cache=str(cache))
    return parse_states(host.probe(script, check=True).stdout, [str(path)])


def _forge(cache: Path, path: Path, digest: str) -> None:
    """Put `digest` into the cache line of `path`, keeping its key: as if hashed earlier."""
    lines = cache.read_text().splitlines()
    [line] = [x for x in lines if x.endswith(f" {path}")]
    key = line.split()[:4]
    cache.write_text(" ".join([*key, digest, str(path)]) + "\n")


def test_a_computed_digest_is_recorded_with_private_modes(host, files) -> None:
    path, cache = files
    path.write_bytes(b"etcd binary")
    [(_, _, _, digest)] = _states(host, path, cache, record=True).values()
    assert digest == hashlib.sha256(b"etcd binary").hexdigest()
    st_ = path.stat()
    ino, size, _mtime, _ctime, sha, name = cache.read_text().split()
    assert (int(ino), int(size), sha, name) == (st_.st_ino, st_.st_size, digest, str(path))
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700


def test_an_unchanged_file_is_answered_from_the_cache(host, files) -> None:
    path, cache = files
    path.write_bytes(b"etcd binary")
    _states(host, path, cache, record=True)
    _forge(cache, path, FAKE)
    assert _states(host, path, cache, record=True)[str(path)][3] == FAKE


def test_any_write_misses_even_with_mtime_put_back(host, files) -> None:
    path, cache = files
    path.write_bytes(b"etcd binary")
    _states(host, path, cache, record=True)
    _forge(cache, path, FAKE)
    before = path.stat()
    path.write_bytes(b"etcd BINARY")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime restored; ctime not
    digest = _states(host, path, cache, record=True)[str(path)][3]
    assert digest == hashlib.sha256(b"etcd BINARY").hexdigest()
    assert FAKE not in cache.read_text()  # the stale line was replaced, not kept beside


def test_a_dry_run_writes_no_cache(host, files) -> None:
    path, cache = files
    path.write_bytes(b"etcd binary")
    digest = _states(host, path, cache, record=False)[str(path)][3]
    assert digest == hashlib.sha256(b"etcd binary").hexdigest()
    assert not cache.parent.exists()


def test_put_many_remembers_what_it_installed(host, files) -> None:
    path, cache = files
    data = os.urandom(50_000)
    sha = hashlib.sha256(data).hexdigest()
    other = path.with_name("etcdctl")
    host.put_many(
        [Upload(str(path), data, 0o755, sha256=sha, remember=True), Upload(str(other), b"x")],
        digests=str(cache),
    )
    [line] = cache.read_text().splitlines()  # only the upload marked `remember`
    assert line.endswith(f" {sha} {path}")
    _forge(cache, path, FAKE)
    assert _states(host, path, cache, record=True)[str(path)][3] == FAKE


def test_paths_outside_the_cache_and_plain_states_still_hash(host, files) -> None:
    path, cache = files
    odd = path.with_name("with space")
    odd.write_bytes(b"a")
    path.write_bytes(b"b")
    script = states_script([str(odd)], cached={str(odd)}, record=True, cache=str(cache))
    assert parse_states(host.probe(script, check=True).stdout, [str(odd)])[str(odd)][3] == (
        hashlib.sha256(b"a").hexdigest()
    )
    assert not cache.parent.exists()  # not cacheable: hashed, never recorded
    assert file_states(host, [str(path)])[str(path)][3] == hashlib.sha256(b"b").hexdigest()


@given(st.text(max_size=30))
def test_a_cacheable_path_is_one_plain_awk_field(text: str) -> None:
    if digest_cache.cacheable(text):
        assert text.startswith("/")
        assert not any(c.isspace() or c in "\\\"'$`;%" or ord(c) < 32 for c in text)


def test_states_of_a_mixed_group_match_what_the_kernel_says(host, tmp_path: Path) -> None:
    # Plain names in one `stat` and one hashing command; odd ones (a newline, a backslash)
    # one at a time; missing paths left out; directories say "dir"; symlinks as before.
    d = tmp_path / "group"
    d.mkdir()
    names = ["plain.pem", "with space.pem", "new\nline", "back\\slash", "missing", "sub"]
    for i, name in enumerate(names[:4]):
        (d / name).write_bytes(f"content {i}".encode())
        (d / name).chmod(0o600 + i)
    (d / "sub").mkdir(mode=0o711)
    (d / "link").symlink_to(d / "plain.pem")
    paths = [str(d / n) for n in [*names, "link"]]
    cached = {str(d / "plain.pem")}
    cache = tmp_path / "cache" / "sha256-cache"
    script = states_script(paths, cached=cached, record=True, cache=str(cache))
    got = parse_states(host.probe(script, check=True).stdout, paths)
    want = {}
    for p in paths:
        path = Path(p)
        if not path.exists():
            continue
        st_ = path.lstat()
        owner = "root"
        digest = (
            "dir" if stat.S_ISDIR(st_.st_mode) else hashlib.sha256(path.read_bytes()).hexdigest()
        )
        want[p] = (stat.S_IMODE(st_.st_mode), owner, owner, digest)
    assert got == want
