"""``create_model``: one call for an open_clip model, its transforms and its tokenizer."""

from __future__ import annotations

import contextlib
import difflib
import logging
import math
import os
import pickle
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import open_clip
import torch

from cyclip.models.hf_text import (
    hf_text_tower_of,
    hf_tokenizer,
    quiet_transformers,
    register_hf_arch_entries,
    require_transformers,
    resolve_text_tower,
    text_tower_kwargs,
    tower_load_errors,
)
from cyclip.models.openai_format import resolve_model_name
from cyclip.safe_load import describe_load_error

log = logging.getLogger(__name__)

MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"
_registered = False


def register_model_configs() -> None:
    """Make cyclip's configs known to open_clip itself: the ViTs ``cyclip-tiny`` (32 px) and
    ``cyclip-small`` (64 px), the ResNets ``cyclip-rn-tiny`` / ``cyclip-rn-small`` (64 px,
    open_clip's ModifiedResNet with attention pooling, the paper's RN50 family scaled down), and
    ``cyclip-small-minilm`` (cyclip-small's image tower with all-MiniLM-L6-v2 as text tower).

    After this, ``open_clip.create_model("cyclip-small")`` works too. Idempotent.
    """
    global _registered
    if not _registered:
        open_clip.add_model_config(MODEL_CONFIG_DIR)
        register_hf_arch_entries()
        _registered = True


def list_models() -> list[str]:
    """All architecture names open_clip can build, cyclip's own configs included."""
    register_model_configs()
    return open_clip.list_models()


ClipModel = Any
"""An ``open_clip.CLIP`` / ``CustomTextCLIP`` (an ``nn.Module`` with ``encode_image``,
``encode_text`` and ``logit_scale``); open_clip ships no type information."""


