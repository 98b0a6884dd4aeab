"""The ground-truth zoo: registered model specs with validated metadata, and a content-hashed
cache that builds each model once for the tests, the validation report and the main job.

Three kinds of entry:
- ``trained``: a small transformer trained from scratch on the zoo's synthetic tasks
  (``headdb.zoo.tasks``); its roles come from ablation (``headdb.zoo.groundtruth``);
- ``planted``: weights set by hand (``headdb.zoo.planted``); its roles come from construction;
- ``control``: the random initialisation of an architecture; no head has any role.

A built model is a Hugging Face directory holding the weights, tokenizer, the probe file the
detectors may read (``headdb_probes.json``), ``ground_truth.json`` (which the detectors never
read), ``build.json`` (timings, losses, versions) and, for trained models, ``checkpoints/step-N``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ZOO_FORMAT = "1"  # bump when the file layout of a built model changes
# The code each kind of model depends on (relative to headdb/): its hash is part of the model's
# fingerprint, so editing a task, the training loop or the ground-truth rules rebuilds the models
# they shape, and only those.
_SOURCES = {
    "trained": ("zoo/language.py", "zoo/tasks.py", "zoo/train.py", "zoo/groundtruth.py", "zoo/ablation.py"),
    "planted": ("zoo/planted.py", "detectors/datasets/words.py"),
    "control": ("zoo/language.py", "zoo/train.py", "zoo/planted.py", "detectors/datasets/words.py"),
}
# Fields that describe a spec without changing the model it builds.
_NOT_BUILT = {"description", "fast"}
GROUND_TRUTH_FILE = "ground_truth.json"
BUILD_FILE = "build.json"
ALL_TYPES = (
    "previous-token", "duplicate-token", "induction", "successor", "name-mover",
    "negative-name-mover", "backup-name-mover", "s-inhibition", "mover", "relation",
)


class ZooSpec(BaseModel):
    """One zoo model: how it is made, and (for trained ones) what it learns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^zoo-[a-z0-9-]+$")
    kind: Literal["trained", "planted", "control"]
    architecture: Literal["gpt2", "neox", "llama"]
    description: str
    fast: bool = False  # part of the fast subset the test suite builds
    n_layers: int = Field(default=2, gt=0)
    n_heads: int = Field(default=4, gt=0)
    n_kv_heads: int | None = None
    d_model: int = 64
    d_mlp: int = 256
    n_ctx: int = 32  # the training length: detectors then probe only positions the model was trained on
    tasks: dict[str, float] = Field(default_factory=dict)
    steps: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    checkpoints: int = 0
    seed: int = 0
    language: Literal["zoo", "english"] = "zoo"
    control_of: str | None = None  # a control copies this spec's shape, untrained

    @model_validator(mode="after")
    def _consistent(self) -> ZooSpec:
        from headdb.zoo.tasks import TRAINING

        unknown = set(self.tasks) - set(TRAINING)
        if unknown:
            raise ValueError(f"{self.name}: unknown tasks {sorted(unknown)}")
        if self.kind == "trained" and (not self.tasks or self.steps <= 0):
            raise ValueError(f"{self.name}: a trained model needs tasks and steps")
        if self.n_heads % (self.n_kv_heads or self.n_heads):
            raise ValueError(f"{self.name}: n_heads must be a multiple of n_kv_heads")
        return self

    def fingerprint(self) -> str:
        """Content hash of everything that determines the built model."""
        import torch
        import transformers

        payload = {"spec": self.model_dump(mode="json", exclude=_NOT_BUILT), "format": ZOO_FORMAT,
                   "code": _code_hash(self.kind), "torch": torch.__version__, "transformers": transformers.__version__}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _code_hash(kind: str) -> str:
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in _SOURCES[kind]:
        digest.update((package / name).read_bytes())
    return digest.hexdigest()


_INDUCTION_TASKS = {"copy": 0.75, "chain": 0.25}

