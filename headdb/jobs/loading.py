"""Loading a model through TransformerLens 4 (``TransformerBridge``) and recording its identity."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from headdb.catalog.validate import DEFAULT_MODELS, NameIndex
from headdb.errors import ModelLoadError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class LoadedModel:
    name: str  # the name runs are stored under
    source: str  # hub id or absolute local path it was loaded from
    revision: str | None
    bridge: Any
    weights_fingerprint: str
    architecture: str | None
    n_params: int
    device: str
    dtype: str


def registry_source(name: str) -> tuple[str, str] | None:
    """(registry name, hub id) when ``name`` is a model of headdb's registry that has a source."""
    import yaml

    entries = yaml.safe_load(DEFAULT_MODELS.read_text()) or []
    index = NameIndex()
    for entry in entries:
        for alias in (entry["name"], *entry.get("aliases", [])):
            index.add(alias, entry["name"])
    found = index.get(name)
    if found is None:
        return None
    entry = next(e for e in entries if e["name"] == found)
    return found, entry.get("source") or found


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
    directory) with TransformerBridge. Remote code runs only if ``trust_remote_code`` is set."""
    from transformer_lens.model_bridge import TransformerBridge

    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        source, stored_name = str(path.resolve()), name or path.resolve().name
    else:
        registered = registry_source(name_or_path)
        stored_name, source = registered if registered else (name_or_path, name_or_path)
        stored_name = name or stored_name
    try:
        bridge = TransformerBridge.boot_transformers(
            source, device=device, dtype=DTYPES[dtype], revision=revision, trust_remote_code=trust_remote_code
        )
    except Exception as exc:  # loading errors come in many types; say what was tried
        hint = "" if path.is_dir() else " (no such local directory; as a hub id it needs network access or a local cache)"
        raise ModelLoadError(f"could not load model {name_or_path!r} from {source!r}{hint}: {exc}") from exc
    original = getattr(bridge, "original_model", None)
    hf_config = getattr(original, "config", None)
    architectures = getattr(hf_config, "architectures", None) or [None]
    module = original if isinstance(original, torch.nn.Module) else bridge
    return LoadedModel(
        name=stored_name,
        source=source,
        revision=revision,
        bridge=bridge,
        weights_fingerprint=weights_fingerprint(module),
        architecture=architectures[0],
        n_params=sum(p.numel() for p in module.parameters()),
        device=device,
        dtype=dtype,
    )
