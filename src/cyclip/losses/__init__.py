"""Losses as a library: each term a documented pure function, the registry of base objectives
(CLIP, SigLIP) and the ``CyCLIPLoss`` module that adds the cyclic terms to one."""

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
from cyclip.losses.cyclip_loss import ClipLoss, CyCLIPLoss, SigmoidLoss
from cyclip.losses.objectives import (
    BASE_OBJECTIVES,
    SIGLIP_DIST_IMPLS,
    BaseObjective,
    SigLipDistImpl,
    StepFeatures,
    base_objective,
    is_cyclic_name,
    loss_names,
    sigmoid_loss,
)
from cyclip.losses.simcse import (
    SENTENCE_TERMS,
    SentenceObjective,
    SentenceTerm,
    SentenceViews,
    sup_simcse_loss,
    unsup_simcse_loss,
)

__all__ = [
    "BASE_OBJECTIVES",
    "BaseObjective",
    "CYCLIC_IMPLS",
    "SIGLIP_DIST_IMPLS",
    "SigLipDistImpl",
    "SigmoidLoss",
    "StepFeatures",
    "base_objective",
    "is_cyclic_name",
    "loss_names",
    "sigmoid_loss",
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
