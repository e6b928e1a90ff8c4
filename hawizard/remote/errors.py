"""What a remote operation raises: which host, which command, exit code, last output lines."""

from __future__ import annotations

__all__ = ["CommandTimeout", "ConnectError", "RemoteError"]

_TAIL = 10


class RemoteError(Exception):
    """A remote operation failed: which host, which command, exit code, last output lines."""

    def __init__(
        self,
        host: str,
        command: str,
        message: str,
        *,
        exited: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ):
        self.host = host
        self.command = command
        self.exited = exited
        self.stdout = stdout
        self.stderr = stderr
        self.message = message
        super().__init__(self._render())

    def tail(self, n: int = _TAIL) -> list[str]:
        """The last lines of stderr, or of stdout when stderr is empty."""
        text = self.stderr.strip() or self.stdout.strip()
        return text.splitlines()[-n:] if text else []

    def _render(self) -> str:
        head = f"{self.host}: {self.message}"
        if self.command:
            head += f": {self.command}"
        return "\n".join([head, *(f"  | {line}" for line in self.tail())])


class CommandTimeout(RemoteError):
    pass


class ConnectError(RemoteError):
    pass
