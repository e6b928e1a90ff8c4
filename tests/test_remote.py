"""remote + hostkeys against a real sshd on 127.0.0.1 (tests/fixtures/sshd.py): no mocks."""

from __future__ import annotations

import gzip
import hashlib
import os
import pwd
import socket
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.sshd import make_plan

from hawizard.hostkeys import (
    HostKeyChanged,
    UnknownHostKey,
    add_known_host,
    fetch_host_key,
    scan_host_key,
)
from hawizard.remote import (
    CommandTimeout,
    ConnectError,
    DryRunHost,
    Host,
    RemoteError,
    SudoPassword,
    Timeouts,
    Upload,
)

FAST = Timeouts(connect=1, banner=1, auth=1, command=10)


@pytest.fixture
def host(ssh_plan):
    with Host.from_plan(ssh_plan(), "node0") as h:
        yield h


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A local folder the remote side (same machine) writes into; we inspect it directly."""
    d = tmp_path / "remote"
    d.mkdir()
    return d


# --- commands -------------------------------------------------------------------------------


def test_argv_is_quoted_and_output_captured(host: Host) -> None:
    r = host.run(["printf", "%s|", "a b", "$(id -u)", "`id`", "'q'"])
    assert r.stdout == "a b|$(id -u)|`id`|'q'|"
    assert r.exited == 0 and r.ok
    r = host.run("echo out; echo err >&2")
    assert (r.stdout, r.stderr) == ("out\n", "err\n")
    assert host.run(["id", "-u"], sudo=False).stdout.strip() == "0"  # root logs in as root


def test_aes_gcm_is_negotiated_with_a_stock_sshd(host: Host) -> None:
    """AEAD first (no separate HMAC pass per packet in the interpreter), and OpenSSH agrees."""
    host.probe("true")
    assert host._conn is not None
    transport = host._conn.transport
    assert transport.local_cipher == transport.remote_cipher == "aes128-gcm@openssh.com"


def test_failure_names_host_command_exit_and_last_lines(host: Host) -> None:
    script = "for i in $(seq 1 30); do echo line$i >&2; done; exit 3"
    with pytest.raises(RemoteError) as info:
        host.run(script)
    err = info.value
    assert err.host == "node0" and err.exited == 3 and err.command == script
    assert err.tail() == [f"line{i}" for i in range(21, 31)]
    text = str(err)
    assert "node0" in text and "exit 3" in text and "line30" in text and "line20" not in text
    assert host.run("exit 4", check=False).exited == 4


def test_output_lines_stream_in_order(host: Host) -> None:
    lines: list[str] = []
    host.on_output = lines.append
    host.run("for i in 1 2 3; do echo step$i; sleep 0.1; done")
    assert lines == ["step1", "step2", "step3"]
    lines.clear()
    host.probe(["echo", "quiet"])  # probes do not stream unless asked
    assert lines == []


def test_command_timeout_is_bounded_and_host_stays_usable(host: Host) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        host.run(["sleep", "30"], timeout=1)
    assert time.monotonic() - started < 2.5
    assert "timed out after 1 s" in str(info.value) and info.value.command == "sleep 30"
    assert host.run(["echo", "still here"]).stdout == "still here\n"


def test_connection_refused_fails_fast(sshd, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    host = Host("ghost", "127.0.0.1", port=port, known_hosts=tmp_path / "kh", timeouts=FAST)
    started = time.monotonic()
    with pytest.raises(ConnectError, match=rf"ghost: cannot connect to root@127.0.0.1:{port}"):
        host.run(["true"])
    assert time.monotonic() - started < 3


def test_silent_port_is_bounded_by_banner_timeout(tmp_path: Path) -> None:
    """A port that accepts TCP but never speaks SSH (a wedged or wrong service)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        host = Host("mute", "127.0.0.1", port=port, known_hosts=tmp_path / "kh", timeouts=FAST)
        started = time.monotonic()
        with pytest.raises(ConnectError, match="mute: cannot connect"):
            host.run(["true"])
        assert time.monotonic() - started < 4


# --- host keys ------------------------------------------------------------------------------


