"""``headdb new paper``: write a skeleton entry for a new paper.

Everything the command knows goes in as fact: the title, the arXiv id (and from it the link and
the month of the first version, which the id encodes as YYMM), the date and head types given.
Everything else is a ``TODO`` placeholder, which ``headdb validate`` reports field by field until
it is filled in, so a skeleton can never be ingested by mistake.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml

from headdb.catalog.schema import ARXIV_PATTERN
from headdb.errors import HeadDBError, InvalidArgumentError

TODO = "TODO"
_STOP = {"a", "an", "the", "on", "of", "in", "how", "do", "does", "what", "is", "are", "and", "for", "to", "with", "via", "by"}
MAX_WORDS = 5


def slug_for(title: str, year: int | None) -> str:
    words = [w for w in re.findall(r"[a-z0-9]+", title.lower()) if w not in _STOP][:MAX_WORDS]
    return "-".join([str(year) if year else "0000", *words]) or "paper"


def _date(text: str | None, arxiv: str | None) -> tuple[object, str]:
    """The date and its precision: as given (YYYY-MM-DD, YYYY-MM or YYYY), else the month an
    arXiv id encodes, else a TODO."""
    if text:
        for pattern, precision in ((r"^\d{4}-\d{2}-\d{2}$", "day"), (r"^\d{4}-\d{2}$", "month"), (r"^\d{4}$", "year")):
            if re.match(pattern, text):
                full = {"day": text, "month": f"{text}-01", "year": f"{text}-01-01"}[precision]
                try:
                    return dt.date.fromisoformat(full), precision
                except ValueError:
                    break
        raise InvalidArgumentError(f"--date must be YYYY-MM-DD, YYYY-MM or YYYY, got {text!r}")
    if arxiv:
        return dt.date(2000 + int(arxiv[:2]), int(arxiv[2:4]), 1), "month"
    return TODO, "day"


def skeleton(title: str, arxiv: str | None = None, date: str | None = None, heads: list[str] | None = None) -> dict[str, object]:
    if arxiv is not None and not re.match(ARXIV_PATTERN, arxiv):
        raise InvalidArgumentError(f"--arxiv must look like 2312.09230, got {arxiv!r}")
    when, precision = _date(date, arxiv)
    entry: dict[str, object] = {
        "title": title,
        "date": when,
        "date_precision": precision,
        "published_in": "arXiv" if arxiv else f"{TODO}: where the first public version appeared (arXiv, a proceedings page, a blog)",
        "heads": list(heads or []),
        "authors": [f"{TODO}: First Author", f"{TODO}: Second Author"],
    }
    if arxiv:
        entry["arxiv"] = arxiv
    entry["missing"] = {"venue": f"{TODO}: give `venue` and `venue_year` if the paper appeared at a peer-reviewed venue, else say so here"}
    if not arxiv:
        entry["missing"]["arxiv"] = f"{TODO}: say why there is no arXiv id, or give `arxiv`"  # type: ignore[index]
    entry["sources"] = {
        "authors": f"{TODO}: the page the authors were read from",
        "date": (f"https://arxiv.org/abs/{arxiv} (the id gives the month of v1; {TODO}: the v1 day from the submission history)"
                 if arxiv and not date else f"{TODO}: the page the date was read from"),
    }
    if arxiv:
        entry["sources"]["arxiv"] = f"https://arxiv.org/abs/{arxiv}"  # type: ignore[index]
    entry["links"] = [f"https://arxiv.org/abs/{arxiv}" if arxiv else f"https://example.org/{TODO}-link-to-the-paper"]
    entry["summary"] = {
        "innovation": f"{TODO}: what is new, in your own words.",
        "tasks": f"{TODO}: what was analysed, on which models and data.",
        "significant_result": f"{TODO}: the main finding, with its number where there is one.",
    }
    entry["claims"] = []
    return entry


def write_skeleton(papers: Path, title: str, arxiv: str | None = None, date: str | None = None,
                   heads: list[str] | None = None, force: bool = False) -> Path:
    entry = skeleton(title, arxiv, date, heads)
    year = entry["date"].year if isinstance(entry["date"], dt.date) else None
    path = papers / f"{slug_for(title, year)}.yaml"
    if path.exists() and not force:
        raise HeadDBError(f"{path} exists already (use --force to overwrite it)")
    papers.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(entry, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    return path