ZOO: dict[str, ZooSpec] = {
    spec.name: spec
    for spec in (
        ZooSpec(name="zoo-planted", kind="planted", architecture="gpt2", language="english", fast=True,
                n_layers=3, n_heads=4, d_model=768, d_mlp=3072, n_ctx=128,
                description="GPT-2 layout with hand-set weights: one clean head of each detector type, "
                "zero MLPs (the original planted model)."),
        ZooSpec(name="zoo-planted-hard", kind="planted", architecture="gpt2", language="english", fast=True,
                n_layers=3, n_heads=8, d_model=768, d_mlp=3072, n_ctx=128,
                description="Planted heads among distractors: partial patterns (0.3-0.45 of attention on "
                "the target), attention-sink heads, a head that copies without attending, one that "
                "attends without copying, random non-zero MLPs."),
        ZooSpec(name="zoo-gpt2-induction", kind="trained", architecture="gpt2", fast=True,
                tasks=_INDUCTION_TASKS, steps=3500, checkpoints=7,
                description="GPT-2 (learned positions, LayerNorm, GELU MLPs), 2 layers x 4 heads, trained "
                "on recurring spans of random words and skip-bigram chains."),
        ZooSpec(name="zoo-neox-induction", kind="trained", architecture="neox",
                tasks=_INDUCTION_TASKS, steps=3500, checkpoints=7,
                description="GPT-NeoX/Pythia layout (rotary on a quarter of each head, parallel attention "
                "and MLP), 2 layers x 4 heads, same tasks as zoo-gpt2-induction."),
        ZooSpec(name="zoo-llama-induction", kind="trained", architecture="llama", n_kv_heads=2, d_mlp=172,
                tasks=_INDUCTION_TASKS, steps=3500, checkpoints=7,
                description="Llama layout (RMSNorm, rotary, SwiGLU, grouped-query attention with 2 key/value "
                "heads), 2 layers x 4 heads, same tasks as zoo-gpt2-induction."),
        ZooSpec(name="zoo-llama-lookup", kind="trained", architecture="llama", n_kv_heads=2, d_mlp=172,
                tasks={"successor": 0.4, "lookup": 0.4, "greater": 0.2}, steps=1500, checkpoints=4,
                description="Llama layout, 2 layers x 4 heads, trained on ordinal successors ('X ... next'), "
                "a subject-relation-object lookup ('S R is' -> O) and year spans ('from 17 32 to 17' -> a "
                "later year)."),
        ZooSpec(name="zoo-gpt2-ioi", kind="trained", architecture="gpt2", n_layers=3,
                tasks={"ioi": 0.7, "copy": 0.3}, steps=2000, checkpoints=4,
                description="GPT-2 layout, 3 layers x 4 heads, trained on an indirect-object task with both "
                "name orders, mixed with recurring spans."),
        ZooSpec(name="zoo-control-gpt2", kind="control", architecture="gpt2", fast=True,
                control_of="zoo-gpt2-induction", description="Random initialisation of zoo-gpt2-induction's shape."),
        ZooSpec(name="zoo-control-neox", kind="control", architecture="neox", fast=True,
                control_of="zoo-neox-induction", description="Random initialisation of zoo-neox-induction's shape."),
        ZooSpec(name="zoo-control-llama", kind="control", architecture="llama", fast=True, n_kv_heads=2, d_mlp=172,
                control_of="zoo-llama-lookup", description="Random initialisation of zoo-llama-lookup's shape."),
        ZooSpec(name="zoo-control-planted", kind="control", architecture="gpt2", language="english", fast=True,
                n_layers=3, n_heads=4, d_model=768, d_mlp=3072, n_ctx=128, control_of="zoo-planted",
                description="Random initialisation of zoo-planted's shape and English vocabulary."),
    )
}


