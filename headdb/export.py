"""Export the catalog to JSON, CSV or Parquet, and import such an export into an empty database.

An export holds every table of the catalog with natural keys instead of database ids (a paper by
its slug, a head type by its slug, a model by name and revision, a head by layer and head, a
detector run by an export-local number), so other tools can read it without headdb:

========================  ==================================================================
table                     one row per
========================  ==================================================================
``head_types``            head type, with its aliases, kind, placement and merged duplicates
``models``                model (name and revision)
``papers``                paper, with links and the head types it names (slugs, in order)
``claims``                claim "paper P reports head L.H of model M as type T (or role R)"
``published_datasets``    per-head dataset a paper published, with its source and derivation
``published_values``      one head's value in a published dataset
``detector_runs``         detector run (what ran, on which data, how long)
``head_scores``           a run's score for one head and head type
``head_labels``           a head a run labelled, with the evidence
========================  ==================================================================

Formats: ``json`` writes one file (``{"format": "headdb-export", "version": 1, "tables": ...}``);
``csv`` and ``parquet`` write one file per table plus ``manifest.json`` (format, version, and
each table's columns with their types). In CSV, lists and mappings are JSON text and an empty
cell of a nullable column is null; Parquet columns are typed (lists and mappings as JSON text).
Detector validation reports are not part of an export.

Importing an export into an empty database and exporting again gives the same export.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, selectinload

from headdb.db.engine import write_session
from headdb.db.migrate import ensure_current
from headdb.db.models import (
    Claim,
    DetectorRun,
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
)
from headdb.errors import HeadDBError

FORMAT = "headdb-export"
VERSION = 1
FORMATS = ("json", "csv", "parquet")
JSON_FILE = "headdb-catalog.json"
MANIFEST = "manifest.json"

# Column types: str, int, float, bool (a trailing ? allows null), json, date, datetime.
SCHEMA: dict[str, list[tuple[str, str]]] = {
    "head_types": [("slug", "str"), ("name", "str"), ("stage", "str?"), ("group", "str?"), ("description", "str"),
                   ("model_families", "json"), ("aliases", "json"), ("kind", "str"), ("kind_note", "str?"),
                   ("placement", "json"), ("merged", "json"), ("distinct_from", "json")],
    "models": [("name", "str"), ("revision", "str"), ("family", "str?"), ("source", "str?"), ("source_kind", "str?"),
               ("weights_fingerprint", "str?"), ("architecture", "str?"), ("n_layers", "int?"), ("n_heads", "int?"),
               ("n_kv_heads", "int?"), ("d_model", "int?"), ("d_head", "int?"), ("d_vocab", "int?"), ("n_params", "int?"),
               ("step", "int?"), ("description", "str")],
    "papers": [("slug", "str"), ("title", "str"), ("date", "date"), ("date_precision", "str"), ("published_in", "str"),
               ("venue", "str?"), ("venue_year", "int?"), ("arxiv_id", "str?"), ("authors", "json"), ("missing", "json"),
               ("sources", "json"), ("head_types", "json"), ("links", "json"), ("innovation", "str"), ("tasks", "str"),
               ("significant_result", "str"), ("source_file", "str"), ("content_hash", "str"), ("updated_at", "datetime")],
    "claims": [("paper", "str"), ("model", "str"), ("revision", "str"), ("layer", "int"), ("head", "int"),
               ("head_type", "str?"), ("role", "str?"), ("note", "str?"), ("source", "str"), ("confidence", "str"),
               ("conflict", "str?")],
    "published_datasets": [("slug", "str"), ("paper", "str"), ("model", "str"), ("revision", "str"), ("head_type", "str?"),
                           ("kind", "str"), ("title", "str"), ("quantity", "str"), ("repository", "str"), ("path", "str"),
                           ("commit", "str"), ("derivation", "str"), ("derived_by", "str?"), ("n_samples", "int?"),
                           ("threshold", "float?"), ("threshold_op", "str?"), ("threshold_source", "str?"),
                           ("note", "str?"), ("source_file", "str"), ("content_hash", "str")],
    "published_values": [("dataset", "str"), ("layer", "int"), ("head", "int"), ("value", "float"), ("role", "str?")],
    "detector_runs": [("run", "int"), ("model", "str"), ("revision", "str"), ("detector", "str"),
                      ("detector_version", "str"), ("config", "json"), ("config_fingerprint", "str"),
                      ("data_fingerprint", "str"), ("weights_fingerprint", "str?"), ("library_versions", "json"),
                      ("device", "str"), ("dtype", "str"), ("started_at", "datetime"), ("finished_at", "datetime?"),
                      ("duration_s", "float?"), ("status", "str"), ("error", "str?")],
    "head_scores": [("run", "int"), ("head_type", "str"), ("layer", "int"), ("head", "int"), ("score", "float"),
                    ("rank", "int"), ("components", "json"), ("ci_low", "float?"), ("ci_high", "float?"),
                    ("p_value", "float?"), ("q_value", "float?")],
    "head_labels": [("run", "int"), ("head_type", "str"), ("layer", "int"), ("head", "int"), ("score", "float"),
                    ("evidence", "json")],
}
TABLES = tuple(SCHEMA)


class ExportFormatError(HeadDBError, ValueError):
    """The files are not a headdb export this version can read."""


class ImportTargetError(HeadDBError):
    """The database to import into is not empty."""


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# -- reading the database ----------------------------------------------------------------------------


def head_type_row(ht: HeadType) -> dict[str, Any]:
    return {"slug": ht.slug, "name": ht.name, "stage": ht.stage, "group": ht.group, "description": ht.description,
            "model_families": list(ht.model_families or []), "aliases": sorted(a.alias for a in ht.aliases),
            "kind": ht.kind, "kind_note": ht.kind_note, "placement": dict(ht.placement or {}),
            "merged": list(ht.merged or []), "distinct_from": list(ht.distinct_from or [])}


def model_row(m: Model) -> dict[str, Any]:
    return {column: getattr(m, column) for column, _ in SCHEMA["models"]}


def paper_row(p: Paper) -> dict[str, Any]:
    return {"slug": p.slug, "title": p.title, "date": _iso(p.published_date), "date_precision": p.date_precision,
            "published_in": p.published_in, "venue": p.venue, "venue_year": p.venue_year, "arxiv_id": p.arxiv_id,
            "authors": list(p.authors or []), "missing": dict(p.missing or {}), "sources": dict(p.sources or {}),
            "head_types": [link.head_type.slug for link in p.head_type_links],
            "links": [{"url": link.url, "kind": link.kind} for link in p.links],
            "innovation": p.innovation, "tasks": p.tasks, "significant_result": p.significant_result,
            "source_file": p.source_file, "content_hash": p.content_hash, "updated_at": _iso(p.updated_at)}


def claim_row(c: Claim) -> dict[str, Any]:
    return {"paper": c.paper.slug, "model": c.head.model.name, "revision": c.head.model.revision,
            "layer": c.head.layer, "head": c.head.head, "head_type": c.head_type.slug if c.head_type else None,
            "role": c.role, "note": c.note, "source": c.source, "confidence": c.confidence, "conflict": c.conflict}


def dataset_row(d: PublishedDataset) -> dict[str, Any]:
    row = {column: getattr(d, column, None) for column, _ in SCHEMA["published_datasets"]}
    row.update(paper=d.paper.slug, model=d.model.name, revision=d.model.revision,
               head_type=d.head_type.slug if d.head_type else None)
    return row


def export_tables(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every table of the catalog as rows with natural keys, in a stable order."""
    ensure_current(engine)
    with Session(engine) as s:
        tables: dict[str, list[dict[str, Any]]] = {}
        tables["head_types"] = [head_type_row(ht) for ht in s.scalars(
            select(HeadType).options(selectinload(HeadType.aliases)).order_by(HeadType.slug))]
        tables["models"] = [model_row(m) for m in s.scalars(select(Model).order_by(Model.name_key, Model.revision))]
        papers = list(s.scalars(select(Paper).options(
            selectinload(Paper.links), selectinload(Paper.head_type_links).selectinload(PaperHeadType.head_type),
        ).order_by(Paper.slug)))
        tables["papers"] = [paper_row(p) for p in papers]
        claims = s.scalars(select(Claim).join(Claim.paper).options(
            selectinload(Claim.head).selectinload(Head.model), selectinload(Claim.head_type), selectinload(Claim.paper),
        ).order_by(Paper.slug, Claim.id))
        tables["claims"] = [claim_row(c) for c in claims]
        datasets = list(s.scalars(select(PublishedDataset).options(
            selectinload(PublishedDataset.paper), selectinload(PublishedDataset.model), selectinload(PublishedDataset.head_type),
        ).order_by(PublishedDataset.slug)))
        tables["published_datasets"] = [dataset_row(d) for d in datasets]
        slugs = {d.id: d.slug for d in datasets}
        tables["published_values"] = [
            {"dataset": slugs[dataset_id], "layer": layer, "head": head, "value": value, "role": role}
            for dataset_id, layer, head, value, role in s.execute(
                select(PublishedValue.dataset_id, Head.layer, Head.head, PublishedValue.value, PublishedValue.role)
                .join(Head, PublishedValue.head_id == Head.id)
            )
        ]
        tables["published_values"].sort(key=lambda r: (r["dataset"], r["layer"], r["head"]))
        runs = list(s.scalars(select(DetectorRun).options(selectinload(DetectorRun.model)).order_by(DetectorRun.id)))
        number = {r.id: i for i, r in enumerate(runs, start=1)}
        tables["detector_runs"] = [
            {"run": number[r.id], "model": r.model.name, "revision": r.model.revision,
             **{c: getattr(r, c) for c, _ in SCHEMA["detector_runs"][3:]}}
            for r in runs
        ]
        for table in ("detector_runs",):
            for row in tables[table]:
                row["started_at"], row["finished_at"] = _iso(row["started_at"]), _iso(row["finished_at"])
        type_slug = dict(s.execute(select(HeadType.id, HeadType.slug)).all())
        for name, orm, extra in (("head_scores", HeadScore, ("score", "rank", "components", "ci_low", "ci_high", "p_value", "q_value")),
                                 ("head_labels", HeadLabel, ("score", "evidence"))):
            rows = []
            for obj, layer, head in s.execute(select(orm, Head.layer, Head.head).join(Head, orm.head_id == Head.id)):
                rows.append({"run": number[obj.run_id], "head_type": type_slug[obj.head_type_id], "layer": layer,
                             "head": head, **{c: getattr(obj, c) for c in extra}})
            rows.sort(key=lambda r: (r["run"], r["head_type"], r["layer"], r["head"]))
            tables[name] = rows
    return tables


