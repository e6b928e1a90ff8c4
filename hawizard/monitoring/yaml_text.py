"""A small YAML writer for the files Prometheus and kubectl read.

Every string is written as a JSON string, which is a valid YAML double-quoted scalar: a value
can never end its line, open a new key or be read as another type, whatever it holds. Keys are
fixed identifiers chosen by the renderers, checked anyway.
"""

from __future__ import annotations

import json
import re
from typing import Any

_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Plain words a YAML 1.1 reader (PyYAML, older Go yaml) turns into booleans or null: as keys
# they are written quoted, or `on:` would come back as the key True.
_TYPED_WORDS = frozenset(["y", "yes", "n", "no", "true", "false", "on", "off", "null"])


def dumps(doc: Any) -> str:
    if isinstance(doc, dict | list) and doc:
        return "".join(_lines(doc, 0))
    return _inline(doc) + "\n"


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        if not value:
            return [pad + "{}\n"]
        for key, item in value.items():
            if not _KEY.match(key):
                raise ValueError(f"{key!r} is not a plain YAML key")
            if key.lower() in _TYPED_WORDS:
                key = json.dumps(key)
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{key}:\n")
                out += _lines(item, indent + 2)
            else:
                out.append(f"{pad}{key}: {_inline(item)}\n")
        return out
    for item in value:
        if isinstance(item, dict | list) and item:
            inner = _lines(item, indent + 2)
            out.append(f"{pad}- {inner[0].lstrip()}")
            out += inner[1:]
        else:
            out.append(f"{pad}- {_inline(item)}\n")
    return out


def _inline(value: Any) -> str:
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        # JSON escapes quotes, backslashes and control characters; YAML additionally treats
        # NEL and the Unicode line/paragraph separators as line breaks and refuses other
        # non-printables, so those are escaped too (all in the BMP, so \uXXXX suffices).
        return _UNSAFE.sub(
            lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False)
        )
    raise TypeError(f"cannot write {type(value).__name__} as YAML")
