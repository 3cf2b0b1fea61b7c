"""Feature extraction: each (model, dataset) is embedded once, then served from the cache.

Extraction runs the model in eval mode under ``torch.inference_mode()`` (optionally under bf16
autocast), batched, with DataLoader workers decoding and preprocessing images in parallel. All
returned features are float32 CPU tensors, L2-normalised.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

import cyclip
from cyclip.data.timeouts import READ_TIMEOUT_S, WORKER_TIMEOUT_S, LoaderTimeouts
from cyclip.evaluation.cache import FeatureCache, cache_key
from cyclip.evaluation.zero_shot import build_classifier
from cyclip.models import ModelBundle
from cyclip.precision import (
    INFERENCE_PRECISIONS,
    ComputePrecision,
    InferencePrecision,
    autocast_context,
    resolve_precision,
)


@dataclass(frozen=True)
class ExtractConfig:
    """How features are computed."""

    batch_size: int = 256
    """Images (or captions) per forward pass."""
    workers: int = 2
    """DataLoader worker processes decoding images; 0 decodes in the main process."""
    device: str = "cpu"
    """Where the model runs."""
    precision: InferencePrecision = "auto"
    """"bf16" runs the forward pass under bf16 autocast (weights stay fp32); "auto": bf16 where
    the device computes it natively, else fp32. Features are returned in fp32 either way."""
    read_timeout: float = READ_TIMEOUT_S
    """Seconds one image may take to read and decode before extraction stops naming it; 0 = no
    limit (see :mod:`cyclip.data.timeouts`)."""
    worker_timeout: float = WORKER_TIMEOUT_S
    """With workers: seconds to wait for a batch from them before stopping; 0 = no limit."""
    timeout_flag_prefix: str = "--"
    """How the time-out errors name the two options: ``--`` (``cyclip eval --read-timeout``),
    ``--data.`` when training runs the evaluation (``--data.read-timeout``)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.read_timeout < 0 or self.worker_timeout < 0:
            raise ValueError(
                f"read_timeout and worker_timeout must be >= 0 (0 = no limit), got "
                f"{self.read_timeout} and {self.worker_timeout}"
            )
        if self.precision not in INFERENCE_PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(INFERENCE_PRECISIONS)}, got {self.precision!r}"
            )

    @property
    def timeouts(self) -> LoaderTimeouts:
        """The loader's time limits, with the options named as ``timeout_flag_prefix`` says."""
        return LoaderTimeouts(
            self.read_timeout, self.worker_timeout, flag_prefix=self.timeout_flag_prefix
        )

    def with_timeouts(self, timeouts: LoaderTimeouts) -> ExtractConfig:
        """This configuration reading under ``timeouts`` (its limits and how it names them)."""
        return replace(
            self,
            read_timeout=timeouts.read,
            worker_timeout=timeouts.worker,
            timeout_flag_prefix=timeouts.flag_prefix,
        )


@dataclass(frozen=True)
class ClassificationFeatures:
    """Embedded images of a labelled set, with their labels."""

    features: Tensor
    """(N, d) image embeddings."""
    labels: Tensor
    """(N,) class indices."""
    skipped: int = 0
    """Unreadable images dropped by the loader."""


@dataclass(frozen=True)
class RetrievalFeatures:
    """Embedded images and their captions, with which image each caption belongs to."""

    image_features: Tensor
    """(N_img, d)."""
    text_features: Tensor
    """(N_txt, d), captions of all images concatenated in image order."""
    text_to_image: Tensor
    """(N_txt,) image index of each caption."""
    skipped: int = 0


@dataclass(frozen=True)
class PairFeatures:
    """Embedded image-caption pairs, row i of each side the same pair."""

    image_features: Tensor
    """(N, d)."""
    text_features: Tensor
    """(N, d); row i is the caption of image i."""
    skipped: int = 0


@dataclass(frozen=True)
class CompositionalFeatures:
    """Embedded images and candidate captions of a compositional set."""

    image_features: Tensor
    """(M, d); rows of unreadable images are zero."""
    readable: Tensor
    """(M,) bool, whether each image was embedded."""
    text_features: Tensor
    """(T, d), one row per caption, in the order given."""
    skipped: int = 0


@dataclass
class ExtractionRecord:
    """What one request cost, for the ``timing`` block of a result file."""

    kind: str
    n: int
    seconds: float
    cached: bool

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "n": self.n, "seconds": self.seconds, "cached": self.cached}
        if not self.cached and self.seconds > 0:
            d["items_per_s"] = self.n / self.seconds
        return d


def _describe_transform(transform: object) -> str:
    # Function reprs carry memory addresses that change every run; drop them so the key is stable.
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(transform))


