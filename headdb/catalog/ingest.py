"""Synchronise the database with a validated catalog, in one transaction.

New entries are added, edited ones updated, removed ones deleted; an unchanged catalog changes
nothing (not even timestamps). Detector results are never touched: a model or head type that runs
refer to is kept, and removing a head type that stored results use is refused with a clear error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from headdb.catalog.schema import HeadTypeEntry, ModelEntry
from headdb.catalog.validate import Catalog, require_valid
from headdb.db.engine import write_session
from headdb.db.migrate import ensure_current
from headdb.db.models import (
    Claim,
    Head,
    HeadLabel,
    HeadScore,
    HeadType,
    HeadTypeAlias,
    Model,
    Paper,
    PaperHeadType,
    PaperLink,
    PublishedDataset,
    PublishedValue,
    ValidationResult,
    model_name_key,
)
from headdb.errors import HeadDBError


@dataclass
class SyncCounts:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class IngestReport:
    head_types: SyncCounts = field(default_factory=SyncCounts)
    models: SyncCounts = field(default_factory=SyncCounts)
    papers: SyncCounts = field(default_factory=SyncCounts)
    published: SyncCounts = field(default_factory=SyncCounts)
    claims: int = 0

    @property
    def changed(self) -> bool:
        return self.head_types.changed or self.models.changed or self.papers.changed or self.published.changed

    def summary(self) -> str:
        parts = []
        for name in ("head_types", "models", "papers", "published"):
            c: SyncCounts = getattr(self, name)
            parts.append(
                f"{name.replace('_', ' ').replace('published', 'published datasets')}: {c.added} added, {c.updated} updated, "
                f"{c.removed} removed, {c.unchanged} unchanged"
            )
        return "; ".join(parts) + f"; {self.claims} claims in the catalog"


class IngestConflictError(HeadDBError, RuntimeError):
    """The catalog would delete something that stored detector results depend on."""


def _fingerprint(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _assign(obj: object, values: dict[str, object]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def merge_head_type(session: Session, old: HeadType, new: HeadType) -> None:
    """Point everything stored for ``old`` at ``new`` (claims, paper links, detector scores and
    labels, published datasets, validation results); ``old`` itself is left for the caller to
    delete. A claim that ``new`` already has for the same paper, head and role absorbs the old
    one's source and note, so nothing is lost; a detector run that scored both types is refused."""
    for claim in session.scalars(select(Claim).where(Claim.head_type_id == old.id)).all():
        twin = session.scalar(select(Claim).where(
            Claim.paper_id == claim.paper_id, Claim.head_id == claim.head_id, Claim.head_type_id == new.id,
            (Claim.role == claim.role) if claim.role is not None else Claim.role.is_(None),
        ))
        if twin is None:
            claim.head_type_id = new.id
            continue
        twin.source = f"{twin.source}; as {old.name}: {claim.source}"
        if claim.note:
            twin.note = f"{twin.note}; {claim.note}" if twin.note else claim.note
        session.delete(claim)
    for link in session.scalars(select(PaperHeadType).where(PaperHeadType.head_type_id == old.id)).all():
        if session.get(PaperHeadType, (link.paper_id, new.id)) is None:
            session.add(PaperHeadType(paper_id=link.paper_id, head_type_id=new.id, position=link.position))
        session.delete(link)
    session.flush()
    for table in (HeadScore, HeadLabel):
        other = table.__table__.alias()
        same_head = (other.c.run_id == table.run_id) & (other.c.head_id == table.head_id) & (other.c.head_type_id == new.id)
        both = session.scalar(
            select(func.count()).select_from(table).join(other, same_head).where(table.head_type_id == old.id)
        )
        if both:
            raise IngestConflictError(
                f"cannot merge head type {old.slug!r} into {new.slug!r}: a detector run stored "
                f"{table.__tablename__.replace('_', ' ')} for both; delete one of those runs first"
            )
        session.execute(table.__table__.update().where(table.head_type_id == old.id).values(head_type_id=new.id))
    session.execute(
        PublishedDataset.__table__.update().where(PublishedDataset.head_type_id == old.id).values(head_type_id=new.id)
    )
    session.execute(
        ValidationResult.__table__.update().where(ValidationResult.head_type == old.slug).values(head_type=new.slug)
    )
    session.flush()


