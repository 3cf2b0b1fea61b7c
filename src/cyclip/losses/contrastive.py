"""The contrastive (CLIP, symmetric InfoNCE) term. docs/method.md §1.1."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def contrastive_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: torch.Tensor | float,
) -> torch.Tensor:
    """Symmetric InfoNCE of Radford et al. (2021): ``½ [CE(s·S, arange) + CE(s·Sᵀ, arange)]``.

    Args:
        image_features: (N, d) L2-normalised image embeddings.
        text_features: (N, d) L2-normalised text embeddings; row i is the caption of image i.
        logit_scale: the inverse temperature ``s`` (already exponentiated), scalar.

    Returns:
        Scalar loss, mean over the batch. Equals ``log N`` when all features are identical.
    """
    logits_per_image = logit_scale * image_features @ text_features.T  # (N, N)
    labels = torch.arange(image_features.shape[0], device=image_features.device)
    return 0.5 * (
        F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_image.T, labels)
    )


def contrastive_loss_local(
    local_image_features: torch.Tensor,
    local_text_features: torch.Tensor,
    all_image_features: torch.Tensor,
    all_text_features: torch.Tensor,
    logit_scale: torch.Tensor | float,
    offset: int,
) -> torch.Tensor:
    """open_clip's ``local_loss``: this rank's rows of the global logits only.

    Costs O(n·N) instead of O(N²) per rank; the mean of the per-rank values over ranks is the
    global :func:`contrastive_loss` when every rank holds the same number of pairs.

    Args:
        local_image_features, local_text_features: (n, d) this rank's pairs.
        all_image_features, all_text_features: (N, d) the global batch (gathered with grad).
        logit_scale: inverse temperature, scalar.
        offset: index of this rank's first pair in the global batch.
    """
    logits_per_image = logit_scale * local_image_features @ all_text_features.T  # (n, N)
    logits_per_text = logit_scale * local_text_features @ all_image_features.T  # (n, N)
    labels = offset + torch.arange(local_image_features.shape[0], device=logits_per_image.device)
    return 0.5 * (
        F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)
    )


def augmented_contrastive_loss(
    features: torch.Tensor,
    augmented_features: torch.Tensor,
    logit_scale: torch.Tensor | float,
) -> torch.Tensor:
    """One-directional in-modal InfoNCE ``CE(s · X X_augᵀ, arange)`` of the in-modal
    augmentation variant (docs/method.md §1.6, the official ``--inmodal`` flag).

    Args:
        features: (N, d) embeddings of the original views.
        augmented_features: (N, d) embeddings of the augmented views, same modality.
        logit_scale: inverse temperature, scalar.
    """
    logits = logit_scale * features @ augmented_features.T  # (N, N)
    labels = torch.arange(features.shape[0], device=features.device)
    return F.cross_entropy(logits, labels)
