#!/usr/bin/env bash
# The whole test suite, from a clean clone, on Debian 12 as root: install, lint, test.
# Lab tests build real systemd nodes (network namespaces + systemd-nspawn) and need root.
set -euo pipefail
source "$(dirname "$0")/as-root.sh"
as_root "$@"
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
