"""``create_model``: one call for an open_clip model, its transforms and its tokenizer."""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import open_clip
import torch

from cyclip.safe_load import describe_load_error

MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"
_registered = False


def register_model_configs() -> None:
    """Make cyclip's configs (``cyclip-tiny``, ``cyclip-small``) known to open_clip itself.

    After this, ``open_clip.create_model("cyclip-small")`` works too. Idempotent.
    """
    global _registered
    if not _registered:
        open_clip.add_model_config(MODEL_CONFIG_DIR)
        _registered = True


def list_models() -> list[str]:
    """All architecture names open_clip can build, cyclip's own configs included."""
    register_model_configs()
    return open_clip.list_models()


class ModelBundle(NamedTuple):
    """An open_clip model with what is needed to feed it."""

    model: torch.nn.Module
    """An ``open_clip.CLIP``; forward returns image_features, text_features, logit_scale."""
    preprocess_train: Callable
    """PIL image -> float tensor (3, H, W), with training augmentation."""
    preprocess_val: Callable
    """PIL image -> float tensor (3, H, W), deterministic."""
    tokenizer: Callable
    """list[str] -> LongTensor (B, context_length); truncation keeps the end-of-text token."""


def _check_name(name: str) -> None:
    if name.startswith(("hf-hub:", "local-dir:")):
        return
    known = list_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise ValueError(
            f"unknown model '{name}'.{hint} Run 'cyclip models' to list the available ones."
        )


def _check_pretrained(name: str, pretrained: str | None) -> None:
    if pretrained is None or os.path.isfile(pretrained):
        return
    if os.path.sep in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors")):
        raise FileNotFoundError(f"pretrained weights file not found: {pretrained}")
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        shown = ", ".join(tags) if tags else "none"
        raise ValueError(
            f"unknown pretrained tag '{pretrained}' for model '{name}' (known tags: {shown}); "
            "or pass the path of a local checkpoint file"
        )


class _DropRandomInitNotice(logging.Filter):
    """open_clip warns on every model built without weights; from scratch, that is the intent."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")


@contextlib.contextmanager
def _quiet_random_init(active: bool):
    notice = _DropRandomInitNotice()
    root = logging.getLogger()
    if active:
        root.addFilter(notice)
    try:
        yield
    finally:
        root.removeFilter(notice)


def create_model(
    name: str,
    pretrained: str | None = None,
    *,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    **overrides: Any,
) -> ModelBundle:
    """Build an open_clip model by architecture name, with its transforms and tokenizer.

    Args:
        name: any open_clip architecture (``ViT-B-32``, ``RN50``, ...) or a cyclip config
            (``cyclip-tiny``, ``cyclip-small``); ``hf-hub:`` and ``local-dir:`` names as in open_clip.
        pretrained: an open_clip pretrained tag (``openai``, ``laion2b_s34b_b79k``, ...; downloaded
            by open_clip into its cache if absent) or the path of a local checkpoint file (an
            open_clip or cyclip checkpoint: a state_dict, or a dict holding one under
            ``state_dict``). Loaded with ``weights_only=True``.
        device: where to put the model.
        precision: open_clip precision string (``fp32``, ``bf16``, ``fp16``, ``amp``...).
        **overrides: passed to ``open_clip.create_model_and_transforms`` (``force_image_size``,
            ``force_context_length``, ``aug_cfg``, ...); ``None`` values are dropped, as timm does.

    Returns:
        A :class:`ModelBundle` (model, preprocess_train, preprocess_val, tokenizer).
    """
    register_model_configs()
    _check_name(name)
    _check_pretrained(name, pretrained)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        with _quiet_random_init(pretrained is None):
            model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
                name,
                pretrained=pretrained,
                device=device,
                precision=precision,
                output_dict=True,
                weights_only=True,
                **overrides,
            )
    except AssertionError as exc:  # open_clip asserts that position embeddings can be resized
        if pretrained is None:
            raise
        raise ValueError(
            f"pretrained weights {pretrained!r} do not fit architecture '{name}' ({exc}); give "
            "weights of this architecture, or the --model they were trained as"
        ) from exc
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        if pretrained is None:
            raise
        # An unreadable file, one holding pickled objects, or a tag that needs a download.
        raise ValueError(
            f"cannot load pretrained weights {pretrained!r} ({describe_load_error(exc)}); give a "
            "weights file saved with torch.save (read with weights_only=True) or an open_clip "
            "tag already in the local cache"
        ) from exc
    context_length = overrides.get("force_context_length")
    tokenizer = open_clip.get_tokenizer(name, context_length=context_length)
    return ModelBundle(model, preprocess_train, preprocess_val, tokenizer)