def _type_aliases(entry: HeadTypeEntry) -> list[str]:
    """The aliases stored for ``entry``: its own, plus the names and slugs of types merged into it."""
    names = [*entry.aliases]
    for merged in entry.merged:
        names += [merged.name, merged.slug]
    out: dict[str, str] = {}
    for name in names:
        out.setdefault(" ".join(name.replace("-", " ").replace("_", " ").split()).casefold(), name)
    return sorted(out.values())


def _sync_head_types(session: Session, entries: list[HeadTypeEntry], counts: SyncCounts) -> dict[str, HeadType]:
    existing = {ht.slug: ht for ht in session.scalars(select(HeadType))}
    wanted = {e.slug for e in entries}
    merged_into = {m.slug: e.slug for e in entries for m in e.merged}
    for slug, head_type in existing.items():
        if slug in wanted:
            continue
        survivor = existing.get(merged_into.get(slug, ""))
        if survivor is None and slug in merged_into:
            entry = next(e for e in entries if e.slug == merged_into[slug])
            survivor = HeadType(slug=entry.slug, name=entry.name, description=entry.description)
            session.add(survivor)
            session.flush()
            existing[entry.slug] = survivor
            counts.added += 1
        if survivor is not None:
            merge_head_type(session, head_type, survivor)
            session.delete(head_type)
            counts.removed += 1
            continue
        used = session.scalar(
            select(func.count()).select_from(HeadScore).where(HeadScore.head_type_id == head_type.id)
        ) or session.scalar(
            select(func.count()).select_from(HeadLabel).where(HeadLabel.head_type_id == head_type.id)
        )
        if used:
            raise IngestConflictError(
                f"head type {slug!r} was removed from the taxonomy, but stored detector results "
                "use it; keep it in the taxonomy (or delete those runs first)"
            )
        session.delete(head_type)
        counts.removed += 1
    session.flush()  # free removed aliases before they are reused by another type

    by_slug: dict[str, HeadType] = {}
    for entry in entries:
        values = head_type_values(entry)
        head_type = existing.get(entry.slug)
        if head_type is None:
            head_type = HeadType(slug=entry.slug, **values)
            session.add(head_type)
            counts.added += 1
            changed = False
        else:
            changed = _assign(head_type, values)
        aliases = _type_aliases(entry)
        current_aliases = [a.alias for a in head_type.aliases]
        if current_aliases != aliases:
            head_type.aliases.clear()
            session.flush()
            head_type.aliases.extend(HeadTypeAlias(alias=a) for a in aliases)
            changed = True
        if entry.slug in existing:
            counts.updated += changed
            counts.unchanged += not changed
        by_slug[entry.slug] = head_type
    session.flush()
    return by_slug


def head_type_values(entry: HeadTypeEntry) -> dict[str, object]:
    """The columns of a head type row, from its taxonomy entry."""
    return {
        "name": entry.name,
        "stage": entry.stage,
        "group": entry.group,
        "description": entry.description,
        "model_families": list(entry.model_families),
        "kind": entry.kind,
        "kind_note": entry.kind_note,
        "placement": entry.placement.model_dump(mode="json", exclude_none=True),
        "merged": [m.model_dump(mode="json", exclude_none=True) for m in entry.merged],
        "distinct_from": [d.model_dump(mode="json") for d in entry.distinct_from],
    }


def packaged_head_types() -> list[HeadTypeEntry]:
    """The taxonomy shipped with headdb (``headdb/data/taxonomy.yaml``), validated."""
    from headdb.catalog.validate import DEFAULT_TAXONOMY, Problem, _load_list

    problems: list[Problem] = []
    entries = _load_list(DEFAULT_TAXONOMY, HeadTypeEntry, problems)
    if problems:
        raise HeadDBError(f"the packaged taxonomy is invalid: {problems[0]}")
    return entries


