"""Text that headdb shows to people: bounded, single-line where it must be, control characters
escaped. Anything echoed from input (a file, an argument, a database row) goes through here, so a
hostile value can neither flood the output nor drive the terminal."""

from __future__ import annotations

import re
import reprlib

# C0 controls, DEL, C1 controls, and the bidirectional overrides that make text display in an
# order other than the one it is stored in ("Trojan source").
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# The same, but allowing tab and newline: the only controls free text may hold.
CONTROL_CHARS_EXCEPT_WHITESPACE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

ELLIPSIS = "…"
BRIEF_LIMIT = 80

_repr = reprlib.Repr()
_repr.maxlevel = 2
_repr.maxstring = BRIEF_LIMIT
_repr.maxother = BRIEF_LIMIT
_repr.maxlong = 40
for _attr in ("maxdict", "maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_repr, _attr, 4)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str, keep_whitespace: bool = False) -> str:
    """``text`` with control characters written as visible escapes (``\\x1b``); with
    ``keep_whitespace``, tab and newline are kept as they are."""
    pattern = CONTROL_CHARS_EXCEPT_WHITESPACE if keep_whitespace else CONTROL_CHARS
    return pattern.sub(_escape_char, text)


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + ELLIPSIS


def brief(value: object, limit: int = BRIEF_LIMIT) -> str:
    """A short, safe ``repr`` of any value: bounded in length and in the work done to produce it
    (``reprlib`` never walks a whole nested structure), control characters escaped."""
    text = _repr.repr(value) if not isinstance(value, str) else repr(truncate(value, limit))
    return truncate(escape_controls(text), limit + 2)


def one_line(text: str, limit: int = 500) -> str:
    """``text`` as one bounded line: line breaks become spaces, control characters escapes."""
    joined = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return truncate(escape_controls(joined), limit)
