"""A node-side cache of large files' sha256, keyed by what changes whenever the file does.

A re-apply proves each binary on a node is the planned one by its sha256, and hashing ~60 MB
of etcd binaries on every node was most of a converged re-apply's time. Like git's index, the
cache keeps per path the sha256 with the file's inode, size, mtime and ctime (nanoseconds)
from when it was hashed, or installed with a verified sha256. While all four match, the file
has not been written since, so the digest stands: a write changes ctime, and ctime cannot be
set back from user space, so even a write that restores mtime misses the cache. No entry, a
changed file, a `stat` without `%.9Y` (not GNU coreutils) or a path with unusual characters
all hash as before. The cache is root's (0700 folder, 0600 file): whoever can edit it is root
on that node already, and could replace the binary as well.

The shell functions need `sha256` (`hawizard.remote.SHA256_SH`) defined before them.
"""

from __future__ import annotations

import re
import shlex

__all__ = ["PATH", "cacheable", "shell"]

PATH = "/var/lib/hawizard/sha256-cache"

# One line per path: "inode size mtime ctime sha256 path", read with awk fields $1-$6, so a
# path in the cache must be one plain field (and survive `awk -v` unchanged: no backslash).
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/+-]+")


def cacheable(path: str) -> bool:
    return _PLAIN_PATH.fullmatch(path) is not None


def shell(cache: str = PATH) -> str:
    """`digest_key PATH`, `remember_digest PATH SHA256 KEY` and `cached_sha256 PATH [record]`
    (prints the sha256; `record` remembers one it had to compute)."""
    return f"""DIGESTS={shlex.quote(cache)}
digest_key() {{ stat -c '%i %s %.9Y %.9Z' -- "$1" 2>/dev/null; }}
remember_digest() {{
  [ -n "$3" ] || return 0
  ( umask 077; mkdir -p -- "${{DIGESTS%/*}}" &&
    {{ if [ -f "$DIGESTS" ]; then awk -v p="$1" '$6 != p' "$DIGESTS"; fi
       echo "$3 $2 $1"; }} > "$DIGESTS.$$" && mv -f -- "$DIGESTS.$$" "$DIGESTS" ) 2>/dev/null ||
    rm -f -- "$DIGESTS.$$"
}}
cached_sha256() {{
  k=$(digest_key "$1")
  if [ -n "$k" ] && [ -f "$DIGESTS" ]; then
    h=$(awk -v k="$k" -v p="$1" '($1 " " $2 " " $3 " " $4) == k && $6 == p {{ print $5; exit }}' \\
        "$DIGESTS" 2>/dev/null)
    if [ -n "$h" ]; then echo "$h"; return 0; fi
  fi
  h=$(sha256 < "$1"); h=${{h%% *}}
  if [ "$2" = record ]; then remember_digest "$1" "$h" "$k"; fi
  echo "$h"
}}"""
