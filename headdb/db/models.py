"""The relational schema: literature (papers, head types, claims), models and heads, detector runs.

Every table is declared here with SQLAlchemy 2 typed mappings; Alembic migrations under
``migrations/`` must produce exactly this schema (a test compares them).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

# Deterministic constraint names keep migrations portable (SQLite batch mode needs names to drop
# constraints) and make the drift test compare like with like.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STAGES: dict[str, str] = {
    "KR": "Knowledge Recalling",
    "ICI": "In-Context Identification",
    "LR": "Latent Reasoning",
    "EP": "Expression Preparation",
}
CONFIDENCES = ("high", "medium", "low")
# What defines a head type: its computation, or selection by an intervention or observational score.
HEAD_TYPE_KINDS = ("mechanistic", "intervention-selected", "score-selected")
# Published per-head data: a value for every head of the model, or the set of heads in a circuit.
PUBLISHED_KINDS = ("scores", "members")
RUN_STATUSES = ("succeeded", "failed")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def lookup_key(name: str) -> str:
    """The form under which head-type slugs, names and aliases are looked up: case, spaces, '-'
    and '_' do not count ('Previous Head', 'previous_head' and 'previous-head' are one key). The
    same rule as the catalog validator's name index."""
    return re.sub(r"[\s_\-]+", " ", name).strip().casefold()


def short_key(name: str) -> str | None:
    """The lookup key of a head-type name without its trailing 'Head' ('name mover' for 'Name
    Mover Head'), the bare form users type; None if the name does not end in 'head'."""
    key = lookup_key(name)
    return key[: -len(" head")] if key.endswith(" head") and len(key) > len(" head") else None


class HeadType(Base):
    """One node of the taxonomy, e.g. ``induction`` (Induction Head, stage LR).

    ``slug_key``, ``name_key`` and ``short_key`` hold the lookup keys of the slug, the name and
    the name without 'Head' (see ``lookup_key``), kept in step by the ORM and indexed, so a name
    resolves with one indexed query."""

    __tablename__ = "head_types"
    __table_args__ = (
        CheckConstraint("stage IS NULL OR stage IN ('KR', 'ICI', 'LR', 'EP')", name="stage"),
        CheckConstraint(
            "kind IN ('mechanistic', 'intervention-selected', 'score-selected')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug_key: Mapped[str] = mapped_column(String(80), index=True)
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    short_key: Mapped[str | None] = mapped_column(String(200), index=True)
    stage: Mapped[str | None] = mapped_column(String(8), index=True)
    group: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    model_families: Mapped[list[str]] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(32), default="mechanistic")
    kind_note: Mapped[str | None] = mapped_column(Text)
    # {"by": survey | headdb | unplaced, "paper": slug, "reason": ..., "confidence": ...}
    placement: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Former types merged into this one: [{"slug", "name", "reason", "description"}]
    merged: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Suspected duplicates kept separate: [{"slug", "reason"}]
    distinct_from: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    aliases: Mapped[list[HeadTypeAlias]] = relationship(
        back_populates="head_type", cascade="all, delete-orphan", order_by="HeadTypeAlias.alias"
    )

    @validates("slug")
    def _keep_slug_key(self, _key: str, slug: str) -> str:
        self.slug_key = lookup_key(slug)
        return slug

    @validates("name")
    def _keep_name_keys(self, _key: str, name: str) -> str:
        self.name_key = lookup_key(name)
        self.short_key = short_key(name)
        return name


class HeadTypeAlias(Base):
    """Another name for a head type ("Previous Head" for previous-token). Unique across types."""

    __tablename__ = "head_type_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    head_type_id: Mapped[int] = mapped_column(
        ForeignKey("head_types.id", ondelete="CASCADE"), index=True
    )
    alias: Mapped[str] = mapped_column(String(200), unique=True)
    alias_key: Mapped[str] = mapped_column(String(200), index=True)  # lookup_key(alias)

    head_type: Mapped[HeadType] = relationship(back_populates="aliases")

    @validates("alias")
    def _keep_key(self, _key: str, alias: str) -> str:
        self.alias_key = lookup_key(alias)
        return alias


