"""Reading stored circuits: typed records, and the graph as plain data or a networkx DiGraph."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from headdb.db.models import Circuit, Model

if TYPE_CHECKING:
    import networkx as nx


@dataclasses.dataclass(frozen=True)
class CircuitEdgeInfo:
    sender: str
    receiver: str  # a node, or a head's input: "a2.h0<q>"
    score: float
    in_circuit: bool

    @property
    def target(self) -> str:
        """The node the edge enters (``a2.h0<q>`` -> ``a2.h0``)."""
        return self.receiver.split("<")[0]


@dataclasses.dataclass(frozen=True)
class CircuitInfo:
    id: int
    model: str
    revision: str
    task: str
    metric: str
    method: str
    config: dict[str, Any]
    n_prompts: int
    faithfulness: float | None
    clean_metric: float
    corrupted_metric: float
    circuit_metric: float
    n_edges: int
    n_edges_total: int
    curve: tuple[tuple[int, float], ...]
    heads: tuple[str, ...]  # coordinates "L.H" of the heads in the circuit
    started_at: dt.datetime
    timings: dict[str, float]
    edges: tuple[CircuitEdgeInfo, ...] = ()

    def graph(self, as_networkx: bool = False, circuit_only: bool = True) -> dict[str, Any] | nx.DiGraph:
        """The circuit as {"nodes": [...], "edges": [...]} (or a networkx DiGraph with a ``score``
        and ``receiver`` on every edge); ``circuit_only=False`` keeps every scored edge."""
        edges = [e for e in self.edges if e.in_circuit or not circuit_only]
        nodes = sorted({e.sender for e in edges} | {e.target for e in edges})
        if not as_networkx:
            return {"nodes": nodes, "edges": [dataclasses.asdict(e) for e in edges]}
        import networkx as nx

        graph = nx.DiGraph(task=self.task, model=self.model, faithfulness=self.faithfulness)
        graph.add_nodes_from(nodes)
        for e in edges:
            # A sender may reach one head through q, k and v: one graph edge, scores summed.
            if graph.has_edge(e.sender, e.target):
                graph[e.sender][e.target]["score"] += e.score
                graph[e.sender][e.target]["receivers"].append(e.receiver)
            else:
                graph.add_edge(e.sender, e.target, score=e.score, receivers=[e.receiver], in_circuit=e.in_circuit)
        return graph


def circuit_info(c: Circuit, with_edges: bool = True) -> CircuitInfo:
    heads = sorted((n.layer, n.head) for n in c.nodes if n.kind == "head" and n.in_circuit)
    return CircuitInfo(
        id=c.id, model=c.model.name, revision=c.model.revision, task=c.task, metric=c.metric, method=c.method,
        config=dict(c.config), n_prompts=c.n_prompts, faithfulness=c.faithfulness, clean_metric=c.clean_metric,
        corrupted_metric=c.corrupted_metric, circuit_metric=c.circuit_metric, n_edges=c.n_edges,
        n_edges_total=c.n_edges_total, curve=tuple((int(n), float(f)) for n, f in c.curve),
        heads=tuple(f"{l}.{h}" for l, h in heads), started_at=c.started_at, timings=dict(c.timings),
        edges=tuple(CircuitEdgeInfo(e.sender, e.receiver, e.score, e.in_circuit) for e in c.edges) if with_edges else (),
    )


def circuits(session: Session, model: Model | None = None, task: str | None = None,
             with_edges: bool = True) -> list[CircuitInfo]:
    """Stored circuits, newest first, of one model and/or task."""
    query = select(Circuit).options(selectinload(Circuit.model), selectinload(Circuit.nodes))
    if with_edges:
        query = query.options(selectinload(Circuit.edges))
    if model is not None:
        query = query.where(Circuit.model_id == model.id)
    if task is not None:
        query = query.where(Circuit.task == task)
    return [circuit_info(c, with_edges) for c in session.scalars(query.order_by(Circuit.id.desc()))]
