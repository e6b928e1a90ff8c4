"""What the journey's stages share: the lab, the plan `lab up` wrote, the CLI, stage bookkeeping.

A stage is one test function. Stages run in file order on one lab; a stage that needs an
earlier one (the etcd rollout needs the certificates) is skipped, naming it, when that one did
not pass, so CI reports the first real failure and not a cascade of its consequences.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hawizard.lab import Lab

GRACE = 10.0  # seconds a command has after Ctrl-C (SIGINT) before it is killed


def hawizard_binary() -> str:
    """The `hawizard` console script beside this Python (the venv's), as demo.sh runs it."""
    return str(Path(sys.executable).with_name("hawizard"))


@dataclass
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv)}  → exit {self.returncode} after {self.seconds:.1f} s\n"
            f"--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}"
        )


@dataclass
class Journey:
    lab: Lab
    plan: Path
    artifacts: Path
    plan_digest: str = ""  # sha256 of the plan as `lab up` wrote it
    frames_mark: int = 0  # the wizard's frame count when the control-plane run started
    passed: set[str] = field(default_factory=set)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.lab.name

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.lab.nodes]

    def node(self, i: int) -> str:
        """The i-th lab node's name, 1-based like the lab's own names (`journey-n1`)."""
        return self.node_names[i - 1]

    # --- stages ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def stage(self, name: str, *, needs: tuple[str, ...] = ()) -> Iterator[None]:
        missing = [n for n in needs if n not in self.passed]
        if missing:
            pytest.skip(f"not run: stage {missing[0]!r} did not pass")
        started = time.monotonic()
        self.log(f"=== stage {name}")
        try:
            yield
        except BaseException as exc:  # pytest.fail too; pytest prints notes
            exc.add_note(
                f"journey stage {name!r} failed; every screen and command output: {self.artifacts}"
            )
            raise
        finally:
            self.timings[name] = time.monotonic() - started
            self.log(f"=== stage {name}: {self.timings[name]:.1f} s")
        self.passed.add(name)

    def log(self, text: str) -> None:
        with open(self.artifacts / "cli.log", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    # --- the CLI --------------------------------------------------------------------------

    def hw(self, *args: str, timeout: float = 120.0, expect: int | None = 0) -> Run:
        """Run `hawizard ARGS` as the user would from a shell; no output may hold a traceback.

        `expect` is the exit code the README promises for this situation (None: any). A command
        that outlives `timeout` gets Ctrl-C, then SIGKILL after a grace, and fails the stage."""
        argv = [hawizard_binary(), *args]
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        timed_out = False
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.send_signal(signal.SIGINT)
            try:
                stdout, stderr = proc.communicate(timeout=GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
        run = Run(["hawizard", *args], proc.returncode, stdout, stderr, time.monotonic() - started)
        self.log(run.describe())
        if timed_out:
            pytest.fail(f"did not finish within {timeout:g} s (then Ctrl-C):\n{run.describe()}")
        assert "Traceback" not in run.output, run.describe()
        if expect is not None:
            assert run.returncode == expect, f"expected exit {expect}\n{run.describe()}"
        return run

    def hw_json(self, *args: str, timeout: float = 120.0, expect: int | None = 0) -> dict:
        run = self.hw(*args, "--json", timeout=timeout, expect=expect)
        try:
            return json.loads(run.stdout)
        except json.JSONDecodeError as exc:
            pytest.fail(f"--json printed no JSON document ({exc}):\n{run.describe()}")

    def status_json(self, expect: int | None = 0) -> dict:
        return self.hw_json("status", str(self.plan), expect=expect)

    def in_node(self, node: str, *argv: str) -> str:
        return self.lab.exec(node, list(argv), timeout=30).stdout


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
