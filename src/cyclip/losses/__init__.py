"""Losses as a library: each term a documented pure function, plus the ``CyCLIPLoss`` module."""

from cyclip.losses.contrastive import (
    augmented_contrastive_loss,
    contrastive_loss,
    contrastive_loss_local,
)
from cyclip.losses.cyclic import (
    CYCLIC_IMPLS,
    NORMALIZATIONS,
    CyclicImpl,
    Normalization,
    crossmodal_cyclic_loss,
    crossmodal_cyclic_loss_naive,
    crossmodal_from_grams,
    cyclic_grams,
    inmodal_cyclic_loss,
    inmodal_cyclic_loss_naive,
    inmodal_from_grams,
)
from cyclip.losses.cyclip_loss import ClipLoss, CyCLIPLoss
from cyclip.losses.simcse import (
    SENTENCE_TERMS,
    SentenceObjective,
    SentenceTerm,
    SentenceViews,
    sup_simcse_loss,
    unsup_simcse_loss,
)

__all__ = [
    "CYCLIC_IMPLS",
    "NORMALIZATIONS",
    "SENTENCE_TERMS",
    "ClipLoss",
    "CyclicImpl",
    "Normalization",
    "CyCLIPLoss",
    "SentenceObjective",
    "SentenceTerm",
    "SentenceViews",
    "augmented_contrastive_loss",
    "contrastive_loss",
    "contrastive_loss_local",
    "crossmodal_cyclic_loss",
    "crossmodal_cyclic_loss_naive",
    "crossmodal_from_grams",
    "cyclic_grams",
    "inmodal_cyclic_loss",
    "inmodal_cyclic_loss_naive",
    "inmodal_from_grams",
    "sup_simcse_loss",
    "unsup_simcse_loss",
]