def add_missing_head_types(session: Session, slugs: set[str]) -> None:
    """Insert the packaged taxonomy's entries for any of ``slugs`` the database lacks (with the
    aliases no other type holds), so detection works on a database nobody has ingested into.
    Types already present are left exactly as they are."""
    present = set(session.scalars(select(HeadType.slug).where(HeadType.slug.in_(slugs))))
    missing = [e for e in packaged_head_types() if e.slug in slugs - present]
    if not missing:
        return
    taken = set(session.scalars(select(HeadTypeAlias.alias)))
    names = set(session.scalars(select(HeadType.name)))
    for entry in missing:
        if entry.name in names:
            raise HeadDBError(f"cannot add head type {entry.slug!r}: its name {entry.name!r} belongs to another type")
        head_type = HeadType(slug=entry.slug, **head_type_values(entry))
        head_type.aliases.extend(HeadTypeAlias(alias=a) for a in _type_aliases(entry) if a not in taken)
        session.add(head_type)
    session.flush()


def _sync_models(session: Session, entries: list[ModelEntry], counts: SyncCounts) -> dict[str, Model]:
    # Registry models are upserted, never deleted: detector runs may refer to them. Claims are
    # about the published model (revision ""); a detect run may have stored it under a name
    # that differs only in case or separators, which is the same model.
    stored = {m.name_key: m for m in session.scalars(select(Model).where(Model.revision == ""))}
    by_name: dict[str, Model] = {}
    for entry in entries:
        values = {
            "family": entry.family,
            "source": entry.source,
            "architecture": entry.architecture,
            "n_layers": entry.n_layers,
            "n_heads": entry.n_heads,
            "n_kv_heads": entry.n_kv_heads,
            "d_model": entry.d_model,
            "d_head": entry.d_head,
            "d_vocab": entry.d_vocab,
            "description": entry.description,
        }
        model = stored.get(model_name_key(entry.name))
        if model is None:
            model = Model(name=entry.name, revision="", **values)
            session.add(model)
            counts.added += 1
        elif _assign(model, {"name": entry.name, **values}):
            counts.updated += 1
        else:
            counts.unchanged += 1
        by_name[entry.name] = model
    session.flush()
    return by_name


def get_or_create_head(session: Session, model: Model, layer: int, head: int) -> Head:
    found = session.scalar(
        select(Head).where(Head.model_id == model.id, Head.layer == layer, Head.head == head)
    )
    if found is None:
        found = Head(model=model, layer=layer, head=head)
        session.add(found)
        session.flush()
    return found


