"""Themes: Textual themes read from TOML files, plus the status colours every screen shares.

A theme file holds `textual.theme.Theme` fields and a `[variables]` table; the screens colour
status through `$status-ok`, `$status-warn`, `$status-bad`, `$status-idle` and `$status-run`, so
a theme changes them in one place. Themes come from the ones shipped with the package (the
repository's `themes/` folder, installed as `hawizard/themes` package data and found through
`importlib.resources`, so a wheel has them too), then `~/.config/hawizard/themes/` and
`$HAWIZARD_THEMES` (later ones override earlier ones by name).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import logging
import os
import tomllib
from pathlib import Path

from textual.theme import Theme

log = logging.getLogger(__name__)

USER_THEMES = Path("~/.config/hawizard/themes").expanduser()
DEFAULT_THEME = "dark"
# The order `t` cycles through; themes found beyond these follow in name order.
PREFERRED_ORDER = ("dark", "light", "high-contrast")
STATUS_VARIABLES = ("status-ok", "status-warn", "status-bad", "status-idle", "status-run")

_THEME_FIELDS = {f.name for f in dataclasses.fields(Theme)}


def shipped_themes() -> Path:
    """The themes inside the installed package (a checkout links them to `themes/`)."""
    return Path(str(importlib.resources.files("hawizard") / "themes"))


def theme_dirs() -> list[Path]:
    dirs = [shipped_themes(), USER_THEMES]
    extra = os.environ.get("HAWIZARD_THEMES")
    if extra:
        dirs.append(Path(extra).expanduser())
    return dirs


def load_theme(path: Path) -> Theme:
    """One theme file; ValueError naming the file when it is not a usable theme."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    unknown = set(raw) - _THEME_FIELDS
    if unknown:
        raise ValueError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    raw.setdefault("name", path.stem)
    if "primary" not in raw:
        raise ValueError(f"{path}: a theme needs at least `primary`")
    variables = raw.get("variables", {})
    if not all(isinstance(v, str) for v in variables.values()):
        raise ValueError(f"{path}: every [variables] value must be a colour string")
    return Theme(**raw)


def load_themes(dirs: list[Path] | None = None) -> dict[str, Theme]:
    """Every readable theme, by name; a broken file is logged and skipped, never fatal."""
    found: dict[str, Theme] = {}
    for folder in dirs if dirs is not None else theme_dirs():
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
            try:
                theme = load_theme(path)
            except ValueError as exc:
                log.warning("skipping theme %s", exc)
                continue
            found[theme.name] = theme
    if not found:  # every theme file unreadable or removed: one safe default
        found[DEFAULT_THEME] = Theme(name=DEFAULT_THEME, primary="#3D8FD1", dark=True)
    return found


def cycle_order(names: list[str]) -> list[str]:
    preferred = [n for n in PREFERRED_ORDER if n in names]
    return preferred + sorted(n for n in names if n not in preferred)


def status_defaults(colors: dict[str, str]) -> dict[str, str]:
    """Status colours for a theme that does not define them, from its own palette."""
    return {
        "status-ok": colors.get("success", "green"),
        "status-warn": colors.get("warning", "yellow"),
        "status-bad": colors.get("error", "red"),
        "status-idle": colors.get("foreground-muted", colors.get("foreground", "grey")),
        "status-run": colors.get("primary", "blue"),
    }
