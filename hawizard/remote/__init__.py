"""Remote execution: one SSH connection per host, and one door for every side effect.

The package's modules: `host` (the connection, commands, the dry run), `channel` (one command
on a raw channel, sudo), `uploads` (files), `pool` (one Host per node for a run), `errors`.
Everything is importable from `hawizard.remote` as before the split.

A `Host` wraps one fabric `Connection` (paramiko underneath) that only one worker thread uses
at a time. Every call is bounded: connect, banner, auth, channel open and each command have a
timeout. Host keys are checked against the plan's known_hosts (`hostkeys`).

Commands run on the connection's transport through a raw channel rather than fabric's
`Connection.run`: invoke's runner only streams *text* into stdin, while uploads and the sudo
password need exact bytes on stdin, and a timed-out command must be cut off by closing the
channel. Nothing secret ever appears on a command line: file contents and the sudo password go
through stdin; commands are built from argv lists with `shlex.join`.

Side effects: `run(..., mutates=True)` and the upload helpers pass through `_side_effect`. A
`DryRunHost` records them there instead of executing them, while read-only `probe`s still run
for real so checks decide on the true state of the machine (k0sctl's "Wet").
"""

from hawizard._paramiko import give_invoke_back
from hawizard.hostkeys import HostKeyChanged, HostKeyError, UnknownHostKey
from hawizard.remote.channel import (
    SUDO_ASKPASS_STDIN,
    SUDO_NOPASSWD,
    HostChannel,
    OutputSink,
    SudoPassword,
    _feed,
    _Lines,
)
from hawizard.remote.errors import _TAIL, CommandTimeout, ConnectError, RemoteError
from hawizard.remote.host import (
    Command,
    DryRunHost,
    Host,
    Recorded,
    Result,
    Timeouts,
    _early_transport,
    command_text,
)
from hawizard.remote.pool import HostPool
from hawizard.remote.uploads import (
    _MISSING,
    SHA256_SH,
    HostFiles,
    Upload,
    _bundle,
    _install_dir_argv,
)

__all__ = [
    "CommandTimeout",
    "ConnectError",
    "DryRunHost",
    "Host",
    "HostKeyChanged",
    "HostKeyError",
    "HostPool",
    "Recorded",
    "RemoteError",
    "Result",
    "SudoPassword",
    "Timeouts",
    "UnknownHostKey",
    "Upload",
]

# Also importable as before the split (not in `__all__`, as before).
_REEXPORTED = (
    SHA256_SH,
    SUDO_ASKPASS_STDIN,
    SUDO_NOPASSWD,
    Command,
    HostChannel,
    HostFiles,
    OutputSink,
    command_text,
    give_invoke_back,
    _MISSING,
    _TAIL,
    _Lines,
    _bundle,
    _early_transport,
    _feed,
    _install_dir_argv,
)
