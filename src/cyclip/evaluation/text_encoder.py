"""A plain Hugging Face / sentence-transformers encoder as a text-only model for ``cyclip eval``.

``load_text_encoder(path_or_hub_id)`` returns a :class:`~cyclip.evaluation.load.LoadedModel`
whose bundle serves text tasks (STS) through the same path as a CLIP model's text tower:
``model.encode_text(tokenizer(texts).to(device), normalize=True)``. The encoder follows what its
folder declares, as sentence-transformers does:

- ``sentence_bert_config.json``: ``max_seq_length`` (truncation) and ``do_lower_case``;
- ``modules.json`` + ``1_Pooling/config.json``: the pooling (``cls``, ``max``, ``mean``,
  ``mean_sqrt_len_tokens``; several modes are concatenated in sentence-transformers' order);
  a plain HF folder without them gets mean pooling, as sentence-transformers gives it;
- a ``Normalize`` module (the protocol L2-normalises anyway); a ``Dense`` module or any other
  module is refused with a clear error rather than silently skipped.

The model has no image tower: its ``encode_image`` and its image transforms raise
:class:`TextOnlyModelError`, and ``cyclip eval`` refuses image tasks before any data is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from cyclip.evaluation.load import LoadedModel, ModelInfo, file_fingerprint
from cyclip.models import ModelBundle
from cyclip.models.hf_text import (
    is_local,
    pooling_modes,
    quiet_transformers,
    require_transformers,
    resolve_text_tower,
    tower_load_errors,
)

SUPPORTED_POOLING = ("cls", "max", "mean", "mean_sqrt_len_tokens")
_KNOWN_MODULES = ("Transformer", "Pooling", "Normalize")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class TextOnlyModelError(ValueError):
    """An image was asked of a text-only encoder."""


def _no_images_message(name: str) -> str:
    return (
        f"'{name}' is a text-only encoder (--text-encoder): it has no image tower; evaluate it "
        "on text tasks only (--task sts)"
    )


class SentenceTokenizer:
    """list[str] -> ``BatchEncoding`` (``input_ids``, ``attention_mask``, ...), padded to the
    longest text and truncated to the folder's ``max_seq_length``, as sentence-transformers
    tokenizes. ``.to(device)`` moves every tensor; :class:`SentenceEncoder` reads the mask."""

    def __init__(self, folder: str, max_seq_length: int | None, lower_case: bool) -> None:
        from transformers import AutoTokenizer

        kwargs = {"local_files_only": True} if is_local(folder) else {}
        with quiet_transformers(), tower_load_errors(folder):
            self.tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        limit = self.tokenizer.model_max_length
        self.max_seq_length = min(max_seq_length or limit, limit)
        self.lower_case = lower_case

    def __call__(self, texts: str | list[str]):
        if isinstance(texts, str):
            texts = [texts]
        texts = [t.strip().lower() if self.lower_case else t.strip() for t in texts]
        return self.tokenizer(
            texts,
            padding=True,
            truncation="longest_first",
            max_length=self.max_seq_length,
            return_tensors="pt",
        )

    def __repr__(self) -> str:
        return f"SentenceTokenizer(max_seq_length={self.max_seq_length})"


class _NoImageTransform:
    """Stands in for image preprocessing: a text-only model cannot take images."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, image):
        raise TextOnlyModelError(_no_images_message(self.name))

    def __repr__(self) -> str:  # part of feature-cache keys: must be stable across runs
        return "NoImageTransform()"


class SentenceEncoder(nn.Module):
    """An HF ``AutoModel`` followed by the pooling its folder declares.

    Args:
        transformer: the HF encoder (e.g. ``BertModel``).
        pooling: pooling modes, concatenated in this order (see :data:`SUPPORTED_POOLING`).
        name: shown in errors.
        normalize_output: the folder ends in a ``Normalize`` module: embeddings are always
            L2-normalised, as sentence-transformers returns them.
    """

    def __init__(
        self,
        transformer: nn.Module,
        pooling: tuple[str, ...],
        name: str,
        normalize_output: bool = False,
    ) -> None:
        super().__init__()
        unsupported = [m for m in pooling if m not in SUPPORTED_POOLING]
        if unsupported or not pooling:
            raise ValueError(
                f"{name}: pooling {'+'.join(pooling) or 'none'} is not supported; cyclip "
                f"implements {', '.join(SUPPORTED_POOLING)}"
            )
        self.transformer = transformer
        self.pooling = pooling
        self.name = name
        self.normalize_output = normalize_output

    def _inputs(self, tokens) -> dict[str, Tensor]:
        if isinstance(tokens, Tensor):  # bare input ids: mask the pad id, as open_clip does
            pad = int(getattr(self.transformer.config, "pad_token_id", None) or 0)
            return {"input_ids": tokens, "attention_mask": tokens.ne(pad).long()}
        return {k: v for k, v in dict(tokens).items() if isinstance(v, Tensor)}

    def encode_text(self, tokens, normalize: bool = False) -> Tensor:
        """Tokenizer output (or (B, L) input ids) -> (B, d) sentence embeddings."""
        inputs = self._inputs(tokens)
        mask = inputs["attention_mask"]  # (B, L)
        hidden = self.transformer(**inputs).last_hidden_state  # (B, L, d)
        m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        pooled = []
        for mode in self.pooling:
            if mode == "cls":
                pooled.append(hidden[:, 0])
            elif mode == "max":
                pooled.append(hidden.masked_fill(m == 0, float("-inf")).max(dim=1).values)
            else:
                summed = (hidden * m).sum(dim=1)  # (B, d)
                count = m.sum(dim=1).clamp(min=1e-9)  # (B, 1)
                pooled.append(summed / (count if mode == "mean" else count.sqrt()))
        x = torch.cat(pooled, dim=-1)
        if normalize or self.normalize_output:
            x = nn.functional.normalize(x, dim=-1)
        return x

    def encode_image(self, image: Tensor, normalize: bool = False) -> Tensor:
        raise TextOnlyModelError(_no_images_message(self.name))

    def forward(self, text=None, image=None) -> dict[str, Tensor]:
        if image is not None:
            raise TextOnlyModelError(_no_images_message(self.name))
        return {"text_features": self.encode_text(text, normalize=True)}


