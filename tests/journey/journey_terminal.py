"""The real `hawizard` binary in a real terminal: a tmux pane, driven and read like a user does.

Textual's pilot runs the app inside the test process; this runs the installed command in a
tmux server of its own (its own socket, no user config), sends keys with `send-keys` and reads
the screen with `capture-pane`. Every distinct screen seen is appended to a transcript file,
so a failure in CI shows what the terminal showed, in order, not only the last frame.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

EXIT_MARK = "[hawizard exited "  # printed by the pane's shell after the app ends
TRACEBACK = re.compile(r"Traceback")  # Python's and Textual's crash reports both say it


def tmux_missing() -> str | None:
    """Why the journey cannot drive a terminal here (with the fix), or None."""
    if shutil.which("tmux") is None:
        return "tmux is not installed: apt-get install tmux (scripts/setup.sh installs it)"
    return None


def _server_env() -> dict[str, str]:
    """This process's environment for the tmux server, without a size: under pytest COLUMNS=80
    and LINES=24 are set, and the app in the pane would believe them over its real terminal."""
    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


class TerminalFailure(AssertionError):
    """A wait that did not end as expected; the message carries the screen and transcript."""


class Terminal:
    """One command running in a detached tmux session of `width` x `height`."""

    def __init__(self, socket: str, transcript: Path, width: int = 120, height: int = 40) -> None:
        self.socket = socket
        self.session = "journey"
        self.transcript = transcript
        self.width = width
        self.height = height
        self._last = ""
        self.frames: list[str] = []  # every distinct screen seen, in order

    # --- tmux -----------------------------------------------------------------------------

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=20,
            check=check,
            env=_server_env(),
        )

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Run argv in the pane; when it ends the pane keeps its last screen and says how."""
        command = f"{shlex.join(argv)}; echo '{EXIT_MARK}'$?']'; sleep 86400"
        extra = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        self._tmux(
            "new-session", "-d", "-s", self.session,
            "-x", str(self.width), "-y", str(self.height),
            *extra, "sh", "-c", command,
        )  # fmt: skip
        self._tmux("set-option", "-g", "history-limit", "5000")
        self.note(f"$ {shlex.join(argv)}")

    def close(self) -> None:
        self._tmux("kill-server", check=False)

    def keys(self, *keys: str) -> None:
        """tmux key names: "C-n", "Enter", "q"; each sent as one key press."""
        for key in keys:
            self._tmux("send-keys", "-t", self.session, key)
            self.note(f"> key {key}")
            time.sleep(0.15)  # a person does not type faster; Textual handles keys in order anyway

    def screen(self) -> str:
        """What the terminal shows now (the visible pane)."""
        out = self._tmux("capture-pane", "-p", "-t", self.session, check=False).stdout
        if out != self._last:
            self._last = out
            self.frames.append(out)
            self.note(out, frame=True)
        return out

    def history(self) -> str:
        """The pane's whole scrollback, e.g. a traceback printed after the app left."""
        return self._tmux("capture-pane", "-p", "-S", "-", "-t", self.session, check=False).stdout

    # --- waiting --------------------------------------------------------------------------

    def wait_for(
        self,
        want: str | re.Pattern[str],
        timeout: float,
        *,
        stage: str,
        fail_on: Iterable[str | re.Pattern[str]] = (),
    ) -> str:
        """Poll the screen until `want` shows; fail at once on a traceback, an exit of the app
        or a `fail_on` text, and after `timeout` seconds. Returns the matching screen."""
        pattern = want if isinstance(want, re.Pattern) else re.compile(re.escape(want))
        bad = [p if isinstance(p, re.Pattern) else re.compile(re.escape(p)) for p in fail_on]
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        while True:
            text = self.screen()
            self.assert_no_traceback(stage, text)
            if pattern.search(text):
                took = time.monotonic() - started
                self.note(f"# {stage}: saw {pattern.pattern!r} after {took:.1f} s")
                return text
            for p in bad:
                if p.search(text):
                    self.fail(stage, f"the screen shows {p.pattern!r} while waiting for "
                              f"{pattern.pattern!r}", text)  # fmt: skip
            if EXIT_MARK in text:
                self.fail(stage, f"hawizard ended while waiting for {pattern.pattern!r}", text)
            if time.monotonic() > deadline:
                self.fail(stage, f"{pattern.pattern!r} did not show within {timeout:g} s", text)
            time.sleep(0.25)

    def assert_no_traceback(self, stage: str, text: str | None = None) -> None:
        for source in (text if text is not None else self.screen(), self.history()):
            if TRACEBACK.search(source):
                self.fail(stage, "a traceback is on the screen", self.history())

    def fail(self, stage: str, why: str, text: str) -> None:
        self.note(f"# FAILED {stage}: {why}")
        raise TerminalFailure(
            f"{stage}: {why}\n--- the terminal ({self.width}x{self.height}) ---\n{text}\n"
            f"--- every screen seen, in order: {self.transcript}"
        )

    # --- transcript -----------------------------------------------------------------------

    def note(self, text: str, *, frame: bool = False) -> None:
        stamp = time.strftime("%H:%M:%S")
        with open(self.transcript, "a", encoding="utf-8") as f:
            if frame:
                f.write(f"--- screen at {stamp} ---\n{text.rstrip()}\n")
            else:
                f.write(f"{stamp} {text}\n")
