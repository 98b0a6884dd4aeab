"""What one sweep job runs, in its own process (a submitit job: a local subprocess or a Slurm
task): load the model at its revision, run the detectors, store the results.

The job writes straight to the database through ``run_detectors``, which computes with no
transaction open and then stores every run, score and label of the job in one transaction under
headdb's writer lock, looking again inside it for equivalent runs: concurrent jobs (and
concurrent sweeps) never duplicate a model or a run, and a failed job stores nothing.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from typing import Any

from headdb.sweep.specs import SweepTask


@dataclasses.dataclass(frozen=True)
class JobSettings:
    """Everything a job needs besides its task; pickled with it."""

    url: str
    detectors: tuple[str, ...] | None = None
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int | None = None  # None: from the free memory of the machine the job runs on
    force: bool = False
    trust_remote_code: bool = False


def run_task(task: SweepTask, settings: JobSettings) -> dict[str, Any]:
    """Run one job; returns what it stored (a summary, also printed to the job's log)."""
    from headdb.api import HeadDB
    from headdb.jobs.loading import load_model
    from headdb.jobs.runner import run_detectors

    started = time.perf_counter()
    print(f"headdb sweep job: {task.label} on {platform.node()} (pid {os.getpid()})", flush=True)
    loaded = load_model(task.source, name=task.name, revision=task.revision or None, device=settings.device,
                        dtype=settings.dtype, trust_remote_code=settings.trust_remote_code)
    db = HeadDB(settings.url)
    try:
        outcomes = run_detectors(db, loaded, list(settings.detectors) if settings.detectors else None,
                                 batch_size=settings.batch_size, force=settings.force)
    finally:
        db.engine.dispose()
    result = {
        "model": loaded.name,
        "revision": loaded.revision,
        "step": loaded.step,
        "weights": loaded.weights_fingerprint,
        "outcomes": [
            {"detector": o.detector, "status": o.status, "reason": o.reason, "run_id": o.run_id,
             "labels": {t: list(h) for t, h in o.labels.items()}}
            for o in outcomes
        ],
        "seconds": round(time.perf_counter() - started, 2),
    }
    for o in result["outcomes"]:
        print(f"  {o['detector']}: {o['status']} {o['reason']}".rstrip(), flush=True)
    return result
