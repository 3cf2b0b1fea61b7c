"""A model's text tower as its own state dict, and loading one run's text tower into another
model (the second stage of a staged run: ``--model.text-init``).

Names are canonical: open_clip's ``CLIP`` keeps its text modules at the top level
(``token_embedding``, ``positional_embedding``, ``transformer``, ``ln_final``, ``text_projection``),
``CustomTextCLIP`` under ``text.``; without that prefix both spell the same, so a text tower
moves between any two configs whose text towers have the same shapes (e.g. cyclip-tiny's into a
model with another image tower).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

_NATIVE_TEXT_PREFIXES = (
    "token_embedding.",
    "positional_embedding",
    "transformer.",
    "ln_final.",
    "text_projection",
)


def _canonical(name: str, custom_text: bool) -> str | None:
    """The canonical text-tower name of a state-dict key, or None when it is not text tower."""
    if custom_text:
        return name[len("text.") :] if name.startswith("text.") else None
    return name if name.startswith(_NATIVE_TEXT_PREFIXES) else None


def _is_custom_text(keys: list[str]) -> bool:
    return any(k.startswith("text.") for k in keys)


def text_tower_state(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The text-tower entries of a full model state dict, under canonical names."""
    keys = list(state_dict)
    custom = _is_custom_text(keys)
    out = {}
    for key, value in state_dict.items():
        name = _canonical(key, custom)
        if name is not None:
            out[name] = value
    return out


def text_parameter_names(model: nn.Module) -> set[str]:
    """Names (as ``model.named_parameters`` gives them) of the text tower's parameters."""
    names = [n for n, _ in model.named_parameters()]
    custom = _is_custom_text(names)
    return {n for n in names if _canonical(n, custom) is not None}


def load_text_tower(model: nn.Module, text_state: dict[str, torch.Tensor], source: str) -> int:
    """Copy a canonical text-tower state dict into ``model``'s text tower; returns the number of
    tensors loaded.

    Raises:
        ValueError: the towers do not fit (a missing or extra tensor, or another shape).
    """
    target = model.state_dict()
    custom = _is_custom_text(list(target))
    mapping = {}
    for key in target:
        name = _canonical(key, custom)
        if name is not None:
            mapping[name] = key
    missing = sorted(set(mapping) - set(text_state))
    extra = sorted(set(text_state) - set(mapping))
    shapes = [
        f"{n} {tuple(text_state[n].shape)} vs {tuple(target[mapping[n]].shape)}"
        for n in sorted(set(mapping) & set(text_state))
        if text_state[n].shape != target[mapping[n]].shape
    ]
    if missing or extra or shapes:
        details = []
        if missing:
            details.append(f"missing {', '.join(missing[:3])}")
        if extra:
            details.append(f"unexpected {', '.join(extra[:3])}")
        if shapes:
            details.append(f"other shapes: {'; '.join(shapes[:3])}")
        raise ValueError(
            f"--model.text-init {source}: its text tower does not fit this model's "
            f"({'; '.join(details)}); use a --model.name with the same text tower"
        )
    with torch.no_grad():
        for name, key in mapping.items():
            target[key].copy_(text_state[name])
    return len(mapping)


def read_text_tower(path: str | Path) -> dict[str, torch.Tensor]:
    """The canonical text tower of a training checkpoint, or of a run directory's newest one.

    Raises:
        FileNotFoundError: nothing to read at ``path``.
        ValueError: the checkpoint holds no text tower.
    """
    from cyclip.rundir import RunDir
    from cyclip.train.checkpoint import load_checkpoint, newest_checkpoint

    path = Path(path)
    if path.is_dir():
        found = newest_checkpoint(RunDir(path).checkpoints) or newest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f"--model.text-init {path}: the directory holds no checkpoint")
        path = found
    if not path.is_file():
        raise FileNotFoundError(
            f"--model.text-init {path}: no such checkpoint file or run directory"
        )
    state = text_tower_state(load_checkpoint(path)["state_dict"])
    if not state:
        raise ValueError(f"--model.text-init {path}: the checkpoint holds no text tower")
    return state