class PaperHeadType(Base):
    """A head type a paper names (the survey's "Head" field)."""

    __tablename__ = "paper_head_types"

    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    head_type_id: Mapped[int] = mapped_column(
        ForeignKey("head_types.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)

    head_type: Mapped[HeadType] = relationship()


class Paper(Base):
    """One catalogued paper, identified by the stem of its YAML file (``slug``)."""

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(500), unique=True)
    # The first public version (arXiv v1 or first posting), as precisely as date_precision says.
    published_date: Mapped[dt.date] = mapped_column(Date, index=True)
    date_precision: Mapped[str] = mapped_column(String(8), default="day")
    published_in: Mapped[str] = mapped_column(String(200))  # where that version appeared
    venue: Mapped[str | None] = mapped_column(String(200), index=True)  # peer-reviewed venue, with year
    venue_year: Mapped[int | None] = mapped_column(Integer)
    arxiv_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Why a bibliographic field is empty ({"arxiv": "no arXiv version found ..."}), and where
    # each bibliographic fact was read ({"authors": url, "date": ..., ...}).
    missing: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    sources: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    innovation: Mapped[str] = mapped_column(Text)
    tasks: Mapped[str] = mapped_column(Text)
    significant_result: Mapped[str] = mapped_column(Text)
    source_file: Mapped[str] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    links: Mapped[list[PaperLink]] = relationship(
        back_populates="paper", cascade="all, delete-orphan", order_by="PaperLink.position"
    )
    head_type_links: Mapped[list[PaperHeadType]] = relationship(
        cascade="all, delete-orphan", order_by="PaperHeadType.position"
    )
    claims: Mapped[list[Claim]] = relationship(
        back_populates="paper", cascade="all, delete-orphan", order_by="Claim.id"
    )

    @property
    def head_types(self) -> list[HeadType]:
        return [link.head_type for link in self.head_type_links]


class PaperLink(Base):
    __tablename__ = "paper_links"
    __table_args__ = (UniqueConstraint("paper_id", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(1000))
    kind: Mapped[str] = mapped_column(String(32))  # paper, code, demo, data, ...
    position: Mapped[int] = mapped_column(Integer, default=0)

    paper: Mapped[Paper] = relationship(back_populates="links")


def model_name_key(name: str) -> str:
    """The form under which model names are compared: case, spaces, '-' and '_' do not count, so
    'Headdb_Planted' and 'headdb-planted' are one model."""
    return re.sub(r"[\s_\-]+", "-", name.strip()).casefold()


class Model(Base):
    """A language model (at one revision) whose heads are claimed about or scored.

    Identity is (``name_key``, ``revision``): the name compared without case or separators, and
    the hub revision or checkpoint ("" for the model as published, which papers' claims refer
    to). Architecture facts come from the catalog's model registry or, for detector runs, from the
    loaded model itself; ``weights_fingerprint`` pins what a run actually saw."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name_key", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    name_key: Mapped[str] = mapped_column(String(300))
    revision: Mapped[str] = mapped_column(String(200), default="", server_default="")
    family: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str | None] = mapped_column(String(1000))  # hub id or local directory
    source_kind: Mapped[str | None] = mapped_column(String(16))  # hub | local | zoo
    weights_fingerprint: Mapped[str | None] = mapped_column(String(64))
    architecture: Mapped[str | None] = mapped_column(String(100))
    n_layers: Mapped[int | None] = mapped_column(Integer)
    n_heads: Mapped[int | None] = mapped_column(Integer)
    n_kv_heads: Mapped[int | None] = mapped_column(Integer)
    d_model: Mapped[int | None] = mapped_column(Integer)
    d_head: Mapped[int | None] = mapped_column(Integer)
    d_vocab: Mapped[int | None] = mapped_column(Integer)
    n_params: Mapped[int | None] = mapped_column(BigInteger)
    step: Mapped[int | None] = mapped_column(Integer)  # training step of a checkpoint revision
    description: Mapped[str] = mapped_column(Text, default="")

    heads: Mapped[list[Head]] = relationship(back_populates="model", cascade="all, delete-orphan")

    @validates("name")
    def _keep_key(self, _key: str, name: str) -> str:
        self.name_key = model_name_key(name)
        return name


class Head(Base):
    """Attention head ``layer.head`` (0-indexed, as in TransformerLens) of one model."""

    __tablename__ = "heads"
    __table_args__ = (
        UniqueConstraint("model_id", "layer", "head"),
        CheckConstraint("layer >= 0 AND head >= 0", name="coordinates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    layer: Mapped[int] = mapped_column(Integer)
    head: Mapped[int] = mapped_column(Integer)

    model: Mapped[Model] = relationship(back_populates="heads")

    @property
    def coordinate(self) -> str:
        return f"{self.layer}.{self.head}"


class Claim(Base):
    """"Paper P reports head L.H of model M as type T" (or in a role the paper names no type for)."""

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("paper_id", "head_id", "head_type_id", "role"),
        CheckConstraint("head_type_id IS NOT NULL OR role IS NOT NULL", name="type_or_role"),
        CheckConstraint("confidence IN ('high', 'medium', 'low')", name="confidence"),
        Index("ix_claims_head_type_head", "head_type_id", "head_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    head_id: Mapped[int] = mapped_column(ForeignKey("heads.id", ondelete="RESTRICT"), index=True)
    head_type_id: Mapped[int | None] = mapped_column(
        ForeignKey("head_types.id", ondelete="RESTRICT")
    )
    role: Mapped[str | None] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    confidence: Mapped[str] = mapped_column(String(8), default="high")
    conflict: Mapped[str | None] = mapped_column(Text)  # where sources disagree, what each says

    paper: Mapped[Paper] = relationship(back_populates="claims")
    head: Mapped[Head] = relationship()
    head_type: Mapped[HeadType | None] = relationship()


class PublishedDataset(Base):
    """"Paper P published a value for every head of model M" (``kind`` scores, e.g. Wu et al.'s
    retrieval scores), or "... the set of heads in a circuit" (``kind`` members), with where the
    file lives (repository, path, commit) and how headdb derived the stored values from it.

    Where the paper states a threshold for its head type, heads past it are the paper's own
    labels ("published labels"), never headdb's."""

    __tablename__ = "published_datasets"
    __table_args__ = (
        CheckConstraint("kind IN ('scores', 'members')", name="kind"),
        CheckConstraint("threshold_op IS NULL OR threshold_op IN ('>', '>=')", name="threshold_op"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(300), unique=True)  # "<paper slug>/<file stem>"
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"), index=True)
    head_type_id: Mapped[int | None] = mapped_column(
        ForeignKey("head_types.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[str] = mapped_column(Text)  # what a value means
    repository: Mapped[str] = mapped_column(String(1000))
    path: Mapped[str] = mapped_column(String(1000))
    commit: Mapped[str] = mapped_column(String(64))
    derivation: Mapped[str] = mapped_column(Text)
    derived_by: Mapped[str | None] = mapped_column(String(500))
    n_samples: Mapped[int | None] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float)
    threshold_op: Mapped[str | None] = mapped_column(String(2))
    threshold_source: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    source_file: Mapped[str] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64))

    paper: Mapped[Paper] = relationship()
    model: Mapped[Model] = relationship()
    head_type: Mapped[HeadType | None] = relationship()
    values: Mapped[list[PublishedValue]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", passive_deletes=True
    )

    def labels(self, value: float) -> bool:
        """Whether a head with ``value`` passes the paper's stated threshold (a published label)."""
        if self.threshold is None or self.threshold_op is None:
            return False
        return value > self.threshold if self.threshold_op == ">" else value >= self.threshold


class PublishedValue(Base):
    """One head's value in a published dataset (for ``members`` datasets: 1.0, the head is in
    the circuit; heads not listed are not), with the role the paper gives it, if any."""

    __tablename__ = "published_values"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("published_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    head_id: Mapped[int] = mapped_column(
        ForeignKey("heads.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    value: Mapped[float] = mapped_column(Float)
    role: Mapped[str | None] = mapped_column(String(300))

    dataset: Mapped[PublishedDataset] = relationship(back_populates="values")
    head: Mapped[Head] = relationship()


class DetectorRun(Base):
    """One execution of one detector on one model: what ran, on what data, with what result."""

    __tablename__ = "detector_runs"
    __table_args__ = (
        CheckConstraint("status IN ('succeeded', 'failed')", name="status"),
        Index("ix_detector_runs_lookup", "model_id", "detector", "detector_version", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    detector: Mapped[str] = mapped_column(String(100))
    detector_version: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config_fingerprint: Mapped[str] = mapped_column(String(64))
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    weights_fingerprint: Mapped[str | None] = mapped_column(String(64))
    library_versions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    device: Mapped[str] = mapped_column(String(32))
    dtype: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)

    model: Mapped[Model] = relationship()
    scores: Mapped[list[HeadScore]] = relationship(
        back_populates="run", cascade="all, delete-orphan"
    )
    labels: Mapped[list[HeadLabel]] = relationship(
        back_populates="run", cascade="all, delete-orphan"
    )


class HeadScore(Base):
    """A detector's score for one head and one head type, with its rank among the model's heads."""

    __tablename__ = "head_scores"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("detector_runs.id", ondelete="CASCADE"), primary_key=True
    )
    head_type_id: Mapped[int] = mapped_column(
        ForeignKey("head_types.id", ondelete="RESTRICT"), primary_key=True
    )
    head_id: Mapped[int] = mapped_column(
        ForeignKey("heads.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    score: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    components: Mapped[dict[str, float] | None] = mapped_column(JSON)
    # 95% bootstrap interval of the score, its p-value against the detector's null, and the
    # p-value adjusted over the heads tested (runs of detector versions before 2.0 have none).
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    q_value: Mapped[float | None] = mapped_column(Float)

    run: Mapped[DetectorRun] = relationship(back_populates="scores")
    head: Mapped[Head] = relationship()
    head_type: Mapped[HeadType] = relationship()


class HeadLabel(Base):
    """A head a detector run labelled as a head type (its score passed the method's criterion)."""

    __tablename__ = "head_labels"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("detector_runs.id", ondelete="CASCADE"), primary_key=True
    )
    head_type_id: Mapped[int] = mapped_column(
        ForeignKey("head_types.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    head_id: Mapped[int] = mapped_column(
        ForeignKey("heads.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    score: Mapped[float] = mapped_column(Float)
    # Why the label holds: each check of the rule with this head's value, threshold and source.
    evidence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The circuit the label was read from, for detectors that define heads inside a circuit.
    circuit_id: Mapped[int | None] = mapped_column(ForeignKey("circuits.id", ondelete="SET NULL"), index=True)

    run: Mapped[DetectorRun] = relationship(back_populates="labels")
    head: Mapped[Head] = relationship()
    head_type: Mapped[HeadType] = relationship()


class ValidationRun(Base):
    """One run of the detector validation report over the ground-truth zoo."""

    __tablename__ = "validation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    subset: Mapped[str] = mapped_column(String(16))  # fast | full | custom
    zoo: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # model name -> zoo fingerprint
    detector_versions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    library_versions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    # Label stability on a real model: two runs with other seeds and token pools, and the Jaccard
    # index of their label sets.
    stability: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    results: Mapped[list[ValidationResult]] = relationship(
        back_populates="validation_run", cascade="all, delete-orphan", order_by="ValidationResult.id"
    )


class ValidationResult(Base):
    """How one detector did for one head type on one zoo model, against its ground truth."""

    __tablename__ = "validation_results"
    __table_args__ = (
        UniqueConstraint("validation_run_id", "model", "detector", "head_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    validation_run_id: Mapped[int] = mapped_column(
        ForeignKey("validation_runs.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(String(300))
    model_kind: Mapped[str] = mapped_column(String(16))  # trained | planted | control
    detector: Mapped[str] = mapped_column(String(100))
    detector_version: Mapped[str] = mapped_column(String(32))
    head_type: Mapped[str] = mapped_column(String(80))
    detector_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("detector_runs.id", ondelete="SET NULL")
    )
    n_positive: Mapped[int] = mapped_column(Integer)
    n_negative: Mapped[int] = mapped_column(Integer)
    n_ambiguous: Mapped[int] = mapped_column(Integer)
    true_positives: Mapped[int] = mapped_column(Integer)
    false_positives: Mapped[int] = mapped_column(Integer)
    false_negatives: Mapped[int] = mapped_column(Integer)
    precision: Mapped[float | None] = mapped_column(Float)
    recall: Mapped[float | None] = mapped_column(Float)
    auroc: Mapped[float | None] = mapped_column(Float)
    true_head_ranks: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    labelled: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")

    validation_run: Mapped[ValidationRun] = relationship(back_populates="results")


class Circuit(Base):
    """One circuit discovery run on one model for one task: its data, method, configuration,
    timings and quality, with its nodes and scored edges."""

    __tablename__ = "circuits"
    __table_args__ = (Index("ix_circuits_model_task", "model_id", "task"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    task: Mapped[str] = mapped_column(String(100))  # ioi | greater-than | factual:RELATION
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    n_prompts: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(32))  # eap | eap-ig
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config_fingerprint: Mapped[str] = mapped_column(String(64))
    weights_fingerprint: Mapped[str | None] = mapped_column(String(64))
    library_versions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    timings: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    clean_metric: Mapped[float] = mapped_column(Float)
    corrupted_metric: Mapped[float] = mapped_column(Float)
    circuit_metric: Mapped[float] = mapped_column(Float)
    faithfulness: Mapped[float | None] = mapped_column(Float)  # normalised; NULL when clean == corrupted
    n_edges_total: Mapped[int] = mapped_column(Integer)
    n_edges: Mapped[int] = mapped_column(Integer)
    n_nodes: Mapped[int] = mapped_column(Integer)
    curve: Mapped[list[list[float]]] = mapped_column(JSON, default=list)  # [[edges, faithfulness], ...]

    model: Mapped[Model] = relationship()
    nodes: Mapped[list[CircuitNode]] = relationship(back_populates="circuit", cascade="all, delete-orphan",
                                                    order_by="CircuitNode.id")
    edges: Mapped[list[CircuitEdge]] = relationship(back_populates="circuit", cascade="all, delete-orphan",
                                                    order_by="CircuitEdge.id")


class CircuitNode(Base):
    """A node of a circuit's graph: ``input``, a head ``a{L}.h{H}``, an MLP ``m{L}``, ``logits``."""

    __tablename__ = "circuit_nodes"
    __table_args__ = (UniqueConstraint("circuit_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # input | head | mlp | logits
    layer: Mapped[int | None] = mapped_column(Integer)
    head: Mapped[int | None] = mapped_column(Integer)
    in_circuit: Mapped[bool] = mapped_column(Boolean, default=False)

    circuit: Mapped[Circuit] = relationship(back_populates="nodes")


class CircuitEdge(Base):
    """An edge sender -> receiver (receiver names a head's q/k/v input) with its attribution
    score (positive: patching it would lower the task metric) and whether the circuit keeps it."""

    __tablename__ = "circuit_edges"

    id: Mapped[int] = mapped_column(primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id", ondelete="CASCADE"), index=True)
    sender: Mapped[str] = mapped_column(String(40))
    receiver: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    in_circuit: Mapped[bool] = mapped_column(Boolean, default=False)

    circuit: Mapped[Circuit] = relationship(back_populates="edges")
