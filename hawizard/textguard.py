"""The renderers' second wall: values that would break out of their line are refused.

The plan validator stops bad values first; these checks stay in the renderers so that a field
added later, a plan built by hand in code, or a gap in validation can never turn a value into
a new line of a systemd unit (an `ExecStartPre=+…` runs as root), an haproxy directive or a
YAML key. A renderer raises `UnsafeValue` rather than quoting: hawizard's values never need
quoting, so needing it means something is wrong.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["UnsafeValue", "config_value", "config_word", "plain_lines", "shown", "unit_word"]

# What a value inside a unit-file line may hold: no whitespace, no quotes, no backslash, no
# `%` (systemd specifiers), no `$` (variable expansion), no `;`. `#` only after the start
# (systemd comments start a line; inside a value `#` is literal).
_WORD = re.compile(r"[A-Za-z0-9._/:,=@+\[\]-][A-Za-z0-9._/:,=@+\[\]#-]*")
# A word of a config whose comments start anywhere (haproxy, keepalived): no `#` at all.
_CONFIG_WORD = re.compile(r"[A-Za-z0-9._/:,=@+\[\]-]+")


class UnsafeValue(ValueError):
    """A value that cannot be written into the target file as it is."""

    def __init__(self, what: str, value: str, why: str):
        self.what, self.value = what, value
        super().__init__(f"{what}: {value!r} {why}; refusing to render it")


def _control(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value)


def unit_word(value: object, what: str) -> str:
    """`value` as one word of a systemd unit or haproxy line (a flag, a path, an address)."""
    text = str(value)
    if not _WORD.fullmatch(text):
        raise UnsafeValue(
            what,
            text,
            "holds characters a unit-file or config word cannot carry "
            "(whitespace, quotes, %, $, ;, # or control characters)",
        )
    return text


def config_word(value: object, what: str) -> str:
    """`value` as one word of an haproxy or keepalived line (where `#` starts a comment)."""
    text = str(value)
    if not _CONFIG_WORD.fullmatch(text):
        raise UnsafeValue(
            what,
            text,
            "holds characters a config word cannot carry "
            "(whitespace, quotes, #, %, $, ; or control characters)",
        )
    return text


def config_value(value: object, what: str) -> str:
    """A scalar for a quoted YAML/TOML/JSON value: anything printable on one line."""
    text = str(value)
    if _control(text):
        raise UnsafeValue(what, text, "holds control or line-break characters")
    return text


def plain_lines(text: str, what: str) -> str:
    """The final check of a rendered file: one directive per line, no control characters."""
    for number, line in enumerate(text.split("\n"), start=1):
        if _control(line.replace("\t", " ")):
            raise UnsafeValue(f"{what} line {number}", line, "holds control characters")
    return text


def shown(value: object, limit: int = 200) -> str:
    """A file- or user-provided value for a one-line message: control and line-break
    characters written as escapes (`\\n`, `\\x1b`) so a crafted record cannot add a line of its
    own to a confirmation, and cut at `limit` characters. Rich markup is the printer's job
    (`rich.markup.escape`); this only keeps the value on its line."""
    text = str(value)
    if _control(text):
        text = "".join(
            c.encode("unicode_escape").decode("ascii") if _control(c) else c for c in text
        )
    return text if len(text) <= limit else text[: limit - 1] + "…"