def test_unknown_host_key_is_refused_with_fingerprint(sshd, ssh_plan) -> None:
    plan = ssh_plan(trusted=False)
    known_hosts = plan.resolve(plan.cluster.known_hosts)
    with pytest.raises(UnknownHostKey) as info:
        Host.from_plan(plan, "node0").run(["true"])
    err = info.value
    assert err.fingerprint == sshd.fingerprint()  # what ssh-keygen -lf says
    assert err.key_type == "ssh-ed25519"
    assert err.host == f"[127.0.0.1]:{sshd.port}"
    assert "--trust-new-hosts" in str(err) and sshd.fingerprint() in str(err)
    assert not known_hosts.exists()


def test_fetch_host_key_matches_ssh_keygen(sshd) -> None:
    assert fetch_host_key("127.0.0.1", sshd.port, timeout=5) == ("ssh-ed25519", sshd.fingerprint())


def test_trust_new_appends_once_with_safe_modes(sshd, tmp_path: Path) -> None:
    known_hosts = tmp_path / "new" / "kh"
    plan = make_plan(sshd, tmp_path, nodes=4, trusted=False)
    plan = replace(plan, cluster=replace(plan.cluster, known_hosts=str(known_hosts)))
    hosts = [Host.from_plan(plan, n.name, trust_new=True) for n in plan.nodes]
    threads = [threading.Thread(target=h.run, args=(["true"],)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for h in hosts:
        h.close()
    assert known_hosts.read_text() == sshd.known_hosts_line()  # one line for four connections
    assert known_hosts.stat().st_mode & 0o777 == 0o600
    assert known_hosts.parent.stat().st_mode & 0o777 == 0o700
    with Host.from_plan(plan, "node0") as h:  # now trusted without the flag
        assert h.run(["true"]).ok


def test_changed_host_key_is_refused_even_with_trust_new(sshd_factory, tmp_path: Path) -> None:
    server = sshd_factory()
    plan = make_plan(server, tmp_path)  # trusts the current key
    known_hosts = plan.resolve(plan.cluster.known_hosts)
    before = known_hosts.read_text()
    old_fp = server.fingerprint()
    server.new_host_key()
    with pytest.raises(HostKeyChanged) as info:
        Host.from_plan(plan, "node0", trust_new=True).run(["true"])
    err = info.value
    assert err.fingerprint == server.fingerprint() != old_fp
    assert old_fp in err.expected and "CHANGED" in str(err) and "ssh-keygen -R" in str(err)
    assert known_hosts.read_text() == before


def test_hashed_known_hosts_entries_are_honoured(ssh_plan) -> None:
    plan = ssh_plan()
    known_hosts = plan.resolve(plan.cluster.known_hosts)
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known_hosts)], check=True, timeout=10)
    assert known_hosts.read_text().startswith("|1|")  # no readable host name left
    with Host.from_plan(plan, "node0") as h:
        assert h.run(["true"]).ok


def test_add_known_host_keeps_exactly_the_scanned_key(sshd, tmp_path: Path) -> None:
    key = scan_host_key("127.0.0.1", sshd.port, timeout=5)
    kh = tmp_path / "kh"
    assert add_known_host(kh, "127.0.0.1", sshd.port, key) is True
    assert add_known_host(kh, "127.0.0.1", sshd.port, key) is False
    assert kh.read_text() == sshd.known_hosts_line()


# --- files ----------------------------------------------------------------------------------


def test_put_lands_with_exact_mode_owner_and_no_temp_left(sshd, host: Host, scratch: Path):
    data = os.urandom(300_000) + b"\r\n\0end"
    dest = scratch / "secret.key"
    host.put(data, str(dest), mode=0o640, owner="nobody", group="nogroup")
    st = dest.stat()
    assert st.st_mode & 0o7777 == 0o640
    assert pwd.getpwuid(st.st_uid).pw_name == "nobody"
    assert dest.read_bytes() == data
    assert host.get(str(dest)) == data
    assert list(sshd.tmpdir.iterdir()) == []  # the mktemp -d dir is gone


def test_upload_failure_names_the_path_not_the_contents(host: Host, scratch: Path) -> None:
    with pytest.raises(RemoteError) as info:
        host.put(b"TOP-SECRET", str(scratch / "missing-dir" / "f"), mode=0o600)
    assert "missing-dir/f" in str(info.value) and "TOP-SECRET" not in str(info.value)


