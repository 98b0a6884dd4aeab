"""Storing discovered circuits, and the ``headdb circuit`` job: compute with no transaction open,
then write the circuit, its nodes and every scored edge in one writer transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from headdb.api import HeadDB
from headdb.circuits.discover import CircuitConfig, CircuitResult, discover
from headdb.circuits.tasks import build_task
from headdb.db.engine import write_session
from headdb.db.migrate import ensure_current
from headdb.db.models import Circuit, CircuitEdge, CircuitNode, Model, model_name_key
from headdb.detectors.context import ModelContext
from headdb.jobs.loading import LoadedModel


def config_fingerprint(config: CircuitConfig) -> str:
    return hashlib.sha256(json.dumps(dataclasses.asdict(config), sort_keys=True).encode()).hexdigest()


def _node_rows(circuit_id: int, result: CircuitResult) -> list[dict[str, object]]:
    inside = result.nodes()
    rows = []
    for name in ["input", *(n for n in result.graph.senders if n != "input"), "logits"]:
        if name == "input" or name == "logits":
            kind, layer, head = name, None, None
        elif name.startswith("m"):
            kind, layer, head = "mlp", int(name[1:]), None
        else:
            layer_text, head_text = name[1:].split(".h")
            kind, layer, head = "head", int(layer_text), int(head_text)
        rows.append({"circuit_id": circuit_id, "name": name, "kind": kind, "layer": layer, "head": head,
                     "in_circuit": name in inside})
    return rows


def find_equivalent(session: Session, model: Model, result: CircuitResult, weights: str) -> Circuit | None:
    return session.scalar(
        select(Circuit).where(
            Circuit.model_id == model.id, Circuit.task == result.task.name,
            Circuit.data_fingerprint == result.task.fingerprint,
            Circuit.config_fingerprint == config_fingerprint(result.config),
            Circuit.weights_fingerprint == weights,
        ).order_by(Circuit.id.desc())
    )


def store_circuit(session: Session, model: Model, result: CircuitResult, weights: str,
                  versions: dict[str, str], started: dt.datetime) -> Circuit:
    """Write ``result`` for ``model`` inside the caller's transaction; returns the row."""
    faith = result.faithfulness
    circuit = Circuit(
        model=model, task=result.task.name, data_fingerprint=result.task.fingerprint, n_prompts=len(result.task),
        metric=result.task.metric_name, method=result.config.method, config=dataclasses.asdict(result.config),
        config_fingerprint=config_fingerprint(result.config), weights_fingerprint=weights,
        library_versions=versions, started_at=started, timings={k: round(v, 3) for k, v in result.timings.items()},
        clean_metric=result.clean_metric, corrupted_metric=result.corrupted_metric,
        circuit_metric=result.circuit_metric, faithfulness=None if faith != faith else faith,
        n_edges_total=result.graph.n_edges, n_edges=int(result.chosen.sum()), n_nodes=len(result.nodes()),
        curve=[[n, f] for n, f in result.curve],
    )
    session.add(circuit)
    session.flush()
    session.execute(insert(CircuitNode), _node_rows(circuit.id, result))
    session.execute(insert(CircuitEdge), [
        {"circuit_id": circuit.id, "sender": s, "receiver": r, "score": score, "in_circuit": inside}
        for s, r, score, inside in result.edges()
    ])
    return circuit


@dataclass
class CircuitOutcome:
    circuit_id: int
    status: str  # stored | unchanged
    result: CircuitResult | None  # None when an equivalent circuit was stored before


def run_circuit(db: HeadDB, loaded: LoadedModel, task: str, config: CircuitConfig | None = None, *,
                batch_size: int | None = None, force: bool = False) -> CircuitOutcome:
    """Discover the circuit of ``task`` on ``loaded`` and store it (or find it stored already)."""
    from headdb.jobs.runner import _upsert_model, _now, check_shape, library_versions

    ensure_current(db.engine)
    config = config or CircuitConfig()
    ctx = ModelContext(loaded.bridge, batch_size=batch_size, probes=loaded.probes)
    with Session(db.engine) as session:
        check_shape(session, loaded, ctx)
    circuit_task = build_task(ctx.view, task, config.n_prompts, config.seed)
    if not force:
        with Session(db.engine) as session:
            stored = session.scalar(
                select(Circuit.id).join(Model).where(
                    Model.name_key == model_name_key(loaded.name), Model.revision == loaded.revision,
                    Circuit.task == circuit_task.name, Circuit.data_fingerprint == circuit_task.fingerprint,
                    Circuit.config_fingerprint == config_fingerprint(config),
                    Circuit.weights_fingerprint == loaded.weights_fingerprint,
                )
            )
        if stored is not None:
            return CircuitOutcome(stored, "unchanged", None)
    started = _now()
    result = discover(ctx, circuit_task, config)  # the slow part, with no transaction open
    with write_session(db.engine) as session:
        model = _upsert_model(session, loaded, ctx)
        existing = find_equivalent(session, model, result, loaded.weights_fingerprint)
        if existing is not None and not force:
            return CircuitOutcome(existing.id, "unchanged", result)
        if existing is not None:
            session.delete(existing)
        circuit = store_circuit(session, model, result, loaded.weights_fingerprint, library_versions(), started)
        return CircuitOutcome(circuit.id, "stored", result)
