#!/usr/bin/env bash
# The demo on one machine, as root: install, bring up a 3-node lab of real systemd nodes, and
# open hawizard on the lab's plan. `hawizard lab down` removes the lab afterwards.
set -euo pipefail
source "$(dirname "$0")/as-root.sh"
as_root "$@"
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/hawizard lab up --nodes "${NODES:-3}"
plan=$(.venv/bin/hawizard lab status --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["plan"])')
if .venv/bin/hawizard wizard --help >/dev/null 2>&1; then
  exec .venv/bin/hawizard wizard --plan "$plan"
fi
exec .venv/bin/hawizard plan show "$plan"