def test_ensure_file_and_dir_are_idempotent(host: Host, scratch: Path) -> None:
    d = scratch / "ssl"
    assert host.ensure_dir(str(d), mode=0o700) is True
    assert d.stat().st_mode & 0o777 == 0o700
    assert host.ensure_dir(str(d), mode=0o700) is False
    f = d / "member.pem"
    assert host.ensure_file(str(f), "cert\n", mode=0o600) is True
    assert host.ensure_file(str(f), "cert\n", mode=0o600) is False
    f.chmod(0o644)
    assert host.ensure_file(str(f), "cert\n", mode=0o600) is True
    assert f.stat().st_mode & 0o777 == 0o600
    assert host.ensure_file(str(f), "cert2\n", mode=0o600) is True
    assert f.read_text() == "cert2\n"
    assert host.ensure_file(str(f), "cert2\n", mode=0o600, group="nogroup") is True
    assert host.ensure_file(str(f), "cert2\n", mode=0o600, group="nogroup") is False
    d.chmod(0o755)
    assert host.ensure_dir(str(d), mode=0o700) is True
    assert d.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "template",
    [
        "a $(touch {c}) `touch {c}`; touch {c} 'q\" *",  # quotes: breaks naive quoting loudly
        "b $(touch {c}); touch {c} & touch {c} | touch {c}",  # no quotes: would run silently
    ],
)
def test_hostile_file_names_are_inert(host: Host, scratch: Path, template: str) -> None:
    canary = f"pwned-{os.getpid()}-{time.monotonic_ns()}"  # no "/": it must stay one name
    name = template.format(c=canary)
    path = str(scratch / name)
    host.put(b"x", path, mode=0o600)
    assert host.exists(path)
    assert host.get(path) == b"x"
    assert host.read_text_or_none(path) == "x"
    assert host.ensure_file(path, b"x", mode=0o600) is False
    host.run(["touch", path + "-2"])
    assert host.ensure_dir(path + ".d", mode=0o700) is True
    assert sorted(p.name for p in scratch.iterdir()) == sorted([name, name + "-2", name + ".d"])
    home = Path(pwd.getpwnam("root").pw_dir)  # where a remote shell would have run `touch`
    assert not (home / canary).exists() and not (scratch / canary).exists()


def test_put_many_one_stream_modes_owners_dirs_and_gzipped(sshd, host: Host, scratch: Path):
    big = os.urandom(200_000) + b"\0" * 300_000  # not a multiple of tar's 512-byte blocks
    small = b"cert\n"
    d = scratch / "ssl"
    host.put_many(
        [
            Upload(str(d), mode=0o700, owner="nobody", group="nogroup", is_dir=True),
            Upload(str(d / "key.pem"), small, 0o600, "nobody", "nogroup"),
            # a large file travels as its own gzip copy, and its known sha256 is trusted
            Upload(
                str(scratch / "bin"),
                big,
                0o755,
                sha256=hashlib.sha256(big).hexdigest(),
                gzipped=lambda: gzip.compress(big, 1),
            ),
            Upload(str(scratch / "empty"), b"", 0o644),
        ],
        # runs in the same channel, after the checks and before the installs
        first=[["sh", "-c", 'test ! -e "$1" && touch "$2"', "-", str(d), str(scratch / "first")]],
    )
    assert (scratch / "first").exists()
    assert d.stat().st_mode & 0o7777 == 0o700 and pwd.getpwuid(d.stat().st_uid).pw_name == "nobody"
    key = d / "key.pem"
    assert key.read_bytes() == small and key.stat().st_mode & 0o7777 == 0o600
    assert pwd.getpwuid(key.stat().st_uid).pw_name == "nobody"
    assert (scratch / "bin").read_bytes() == big
    assert (scratch / "bin").stat().st_mode & 0o7777 == 0o755
    assert (scratch / "empty").read_bytes() == b""
    assert list(sshd.tmpdir.iterdir()) == []  # the mktemp -d dir is gone


def test_put_many_uncompressed_sends_plain_tar(sshd, host: Host, scratch: Path) -> None:
    """`ssh.compress = false`: the same files land, a large one sent as its own bytes (its
    gzip copy is never asked for), a small one and the headers uncompressed too."""
    big = os.urandom(1 << 21) + b"\0" * 100  # past the own-chunk size, not block-aligned

    def never() -> bytes:
        raise AssertionError("the gzip copy was asked for on an uncompressed link")

    host.compress = False
    host.put_many(
        [
            Upload(str(scratch / "d"), mode=0o750, is_dir=True),
            Upload(str(scratch / "d" / "small"), b"small\n", 0o640),
            Upload(str(scratch / "bin"), big, 0o755, gzipped=never),
        ]
    )
    assert (scratch / "d" / "small").read_bytes() == b"small\n"
    assert (scratch / "d").stat().st_mode & 0o7777 == 0o750
    assert (scratch / "bin").read_bytes() == big
    assert (scratch / "bin").stat().st_mode & 0o7777 == 0o755
    assert list(sshd.tmpdir.iterdir()) == []


