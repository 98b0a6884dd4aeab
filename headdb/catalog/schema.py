"""Pydantic models of the catalog's YAML files: paper entries, the taxonomy and the model registry.

These check the shape of one entry at a time. Checks that need the whole catalog (unknown head
types, duplicate papers, coordinates outside a model) live in ``headdb.catalog.validate``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
ARXIV_PATTERN = r"^\d{4}\.\d{4,5}$"
COORDINATE_PATTERN = re.compile(r"^(\d+)\.(\d+)$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=80)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
StageCode = Literal["KR", "ICI", "LR", "EP"]


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt key must not be silently dropped.
    model_config = ConfigDict(extra="forbid", frozen=True)


class HeadTypeEntry(_Strict):
    slug: Slug
    name: Text
    stage: StageCode | None = None
    group: Text | None = None
    aliases: list[Text] = Field(default_factory=list)
    model_families: list[Text] = Field(default_factory=list)
    description: Text


class ModelEntry(_Strict):
    name: Text
    family: Text | None = None
    source: Text | None = None
    aliases: list[Text] = Field(default_factory=list)
    architecture: Text | None = None
    n_layers: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    d_model: int | None = Field(default=None, gt=0)
    d_head: int | None = Field(default=None, gt=0)
    d_vocab: int | None = Field(default=None, gt=0)
    description: str = ""


class Summary(_Strict):
    """The survey template's summary: what is new, what was done, what was found."""

    innovation: Text
    tasks: Text
    significant_result: Text


class ClaimEntry(_Strict):
    """One head a paper reports: ``head`` is "layer.head", 0-indexed as in TransformerLens."""

    model: Text
    head: str
    type: Text | None = None
    role: Text | None = None
    note: Text | None = None
    source: Text
    confidence: Literal["high", "medium", "low"] = "high"

    @field_validator("head", mode="before")
    @classmethod
    def _coordinate(cls, value: object) -> str:
        if isinstance(value, float):
            raise ValueError(
                f"write layer.head as a quoted string, e.g. '{value}' in quotes: YAML reads an "
                f"unquoted {value} as a number and drops trailing zeros (10.10 becomes 10.1)"
            )
        if not isinstance(value, str) or not COORDINATE_PATTERN.match(value.strip()):
            raise ValueError(f"expected 'layer.head' such as '9.6', got {value!r}")
        return value.strip()

    @property
    def layer_head(self) -> tuple[int, int]:
        match = COORDINATE_PATTERN.match(self.head)
        assert match is not None
        return int(match.group(1)), int(match.group(2))


class PaperEntry(_Strict):
    """One file under ``papers/``: the survey template plus date, links and head claims."""

    title: Text
    date: dt.date
    # How much of `date` is known: a source with only a month or year gives its first day.
    date_precision: Literal["day", "month", "year"] = "day"
    published: Text = Field(description="venue or source, e.g. 'ICLR 2024', 'arXiv'")
    heads: list[Text]  # head types the paper names; [] where it names none
    authors: list[Text] = Field(default_factory=list)
    arxiv: Annotated[str, StringConstraints(pattern=ARXIV_PATTERN)] | None = None
    links: list[Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]] = Field(
        min_length=1
    )
    summary: Summary
    claims: list[ClaimEntry] = Field(default_factory=list)

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        # YAML turns a well-formed date into a date already; anything else must be YYYY-MM-DD.
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str) and ISO_DATE.match(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError(f"malformed date {value!r}: expected YYYY-MM-DD, e.g. 2024-05-28")
