"""Text towers from pretrained Hugging Face / sentence-transformers encoders, via open_clip.

open_clip already has the tower: ``HFTextEncoder`` (``text_cfg.hf_model_name``, a pooler
``hf_pooler_type``, a projection ``hf_proj_type``) and the model's own ``HFTokenizer``
(``text_cfg.hf_tokenizer_name``). This module only

- points a config's text tower at a local folder or hub name (``create_model(..., text_tower=)``,
  ``--model.text-tower``): the config's ``text_cfg`` becomes an HF one naming that folder, built as
  open_clip's ``CustomTextCLIP``;
- reads which pooling a sentence-transformers folder declares (``1_Pooling/config.json``);
- fills the two entries open_clip's ``arch_dict`` lacks for BERT models (``layer_attr``,
  ``token_embeddings_attr``), so that ``lock_text_tower(unlocked_layers=k)`` works on them;
- turns "transformers missing" and "hub unreachable" into errors that say what to do.

A local folder is read with ``local_files_only``: it never touches the network.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install 'cyclip[hf]' (or: pip install transformers)"

# open_clip pooler of each sentence-transformers pooling mode. ST's CLS pooling reads the first
# token of the last hidden state (not BERT's trained pooler head); open_clip's MaxPooler masks the
# wrong positions, so max pooling is refused for towers rather than silently wrong.
_OPEN_CLIP_POOLER = {"mean": "mean_pooler", "cls": "cls_last_hidden_state_pooler"}

# Pooling keys of a sentence-transformers Pooling config, in ST's concatenation order.
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def require_transformers() -> None:
    """Raise an ``ImportError`` with the install command when ``transformers`` is missing."""
    try:
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"pretrained Hugging Face text towers need the 'transformers' package: {INSTALL_HINT}"
        ) from exc


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else with a separator is meant as a folder.
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def resolve_text_tower(tower: str | os.PathLike) -> str:
    """An absolute folder path for a local encoder, or the hub id unchanged.

    Raises:
        FileNotFoundError: ``tower`` names a path that does not exist, or a folder without an HF
            ``config.json``.
    """
    text = str(tower)
    path = Path(text).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"text tower folder {path} has no config.json; give a Hugging Face / "
                "sentence-transformers model folder (saved with save_pretrained) or a hub id "
                "such as sentence-transformers/all-MiniLM-L6-v2"
            )
        return str(path.resolve())
    if _looks_like_path(text):
        raise FileNotFoundError(
            f"text tower folder not found: {text}; give an existing model folder or a hub id "
            "such as sentence-transformers/all-MiniLM-L6-v2"
        )
    return text


def text_tower_problems(name: str, tower: str | None) -> list[str]:
    """What stops model ``name`` with text tower ``tower`` (``None``: the config's own) from
    loading, one line each; empty when nothing is found. Cheap: no weights are read."""
    if tower is None:
        import open_clip

        if hf_text_tower_of(open_clip.get_model_config(name)) is None:
            return []  # open_clip's native text tower
    problems = []
    if tower is not None:
        try:
            resolve_text_tower(tower)
        except FileNotFoundError as exc:
            problems.append(f"--model.text-tower: {exc}")
    try:
        require_transformers()
    except ImportError as exc:
        problems.append(f"--model.name {name}: {exc}")
    return problems


class TextTowerUnavailable(OSError):
    """A hub-named text tower that cannot be fetched (offline, unknown id)."""


def is_local(tower: str) -> bool:
    """Whether a resolved tower names a local folder (else a hub id)."""
    return Path(tower).is_dir()


def pooling_modes(folder: str | os.PathLike) -> tuple[str, ...]:
    """The pooling modes a sentence-transformers folder declares, in ST's order.

    Reads ``modules.json`` for the Pooling module's folder (``1_Pooling`` by default) and its
    ``config.json`` (legacy ``pooling_mode_*_tokens`` flags or the newer ``pooling_mode``). A
    plain HF folder without a Pooling module gets ``("mean",)``, as sentence-transformers gives it.
    """
    folder = Path(folder)
    pooling_dir = folder / "1_Pooling"
    modules_file = folder / "modules.json"
    if modules_file.is_file():
        modules = json.loads(modules_file.read_text())
        pooling = [m for m in modules if str(m.get("type", "")).endswith("Pooling")]
        if not pooling:
            return ("mean",)
        pooling_dir = folder / pooling[0].get("path", "1_Pooling")
    config_file = pooling_dir / "config.json"
    if not config_file.is_file():
        return ("mean",)
    config = json.loads(config_file.read_text())
    if "pooling_mode" in config:
        mode = config["pooling_mode"]
        return (mode,) if isinstance(mode, str) else tuple(mode)
    modes = tuple(mode for key, mode in _LEGACY_POOLING_KEYS.items() if config.get(key))
    return modes or ("mean",)


def open_clip_pooler(folder: str | os.PathLike) -> str:
    """The open_clip ``hf_pooler_type`` matching the pooling ``folder`` declares.

    Raises:
        ValueError: a pooling open_clip's tower does not implement (max, several modes, ...).
    """
    modes = pooling_modes(folder)
    if len(modes) == 1 and modes[0] in _OPEN_CLIP_POOLER:
        return _OPEN_CLIP_POOLER[modes[0]]
    raise ValueError(
        f"{folder} declares pooling {'+'.join(modes)}; a CLIP text tower supports "
        f"{', '.join(_OPEN_CLIP_POOLER)} pooling only (set text_cfg.hf_pooler_type in a config)"
    )


def tower_text_cfg(
    text_cfg: dict[str, Any], tower: str, context_length: int | None = None
) -> dict[str, Any]:
    """``text_cfg`` with its tower replaced by the HF encoder ``tower`` (resolved path or hub id).

    An HF ``text_cfg`` keeps its pooler, projection and context length; a native open_clip
    text transformer becomes an HF tower with the folder's pooling, a linear projection to
    ``embed_dim`` and the config's context length.
    """
    cfg = deepcopy(text_cfg)
    if "hf_model_name" not in cfg:
        cfg = {
            "context_length": cfg.get("context_length", 77),
            "hf_pooler_type": open_clip_pooler(tower) if is_local(tower) else "mean_pooler",
            "hf_proj_type": "linear",
        }
    cfg["hf_model_name"] = tower
    cfg["hf_tokenizer_name"] = tower
    if context_length is not None:
        cfg["context_length"] = context_length
    return cfg


def text_tower_kwargs(
    name: str,
    tower: str | os.PathLike,
    *,
    context_length: int | None = None,
    load_tower_weights: bool = True,
) -> dict[str, Any]:
    """Keyword arguments for ``open_clip.create_model(name, ...)`` that give the registered
    config ``name`` the HF text tower ``tower`` (a folder or hub id).

    This is how open_clip itself rebuilds a cyclip checkpoint trained with ``--model.text-tower``
    without a network::

        import cyclip.models, open_clip
        extra = text_tower_kwargs(ckpt["model_name"], ckpt["model_overrides"]["text_tower"],
                                  context_length=ckpt["model_overrides"].get("force_context_length"),
                                  load_tower_weights=False)
        model = open_clip.create_model(ckpt["model_name"], pretrained=path, **extra)

    Args:
        load_tower_weights: load the tower's pretrained weights (``False`` when a whole-model
            checkpoint will replace them).
    """
    import open_clip

    model_cfg = open_clip.get_model_config(name)
    if model_cfg is None:
        raise ValueError(f"unknown model '{name}'; 'cyclip models' lists the architectures")
    text_cfg = tower_text_cfg(model_cfg["text_cfg"], resolve_text_tower(tower), context_length)
    text_cfg["hf_model_pretrained"] = load_tower_weights
    # open_clip's CustomTextCLIP holds HF towers; the plain CLIP class would not build one.
    return {"text_cfg": text_cfg, "force_custom_text": True}


def hf_text_tower_of(model_cfg: dict[str, Any] | None) -> str | None:
    """The ``hf_model_name`` of a model config's text tower, or ``None`` for a native tower."""
    if not model_cfg:
        return None
    return model_cfg.get("text_cfg", {}).get("hf_model_name")


