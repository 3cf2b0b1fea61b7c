"""Load a model to evaluate: a cyclip checkpoint, an open_clip checkpoint, or open_clip weights.

Every file is read with ``torch.load(..., weights_only=True)``: a checkpoint cannot run code.
The returned :class:`ModelInfo` carries a fingerprint that keys the feature cache; it is ``None``
for a randomly initialised model, whose features are never cached.

SigLIP models carry a ``logit_bias``. A cyclip checkpoint records it in ``model_overrides``
(``init_logit_bias``); for an open_clip checkpoint or weights file whose state dict has one, the
architecture is built with a bias too (its value is then the loaded one). The evaluation itself
ranks by cosine similarity (every protocol of docs/method.md §4 only ranks), so neither the scale
nor the bias changes a reported number; no protocol reports a probability.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from cyclip.models import ModelBundle, create_model
from cyclip.rundir import RunDir, is_cyclip_checkpoint, strip_wrapper_prefixes
from cyclip.safe_load import load_weights_only

_MB = 1 << 20


@dataclass(frozen=True)
class ModelInfo:
    """Where a model came from (recorded in every result file)."""

    name: str
    """open_clip architecture name."""
    pretrained: str | None = None
    """open_clip pretrained tag or weights file, if any."""
    checkpoint: str | None = None
    """Checkpoint file, if the model came from one."""
    fingerprint: str | None = None
    """Identity of the weights for the feature cache; ``None`` means "do not cache"."""
    step: int | None = None
    """Training step of a cyclip checkpoint."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to evaluate (eval mode) and where it came from."""

    bundle: ModelBundle
    info: ModelInfo


def file_fingerprint(path: str | os.PathLike) -> str:
    """sha256 over the resolved path, size, mtime and the first and last MiB of a file.

    Cheap for multi-GB checkpoints, and changes whenever the file is rewritten.
    """
    path = Path(path).resolve()
    stat = path.stat()
    h = hashlib.sha256(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    with open(path, "rb") as f:
        h.update(f.read(_MB))
        if stat.st_size > _MB:
            f.seek(max(stat.st_size - _MB, _MB))
            h.update(f.read(_MB))
    return h.hexdigest()


def module_fingerprint(model: torch.nn.Module) -> str:
    """sha256 of every parameter and buffer (name, dtype, shape, bytes) of an in-memory model."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous().reshape(-1)  # 0-d tensors cannot view as bytes
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def run_dir_of(checkpoint: str | os.PathLike) -> Path | None:
    """The run directory holding ``RUN_DIR/checkpoints/<file>.pt``, or ``None``."""
    run = RunDir.of_checkpoint(checkpoint)
    return run.root if run is not None else None


def load_model(
    checkpoint: str | os.PathLike | None = None,
    model: str | None = None,
    pretrained: str | None = None,
    device: str | torch.device = "cpu",
) -> LoadedModel:
    """Build the model to evaluate, in eval mode.

    Args:
        checkpoint: a cyclip checkpoint (dict with ``state_dict``, ``model_name``,
            ``model_overrides``), or an open_clip checkpoint / bare state_dict (then ``model`` is
            required).
        model: open_clip architecture name. Alone: random initialisation (seeded, reproducible).
        pretrained: with ``model``: an open_clip pretrained tag or a local weights file.
        device: where to put the model.

    Returns:
        :class:`LoadedModel` (bundle, info).
    """
    if checkpoint is not None and pretrained is not None:
        raise ValueError("give either --checkpoint or --pretrained, not both")
    if checkpoint is None and model is None:
        raise ValueError("nothing to evaluate: pass --checkpoint PATH or --model NAME")
    if checkpoint is not None:
        return _load_checkpoint(Path(checkpoint), model, device)
    if pretrained is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            bundle = create_model(model, device=device)
        return LoadedModel(_eval(bundle), ModelInfo(name=model))
    extra = _bias_override(load_weights_only(pretrained)) if os.path.isfile(pretrained) else {}
    bundle = create_model(model, pretrained=pretrained, device=device, **extra)
    if os.path.isfile(pretrained):
        fp = hashlib.sha256(f"{model}\0{file_fingerprint(pretrained)}".encode()).hexdigest()
        info = ModelInfo(name=model, pretrained=str(Path(pretrained).resolve()), fingerprint=fp)
    else:
        info = ModelInfo(
            name=model, pretrained=pretrained, fingerprint=f"open_clip:{model}:{pretrained}"
        )
    return LoadedModel(_eval(bundle), info)


def _load_checkpoint(path: Path, model: str | None, device: str | torch.device) -> LoadedModel:
    payload = load_weights_only(path)
    fp = file_fingerprint(path)
    if not is_cyclip_checkpoint(payload):
        if model is None and (inferred := _infer_openai(payload, path, device)) is not None:
            bundle, name = inferred
            fp = hashlib.sha256(f"{name}\0{fp}".encode()).hexdigest()
            return LoadedModel(_eval(bundle), ModelInfo(name, checkpoint=str(path), fingerprint=fp))
        if model is None:
            raise ValueError(
                f"{path} is not a cyclip checkpoint (no 'model_name' key); pass --model NAME "
                "with the open_clip architecture it was trained with"
            )
        extra = _bias_override(payload)
        del payload  # open_clip re-reads the file and handles its key / prefix variants
        bundle = create_model(model, pretrained=str(path), device=device, **extra)
        fp = hashlib.sha256(f"{model}\0{fp}".encode()).hexdigest()
        return LoadedModel(_eval(bundle), ModelInfo(model, checkpoint=str(path), fingerprint=fp))
    name = payload["model_name"]
    if model is not None and model != name:
        raise ValueError(
            f"{path} holds a '{name}' model but --model {model} was given; drop --model"
        )
    overrides = dict(payload.get("model_overrides") or {})
    bundle = create_model(name, device=device, **overrides)
    missing, unexpected = bundle.model.load_state_dict(
        strip_wrapper_prefixes(payload["state_dict"]), strict=False
    )
    if missing or unexpected:
        raise ValueError(
            f"{path} does not match architecture '{name}' with overrides {overrides}: "
            f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}"
        )
    step = payload.get("step")
    info = ModelInfo(
        name,
        checkpoint=str(path.resolve()),
        fingerprint=fp,
        step=int(step) if step is not None else None,
    )
    return LoadedModel(_eval(bundle), info)


def _infer_openai(payload: object, path: Path, device: str | torch.device):
    """An OpenAI-format state dict (official CyCLIP checkpoints) built from its shapes, or None."""
    from cyclip.models.openai_format import build_from_openai_state_dict, openai_state_dict

    state = openai_state_dict(payload)
    if state is None:
        return None
    return build_from_openai_state_dict(state, device=device, source=str(path))


def _bias_override(payload: object) -> dict[str, Any]:
    """``{"init_logit_bias": 0.0}`` when a loaded weights file holds a ``logit_bias`` (a SigLIP
    model): open_clip gives an architecture the parameter only when asked, and the loaded value
    replaces the 0."""
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else {}
    has_bias = isinstance(state, dict) and "logit_bias" in strip_wrapper_prefixes(state)
    return {"init_logit_bias": 0.0} if has_bias else {}


def _eval(bundle: ModelBundle) -> ModelBundle:
    bundle.model.eval()
    return bundle
