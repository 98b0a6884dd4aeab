"""Run detectors on a loaded model and store the outcome.

All detectors are computed first, with nothing written; then every run, score and label is
written in one transaction. An interrupted job therefore leaves the database as it was, and a
detector that raises leaves no scores at all (its failure is recorded as a failed run with the
error, and the job exits with that error). A detector whose model, version, configuration and
data are unchanged since its last successful run is skipped unless ``force`` is set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from headdb.api import HeadDB
from headdb.db.migrate import ensure_current
from headdb.db.models import DetectorRun, Head, HeadLabel, HeadScore, HeadType, Model
from headdb.detectors import REGISTRY, Detector, HeadTypeScores, ModelContext, get_detector
from headdb.errors import DetectJobError
from headdb.jobs.loading import LoadedModel


@dataclass
class DetectorOutcome:
    detector: str
    status: str  # succeeded | skipped | not-applicable | failed
    reason: str = ""
    duration_s: float = 0.0
    run_id: int | None = None
    labels: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Computed:
    detector: Detector
    config_fp: str
    data_fp: str
    started: dt.datetime
    duration: float
    scores: list[HeadTypeScores] | None = None
    error: str | None = None


def _sha(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for package in ("headdb", "torch", "transformer_lens", "transformers"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    return versions


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class _Progress:
    """tqdm bars on stderr: one over detectors, one over the current detector's batches."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.enabled = enabled
        if enabled:
            from tqdm import tqdm

            self.outer = tqdm(total=total, desc="detectors", unit="det", file=sys.stderr, position=0)
            self.inner = tqdm(total=0, desc="", unit="prompt", file=sys.stderr, position=1, leave=False)

    def batch(self, label: str, done: int, total: int) -> None:
        if self.enabled:
            self.inner.set_description(label, refresh=False)
            self.inner.total = total
            self.inner.n = done
            self.inner.refresh()

    def detector(self, name: str) -> None:
        if self.enabled:
            self.outer.set_postfix_str(name)

    def step(self) -> None:
        if self.enabled:
            self.outer.update(1)

    def close(self) -> None:
        if self.enabled:
            self.inner.close()
            self.outer.close()


def _upsert_model(session: Session, loaded: LoadedModel, ctx: ModelContext) -> Model:
    model = session.scalar(select(Model).where(Model.name == loaded.name))
    if model is None:
        model = Model(name=loaded.name)
        session.add(model)
    model.source = loaded.source
    model.revision = loaded.revision
    model.weights_fingerprint = loaded.weights_fingerprint
    model.architecture = loaded.architecture or model.architecture
    model.n_layers, model.n_heads, model.n_kv_heads = ctx.n_layers, ctx.n_heads, ctx.n_kv_heads
    model.d_model, model.d_head, model.d_vocab = ctx.d_model, ctx.d_head, ctx.d_vocab
    model.n_params = loaded.n_params
    session.flush()
    return model


def _heads(session: Session, model: Model, n_layers: int, n_heads: int) -> dict[tuple[int, int], Head]:
    existing = {(h.layer, h.head): h for h in session.scalars(select(Head).where(Head.model_id == model.id))}
    for layer in range(n_layers):
        for head in range(n_heads):
            if (layer, head) not in existing:
                existing[(layer, head)] = Head(model=model, layer=layer, head=head)
                session.add(existing[(layer, head)])
    session.flush()
    return existing


def _previous_runs(session: Session, model_name: str, c: _Computed, loaded: LoadedModel) -> list[DetectorRun]:
    meta = c.detector.metadata
    return list(
        session.scalars(
            select(DetectorRun)
            .join(Model)
            .where(
                Model.name == model_name,
                DetectorRun.detector == meta.name,
                DetectorRun.detector_version == meta.version,
                DetectorRun.config_fingerprint == c.config_fp,
                DetectorRun.data_fingerprint == c.data_fp,
                DetectorRun.weights_fingerprint == loaded.weights_fingerprint,
                DetectorRun.device == loaded.device,
                DetectorRun.dtype == loaded.dtype,
                DetectorRun.status == "succeeded",
            )
        )
    )