def register_hf_arch_entries() -> None:
    """Give open_clip's BERT entry the attribute names its ``HFTextEncoder.lock`` looks up.

    open_clip's ``arch_dict["bert"]`` lacks ``layer_attr`` / ``token_embeddings_attr``, so
    partial unlocking (``lock_text_tower(unlocked_layers=k)``) raises ``KeyError`` on BERT-family
    towers (MiniLM, MPNet-free BERTs). ``BertModel`` keeps its blocks in ``encoder.layer`` and
    its embeddings in ``embeddings``, like RoBERTa, whose entry open_clip does have. Idempotent;
    existing values are never overwritten.
    """
    try:
        from open_clip.hf_configs import arch_dict
    except ImportError:  # pragma: no cover - open_clip is a core dependency
        return
    names = arch_dict.get("bert", {}).get("config_names")
    if names is not None:
        names.setdefault("layer_attr", "layer")
        names.setdefault("token_embeddings_attr", "embeddings")


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' load report (e.g. BERT's unused pooler head) and progress bars, off while
    a tower loads; the caller's settings are restored afterwards."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def tower_load_errors(tower: str) -> Iterator[None]:
    """Re-raise a failed hub lookup as one line saying how to load the tower offline."""
    try:
        yield
    except OSError as exc:
        if is_local(tower):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TextTowerUnavailable(
            f"cannot load text tower '{tower}' from the Hugging Face hub ({first[:200]}); with no "
            "network, download the folder once and pass its path (--model.text-tower PATH, "
            "create_model(..., text_tower=PATH))"
        ) from exc


def hf_tokenizer(tower: str, context_length: int, **kwargs: Any):
    """open_clip's ``HFTokenizer`` for ``tower``: list[str] -> LongTensor (B, context_length),
    padded with the tokenizer's pad id (what ``HFTextEncoder`` masks out)."""
    from open_clip.tokenizer import HFTokenizer

    if is_local(tower):
        kwargs.setdefault("local_files_only", True)
    with quiet_transformers(), tower_load_errors(tower):
        return HFTokenizer(tower, context_length=context_length, **kwargs)
