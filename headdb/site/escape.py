"""Escaping for text that comes from contributed entries, so it renders as text, never markup."""

from __future__ import annotations

import hashlib
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


_READABLE_KEY = re.compile(r"[a-z0-9]+(?:[./-][a-z0-9]+)*")


def model_slug(name: str) -> str:
    """The page slug of a model: one per model identity name, never two models on one page.

    Names that are one model (``model_name_key``: case, spaces, '-' and '_' do not count, so
    'Headdb_Planted' is 'headdb-planted') share a slug. Otherwise slugs differ: a key of letters and
    digits joined by single '.', '-' or '/' keeps its form with '/' written '--' ('a/b' is 'a--b',
    'a-b' stays 'a-b'); any other key is made readable and gets '_' and 8 hex digits of its
    sha256 ('_' appears in no slug of the first kind)."""
    from headdb.db.models import model_name_key

    key = model_name_key(name)
    if _READABLE_KEY.fullmatch(key):
        return key.replace("/", "--")
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"{slugify(key)}_{digest}"
