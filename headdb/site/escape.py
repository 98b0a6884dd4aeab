"""Escaping for text that comes from contributed entries, so it renders as text, never markup."""

from __future__ import annotations

import html
import re

from headdb.text import escape_controls

# Characters Python-Markdown treats as syntax and accepts backslash escapes for (plus | for tables).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~^])")


def md_text(value: object) -> str:
    """Inline Markdown that shows ``value`` literally: HTML entities for <, >, &, quotes and
    backslash escapes for Markdown punctuation; line breaks become spaces, other control
    characters visible escapes (the validator rejects them; this covers what is stored anyway)."""
    text = escape_controls(" ".join(str(value).split()))
    text = html.escape(text, quote=True)
    return _MD_SPECIAL.sub(r"\\\1", text)


def html_text(value: object) -> str:
    return html.escape(escape_controls(str(value), keep_whitespace=True), quote=True)


def slugify(name: str) -> str:
    """A URL- and file-safe slug for a model name such as 'EleutherAI/pythia-1.4b'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"
