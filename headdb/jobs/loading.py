"""Loading a model through TransformerLens 4 (``TransformerBridge``) and recording its identity.

A model's identity in headdb is its name and its revision: a hub revision (``--revision
step1000``) or, for a local directory, a checkpoint subdirectory (``--revision step-001000``
finds ``DIR/step-001000`` or ``DIR/checkpoints/step-001000``). The published model has revision
"".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from headdb.catalog.safe_yaml import load_catalog_file
from headdb.catalog.validate import DEFAULT_MODELS, NameIndex
from headdb.detectors.datasets.probes import Probes, for_model
from headdb.errors import ModelLoadError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_STEP = re.compile(r"step[-_]?(\d+)", re.IGNORECASE)


@dataclass
class LoadedModel:
    name: str  # the name runs are stored under
    source: str  # hub id, or the absolute local directory it was loaded from
    source_kind: str  # "hub" or "local"
    revision: str  # "" for the model as published
    bridge: Any
    weights_fingerprint: str
    architecture: str | None
    n_params: int
    device: str
    dtype: str
    probes: Probes  # how detectors prompt it: the directory's probe file, else English
    step: int | None = None  # the training step, when the revision names one


def registry_source(name: str) -> tuple[str, str] | None:
    """(registry name, hub id) when ``name`` is a model of headdb's registry that has a source."""
    entries = load_catalog_file(DEFAULT_MODELS) or []
    index = NameIndex()
    for entry in entries:
        for alias in (entry["name"], *entry.get("aliases", [])):
            index.add(alias, entry["name"])
    found = index.get(name)
    if found is None:
        return None
    entry = next(e for e in entries if e["name"] == found)
    return found, entry.get("source") or found


def local_model_name(path: str | Path) -> str:
    """The name a local model directory is stored under by default: the directory's own name."""
    return Path(path).expanduser().resolve().name


def step_of(revision: str | None) -> int | None:
    """The training step a revision names ('step1000', 'step-001000'), if any."""
    match = _STEP.search(revision or "")
    return int(match.group(1)) if match else None


def _checkpoint_dir(path: Path, revision: str) -> Path:
    for candidate in (path / revision, path / "checkpoints" / revision):
        if candidate.is_dir() and (candidate / "config.json").exists():
            return candidate
    available = sorted(p.name for p in (path / "checkpoints").glob("*") if p.is_dir()) if (path / "checkpoints").is_dir() else []
    hint = f"; its checkpoints: {', '.join(available)}" if available else "; it has no checkpoints/ directory"
    raise ModelLoadError(f"revision {revision!r} is not a checkpoint of the local model {path.name!r}{hint}")


def weights_fingerprint(model: torch.nn.Module) -> str:
    """sha256 over parameter names, shapes, dtypes and bytes, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_model(
    name_or_path: str,
    *,
    name: str | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Boot ``name_or_path`` (a hub id, a registry name such as ``gpt2``, or a local Hugging Face
    directory) at ``revision`` with TransformerBridge. Remote code runs only if
    ``trust_remote_code`` is set."""
    from transformer_lens.model_bridge import TransformerBridge

    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    revision = revision or ""
    path = Path(name_or_path).expanduser()
    hub_revision = None
    if path.is_dir():
        directory = _checkpoint_dir(path.resolve(), revision) if revision else path.resolve()
        source, kind, stored_name = str(directory), "local", name or local_model_name(path)
    else:
        registered = registry_source(name_or_path)
        stored_name, source = registered if registered else (name_or_path, name_or_path)
        stored_name, kind, hub_revision, directory = name or stored_name, "hub", revision or None, None
    try:
        bridge = TransformerBridge.boot_transformers(
            source, device=device, dtype=DTYPES[dtype], revision=hub_revision, trust_remote_code=trust_remote_code
        )
    except Exception as exc:  # loading errors come in many types; say what was tried
        hint = "" if kind == "local" else " (no such local directory; as a hub id it needs network access or a local cache)"
        raise ModelLoadError(f"could not load model {name_or_path!r} from {source!r}{hint}: {exc}") from exc
    original = getattr(bridge, "original_model", None)
    hf_config = getattr(original, "config", None)
    architectures = getattr(hf_config, "architectures", None) or [None]
    module = original if isinstance(original, torch.nn.Module) else bridge
    return LoadedModel(
        name=stored_name,
        source=source,
        source_kind=kind,
        revision=revision,
        bridge=bridge,
        weights_fingerprint=weights_fingerprint(module),
        architecture=architectures[0],
        n_params=sum(p.numel() for p in module.parameters()),
        device=device,
        dtype=dtype,
        probes=for_model(directory),
        step=step_of(revision),
    )
