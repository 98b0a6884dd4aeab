"""BibTeX for catalogued papers: one entry per paper, one file for the whole catalog.

A paper with a peer-reviewed venue is an ``@inproceedings`` (``@article`` for a journal), with
the venue's year; any other is a ``@misc`` saying where it appeared, with its first public year.
An arXiv id becomes ``eprint``/``archivePrefix``; the first link is the ``url``; ``note`` gives the
first public version's date as precisely as it is known. Values are escaped so that any
catalog string yields an entry a BibTeX parser accepts: braces are replaced (an unbalanced one
would break the entry), and LaTeX's special characters are backslash-escaped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from headdb.results import PaperInfo

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
JOURNALS = re.compile(r"\b(TMLR|Transactions|Journal|Patterns)\b")
_STOP = {"a", "an", "the", "on", "of", "in", "how", "do", "does", "what", "is", "are", "and", "for", "to"}
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "{": "(", "}": ")", "@": "(at)"}


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def escape(value: str) -> str:
    """``value`` as the text of a braced BibTeX field: balanced, LaTeX specials escaped, one line."""
    text = " ".join(value.split())
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def bibtex_key(paper: PaperInfo) -> str:
    """``<first author's surname><year><first significant title word>``, ASCII only."""
    surname = _ascii(paper.authors[0].split()[-1]) if paper.authors else "anonymous"
    words = [w for w in re.findall(r"[A-Za-z]+", _ascii(paper.title)) if w.lower() not in _STOP]
    key = f"{re.sub(r'[^A-Za-z]', '', surname).lower() or 'anonymous'}{paper.date.year}{(words or ['paper'])[0].lower()}"
    return key


def bibtex_entry(paper: PaperInfo, key: str | None = None) -> str:
    """One entry; ``key`` defaults to ``bibtex_key(paper)``."""
    fields: list[tuple[str, str]] = [("title", "{" + escape(paper.title) + "}")]
    if paper.authors:
        fields.append(("author", " and ".join(escape(a) for a in paper.authors)))
    if paper.venue:
        kind = "article" if JOURNALS.search(paper.venue) else "inproceedings"
        fields.append(("journal" if kind == "article" else "booktitle", escape(paper.venue)))
        year = paper.venue_year or paper.date.year
    else:
        kind = "misc"
        fields.append(("howpublished", escape(paper.published_in or "unknown")))
        year = paper.date.year
    fields.append(("year", str(year)))
    if not paper.venue and paper.date_precision in ("day", "month"):
        fields.append(("month", MONTHS[paper.date.month - 1]))
    if paper.arxiv_id:
        fields += [("eprint", escape(paper.arxiv_id)), ("archivePrefix", "arXiv")]
    if paper.links:
        # URLs are verbatim in url fields; only braces (which would unbalance the entry) and a
        # backslash (which could end one) are percent-encoded.
        url = paper.links[0].replace("{", "%7B").replace("}", "%7D").replace("\\", "%5C")
        fields.append(("url", url))
    first = f"First public version: {paper.date_text}" + (f" ({escape(paper.published_in)})" if paper.published_in else "")
    fields.append(("note", first))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{key or bibtex_key(paper)},\n{body}\n}}"


def bibtex_keys(papers: Iterable[PaperInfo]) -> dict[str, str]:
    """Slug -> key for a set of papers, unique: repeated keys get b, c, ... in slug order."""
    keys: dict[str, str] = {}
    used: dict[str, int] = {}
    for paper in sorted(papers, key=lambda p: p.slug):
        base = bibtex_key(paper)
        n = used.get(base, 0)
        used[base] = n + 1
        keys[paper.slug] = base if n == 0 else f"{base}{chr(ord('a') + n)}"
    return keys


def bibtex_catalog(papers: Iterable[PaperInfo]) -> str:
    """Every paper's entry, oldest first by first public version, then by slug."""
    papers = sorted(papers, key=lambda p: (p.date, p.slug))
    keys = bibtex_keys(papers)
    return "\n\n".join(bibtex_entry(p, keys[p.slug]) for p in papers) + "\n"
