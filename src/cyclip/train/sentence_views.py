"""The sentence rows of a training step: what the text tower embeds for a SimCSE term, the
dropout of those rows, and the dropout random numbers that make accumulation exact.

The rows ride in the model's one forward call (a DDP model sees exactly one forward per
backward): the text batch becomes ``[captions (CLIP) ; sentence rows]``, and the output's text
features are split back. The sentence rows are two copies of the captions (unsupervised SimCSE)
or the step's NLI triplets ``[premises ; entailments ; contradictions]`` (supervised SimCSE, from
``batch["nli_texts"]``, see :mod:`cyclip.data.sentences`).

**Dropout for this term only.** open_clip's own text transformer has no dropout at all (its
attention blocks are built with dropout 0 and no Dropout modules). While the model call runs,
:func:`sentence_dropout` registers forward hooks that apply dropout ``p`` to the *sentence rows
only* (rows ``start:`` of the batch, the rows being batch-first) at BERT's "hidden dropout" sites:
the output of every attention and MLP sub-layer before it is added to the residual stream (the
blocks' ``ls_1`` / ``ls_2`` modules). The CLIP rows stay exactly as without the term. A Hugging
Face tower keeps its own dropout (all-MiniLM-L6-v2: attention and hidden 0.1, active on every row
in training mode, as in any HF training); only its Dropout modules with ``p = 0`` get the hook.

**Exact accumulation.** Dropout masks are random numbers: the cached no-grad pass and the
graph pass of a micro-batch must draw the same ones. Each step draws one seed per micro-batch
from the global generator (part of the checkpointed RNG state, so resumes are bit-exact) and
runs both passes of micro-batch ``j`` under a forked generator seeded with seed ``j``
(:func:`rng_scope`). The accumulated gradient is then the gradient of the whole step's loss with
those masks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cyclip.losses.simcse import SentenceViews


def text_tower(model: Any) -> nn.Module:
    """The text tower of an open_clip model: ``model.text`` (CustomTextCLIP, HF towers) or the
    CLIP model itself, whose text modules sit at the top level."""
    return model.text if hasattr(model, "text") else model


def dropout_sites(model: nn.Module) -> list[nn.Module]:
    """The modules whose outputs get the sentence rows' dropout (see the module docstring)."""
    tower = text_tower(model)
    resblocks = getattr(getattr(tower, "transformer", None), "resblocks", None)
    if resblocks is not None:  # open_clip's own text transformer
        return [m for block in resblocks for m in (block.ls_1, block.ls_2)]
    return [m for m in tower.modules() if isinstance(m, nn.Dropout) and m.p == 0]


@contextlib.contextmanager
def sentence_dropout(model: nn.Module, p: float, start: int) -> Iterator[None]:
    """Dropout ``p`` on rows ``start:`` of the text tower's activations while the block runs
    (training mode only)."""
    if p == 0:
        yield
        return

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
        if not module.training:
            return None
        return torch.cat([output[:start], F.dropout(output[start:], p, training=True)])

    handles = [m.register_forward_hook(hook) for m in dropout_sites(model)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def draw_seeds(n: int) -> list[int]:
    """``n`` dropout seeds for the micro-batches of one step, from the global generator."""
    return [int(s) for s in torch.randint(0, 2**62, (n,), dtype=torch.int64).tolist()]


@contextlib.contextmanager
def rng_scope(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with every torch generator seeded by ``seed``, restoring them after."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class SentenceRows:
    """Builds, embeds and splits the sentence rows of :class:`SentenceViews` for one model."""

    def __init__(self, raw_model: nn.Module, views: SentenceViews) -> None:
        self.raw_model = raw_model
        self.views = views

    def texts(self, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
        """(k, L) token rows of the sentence term for this micro-batch."""
        if self.views.term == "unsupervised":
            captions = batch["texts"].to(device, non_blocking=True)  # (B, L)
            return torch.cat([captions, captions])
        nli = batch.get("nli_texts")
        if nli is None:
            raise ValueError(
                "the supervised SimCSE term needs NLI triplets in each batch: give "
                "--data.sentence-data (a sent0,sent1,hard_neg CSV)"
            )
        return nli.to(device, non_blocking=True)  # (3b, L)

    def split(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embedded sentence rows -> ``{key: (k, d)}`` in :attr:`SentenceViews.keys` order."""
        keys = self.views.keys
        return dict(zip(keys, rows.split(rows.shape[0] // len(keys))))

    def dropout(self, start: int) -> contextlib.AbstractContextManager:
        return sentence_dropout(self.raw_model, self.views.dropout, start)

    def forward_text_only(
        self, model: nn.Module, batch: dict[str, Any], device: torch.device
    ) -> dict[str, torch.Tensor]:
        """The text-tower stage: the sentence rows alone, no image and no CLIP row."""
        with self.dropout(0):
            out = model(None, self.texts(batch, device))
        return {"logit_scale": out["logit_scale"], **self.split(out["text_features"])}
