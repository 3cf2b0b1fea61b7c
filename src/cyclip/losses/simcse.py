"""Sentence-embedding terms of the text tower: SimCSE (Gao et al., EMNLP 2021). docs/method.md §1.8.

- *Unsupervised*: the batch's captions go through the text tower twice with dropout active;
  the two views ``z1``, ``z2`` of a caption are positives, the other captions of the (global)
  batch negatives: ``CE(cos(z1, z2ᵀ) / τ, arange)``.
- *Supervised*: NLI triplets (premise ``z1``, entailment ``z2``, contradiction ``z3``); the
  entailment is the positive, every other entailment and every contradiction of the global batch
  a negative: ``CE([cos(z1, z2ᵀ), cos(z1, z3ᵀ)] / τ, arange)``.

Both are one-directional, exactly as in the official code (``cos_sim = cosine(z1.unsqueeze(1),
z2.unsqueeze(0)) / temp``). ``τ`` defaults to SimCSE's 0.05.

:class:`SentenceObjective` adds ``lambda_sentence`` x one of these terms to another objective
(CLIP / CyCLIP) as the named entry ``"sentence_loss"`` of its loss dict. Features are gathered with
gradients across ranks (every rank computes the global term; see :mod:`cyclip.distributed`), and
the term runs in float32 with autocast off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from cyclip import distributed as dist

SentenceTerm = Literal["none", "unsupervised", "supervised"]
"""The sentence term of the objective: none, unsupervised SimCSE (captions), supervised (NLI)."""
SENTENCE_TERMS: tuple[SentenceTerm, ...] = get_args(SentenceTerm)
DEFAULT_TEMPERATURE = 0.05  # SimCSE's
# Keys of the features the training step adds for each term (see cyclip.train.sentence_views).
UNSUP_KEYS = ("sentence_view_a", "sentence_view_b")
SUP_KEYS = ("nli_anchor", "nli_positive", "nli_negative")


def _cosine_logits(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """(n, m) cosine similarities of the rows of ``a`` and ``b``, divided by ``temperature``."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature


def check_temperature(temperature: float) -> None:
    """Raise ValueError unless ``temperature`` is a finite number > 0."""
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"the SimCSE temperature must be a finite number > 0, got {temperature}")


def unsup_simcse_loss(
    view_a: torch.Tensor, view_b: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE
) -> torch.Tensor:
    """Unsupervised SimCSE: ``CE(cos(A, Bᵀ) / τ, arange)``, mean over the batch.

    Args:
        view_a, view_b: (N, d) two dropout views of the same N sentences, row by row (need not
            be normalised: the similarity is the cosine).
        temperature: ``τ`` > 0.

    Returns:
        Scalar loss. With identical views of mutually orthogonal sentences it is
        ``log(1 + (N - 1) exp(-1/τ))``; with all rows identical ``log N``.
    """
    check_temperature(temperature)
    logits = _cosine_logits(view_a, view_b, temperature)  # (N, N)
    labels = torch.arange(view_a.shape[0], device=view_a.device)
    return F.cross_entropy(logits, labels)


def sup_simcse_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    hard_negative: torch.Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
) -> torch.Tensor:
    """Supervised SimCSE: ``CE([cos(Z1, Z2ᵀ), cos(Z1, Z3ᵀ)] / τ, arange)``, mean over the batch.

    Args:
        anchor: (N, d) premises.
        positive: (N, d) their entailment hypotheses.
        hard_negative: (N, d) their contradiction hypotheses (every row a negative of every
            anchor, beside the other rows' positives).
        temperature: ``τ`` > 0.
    """
    check_temperature(temperature)
    logits = torch.cat(
        [
            _cosine_logits(anchor, positive, temperature),
            _cosine_logits(anchor, hard_negative, temperature),
        ],
        dim=1,
    )  # (N, 2N)
    labels = torch.arange(anchor.shape[0], device=anchor.device)
    return F.cross_entropy(logits, labels)