def run_detectors(
    db: HeadDB,
    loaded: LoadedModel,
    detectors: Sequence[str] | None = None,
    *,
    batch_size: int = 16,
    force: bool = False,
    progress: bool = False,
) -> list[DetectorOutcome]:
    """Run ``detectors`` (default: all registered) on ``loaded`` and store the results."""
    ensure_current(db.engine)
    names = list(detectors) if detectors else sorted(REGISTRY)
    classes = [get_detector(n) for n in names]
    bar = _Progress(len(classes), progress)
    ctx = ModelContext(loaded.bridge, batch_size=batch_size, progress=bar.batch)
    outcomes: dict[str, DetectorOutcome] = {}
    computed: list[_Computed] = []
    try:
        with Session(db.engine) as session:
            for cls in classes:
                detector = cls()
                meta = detector.metadata
                bar.detector(meta.name)
                reason = detector.applicable(ctx)
                if reason is not None:
                    outcomes[meta.name] = DetectorOutcome(meta.name, "not-applicable", reason)
                    bar.step()
                    continue
                c = _Computed(
                    detector,
                    config_fp=_sha(detector.config_dict()),
                    data_fp=_sha(detector.data_fingerprints(ctx)),
                    started=_now(),
                    duration=0.0,
                )
                previous = _previous_runs(session, loaded.name, c, loaded)
                if previous and not force:
                    outcomes[meta.name] = DetectorOutcome(
                        meta.name, "skipped", f"unchanged since run {previous[-1].id}; use --force to rerun",
                        run_id=previous[-1].id,
                    )
                    bar.step()
                    continue
                t0 = time.perf_counter()
                try:
                    c.scores = detector.score(ctx)
                except Exception as exc:  # a detector bug must not take the others' results down silently
                    c.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
                c.duration = time.perf_counter() - t0
                computed.append(c)
                bar.step()
    finally:
        bar.close()

    failed = [c for c in computed if c.error is not None]
    with Session(db.engine) as session, session.begin():
        model = _upsert_model(session, loaded, ctx)
        versions = library_versions()
        if failed:
            # No scores at all when any detector failed; the failures are kept for diagnosis.
            for c in failed:
                session.add(_run_row(model, c, loaded, versions))
                outcomes[c.detector.metadata.name] = DetectorOutcome(
                    c.detector.metadata.name, "failed", (c.error or "").splitlines()[0], c.duration
                )
        else:
            heads = _heads(session, model, ctx.n_layers, ctx.n_heads)
            types = {ht.slug: ht for ht in session.scalars(select(HeadType))}
            for c in computed:
                for old in _previous_runs(session, loaded.name, c, loaded):
                    session.delete(old)  # --force replaces the equivalent run instead of duplicating it
                run = _run_row(model, c, loaded, versions)
                session.add(run)
                labelled = _write_scores(session, run, c, heads, types)
                session.flush()
                name = c.detector.metadata.name
                outcomes[name] = DetectorOutcome(name, "succeeded", "", c.duration, run.id, labelled)
    if failed:
        details = "; ".join(f"{c.detector.metadata.name}: {(c.error or '').splitlines()[0]}" for c in failed)
        raise DetectJobError(f"detector(s) failed, so no scores were stored: {details}")
    return [outcomes[n] for n in names if n in outcomes]


def _run_row(model: Model, c: _Computed, loaded: LoadedModel, versions: dict[str, str]) -> DetectorRun:
    meta = c.detector.metadata
    return DetectorRun(
        model=model,
        detector=meta.name,
        detector_version=meta.version,
        config=c.detector.config_dict(),
        config_fingerprint=c.config_fp,
        data_fingerprint=c.data_fp,
        weights_fingerprint=loaded.weights_fingerprint,
        library_versions=versions,
        device=loaded.device,
        dtype=loaded.dtype,
        started_at=c.started,
        finished_at=c.started + dt.timedelta(seconds=c.duration),
        duration_s=c.duration,
        status="failed" if c.error else "succeeded",
        error=c.error,
    )


def _write_scores(
    session: Session,
    run: DetectorRun,
    c: _Computed,
    heads: dict[tuple[int, int], Head],
    types: dict[str, HeadType],
) -> dict[str, list[str]]:
    labelled: dict[str, list[str]] = {}
    for result in c.scores or []:
        head_type = types.get(result.head_type)
        if head_type is None:
            raise DetectJobError(
                f"detector {c.detector.metadata.name!r} scores head type {result.head_type!r}, which "
                "is not in the database; run `headdb ingest` first"
            )
        ranks = result.ranks
        for (layer, head), row in heads.items():
            value = float(result.scores[layer, head])
            session.add(
                HeadScore(
                    run=run,
                    head_type=head_type,
                    head=row,
                    score=value,
                    rank=int(ranks[layer, head]),
                    components={k: float(v[layer, head]) for k, v in result.components.items()},
                )
            )
            if bool(result.labels[layer, head]):
                session.add(HeadLabel(run=run, head_type=head_type, head=row, score=value))
        labelled[result.head_type] = [f"{l}.{h}" for l, h in result.labelled()]
    return labelled
