#!/usr/bin/env bash
# Install everything hawizard and its test suite need on Debian 12, as root. Idempotent and
# quick when nothing is missing: apt runs only for packages that are not installed yet.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  tmux        # the journey test drives the real wizard in a terminal
  python3-venv openssl openssh-client openssh-server iproute2 sudo systemd
  systemd-container debootstrap nftables haproxy keepalived etcd-client
  dpkg-dev    # dpkg-scanpackages indexes the lab's local package repository
  prometheus  # promtool checks the exported config and rules; the lab test runs the real server
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# kubectl validates rendered kubeconfigs; Debian's kubernetes-client conflicts with an
# already installed kubectl, so it is only added where none exists.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package enables a Prometheus on every interface; the tests run their own on loopback.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.hawizard-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  touch "$stamp"
fi
# Byte-compile hawizard as `pip install` does for a package: with PYTHONDONTWRITEBYTECODE set
# (as on some CI images) every `hawizard` start would otherwise compile ~100 modules afresh.
.venv/bin/python -m compileall -q hawizard >/dev/null