def sync_catalog(engine: Engine, catalog: Catalog) -> IngestReport:
    """Write ``catalog`` into the database; raises ``CatalogError`` (writing nothing) if invalid.

    The whole sync is one transaction under headdb's writer lock: concurrent ingests run one
    after the other, and each compares the catalog with what the previous one committed."""
    require_valid(catalog)
    ensure_current(engine)
    report = IngestReport()
    with write_session(engine) as session:
        head_types = _sync_head_types(session, catalog.head_types, report.head_types)
        models = _sync_models(session, catalog.models, report.models)

        existing = {p.slug: p for p in session.scalars(select(Paper))}
        wanted = {record.slug for record in catalog.papers}
        for slug, paper in existing.items():
            if slug not in wanted:
                session.delete(paper)
                report.papers.removed += 1
        session.flush()

        for record in catalog.papers:
            entry = record.entry
            content_hash = _fingerprint(
                [entry.model_dump(mode="json"), record.head_type_slugs, str(record.path.name)]
            )
            report.claims += len(entry.claims)
            paper = existing.get(record.slug)
            if paper is not None and paper.content_hash == content_hash:
                report.papers.unchanged += 1
                continue
            if paper is None:
                paper = Paper(slug=record.slug)
                session.add(paper)
                report.papers.added += 1
            else:
                # Clear children first so unique keys (title, links) can be reused in this flush.
                paper.links.clear()
                paper.head_type_links.clear()
                paper.claims.clear()
                session.flush()
                report.papers.updated += 1
            _assign(
                paper,
                {
                    "title": entry.title,
                    "published_date": entry.date,
                    "date_precision": entry.date_precision,
                    "published_in": entry.published_in,
                    "venue": entry.venue,
                    "venue_year": entry.venue_year,
                    "arxiv_id": entry.arxiv,
                    "authors": list(entry.authors),
                    "missing": dict(entry.missing),
                    "sources": dict(entry.sources),
                    "innovation": entry.summary.innovation,
                    "tasks": entry.summary.tasks,
                    "significant_result": entry.summary.significant_result,
                    "source_file": f"papers/{record.path.name}",
                    "content_hash": content_hash,
                    "updated_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                },
            )
            paper.links.extend(
                PaperLink(url=url, kind="code" if "github.com" in url else "paper", position=i)
                for i, url in enumerate(entry.links)
            )
            paper.head_type_links.extend(
                PaperHeadType(head_type=head_types[slug], position=i)
                for i, slug in enumerate(record.head_type_slugs)
            )
            for claim, type_slug, model_name in zip(
                entry.claims, record.claim_type_slugs, record.claim_model_names, strict=True
            ):
                layer, head = claim.layer_head
                paper.claims.append(
                    Claim(
                        head=get_or_create_head(session, models[model_name], layer, head),
                        head_type=head_types[type_slug] if type_slug else None,
                        role=claim.role,
                        note=claim.note,
                        source=claim.source,
                        confidence=claim.confidence,
                        conflict=claim.conflict,
                    )
                )
            session.flush()
        _sync_published(session, catalog, models, head_types, report.published)
    return report


def _heads_of(session: Session, model: Model, coordinates: set[tuple[int, int]]) -> dict[tuple[int, int], Head]:
    """The heads of ``model`` at ``coordinates``, creating the missing ones in one flush."""
    found = {(h.layer, h.head): h for h in session.scalars(select(Head).where(Head.model_id == model.id))}
    for layer, head in sorted(coordinates - found.keys()):
        found[(layer, head)] = Head(model=model, layer=layer, head=head)
        session.add(found[(layer, head)])
    session.flush()
    return found


def _sync_published(
    session: Session,
    catalog: Catalog,
    models: dict[str, Model],
    head_types: dict[str, HeadType],
    counts: SyncCounts,
) -> None:
    """Published per-head datasets: added, updated (values rewritten) or removed like papers."""
    papers = {p.slug: p for p in session.scalars(select(Paper))}
    existing = {d.slug: d for d in session.scalars(select(PublishedDataset))}
    wanted = {r.slug for r in catalog.published}
    for slug, dataset in existing.items():
        if slug not in wanted:
            session.delete(dataset)
            counts.removed += 1
    session.flush()
    for record in catalog.published:
        entry = record.entry
        content_hash = _fingerprint([entry.model_dump(mode="json"), record.head_type, record.model, list(record.rows)])
        dataset = existing.get(record.slug)
        if dataset is not None and dataset.content_hash == content_hash:
            counts.unchanged += 1
            continue
        if dataset is None:
            dataset = PublishedDataset(slug=record.slug)
            session.add(dataset)
            counts.added += 1
        else:
            session.execute(PublishedValue.__table__.delete().where(PublishedValue.dataset_id == dataset.id))
            session.expire(dataset, ["values"])
            counts.updated += 1
        threshold = entry.threshold
        _assign(dataset, {
            "paper": papers[record.paper],
            "model": models[record.model],
            "head_type": head_types[record.head_type] if record.head_type else None,
            "kind": entry.kind,
            "title": entry.title,
            "quantity": entry.quantity,
            "repository": entry.source.repository,
            "path": entry.source.path,
            "commit": entry.source.commit,
            "derivation": entry.derivation,
            "derived_by": entry.derived_by,
            "n_samples": entry.n_samples,
            "threshold": threshold.value if threshold else None,
            "threshold_op": threshold.op if threshold else None,
            "threshold_source": threshold.source if threshold else None,
            "note": entry.note,
            "source_file": f"published/{record.slug}.yaml",
            "content_hash": content_hash,
        })
        session.flush()
        heads = _heads_of(session, models[record.model], {(layer, head) for layer, head, _, _ in record.rows})
        session.execute(
            PublishedValue.__table__.insert(),
            [
                {"dataset_id": dataset.id, "head_id": heads[(layer, head)].id, "value": value, "role": role}
                for layer, head, value, role in record.rows
            ],
        )
    session.flush()
