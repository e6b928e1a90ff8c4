"""early_ssh against a real sshd on 127.0.0.1: a connection opened (and hawizard's
identification line sent) before paramiko is imported carries the real SSH session, with the
host key verified as on any other connection."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from fixtures.sshd import make_plan
from hypothesis import given
from hypothesis import strategies as st

from hawizard import early_ssh
from hawizard.cli import early_target
from hawizard.hostkeys import UnknownHostKey
from hawizard.plan import dump
from hawizard.remote import ConnectError, Host, Timeouts


@pytest.fixture(autouse=True)
def _no_leftovers():
    early_ssh.close_all()
    yield
    early_ssh.close_all()


def _plan_file(sshd, tmp_path: Path, **kwargs) -> tuple[Path, object]:
    plan = make_plan(sshd, tmp_path, **kwargs)
    dump(plan, plan.source)
    return plan.source, plan


def _wait_connected(address: str, port: int) -> None:
    with early_ssh._lock:
        pending = early_ssh._pending[(address, port)]
    assert pending.done.wait(10)
    assert pending.sock is not None, pending.error


def test_the_early_connection_carries_the_session(sshd, tmp_path: Path) -> None:
    path, plan = _plan_file(sshd, tmp_path)
    assert early_ssh.start(path) == 1
    _wait_connected(sshd.address, sshd.port)
    with Host.from_plan(plan, "node0") as host:
        assert host.run(["echo", "over the early socket"]).stdout == "over the early socket\n"
        transport = host._conn.transport
        assert isinstance(transport.sock, early_ssh.EarlySocket)
        assert transport.local_version == early_ssh.IDENT
        assert transport.remote_version.startswith("SSH-2.0-OpenSSH")
    assert early_ssh._pending == {}  # taken once


def test_the_host_key_is_still_verified(sshd, tmp_path: Path) -> None:
    path, plan = _plan_file(sshd, tmp_path, trusted=False)
    assert early_ssh.start(path) == 1
    _wait_connected(sshd.address, sshd.port)
    with Host.from_plan(plan, "node0") as host, pytest.raises(UnknownHostKey):
        host.connect()


def test_an_old_connection_is_not_used(sshd, tmp_path: Path, monkeypatch) -> None:
    path, plan = _plan_file(sshd, tmp_path)
    early_ssh.start(path)
    _wait_connected(sshd.address, sshd.port)
    monkeypatch.setattr(early_ssh, "MAX_AGE", 0.0)
    with Host.from_plan(plan, "node0") as host:
        assert host.run(["true"]).exited == 0
        assert not isinstance(host._conn.transport.sock, early_ssh.EarlySocket)


def test_close_all_closes_what_nobody_took(sshd, tmp_path: Path) -> None:
    path, _plan = _plan_file(sshd, tmp_path)
    early_ssh.start(path)
    _wait_connected(sshd.address, sshd.port)
    with early_ssh._lock:
        sock = early_ssh._pending[(sshd.address, sshd.port)].sock
    early_ssh.close_all()
    assert sock.fileno() == -1
    assert early_ssh.take(sshd.address, sshd.port) is None


def test_refused_early_falls_back_to_a_normal_connect_and_its_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    (tmp_path / "plan.toml").write_text(
        'version = 1\n[cluster]\nname = "t"\n'  # a plan that validates: it is dialled
        f'[[nodes]]\nname = "n1"\naddress = "127.0.0.1"\nroles = ["etcd"]\n'
        f"[nodes.ssh]\nport = {port}\n"
    )
    assert early_ssh.start(tmp_path / "plan.toml") == 1
    time.sleep(0.2)
    assert early_ssh.take("127.0.0.1", port) is None
    host = Host("n1", "127.0.0.1", port=port, known_hosts=tmp_path / "kh", timeouts=Timeouts(1))
    with pytest.raises(ConnectError, match="cannot connect"):
        host.connect()


def test_a_timed_out_early_attempt_is_not_waited_for_twice(monkeypatch) -> None:
    # A real listener whose accept queue is full: the kernel drops further SYNs, so a new
    # connection times out, as to a node that does not answer.
    server = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        time.sleep(0.2)
        pending = early_ssh._Pending("127.0.0.1", port)
        with early_ssh._lock:
            early_ssh._pending[("127.0.0.1", port)] = pending
        threading.Thread(target=pending.run, args=(0.5,), daemon=True).start()
        with pytest.raises(TimeoutError):
            early_ssh.take("127.0.0.1", port)
    finally:
        for c in fillers:
            c.close()
        server.close()


def test_paramikos_copy_of_the_line_is_dropped_and_the_rest_passes() -> None:
    a, b = socket.socketpair()
    with a, b:
        line = f"{early_ssh.IDENT}\r\n".encode()
        wrapped = early_ssh.EarlySocket(a, line)
        assert wrapped.send(line[:5]) == 5  # partial writes are consumed piecewise
        assert wrapped.send(line[5:] + b"kexinit") == len(line) - 5
        wrapped.sendall(b"kexinit")
        b.settimeout(1)
        assert b.recv(100) == b"kexinit"  # the line itself never went twice


def test_a_different_line_from_paramiko_is_refused() -> None:
    a, b = socket.socketpair()
    with a, b:
        wrapped = early_ssh.EarlySocket(a, f"{early_ssh.IDENT}\r\n".encode())
        with pytest.raises(early_ssh.IdentMismatch):
            wrapped.send(b"SSH-2.0-paramiko_3.5.1\r\n")


def test_only_etcd_nodes_with_only_etcd(tmp_path: Path) -> None:
    raw = {
        "nodes": [
            {"name": "a", "address": "10.0.0.1", "roles": ["etcd"]},
            {"name": "b", "address": "10.0.0.2", "roles": ["control-plane"]},
            {"name": "c", "address": "node-c.example", "ssh": {"port": 2222}},
        ]
    }
    assert early_ssh._targets(raw, "etcd") == [("10.0.0.1", 22), ("node-c.example", 2222)]
    assert len(early_ssh._targets(raw, None)) == 3


@pytest.mark.parametrize(
    "address",
    ["fe80::1%eth0", "a b", "host\nExecStartPre=+/bin/sh", "-oProxyCommand=x", "", "a..b-", 7],
)
def test_odd_addresses_and_ports_are_never_connected_to_early(address) -> None:
    raw = {
        "nodes": [{"name": "a", "address": address}, {"address": "10.0.0.1", "ssh": {"port": 0}}]
    }
    assert early_ssh._targets(raw, None) == []


@given(st.text(max_size=40))
def test_an_early_target_is_an_ip_or_a_plain_name(text: str) -> None:
    if early_ssh._plain_address(text):
        assert not any(c.isspace() or c in "%$`;'\"\\/" or ord(c) < 32 for c in text)
        assert not text.startswith("-")


def test_a_plan_that_is_not_toml_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "plan.toml"
    bad.write_text("[[nodes]\naddress = ")
    assert early_ssh.start(bad) == 0
    assert early_ssh.start(tmp_path / "missing.toml") == 0
    assert early_ssh.start(tmp_path) == 0  # a directory


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["apply", "p.toml"], ("p.toml", None)),
        (["apply", "--only", "etcd", "p.toml", "--yes"], ("p.toml", "etcd")),
        (["apply", "--only=control-plane", "p.toml"], ("p.toml", None)),
        (["apply", "--parallel", "4", "--dry-run", "p.toml"], ("p.toml", None)),
        (["apply", "--", "-odd.toml"], ("-odd.toml", None)),
        (["apply", "--help"], None),
        (["apply"], None),
        (["status", "p.toml"], None),
        ([], None),
    ],
)
def test_the_plan_is_found_in_apply_arguments(argv, target) -> None:
    assert early_target(argv) == target


def _listener() -> socket.socket:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(1.0)
    return listener


def _nobody_came(listener: socket.socket) -> bool:
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return True
    conn.close()
    return False


def test_a_plan_that_validation_refuses_is_never_dialled(tmp_path: Path, capsys) -> None:
    """Issue 25: the early start used to send `SSH-2.0-hawizard_…` to every node of a plan
    that `apply` then refused (here: a cluster name with a space)."""
    from hawizard.cli import main

    listener = _listener()
    port = listener.getsockname()[1]
    path = tmp_path / "plan.toml"
    path.write_text(
        'version = 1\n[cluster]\nname = "bad name"\n'
        f'[[nodes]]\nname = "n0"\naddress = "127.0.0.1"\nroles = ["etcd"]\n'
        f"ssh = {{ port = {port} }}\n"
    )
    with listener:
        assert early_ssh.start(path) == 0
        assert main(["apply", str(path), "--yes"]) == 2
        assert "cluster.name" in capsys.readouterr().err
        assert _nobody_came(listener)
        # the same plan made valid is dialled at once (the early start's head start stays)
        path.write_text(path.read_text().replace("bad name", "good"))
        assert early_ssh.start(path) == 1
        conn, _ = listener.accept()
        with conn:
            assert conn.recv(64).startswith(b"SSH-2.0-hawizard_")


@pytest.mark.parametrize(
    "argv",
    [
        ["apply", "p.toml", "--parallel", "999"],
        ["apply", "p.toml", "--parallel=0"],
        ["apply", "--parallel", "x", "p.toml"],
        ["apply", "--only", "nothing", "p.toml"],
        ["apply", "p.toml", "--only"],
    ],
)
def test_flags_apply_refuses_start_no_connection(argv) -> None:
    assert early_target(argv) is None
