"""The SSH path of a probe (`SshMode.FALLBACK`): a member the direct path cannot reach is
dialled through an SSH tunnel to its own host; the TLS and the calls are the same, paramiko
only carries the bytes."""

from __future__ import annotations

import logging
import select
import socket
import threading
from typing import Any

from hawizard.etcd.probe_member import Connector, Deadline, Target, TunnelError
from hawizard.plan import Plan

# --- the SSH path -----------------------------------------------------------------------------


def ssh_connector(plan: Plan) -> Connector:
    """Reach a member through an SSH connection to its own host: a `direct-tcpip` channel to
    the member's client address, opened from the node itself (so a firewall between the
    operator and port 2379 does not matter). Host keys are checked exactly as for every other
    SSH connection (`hawizard.remote.Host`). The channel is bridged to a socketpair so TLS
    and HTTP run over it unchanged; the bridge ends, and the SSH connection closes, when the
    probe closes its end."""

    # paramiko logs a refused channel as an ERROR; the probe result already says it, so keep
    # it off the operator's terminal unless the application configures logging itself
    logging.getLogger("paramiko").addHandler(logging.NullHandler())

    def connect(target: Target, deadline: Deadline) -> socket.socket:
        import paramiko

        from hawizard.remote import Host, HostKeyError, RemoteError, Timeouts

        left = deadline.left()
        host = Host.from_plan(
            plan, target.name, timeouts=Timeouts(connect=left, banner=left, auth=left)
        )
        try:
            chan = host.open_tunnel(target.host, target.port, timeout=deadline.left())
        except TimeoutError:
            host.close()
            raise
        except paramiko.ChannelException as exc:
            host.close()
            raise TunnelError(
                f"{target.name} could not open {target.host}:{target.port} for us "
                f"({exc.text.lower()}: refused or nothing listening)"
            ) from None
        except (HostKeyError, RemoteError, paramiko.SSHException, OSError, EOFError) as exc:
            host.close()
            raise TunnelError(str(exc) or type(exc).__name__) from None
        ours, theirs = socket.socketpair()
        threading.Thread(
            target=_bridge, args=(chan, theirs, host), daemon=True, name="etcd-probe-ssh"
        ).start()
        return ours

    return connect


def _bridge(chan: Any, sock: socket.socket, host: Any) -> None:
    """Copy bytes both ways between an SSH channel and a local socket until either ends."""
    try:
        while True:
            ready, _, _ = select.select([chan, sock], [], [], 1.0)
            if chan in ready:
                data = chan.recv(65536)
                if not data:
                    break
                sock.sendall(data)
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                chan.sendall(data)
    except OSError:
        pass
    finally:
        chan.close()
        sock.close()
        host.close()