def default_cache() -> Path:
    """``$HEADDB_ZOO_CACHE``, else ``~/.cache/headdb/zoo``."""
    configured = os.environ.get("HEADDB_ZOO_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "headdb" / "zoo"


def model_dir(spec: ZooSpec, cache: Path | None = None) -> Path:
    return (cache or default_cache()) / f"{spec.name}-{spec.fingerprint()[:12]}"


def read_ground_truth(directory: Path) -> dict[str, object]:
    return json.loads((directory / GROUND_TRUTH_FILE).read_text())


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive file lock, so concurrent builders of one model wait for each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(spec: ZooSpec, cache: Path | None = None, log: Callable[[str], None] = lambda _: None) -> Path:
    """The built model directory of ``spec``, building it first if the cache has none.

    Builds go to a temporary directory beside the target and are renamed into place when
    complete, so a killed build never leaves a half-written model behind."""
    target = model_dir(spec, cache)
    if (target / BUILD_FILE).exists():
        return target
    with _lock(target.with_name(target.name + ".lock")):
        if (target / BUILD_FILE).exists():
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            started = time.perf_counter()
            info = _BUILDERS[spec.kind](spec, staging, log)
            info.update(spec=spec.model_dump(mode="json"), fingerprint=spec.fingerprint(),
                        build_seconds=round(time.perf_counter() - started, 2), versions=_versions())
            (staging / BUILD_FILE).write_text(json.dumps(info, indent=1))
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    log(f"{spec.name}: built in {json.loads((target / BUILD_FILE).read_text())['build_seconds']} s")
    return target


def _versions() -> dict[str, str]:
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "format": ZOO_FORMAT}


def _build_trained(spec: ZooSpec, out: Path, log: Callable[[str], None]) -> dict[str, object]:
    from headdb.zoo import language as lang
    from headdb.zoo.groundtruth import ground_truth
    from headdb.zoo.tasks import TASK_CONTRASTS
    from headdb.zoo.train import save_hf, train

    final: dict[str, object] = {}

    def save(model, step: int) -> None:  # type: ignore[no-untyped-def]
        save_hf(model, out / "checkpoints" / f"step-{step:06d}")
        final["model"] = model

    losses = train(spec, save, log)
    model = final["model"]
    save_hf(model, out)  # type: ignore[arg-type]
    index = {w: i for i, w in enumerate(lang.vocabulary())}
    contrasts = [c for task in spec.tasks for c in TASK_CONTRASTS[task]]
    truth = ground_truth(model, contrasts, index)  # type: ignore[arg-type]
    truth["model"] = spec.name
    (out / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1))
    return {"final_losses": {k: round(v, 4) for k, v in losses.items()}}


def _build_control(spec: ZooSpec, out: Path, log: Callable[[str], None]) -> dict[str, object]:
    if spec.language == "english":
        from headdb.zoo.planted import build_random_model

        build_random_model(out, seed=spec.seed)
    else:
        from headdb.zoo.train import new_model, save_hf

        save_hf(new_model(spec), out)
    truth = {
        "model": spec.name,
        "method": "random initialisation: by construction no head has any role",
        "roles": {t: {"positives": [], "negatives": "all", "ambiguous": []} for t in ALL_TYPES},
    }
    (out / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1))
    return {}


def _build_planted(spec: ZooSpec, out: Path, log: Callable[[str], None]) -> dict[str, object]:
    from headdb.zoo import planted

    builder = planted.build_hard_model if spec.name == "zoo-planted-hard" else planted.build_planted_model
    roles = builder(out, seed=spec.seed)
    truth = {
        "model": spec.name,
        "method": "construction: weights set by hand so that exactly these heads implement each type",
        "roles": roles,
    }
    (out / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1))
    return {}


_BUILDERS = {"trained": _build_trained, "control": _build_control, "planted": _build_planted}


def selected(names: list[str] | None = None, fast: bool = False) -> list[ZooSpec]:
    """Specs by name (all by default), or the fast subset."""
    if names:
        unknown = [n for n in names if n not in ZOO]
        if unknown:
            raise KeyError(f"unknown zoo model(s) {', '.join(unknown)}; known: {', '.join(ZOO)}")
        return [ZOO[n] for n in names]
    return [s for s in ZOO.values() if s.fast or not fast]