@dataclass
class FeatureExtractor:
    """Embeds datasets and class prompts with one model, through a :class:`FeatureCache`.

    Args:
        bundle: the model, its eval transform and tokenizer.
        fingerprint: identity of the weights (``None``: never cache, e.g. random init).
        cache: where features are kept.
        config: batch size, workers, device, precision.
    """

    bundle: ModelBundle
    fingerprint: str | None
    cache: FeatureCache
    config: ExtractConfig = field(default_factory=ExtractConfig)
    records: list[ExtractionRecord] = field(default_factory=list)
    _classifiers: dict[str, Tensor] = field(default_factory=dict, repr=False)

    def key_for(self, kind: str, dataset_fingerprint: str | None, **extra: object) -> str | None:
        """Cache key of ``kind`` computed from ``dataset_fingerprint`` with this model and
        preprocessing; ``None`` (never cached) when either identity is unknown."""
        if self.fingerprint is None or dataset_fingerprint is None or not self.cache.enabled:
            return None
        return cache_key(
            kind=kind,
            model=self.fingerprint,
            dataset=dataset_fingerprint,
            preprocess=_describe_transform(self.bundle.preprocess_val),
            precision=self.precision,
            cyclip=cyclip.__version__,
            **extra,
        )

    @property
    def precision(self) -> ComputePrecision:
        """The precision the forward passes run in (``auto`` resolved for the device)."""
        return resolve_precision(self.config.precision, self.config.device)

    def _autocast(self):
        return autocast_context(self.config.device, self.precision)

    def _cached(self, kind: str, key: str | None, compute: Callable[[], dict[str, Tensor]]):
        """``compute()`` unless ``key`` is in the cache; records the cost either way."""
        start = time.perf_counter()
        tensors = self.cache.load(key)
        cached = tensors is not None
        if tensors is None:
            model = self.bundle.model
            was_training = model.training
            model.eval()  # dropout off, norm statistics frozen, whatever state the caller left
            try:
                tensors = compute()
            finally:
                model.train(was_training)
            self.cache.save(key, tensors, meta={"kind": kind, "model": str(self.fingerprint)})
        n = next(iter(tensors.values())).shape[0]
        self.records.append(ExtractionRecord(kind, n, time.perf_counter() - start, cached))
        return tensors

    @torch.inference_mode()
    def encode_images(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) preprocessed images -> (B, d) float32 CPU unit vectors."""
        with self._autocast():
            x = self.bundle.model.encode_image(images.to(self.config.device), normalize=True)
        return F.normalize(x.float(), dim=-1).cpu()

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> Tensor:
        """N captions -> (N, d) float32 CPU unit vectors, in batches of ``batch_size``."""
        out = []
        for s in range(0, len(texts), self.config.batch_size):
            tokens = self.bundle.tokenizer(texts[s : s + self.config.batch_size])
            with self._autocast():
                x = self.bundle.model.encode_text(tokens.to(self.config.device), normalize=True)
            out.append(F.normalize(x.float(), dim=-1).cpu())
        if not out:
            return torch.empty(0, 0)
        return torch.cat(out)

    def _loader(self, dataset):
        from cyclip.data import build_eval_loader

        return build_eval_loader(
            dataset,
            self.bundle.preprocess_val,
            batch_size=self.config.batch_size,
            workers=self.config.workers,
            timeouts=self.config.timeouts,
        )

    def _run_images(
        self, dataset, want: Literal["labels", "captions"]
    ) -> tuple[dict[str, Tensor], int, list[list[str]]]:
        """Embed every image of ``dataset``, keeping ``labels`` or ``captions`` beside them.

        Returns ``({"features": (N, d), "labels"?: (N,)}, skipped images, captions per image)``.
        """
        feats: list[Tensor] = []
        labels: list[Tensor] = []
        captions: list[list[str]] = []
        skipped = 0
        for batch in self._loader(dataset):
            skipped += int(batch.get("n_skipped", 0))
            if batch["images"].shape[0] == 0:
                continue  # every item of this batch was unreadable
            feats.append(self.encode_images(batch["images"]))
            if want == "labels":
                labels.append(torch.as_tensor(batch["labels"], dtype=torch.long))
            else:
                captions.extend([c] if isinstance(c, str) else list(c) for c in batch["captions"])
        out = {"features": torch.cat(feats) if feats else torch.empty(0, 0)}
        if want == "labels":
            out["labels"] = torch.cat(labels) if labels else torch.empty(0, dtype=torch.long)
        return out, skipped, captions

    def classification(self, dataset, dataset_fingerprint: str | None) -> ClassificationFeatures:
        """Embed a classification dataset (items ``{"image", "label"}``)."""

        def compute():
            out, skipped, _ = self._run_images(dataset, "labels")
            out["skipped"] = torch.tensor([skipped])
            return out

        t = self._cached("images", self.key_for("classification", dataset_fingerprint), compute)
        return ClassificationFeatures(t["features"], t["labels"], int(t["skipped"][0]))

    def retrieval(self, dataset, dataset_fingerprint: str | None) -> RetrievalFeatures:
        """Embed a retrieval dataset (items ``{"image", "captions": list[str]}``)."""

        def compute():
            out, skipped, captions = self._run_images(dataset, "captions")
            counts = torch.tensor([len(c) for c in captions], dtype=torch.long)
            texts = [t for caps in captions for t in caps]
            out["text_features"] = self.encode_texts(texts)
            out["text_to_image"] = torch.repeat_interleave(torch.arange(len(captions)), counts)
            out["skipped"] = torch.tensor([skipped])
            return out

        t = self._cached("images+captions", self.key_for("retrieval", dataset_fingerprint), compute)
        return RetrievalFeatures(
            t["features"], t["text_features"], t["text_to_image"], int(t["skipped"][0])
        )

    def pairs(self, dataset, dataset_fingerprint: str | None) -> PairFeatures:
        """Embed an image-caption pair dataset (items ``{"image", "caption"}``)."""

        def compute():
            out, skipped, captions = self._run_images(dataset, "captions")
            out["text_features"] = self.encode_texts([c[0] for c in captions])
            out["skipped"] = torch.tensor([skipped])
            return out

        t = self._cached("pairs", self.key_for("pairs", dataset_fingerprint), compute)
        return PairFeatures(t["features"], t["text_features"], int(t["skipped"][0]))

    def compositional(
        self, images, texts: Sequence[str], dataset_fingerprint: str | None
    ) -> CompositionalFeatures:
        """Embed the images of ``images`` (items ``{"image", "label": its own index}``) and the
        captions ``texts``; images the loader could not read keep a zero row."""

        def compute():
            out, skipped, _ = self._run_images(images, "labels")
            text = self.encode_texts(list(texts))  # (T, d)
            features = torch.zeros(len(images), text.shape[1])  # (M, d): the joint space
            readable = torch.zeros(len(images), dtype=torch.bool)
            if out["labels"].numel():  # labels are the images' own indices
                features[out["labels"]] = out["features"]
                readable[out["labels"]] = True
            return {
                "features": features,
                "readable": readable,
                "text_features": text,
                "skipped": torch.tensor([skipped]),
            }

        key = self.key_for("compositional", dataset_fingerprint, texts=cache_key(texts=list(texts)))
        t = self._cached("images+captions", key, compute)
        return CompositionalFeatures(
            t["features"], t["readable"].bool(), t["text_features"], int(t["skipped"][0])
        )

    def texts(self, sentences: Sequence[str], fingerprint: str | None = None) -> Tensor:
        """(N, d) unit vectors of N sentences (text tower only, e.g. sentence similarity).

        Each distinct sentence is encoded once, however often it occurs (STS sets repeat
        sentences across pairs), and the distinct sentences' features are cached on disk: a
        second evaluation of the same sentences costs no forward pass. The cache key is the
        sentences themselves (plus ``fingerprint``, the data's identity, when given).
        """
        unique = list(dict.fromkeys(sentences))
        identity = cache_key(data=fingerprint, sentences=unique)
        t = self._cached(
            "texts",
            self.key_for("texts", identity),
            lambda: {"features": self.encode_texts(unique)},
        )
        row = {s: i for i, s in enumerate(unique)}
        return t["features"][torch.tensor([row[s] for s in sentences], dtype=torch.long)]

    def classifier(self, classnames: Sequence[str], templates: Sequence[str]) -> Tensor:
        """(d, C) zero-shot classifier of :func:`build_classifier`, cached per names+templates
        on disk and, for this extractor's lifetime, in memory (the builtin suite asks for the
        same classes once per split, also for models that are never cached on disk)."""
        identity = cache_key(classnames=list(classnames), templates=list(templates))
        if identity in self._classifiers:
            return self._classifiers[identity]

        def compute():
            w = build_classifier(
                self.bundle.model,
                self.bundle.tokenizer,
                classnames,
                templates,
                self.config.device,
                self.config.batch_size,
            )
            return {"weights": w.T.contiguous()}  # stored (C, d): the cache counts rows

        t = self._cached("class prompts", self.key_for("classifier", identity), compute)
        self._classifiers[identity] = t["weights"].T.contiguous()
        return self._classifiers[identity]
