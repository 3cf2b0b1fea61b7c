"""OpenAI-format checkpoints (the official CyCLIP code's, OpenAI's own) and their model names.

The official CyCLIP code names its models ``RN50``, ``RN101``, ``RN50x4`` and ``ViT-B/32`` and
builds them as OpenAI did, with QuickGELU. The ``ResNet`` names are open_clip names already; the
``ViT-x/y`` names map to open_clip's ``ViT-x-y-quickgelu`` (:func:`resolve_model_name`).

A checkpoint saved by that code (``{"state_dict": {"module.visual...": ...}, "epoch", ...}``) or
an OpenAI state dict can be loaded without naming the architecture: it is built from the tensor
shapes by open_clip's OpenAI loader (:func:`open_clip.model.build_model_from_openai_state_dict`,
QuickGELU), and named after the open_clip architecture with exactly these shapes, if any.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

import open_clip
import torch

log = logging.getLogger(__name__)

OFFICIAL_MODEL_NAMES = {
    "ViT-B/32": "ViT-B-32-quickgelu",
    "ViT-B/16": "ViT-B-16-quickgelu",
    "ViT-L/14": "ViT-L-14-quickgelu",
    "ViT-L/14@336px": "ViT-L-14-336-quickgelu",
}
"""The official CyCLIP (and OpenAI) spellings that are not open_clip names."""

OPENAI_ARCHITECTURES = (
    "RN50-quickgelu",
    "RN101-quickgelu",
    "RN50x4-quickgelu",
    "RN50x16-quickgelu",
    "RN50x64-quickgelu",
    "ViT-B-32-quickgelu",
    "ViT-B-16-quickgelu",
    "ViT-L-14-quickgelu",
    "ViT-L-14-336-quickgelu",
)
"""open_clip names of OpenAI's architectures, for naming an inferred model."""

_REQUIRED = (
    "visual.conv1.weight",
    "text_projection",
    "token_embedding.weight",
    "ln_final.weight",
    "positional_embedding",
)
_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


def resolve_model_name(name: str) -> str:
    """An official CyCLIP / OpenAI model name (``ViT-B/32``) as open_clip's; others unchanged."""
    return OFFICIAL_MODEL_NAMES.get(name, name)


def openai_state_dict(payload: Any) -> dict[str, torch.Tensor] | None:
    """The OpenAI-format state dict in a loaded checkpoint (under ``state_dict`` or bare, keys
    with or without DDP's ``module.`` prefix); ``None`` when ``payload`` is not one."""
    state = payload.get("state_dict", payload) if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping):
        return None
    state = {
        str(k).removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)
    }
    return state if all(k in state for k in _REQUIRED) else None


@functools.cache
def _shapes_of(name: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    from cyclip.models.factory import _quiet_random_init

    with _quiet_random_init(True):
        model = open_clip.create_model(name, device="meta")  # shapes only, no memory
    return tuple(sorted((k, tuple(v.shape)) for k, v in model.state_dict().items()))


def openai_architecture(state: Mapping[str, torch.Tensor]) -> str | None:
    """The open_clip name of the OpenAI architecture whose tensors have exactly these shapes."""
    if not all(k in state for k in _REQUIRED):
        return None
    shapes = tuple(
        sorted((k, tuple(v.shape)) for k, v in state.items() if k not in _OPENAI_EXTRA_KEYS)
    )
    vit = "visual.proj" in state
    first = state.get("visual.conv1.weight" if vit else "visual.layer1.0.conv1.weight")
    if first is None:
        return None
    width = first.shape[0]
    for name in OPENAI_ARCHITECTURES:
        cfg = open_clip.get_model_config(name) or {}
        cheap = (  # a few config numbers first: building even a shapes-only model takes seconds
            name.startswith("ViT") == vit
            and cfg.get("embed_dim") == state["text_projection"].shape[1]
            and cfg.get("vision_cfg", {}).get("width") == width
            and cfg.get("text_cfg", {}).get("width") == state["ln_final.weight"].shape[0]
        )
        if cheap and _shapes_of(name) == shapes:
            return name
    return None


def build_from_openai_state_dict(
    state: Mapping[str, torch.Tensor], *, device: str | torch.device = "cpu", source: str = ""
):
    """A :class:`~cyclip.models.ModelBundle` and a name for an OpenAI-format state dict.

    The architecture is read off the shapes by open_clip's OpenAI loader; the weights are then
    loaded again in float32, so they equal the file's exactly (open_clip's loader goes through
    float16). The name is the matching open_clip architecture, or ``"openai-format"``.
    """
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
    from open_clip.model import build_model_from_openai_state_dict

    from cyclip.models.factory import ModelBundle

    weights = dict(state)
    model = build_model_from_openai_state_dict(dict(weights), quick_gelu=True, cast_dtype=None)
    for key in _OPENAI_EXTRA_KEYS:
        weights.pop(key, None)
    model = model.float()
    model.load_state_dict(weights)
    model.output_dict = True
    model.to(device)
    name = openai_architecture(weights) or "openai-format"
    size = model.visual.image_size
    image_size = size[0] if isinstance(size, tuple | list) else int(size)

    def transform(is_train: bool):
        return open_clip.image_transform(
            image_size, is_train=is_train, mean=OPENAI_DATASET_MEAN, std=OPENAI_DATASET_STD
        )

    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=model.context_length)
    kind = "ViT" if "visual.proj" in weights else "ResNet"
    log.warning(
        "note: %s: no model name given; inferred an OpenAI-format %s (%s, image size %d, "
        "QuickGELU as OpenAI's and the official CyCLIP code's models) from the state dict's "
        "shapes; %d tensors loaded (a model trained with open_clip's GELU configs: pass --model)",
        source or "state dict",
        name,
        kind,
        image_size,
        len(weights),
    )
    return ModelBundle(model, transform(True), transform(False), tokenizer), name