def _locate(tower: str) -> str:
    """A local folder for a resolved ``tower``: the folder itself, or the hub snapshot
    (downloaded once into the HF cache)."""
    if is_local(tower):
        return tower
    from huggingface_hub import snapshot_download

    with tower_load_errors(tower):
        try:
            return snapshot_download(tower)
        except Exception as exc:  # offline, unknown repo, ...
            raise OSError(f"{type(exc).__name__}: {exc}") from exc


def _check_modules(folder: Path, name: str) -> bool:
    """Whether the folder ends in a Normalize module; other modules than Transformer, Pooling,
    Normalize (Dense, WordEmbeddings, ...) are refused."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return False
    kinds = [
        str(m.get("type", "")).rsplit(".", 1)[-1] for m in json.loads(modules_file.read_text())
    ]
    unknown = [k for k in kinds if k not in _KNOWN_MODULES]
    if unknown:
        raise ValueError(
            f"{name}: sentence-transformers module(s) {', '.join(unknown)} are not supported "
            f"(cyclip runs {', '.join(_KNOWN_MODULES)})"
        )
    return "Normalize" in kinds


def _st_config(folder: Path) -> dict:
    path = folder / "sentence_bert_config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def encoder_fingerprint(folder: str | os.PathLike) -> str:
    """sha256 of the folder's weights files (path, size, mtime, ends) and its JSON configs
    (tokenizer, pooling, modules): changes whenever the encoder would embed differently."""
    folder = Path(folder)
    h = hashlib.sha256(b"cyclip-text-encoder\0")
    files = sorted(
        [p for p in folder.iterdir() if p.is_file()]
        + [p for p in folder.glob("*/config.json") if p.is_file()]
    )
    for path in files:
        if path.name in _WEIGHT_FILES:
            h.update(f"{path.name}\0{file_fingerprint(path)}\0".encode())
        elif path.suffix in (".json", ".txt"):
            h.update(f"{path.relative_to(folder)}\0".encode() + path.read_bytes())
    return h.hexdigest()


def load_text_encoder(name: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """A Hugging Face / sentence-transformers encoder as a text-only model, in eval mode.

    Args:
        name: a local model folder (read offline) or a hub id such as
            ``sentence-transformers/all-MiniLM-L6-v2`` (downloaded into the HF cache).
        device: where to put the model.

    Returns:
        :class:`LoadedModel`; ``bundle.model.encode_text(bundle.tokenizer(texts).to(device),
        normalize=True)`` gives (B, d) unit vectors, the same as
        ``SentenceTransformer(name).encode(texts, normalize_embeddings=True)``.

    Raises:
        FileNotFoundError: a path that does not exist or is no model folder.
        OSError: a hub id that cannot be fetched (offline, unknown).
        ValueError: pooling or modules cyclip does not implement.
        ImportError: ``transformers`` is not installed.
    """
    require_transformers()
    from transformers import AutoModel

    tower = resolve_text_tower(name)
    folder = Path(_locate(tower))
    display = str(name)
    normalize = _check_modules(folder, display)
    st_config = _st_config(folder)
    with quiet_transformers(), tower_load_errors(str(folder)):
        transformer = AutoModel.from_pretrained(folder, local_files_only=True)
    model = SentenceEncoder(transformer, pooling_modes(folder), display, normalize)
    model = model.to(device).eval()
    tokenizer = SentenceTokenizer(
        str(folder), st_config.get("max_seq_length"), bool(st_config.get("do_lower_case"))
    )
    no_images = _NoImageTransform(display)
    # A hub id as given; a local folder by its name (the full path is in ``pretrained``).
    short = Path(tower).name if is_local(tower) else tower
    info = ModelInfo(
        name=f"text-encoder:{short}",
        pretrained=str(folder.resolve()),
        fingerprint=encoder_fingerprint(folder),
    )
    return LoadedModel(ModelBundle(model, no_images, no_images, tokenizer), info)
