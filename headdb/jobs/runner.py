"""Run detectors on a loaded model and store the outcome.

A job (1) reads which detectors are unchanged since their last successful run, in a short
read-only transaction; (2) computes every other detector with no transaction open; (3) writes
all runs, scores and labels in one transaction that holds headdb's writer lock
(``write_session``). Inside that transaction it looks again for an equivalent run, so concurrent
jobs on one model store one run, not several. An interrupted job leaves the database as it was;
a detector that raises leaves no scores at all (its failure is recorded as a failed run, and the
job exits with the error). ``force`` replaces the equivalent run instead of skipping.
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

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from headdb.api import HeadDB
from headdb.catalog.ingest import add_missing_head_types
from headdb.db.engine import write_session
from headdb.db.migrate import ensure_current
from headdb.db.models import DetectorRun, Head, HeadLabel, HeadScore, HeadType, Model, model_name_key
from headdb.detectors import Detector, HeadTypeScores, ModelContext, default_suite, get_detector
from headdb.errors import DetectJobError, ModelLoadError
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


def config_fingerprint(detector: Detector) -> str:
    """The fingerprint of a detector's configuration, as stored with its runs."""
    return _sha(detector.config_dict())


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


def find_model(session: Session, name: str, revision: str) -> Model | None:
    """The stored model with this identity (name compared by ``model_name_key``)."""
    return session.scalar(select(Model).where(Model.name_key == model_name_key(name), Model.revision == revision))


def check_shape(session: Session, loaded: LoadedModel, ctx: ModelContext) -> None:
    """Refuse, before any computation, to store a model under an identity whose stored shape differs."""
    model = find_model(session, loaded.name, loaded.revision)
    if model is None or model.n_layers is None:
        return
    if (model.n_layers, model.n_heads) != (ctx.n_layers, ctx.n_heads):
        raise ModelLoadError(
            f"model {model.name!r} in the database has {model.n_layers} layers x {model.n_heads} heads, "
            f"but the loaded model has {ctx.n_layers} x {ctx.n_heads}; store it under another --name"
        )


def _upsert_model(session: Session, loaded: LoadedModel, ctx: ModelContext) -> Model:
    model = find_model(session, loaded.name, loaded.revision)
    if model is None:
        model = Model(name=loaded.name, revision=loaded.revision)
        session.add(model)
    model.source = loaded.source
    model.source_kind = loaded.source_kind
    model.step = loaded.step
    model.weights_fingerprint = loaded.weights_fingerprint
    model.architecture = loaded.architecture or model.architecture
    model.n_layers, model.n_heads, model.n_kv_heads = ctx.n_layers, ctx.n_heads, ctx.n_kv_heads
    model.d_model, model.d_head, model.d_vocab = ctx.d_model, ctx.d_head, ctx.d_vocab
    model.n_params = loaded.n_params
    session.flush()
    return model


def _heads(session: Session, model: Model, n_layers: int, n_heads: int) -> dict[tuple[int, int], int]:
    existing = {(h.layer, h.head): h for h in session.scalars(select(Head).where(Head.model_id == model.id))}
    for layer in range(n_layers):
        for head in range(n_heads):
            if (layer, head) not in existing:
                existing[(layer, head)] = Head(model=model, layer=layer, head=head)
                session.add(existing[(layer, head)])
    session.flush()
    return {k: h.id for k, h in existing.items()}


def _previous_runs(session: Session, loaded: LoadedModel, c: _Computed) -> list[DetectorRun]:
    meta = c.detector.metadata
    return list(
        session.scalars(
            select(DetectorRun)
            .join(Model)
            .where(
                Model.name_key == model_name_key(loaded.name),
                Model.revision == loaded.revision,
                DetectorRun.detector == meta.name,
                DetectorRun.detector_version == meta.version,
                DetectorRun.config_fingerprint == c.config_fp,
                DetectorRun.data_fingerprint == c.data_fp,
                DetectorRun.weights_fingerprint == loaded.weights_fingerprint,
                DetectorRun.device == loaded.device,
                DetectorRun.dtype == loaded.dtype,
                DetectorRun.status == "succeeded",
            )
            .order_by(DetectorRun.id)
        )
    )