class ModelBundle(NamedTuple):
    """An open_clip model with what is needed to feed it."""

    model: ClipModel
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
    """open_clip warns on every model built without weights (or with only a pretrained text
    tower's); from scratch, that is the intent."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        partial = message.startswith("Model ") and message.endswith("initialized partially.")
        return not (message.startswith("No pretrained weights loaded") or partial)


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


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _open_clip_notes(active: bool) -> Iterator[list[str]]:
    """The INFO lines open_clip logs (on the root logger) while loading, e.g. position-embedding
    resizing; the root level is lowered for the duration only."""
    collect = _Collect()
    root = logging.getLogger()
    level = root.level
    if active:
        root.addHandler(collect)
        root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    try:
        yield collect.messages
    finally:
        if active:
            root.removeHandler(collect)
            root.setLevel(level)


_RESIZE = re.compile(r"Resizing (.*?) from \(?(\d+), (\d+)\)? to \(?(\d+), (\d+)\)?")
_SIZE_MISMATCH = re.compile(
    r"size mismatch for ([\w.]+): copying a param with shape torch\.Size\(\[([\d, ]*)\]\) "
    r"from checkpoint, the shape in current model is torch\.Size\(\[([\d, ]*)\]\)"
)


def _loaded_note(pretrained: str, name: str, model: torch.nn.Module, notes: list[str]) -> str:
    resized = []
    for note in notes:
        m = _RESIZE.search(note)
        if m:
            what = m.group(1).replace("grid-size", "").strip() or "position embedding"
            what = "image position embedding" if what == "position embedding" else what
            resized.append(f"{what} from {m[2]}x{m[3]} to {m[4]}x{m[5]}")
    tail = f"; resized the {', '.join(resized)}" if resized else ""
    return (
        f"note: loaded pretrained weights {pretrained} into {name}: "
        f"{len(model.state_dict())} tensors{tail}"
    )


def _shape(text: str) -> str:
    dims = [d.strip() for d in text.split(",") if d.strip()]
    return f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"


def explain_mismatch(
    exc: BaseException, name: str, pretrained: str, overrides: dict[str, Any]
) -> str:
    """One line for weights that do not fit the architecture: the first mismatching keys with
    both shapes, and the likely fix."""
    text = str(exc)
    sizes = _SIZE_MISMATCH.findall(text)
    parts = [f"{key}: weights {_shape(a)}, model {_shape(b)}" for key, a, b in sizes[:3]]
    if len(sizes) > 3:
        parts.append(f"{len(sizes) - 3} more size mismatches")
    for label in ("Missing", "Unexpected"):
        m = re.search(rf"{label} key\(s\) in state_dict: (.*?)(?:\.\s*$|\.\s*\n|$)", text, re.M)
        if m:
            keys = re.findall(r'"([^"]+)"', m.group(1))
            shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            parts.append(f"{label.lower()} keys {shown}")
    detail = "; ".join(parts) if parts else text.strip().splitlines()[-1][:200]
    fix = _likely_fix(sizes, name, pretrained, overrides)
    built = f"'{name}'" + (f" with {overrides}" if overrides else "")
    return f"pretrained weights {pretrained} do not fit {built}: {detail}. Likely fix: {fix}"


def _likely_fix(sizes: list, name: str, pretrained: str, overrides: dict[str, Any]) -> str:
    shapes = {key: [int(d) for d in a.split(",") if d.strip()] for key, a, _ in sizes}
    attnpool = shapes.get("visual.attnpool.positional_embedding")
    if attnpool:
        size = math.isqrt(attnpool[0] - 1) * 32
        return (
            f"the weights were trained at image size {size}; build the model at that size "
            f"(--model.force-image-size {size}, or leave it unset)"
        )
    text_pos = shapes.get("positional_embedding")
    if text_pos:
        return (
            f"the weights were trained with context length {text_pos[0]}; leave "
            f"--model.force-context-length unset or set it to {text_pos[0]}"
        )
    inferred = _openai_name_of_file(pretrained)
    if inferred:
        return f"these are OpenAI-format {inferred} weights; pass that model name"
    return (
        "pass the architecture the weights were trained with (cyclip models lists them); "
        "an OpenAI-format checkpoint is recognised by cyclip eval when --model is left out"
    )


def _openai_name_of_file(pretrained: str) -> str | None:
    if not os.path.isfile(pretrained):
        return None
    from cyclip.models.openai_format import openai_architecture, openai_state_dict
    from cyclip.safe_load import load_weights_only

    try:
        state = openai_state_dict(load_weights_only(pretrained))
    except (OSError, ValueError):
        return None
    return openai_architecture(state) if state is not None else None


def create_model(
    name: str,
    pretrained: str | None = None,
    *,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    text_tower: str | os.PathLike | None = None,
    **overrides: Any,
) -> ModelBundle:
    """Build an open_clip model by architecture name, with its transforms and tokenizer.

    Args:
        name: any open_clip architecture (``ViT-B-32``, ``RN50``, ...) or a cyclip config
            (``cyclip-tiny``, ``cyclip-small``, ``cyclip-rn-tiny``, ``cyclip-rn-small``,
            ``cyclip-small-minilm``); ``hf-hub:`` and ``local-dir:`` names as in open_clip; the
            official CyCLIP spellings (``ViT-B/32``) are aliases.
        pretrained: an open_clip pretrained tag (``openai``, ``laion2b_s34b_b79k``, ...; downloaded
            by open_clip into its cache if absent) or the path of a local checkpoint file (an
            open_clip or cyclip checkpoint: a state_dict, or a dict holding one under
            ``state_dict``). Loaded with ``weights_only=True``.
        device: where to put the model.
        precision: open_clip precision string (``fp32``, ``bf16``, ``fp16``, ``amp``...).
        text_tower: a local Hugging Face / sentence-transformers folder (read offline) or a hub id
            to use as the text tower instead of the config's own (see
            :mod:`cyclip.models.hf_text`); its pretrained weights are loaded unless
            ``pretrained`` brings the whole model's. Configs with an HF tower (e.g.
            ``cyclip-small-minilm``) use their ``hf_model_name`` when this is ``None``.
        **overrides: passed to ``open_clip.create_model_and_transforms`` (``force_image_size``,
            ``force_context_length``, ``aug_cfg``, ...); ``None`` values are dropped, as timm does.

    Returns:
        A :class:`ModelBundle` (model, preprocess_train, preprocess_val, tokenizer). Loading
        weights logs one line: which file, how many tensors, what was resized.

    Raises:
        ValueError: an unknown name or tag, an unreadable file, or weights that do not fit the
            architecture (the first mismatching keys with both shapes, and the likely fix).
    """
    register_model_configs()
    name = resolve_model_name(name)
    _check_name(name)
    _check_pretrained(name, pretrained)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    tokenizer = _hf_text_tower(name, text_tower, pretrained, overrides)
    try:
        with (
            _quiet_random_init(pretrained is None),
            _hf_loading(overrides),
            _open_clip_notes(pretrained is not None) as notes,
        ):
            model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
                name,
                pretrained=pretrained,
                device=device,
                precision=precision,
                output_dict=True,
                weights_only=True,
                **overrides,
            )
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        if pretrained is None:
            raise
        if "Error(s) in loading state_dict" in str(exc):
            raise ValueError(explain_mismatch(exc, name, pretrained, overrides)) from exc
        # An unreadable file, one holding pickled objects, or a tag that needs a download.
        raise ValueError(
            f"cannot load pretrained weights {pretrained!r} ({describe_load_error(exc)}); give a "
            "weights file saved with torch.save (read with weights_only=True) or an open_clip "
            "tag already in the local cache"
        ) from exc
    if pretrained is not None:
        log.warning("%s", _loaded_note(pretrained, name, model, notes))
    if tokenizer is None:
        context_length = overrides.get("force_context_length")
        tokenizer = open_clip.get_tokenizer(name, context_length=context_length)
    return ModelBundle(model, preprocess_train, preprocess_val, tokenizer)


def _hf_text_tower(
    name: str, text_tower: str | os.PathLike | None, pretrained: str | None, overrides: dict
) -> Callable | None:
    """For an HF text tower: put its ``text_cfg`` into ``overrides`` and return its tokenizer.

    ``None`` (and ``overrides`` untouched) for a model with open_clip's native text tower.
    """
    schema_name = name.startswith(("hf-hub:", "local-dir:"))
    if schema_name and text_tower is not None:
        raise ValueError(
            f"text_tower applies to registered configs, not to '{name}'; put hf_model_name in "
            "that model's open_clip_config.json instead"
        )
    model_cfg = None if schema_name else open_clip.get_model_config(name)
    tower = text_tower if text_tower is not None else hf_text_tower_of(model_cfg)
    if tower is None or model_cfg is None:
        return None
    require_transformers()
    tower = resolve_text_tower(tower)
    extra = text_tower_kwargs(
        name,
        tower,
        context_length=overrides.pop("force_context_length", None),
        # The tower's own pretrained weights, unless a whole-model checkpoint replaces them.
        load_tower_weights=pretrained is None,
    )
    overrides.update(extra)
    return hf_tokenizer(tower, extra["text_cfg"]["context_length"])


def _hf_loading(overrides: dict):
    """transformers' load chatter off and hub errors explained, while an HF tower is built."""
    tower = overrides.get("text_cfg", {}).get("hf_model_name")
    if tower is None:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(quiet_transformers())
    stack.enter_context(tower_load_errors(tower))
    return stack
