# Sourced by the README's scripts (demo.sh, test.sh): they need root (apt, network namespaces,
# systemd-nspawn). As root they run as they are, so a fresh Debian machine without sudo works;
# as another user they run themselves again through sudo, with the same arguments.
# Usage, first thing in a script:  source "$(dirname "$0")/as-root.sh"; as_root "$@"
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    return 0
  fi
  if command -v sudo >/dev/null 2>&1; then
    exec sudo --preserve-env=CI,NODES,HAWIZARD_TEST_LAB,NO_COLOR -- bash "$0" "$@"
  fi
  echo "$(basename "$0"): needs root (apt, network namespaces, systemd-nspawn) and there is" \
    "no sudo here: run it as root, e.g. su -c '$0'" >&2
  exit 2
}