def test_put_many_refuses_bytes_whose_sha256_differs_and_installs_nothing(
    sshd, host: Host, scratch: Path
) -> None:
    # Provoked for real: the node is told another digest than the bytes it receives have.
    (scratch / "kept").write_bytes(b"old")
    with pytest.raises(RemoteError, match="upload failed") as info:
        host.put_many(
            [
                Upload(str(scratch / "first"), b"fine", 0o644),
                Upload(str(scratch / "kept"), b"SECRET-NEW", 0o600, sha256="0" * 64),
            ]
        )
    assert "sha256 mismatch" in str(info.value) and "SECRET-NEW" not in str(info.value)
    assert sorted(p.name for p in scratch.iterdir()) == ["kept"]  # nothing installed at all
    assert (scratch / "kept").read_bytes() == b"old"
    assert list(sshd.tmpdir.iterdir()) == []


def test_put_many_hostile_names_are_inert(host: Host, scratch: Path) -> None:
    canary = f"pwned-{os.getpid()}-{time.monotonic_ns()}"
    name = f"a $(touch {canary}) `touch {canary}`; touch {canary} 'q\" *"
    host.put_many([Upload(str(scratch / name), b"x", 0o600)])
    assert [p.name for p in scratch.iterdir()] == [name]
    home = Path(pwd.getpwnam("root").pw_dir)
    assert not (home / canary).exists()


def test_read_text_or_none_and_exists(host: Host, scratch: Path) -> None:
    assert host.read_text_or_none(str(scratch / "nope")) is None
    assert host.exists(str(scratch / "nope")) is False
    (scratch / "yes").write_text("hi")
    assert host.read_text_or_none(str(scratch / "yes")) == "hi"
    with pytest.raises(RemoteError, match="cannot read"):
        host.read_text_or_none(str(scratch))  # a directory: cat fails, and that is not "missing"


# --- dry run --------------------------------------------------------------------------------


def test_dry_run_records_side_effects_and_changes_nothing(ssh_plan, scratch: Path) -> None:
    plan = ssh_plan()
    (scratch / "same").write_bytes(b"same")
    (scratch / "same").chmod(0o644)
    with DryRunHost.from_plan(plan, "node0") as dry:
        dry.step = "write certs"
        assert dry.probe(["cat", str(scratch / "same")]).stdout == "same"  # probes are real
        assert dry.run(["touch", str(scratch / "touched")]).ok
        dry.put(b"PRIVATE KEY", str(scratch / "k.pem"), mode=0o600)
        assert dry.ensure_file(str(scratch / "new.pem"), b"PRIVATE KEY", mode=0o600) is True
        assert dry.ensure_file(str(scratch / "same"), b"same", mode=0o644) is False
        assert dry.ensure_dir(str(scratch / "d"), mode=0o700) is True
        dry.put_many(
            [
                Upload(str(scratch / "e"), mode=0o700, is_dir=True),
                Upload(str(scratch / "e" / "k.pem"), b"PRIVATE KEY", 0o600),
            ],
            first=[["useradd", "etcd"]],
        )
    assert sorted(p.name for p in scratch.iterdir()) == ["same"]
    texts = [str(r) for r in dry.recorded]
    assert texts == [
        f"touch {scratch}/touched",
        f"upload {scratch}/k.pem (mode 0600, root:root, 11 bytes)",
        f"upload {scratch}/new.pem (mode 0600, root:root, 11 bytes)",
        f"install -d -m 0700 -o root -g root -- {scratch}/d",
        "useradd etcd",
        f"install -d -m 0700 -o root -g root -- {scratch}/e",
        f"upload {scratch}/e/k.pem (mode 0600, root:root, 11 bytes)",
    ]
    assert {r.step for r in dry.recorded} == {"write certs"}
    assert not any("PRIVATE" in t for t in texts)


def test_dry_run_against_unreachable_host_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dry = DryRunHost("gone", "127.0.0.1", port=port, known_hosts=tmp_path / "kh", timeouts=FAST)
    with pytest.raises(ConnectError, match="gone: cannot connect"):
        dry.run(["systemctl", "restart", "etcd"])
    assert dry.recorded == []