def run_detectors(
    db: HeadDB,
    loaded: LoadedModel,
    detectors: Sequence[str] | None = None,
    *,
    batch_size: int | None = None,
    force: bool = False,
    progress: bool = False,
) -> list[DetectorOutcome]:
    """Run ``detectors`` (default: the default suite) on ``loaded`` and store the results."""
    ensure_current(db.engine)
    names = list(detectors) if detectors else default_suite()
    classes = [get_detector(n) for n in names]
    bar = _Progress(len(classes), progress)
    ctx = ModelContext(loaded.bridge, batch_size=batch_size, progress=bar.batch, probes=loaded.probes)
    outcomes: dict[str, DetectorOutcome] = {}
    pending: list[_Computed] = []
    with Session(db.engine) as session:  # a short read: what is unchanged, and is the shape right
        check_shape(session, loaded, ctx)
        for cls in classes:
            detector = cls()
            meta = detector.metadata
            reason = detector.applicable(ctx)
            if reason is not None:
                outcomes[meta.name] = DetectorOutcome(meta.name, "not-applicable", reason)
                continue
            c = _Computed(detector, config_fingerprint(detector), _sha(detector.data_fingerprints(ctx)), _now(), 0.0)
            previous = _previous_runs(session, loaded, c)
            if previous and not force:
                outcomes[meta.name] = DetectorOutcome(
                    meta.name, "skipped", f"unchanged since run {previous[-1].id}; use --force to rerun",
                    run_id=previous[-1].id,
                )
                continue
            pending.append(c)
    try:
        for c in pending:  # the slow part, with no transaction open
            bar.detector(c.detector.metadata.name)
            t0 = time.perf_counter()
            c.started = _now()
            try:
                c.scores = c.detector.score(ctx)
            except Exception as exc:  # a detector bug must not take the others' results down silently
                c.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
            c.duration = time.perf_counter() - t0
            bar.step()
    finally:
        bar.close()

    failed = [c for c in pending if c.error is not None]
    with write_session(db.engine) as session:
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
            _write_all(session, model, pending, loaded, ctx, versions, force, outcomes)
    if failed:
        details = "; ".join(f"{c.detector.metadata.name}: {(c.error or '').splitlines()[0]}" for c in failed)
        raise DetectJobError(f"detector(s) failed, so no scores were stored: {details}")
    return [outcomes[n] for n in names if n in outcomes]


def _write_all(session: Session, model: Model, pending: list[_Computed], loaded: LoadedModel, ctx: ModelContext,
               versions: dict[str, str], force: bool, outcomes: dict[str, DetectorOutcome]) -> None:
    head_ids = _heads(session, model, ctx.n_layers, ctx.n_heads)
    wanted = {r.head_type for c in pending for r in c.scores or []}
    add_missing_head_types(session, wanted)  # first use: the packaged taxonomy, no ingest needed
    types = {ht.slug: ht.id for ht in session.scalars(select(HeadType).where(HeadType.slug.in_(wanted)))}
    for c in pending:
        name = c.detector.metadata.name
        previous = _previous_runs(session, loaded, c)
        if previous and not force:  # another job stored the same run while this one computed
            outcomes[name] = DetectorOutcome(name, "skipped", f"stored meanwhile by another job as run {previous[-1].id}",
                                             run_id=previous[-1].id)
            continue
        for old in previous:
            session.delete(old)  # --force replaces the equivalent run instead of duplicating it
        run = _run_row(model, c, loaded, versions)
        session.add(run)
        session.flush()
        circuit_ids = _write_circuits(session, model, c, loaded, versions)
        labelled = _write_scores(session, run.id, c, head_ids, types, circuit_ids)
        outcomes[name] = DetectorOutcome(name, "succeeded", "", c.duration, run.id, labelled)


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


def _write_circuits(session: Session, model: Model, c: _Computed, loaded: LoadedModel,
                    versions: dict[str, str]) -> dict[int, int]:
    """Store the circuits circuit-defined detectors read their labels from (reusing an equivalent
    stored one); returns {id(result object): circuit row id}."""
    from headdb.circuits.store import find_equivalent, store_circuit

    ids: dict[int, int] = {}
    for result in c.scores or []:
        for circuit in result.circuits:
            if id(circuit) in ids:
                continue
            stored = find_equivalent(session, model, circuit, loaded.weights_fingerprint)
            if stored is None:
                stored = store_circuit(session, model, circuit, loaded.weights_fingerprint, versions, c.started)
            ids[id(circuit)] = stored.id
    return ids


def _number(value: Any) -> float | None:
    value = float(value)
    return None if value != value else value  # NaN is stored as NULL


def _write_scores(session: Session, run_id: int, c: _Computed, head_ids: dict[tuple[int, int], int],
                  types: dict[str, int], circuit_ids: dict[int, int]) -> dict[str, list[str]]:
    labelled: dict[str, list[str]] = {}
    score_rows: list[dict[str, Any]] = []
    label_rows: list[dict[str, Any]] = []
    for result in c.scores or []:
        type_id = types[result.head_type]
        ranks = result.ranks
        for (layer, head), head_id in head_ids.items():
            value = float(result.scores[layer, head])
            score_rows.append({
                "run_id": run_id, "head_type_id": type_id, "head_id": head_id, "score": value,
                "rank": int(ranks[layer, head]),
                "components": {k: _number(v[layer, head]) for k, v in result.components.items()},
                "ci_low": _number(result.ci_low[layer, head]) if result.ci_low is not None else None,
                "ci_high": _number(result.ci_high[layer, head]) if result.ci_high is not None else None,
                "p_value": _number(result.p_value[layer, head]) if result.p_value is not None else None,
                "q_value": _number(result.q_value[layer, head]) if result.q_value is not None else None,
            })
            if bool(result.labels[layer, head]):
                which = result.label_circuit.get((layer, head))
                circuit = circuit_ids[id(result.circuits[which])] if which is not None else None
                label_rows.append({"run_id": run_id, "head_type_id": type_id, "head_id": head_id, "score": value,
                                   "evidence": result.evidence(layer, head), "circuit_id": circuit})
        labelled[result.head_type] = [f"{l}.{h}" for l, h in result.labelled()]
    if score_rows:
        session.execute(insert(HeadScore), score_rows)
    if label_rows:
        session.execute(insert(HeadLabel), label_rows)
    return labelled
