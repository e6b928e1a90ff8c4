"""Long run of the plan property tests: many generated plans, random seeds (issue 12).

Run it as a script (it is not a timed test), as root from the repository:

    .venv/bin/python tests/bench/bench_plan_properties.py [--examples 2000]

It runs `tests/plan/test_plan_properties.py` with `HAWIZARD_PROPERTY_EXAMPLES=N` and a random seed
each time (CI runs a fixed, bounded sample), and as a baseline the same number of plans through
`plan validate` alone, then prints both rates and their ratio: what the full round (validate,
show, certs check, renderers, apply --dry-run on loopback) costs against validation alone.
A failure prints hypothesis's shrunk example, ready to be pasted into a regression test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "plan"))


def baseline(examples: int) -> float:
    """Seconds to validate `examples` drawn plans in-process (no commands, no rendering)."""
    from hypothesis import HealthCheck, given, settings
    from plan_strategies import plan_texts

    from hawizard import plan as P

    warnings.simplefilter("ignore")

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(text=plan_texts())
    def validate_only(text: str) -> None:
        with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(P.PlanError):
            P.loads(text, Path(tmp) / "plan.toml")

    start = time.monotonic()
    validate_only()
    return time.monotonic() - start


def full(examples: int) -> tuple[int, float]:
    env = dict(os.environ, HAWIZARD_PROPERTY_EXAMPLES=str(examples), HAWIZARD_PROPERTY_RANDOM="1")
    start = time.monotonic()
    rc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "tests/plan/test_plan_properties.py", "--hypothesis-show-statistics"],
        cwd=ROOT,
        env=env,
        check=False,
    ).returncode  # fmt: skip
    return rc, time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=2000, help="plans per property (default 2000)")
    args = ap.parse_args()
    base = baseline(args.examples)
    rc, took = full(args.examples)
    # the apply property draws a quarter as many plans (see test_plan_properties.py)
    drawn = args.examples + max(args.examples // 4, 5)
    print(f"validate only : {args.examples} plans in {base:.1f} s ({args.examples / base:.0f}/s)")
    print(f"full round    : {drawn} plans in {took:.1f} s ({drawn / took:.0f}/s), exit {rc}")
    print(f"ratio         : {took / drawn / (base / args.examples):.1f}x the cost of validating")
    return rc


if __name__ == "__main__":
    sys.exit(main())