# -- writing files -------------------------------------------------------------------------------------


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if kind.startswith("float"):
        return repr(float(value))
    return str(value)


def _arrow_type(kind: str):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    base = kind.rstrip("?")
    return {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "json": pa.string(),
            "date": pa.date32(), "datetime": pa.timestamp("us")}[base]


def write_export(tables: dict[str, list[dict[str, Any]]], out: Path | str, fmt: str) -> list[Path]:
    """Write ``tables`` in ``fmt`` under ``out`` (a directory, created); returns the files written."""
    if fmt not in FORMATS:
        raise ExportFormatError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path = out / JSON_FILE
        path.write_text(json.dumps({"format": FORMAT, "version": VERSION, "tables": tables}, indent=1,
                                   sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        return [path]
    written = []
    for table, columns in SCHEMA.items():
        rows = tables[table]
        if fmt == "csv":
            path = out / f"{table}.csv"
            with open(path, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow([c for c, _ in columns])
                writer.writerows([_cell(row[c], k) for c, k in columns] for row in rows)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrays = {}
            for column, kind in columns:
                values = [row[column] for row in rows]
                if kind == "json":
                    values = [None if v is None else json.dumps(v, sort_keys=True, ensure_ascii=False) for v in values]
                elif kind.startswith("date"):
                    parse = dt.date.fromisoformat if kind.rstrip("?") == "date" else dt.datetime.fromisoformat
                    values = [None if v is None else parse(v) for v in values]
                arrays[column] = pa.array(values, type=_arrow_type(kind))
            path = out / f"{table}.parquet"
            pq.write_table(pa.table(arrays), path)
        written.append(path)
    manifest = out / MANIFEST
    manifest.write_text(json.dumps({"format": FORMAT, "version": VERSION, "files": fmt,
                                    "tables": {t: [[c, k] for c, k in cols] for t, cols in SCHEMA.items()}},
                                   indent=1) + "\n")
    return [*written, manifest]


def export_catalog(engine: Engine, out: Path | str, fmt: str = "json") -> list[Path]:
    return write_export(export_tables(engine), out, fmt)


# -- reading files ---------------------------------------------------------------------------------------


def _parse(text: str, kind: str) -> Any:
    if text == "" and (kind.endswith("?") or kind == "json"):
        return None
    base = kind.rstrip("?")
    if base == "json":
        return json.loads(text)
    if base == "int":
        return int(text)
    if base == "float":
        return float(text)
    return text  # str, date and datetime stay ISO text, as in the JSON form


def read_export(path: Path | str) -> dict[str, list[dict[str, Any]]]:
    """The tables of an export: a JSON file, or a directory holding the JSON file or a manifest
    with CSV or Parquet tables."""
    path = Path(path)
    if path.is_dir() and (path / JSON_FILE).is_file() and not (path / MANIFEST).is_file():
        path = path / JSON_FILE
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ExportFormatError(f"{path} is not a headdb JSON export: {exc}") from None
        _check_header(data, path)
        tables = data.get("tables")
        if not isinstance(tables, dict) or set(tables) != set(TABLES):
            raise ExportFormatError(f"{path}: expected the tables {', '.join(TABLES)}")
        return tables
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise ExportFormatError(f"{path} holds no headdb export ({JSON_FILE} or {MANIFEST})")
    header = json.loads(manifest.read_text())
    _check_header(header, manifest)
    fmt = header.get("files")
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, columns in SCHEMA.items():
        if fmt == "csv":
            with open(path / f"{table}.csv", newline="", encoding="utf-8") as fh:
                reader = csv.reader(fh)
                head = next(reader)
                if head != [c for c, _ in columns]:
                    raise ExportFormatError(f"{path / (table + '.csv')}: columns {head} are not {[c for c, _ in columns]}")
                tables[table] = [{c: _parse(v, k) for (c, k), v in zip(columns, row, strict=True)} for row in reader]
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path / f"{table}.parquet").to_pylist()
            for row in rows:
                for column, kind in columns:
                    value = row[column]
                    if kind == "json":
                        row[column] = None if value is None else json.loads(value)
                    elif kind.startswith("date") and value is not None:
                        row[column] = value.isoformat()
            tables[table] = rows
        else:
            raise ExportFormatError(f"{manifest}: unknown files format {fmt!r}")
    return tables


def _check_header(data: Any, where: Path) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExportFormatError(f"{where} is not a headdb export")
    if data.get("version") != VERSION:
        raise ExportFormatError(f"{where}: export version {data.get('version')!r}, this headdb reads version {VERSION}")


# -- importing -----------------------------------------------------------------------------------------


def import_catalog(engine: Engine, path: Path | str) -> dict[str, int]:
    """Load an export into an empty database, in one transaction; returns rows per table."""
    tables = read_export(path)
    ensure_current(engine)
    with write_session(engine) as s:
        if any(s.scalar(select(func.count()).select_from(t)) for t in (Paper, HeadType, Model, DetectorRun)):
            raise ImportTargetError("the database is not empty; import into a new database (run `headdb db upgrade` on it first)")
        types: dict[str, HeadType] = {}
        for row in tables["head_types"]:
            ht = HeadType(**{k: v for k, v in row.items() if k != "aliases"})
            ht.aliases = [HeadTypeAlias(alias=a) for a in row["aliases"]]
            s.add(ht)
            types[ht.slug] = ht
        models: dict[tuple[str, str], Model] = {}
        for row in tables["models"]:
            m = Model(**row)
            s.add(m)
            models[(m.name, m.revision)] = m
        s.flush()
        heads: dict[tuple[int, int, int], Head] = {}

        def head(model: Model, layer: int, index: int) -> Head:
            key = (model.id, layer, index)
            if key not in heads:
                heads[key] = Head(model=model, layer=layer, head=index)
                s.add(heads[key])
            return heads[key]

        papers: dict[str, Paper] = {}
        for row in tables["papers"]:
            values = {k: v for k, v in row.items() if k not in ("date", "updated_at", "head_types", "links")}
            p = Paper(published_date=dt.date.fromisoformat(row["date"]),
                      updated_at=dt.datetime.fromisoformat(row["updated_at"]), **values)
            p.links = [PaperLink(url=link["url"], kind=link["kind"], position=i) for i, link in enumerate(row["links"])]
            p.head_type_links = [PaperHeadType(head_type=types[t], position=i) for i, t in enumerate(row["head_types"])]
            s.add(p)
            papers[p.slug] = p
        for row in tables["claims"]:
            model = models[(row["model"], row["revision"])]
            s.add(Claim(paper=papers[row["paper"]], head=head(model, row["layer"], row["head"]),
                        head_type=types[row["head_type"]] if row["head_type"] else None, role=row["role"],
                        note=row["note"], source=row["source"], confidence=row["confidence"], conflict=row["conflict"]))
        s.flush()
        datasets: dict[str, PublishedDataset] = {}
        for row in tables["published_datasets"]:
            values = {k: v for k, v in row.items() if k not in ("paper", "model", "revision", "head_type")}
            d = PublishedDataset(paper=papers[row["paper"]], model=models[(row["model"], row["revision"])],
                                 head_type=types[row["head_type"]] if row["head_type"] else None, **values)
            s.add(d)
            datasets[d.slug] = d
        s.flush()
        for row in tables["published_values"]:
            d = datasets[row["dataset"]]
            s.add(PublishedValue(dataset=d, head=head(d.model, row["layer"], row["head"]), value=row["value"], role=row["role"]))
        runs: dict[int, DetectorRun] = {}
        for row in tables["detector_runs"]:
            values = {k: v for k, v in row.items() if k not in ("run", "model", "revision", "started_at", "finished_at")}
            r = DetectorRun(model=models[(row["model"], row["revision"])],
                            started_at=dt.datetime.fromisoformat(row["started_at"]),
                            finished_at=dt.datetime.fromisoformat(row["finished_at"]) if row["finished_at"] else None,
                            **values)
            s.add(r)
            runs[row["run"]] = r
        s.flush()
        for row in tables["head_scores"]:
            r = runs[row["run"]]
            s.add(HeadScore(run=r, head_type=types[row["head_type"]], head=head(r.model, row["layer"], row["head"]),
                            **{k: row[k] for k in ("score", "rank", "components", "ci_low", "ci_high", "p_value", "q_value")}))
        for row in tables["head_labels"]:
            r = runs[row["run"]]
            s.add(HeadLabel(run=r, head_type=types[row["head_type"]], head=head(r.model, row["layer"], row["head"]),
                            score=row["score"], evidence=row["evidence"]))
        s.flush()
    return {table: len(tables[table]) for table in TABLES}


def row_counts(tables: dict[str, Iterable[Any]]) -> str:
    return ", ".join(f"{len(list(rows))} {table.replace('_', ' ')}" for table, rows in tables.items())