@dataclass(frozen=True)
class SentenceViews:
    """What the training step must add to the text tower's batch for a sentence term.

    ``term`` says which rows (two dropout views of the captions, or the NLI triplets of
    ``batch["nli_texts"]``); ``dropout`` the dropout probability of those rows where the text
    tower has none of its own; ``text_only`` that no image (and no CLIP text row) is embedded
    (the staged text-tower stage).
    """

    term: Literal["unsupervised", "supervised"]
    dropout: float = 0.1
    text_only: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return UNSUP_KEYS if self.term == "unsupervised" else SUP_KEYS


class SentenceObjective(nn.Module):
    """``base(...) + lambda_sentence * SimCSE`` as one loss with open_clip's dict contract.

    Args:
        base: the cross-modal objective (e.g. :class:`~cyclip.losses.CyCLIPLoss`), or None for the
            sentence term alone (the text-tower stage of a staged run).
        term: "unsupervised" (two dropout views of the captions) or "supervised" (NLI triplets).
        lambda_sentence: weight of the term (> 0; a run without the term uses ``base`` itself).
        temperature: SimCSE's ``τ``.
        dropout: dropout probability of the sentence rows for text towers without dropout.
        text_only: embed no images (with ``base=None``).
    """

    def __init__(
        self,
        base: nn.Module | None,
        term: Literal["unsupervised", "supervised"],
        lambda_sentence: float = 1.0,
        temperature: float = DEFAULT_TEMPERATURE,
        dropout: float = 0.1,
        text_only: bool = False,
    ) -> None:
        super().__init__()
        if term not in ("unsupervised", "supervised"):
            raise ValueError(f"sentence term must be unsupervised or supervised, got {term!r}")
        if not lambda_sentence >= 0 or not math.isfinite(lambda_sentence):
            raise ValueError(f"lambda_sentence must be a finite number >= 0, got {lambda_sentence}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"sentence dropout must be in [0, 1), got {dropout}")
        if text_only and base is not None:
            raise ValueError("text_only embeds no images: it takes no cross-modal base objective")
        check_temperature(temperature)
        self.base = base
        self.term = term
        self.lambda_sentence = float(lambda_sentence)
        self.temperature = float(temperature)
        self.sentence_views = SentenceViews(term, dropout, text_only)

    @property
    def objective(self) -> str | None:
        """The base objective's name (``"clip"``, ``"siglip"``), None for the term alone."""
        return getattr(self.base, "objective", None)

    def extra_repr(self) -> str:
        return (
            f"term={self.term!r}, lambda_sentence={self.lambda_sentence}, "
            f"temperature={self.temperature}, dropout={self.sentence_views.dropout}"
        )

    def sentence_term(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The unweighted global term from this rank's sentence features."""
        missing = [k for k in self.sentence_views.keys if features.get(k) is None]
        if missing:
            raise ValueError(
                f"the {self.term} SimCSE term needs the features {', '.join(missing)}; run it "
                "through cyclip.train.loop.TrainStep (which embeds the sentence rows)"
            )
        parts = [features[k] for k in self.sentence_views.keys]
        device_type = parts[0].device.type
        with torch.autocast(device_type, enabled=False):
            parts = [dist.gather(p.float()) for p in parts]
            if self.term == "unsupervised":
                view_a, view_b = parts
                return unsup_simcse_loss(view_a, view_b, temperature=self.temperature)
            anchor, positive, hard_negative = parts
            return sup_simcse_loss(anchor, positive, hard_negative, temperature=self.temperature)

    def forward(
        self, output_dict: bool = False, **features: torch.Tensor
    ) -> dict[str, torch.Tensor] | torch.Tensor:
        """The base objective's terms plus ``"sentence_loss"`` (already weighted)."""
        losses: dict[str, torch.Tensor] = {}
        if self.base is not None:
            base_features = {k: v for k, v in features.items() if k not in self.sentence_views.keys}
            losses.update(self.base(**base_features, output_dict=True))
        losses["sentence_loss"] = self.lambda_sentence * self.sentence_term(features)
        return losses if output_dict else torch.stack(list(losses.values())).sum()
