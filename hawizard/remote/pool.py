"""One Host per node name for a whole run."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from hawizard.plan import Plan
from hawizard.remote.channel import SudoPassword
from hawizard.remote.host import DryRunHost, Host, Recorded, Timeouts

__all__ = ["HostPool"]


@dataclass
class HostPool:
    """One Host per node name for a whole run, created on first use, closed at the end.

    `get` is thread-safe; the runner hands each Host to one worker at a time.
    """

    plan: Plan
    dry_run: bool = False
    trust_new: bool = False
    sudo_password: SudoPassword = field(default_factory=SudoPassword)
    timeouts: Timeouts = field(default_factory=Timeouts)
    _hosts: dict[str, Host] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _aborted: bool = field(default=False, init=False, repr=False)

    def get(self, name: str) -> Host:
        with self._lock:
            host = self._hosts.get(name)
            if host is None:
                cls = DryRunHost if self.dry_run else Host
                host = cls.from_plan(
                    self.plan,
                    name,
                    trust_new=self.trust_new,
                    sudo_password=self.sudo_password,
                    timeouts=self.timeouts,
                )
                self._hosts[name] = host
                if self._aborted:
                    host.abort()
            return host

    def prewarm(self, names: Sequence[str]) -> None:
        """Start connecting to these nodes in the background (see `Host.prewarm`)."""
        for name in names:
            self.get(name).prewarm()

    def recorded(self) -> dict[str, list[Recorded]]:
        with self._lock:
            return {name: list(h.recorded) for name, h in self._hosts.items() if h.recorded}

    def close(self) -> None:
        with self._lock:
            hosts = list(self._hosts.values())
        for host in hosts:
            host.close()

    def abort(self) -> None:
        """Ctrl-C: end every host's command in flight and refuse new ones (thread-safe)."""
        with self._lock:
            self._aborted = True
            hosts = list(self._hosts.values())
        for host in hosts:
            host.abort()