# --- sudo (a real non-root user whose sudo asks for a password) -----------------------------


def test_sudo_password_asked_once_and_fed_on_stdin(sshd, sudo_user, tmp_path: Path) -> None:
    plan = make_plan(sshd, tmp_path, nodes=2, user=sudo_user.name)
    asked: list[str] = []

    def ask(who: str) -> str:
        asked.append(who)
        return sudo_user.password

    password = SudoPassword(ask)
    hosts = [Host.from_plan(plan, n.name, sudo_password=password) for n in plan.nodes]
    try:
        for h in hosts:
            assert h.run(["id", "-u"]).stdout.strip() == "0"
            assert h.run(["id", "-un"], sudo=False).stdout.strip() == sudo_user.name
            # stdin after the password reaches the command byte for byte
            data = os.urandom(100_000)
            r = h.run("sha256sum", stdin=data)
            assert r.stdout.split()[0] == hashlib.sha256(data).hexdigest()
        assert asked == [f"{sudo_user.name}@node0"]
        dest = tmp_path / "root-only"
        hosts[0].put(b"secret", str(dest), mode=0o600)
        assert dest.stat().st_uid == 0 and dest.stat().st_mode & 0o777 == 0o600
        assert hosts[0].get(str(dest)) == b"secret"
        assert sudo_user.password not in repr(password)
    finally:
        for h in hosts:
            h.close()


def test_wrong_sudo_password_is_refused_without_leaking(sshd, sudo_user, tmp_path: Path):
    plan = make_plan(sshd, tmp_path, user=sudo_user.name)
    with Host.from_plan(plan, "node0", sudo_password=SudoPassword(password="hunter2")) as h:
        with pytest.raises(RemoteError, match="sudo refused") as info:
            h.run(["true"])
        assert "hunter2" not in str(info.value)
    with Host.from_plan(plan, "node0") as h, pytest.raises(RemoteError, match=r"needs .* password"):
        h.run(["true"])


def test_paramiko_is_imported_without_invoke_and_gets_it_back_with_fabric() -> None:
    """The apply path's first SSH bytes wait for paramiko's import, not for invoke's; once
    fabric is imported, paramiko's ssh_config support has invoke again (a fresh interpreter:
    this one imported fabric long ago)."""
    import sys

    code = (
        "import sys\n"
        "import hawizard.remote\n"
        "import paramiko.config\n"
        "assert 'invoke' not in sys.modules and 'fabric' not in sys.modules\n"
        "assert paramiko.config.invoke is None\n"
        "import fabric\n"
        "hawizard.remote.give_invoke_back()\n"
        "assert paramiko.config.invoke is sys.modules['invoke']\n"
        "assert paramiko.config.invoke_import_error is None\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_sudo_probe_uses_the_real_prefix_so_no_password_reaches_a_file(
    sshd, sudo_user, tmp_path: Path
) -> None:
    """Issue 12: with NOPASSWD for `sh` alone, the old probe (`sudo -n -k true`) said
    "password needed", the real `sudo -S … sh -c` then did not read the password line, and
    that line became the start of the uploaded file. The probe now runs behind the very
    prefix the commands use, so this policy is seen as passwordless and nothing is sent."""
    sudoers = Path(f"/etc/sudoers.d/{sudo_user.name}")
    shells = ", ".join(p for p in ("/bin/sh", "/usr/bin/sh") if Path(p).exists())
    shared = sudoers.read_text()  # the session's policy: later tests expect a password prompt
    sudoers.write_text(
        f"{sudo_user.name} ALL=(ALL:ALL) ALL\n{sudo_user.name} ALL=(ALL:ALL) NOPASSWD: {shells}\n"
    )
    asked: list[str] = []

    def ask(who: str) -> str:
        asked.append(who)
        return sudo_user.password

    try:
        plan = make_plan(sshd, tmp_path, user=sudo_user.name)
        dest = tmp_path / "uploaded"
        with Host.from_plan(plan, "node0", sudo_password=SudoPassword(ask)) as h:
            h.put(b"exactly this\n", str(dest), mode=0o600)
            assert h.run(["id", "-u"]).stdout.strip() == "0"
    finally:
        sudoers.write_text(shared)
    assert dest.read_bytes() == b"exactly this\n"
    assert asked == []  # never needed, never asked, never sent
