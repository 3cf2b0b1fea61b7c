"""``CyCLIPLoss``: a base objective + in-modal + cross-modal cyclic terms, open_clip's contract."""

from __future__ import annotations

import torch
from torch import nn

from cyclip import distributed as dist
from cyclip.losses.cyclic import (
    CyclicImpl,
    Normalization,
    check_cyclic_impl,
    check_normalization,
    crossmodal_cyclic_loss_naive,
    crossmodal_from_grams,
    cyclic_grams,
    inmodal_cyclic_loss_naive,
    inmodal_from_grams,
    resolve_cyclic_impl,
)
from cyclip.losses.objectives import BASE_OBJECTIVES, SigLipDistImpl, StepFeatures


class CyCLIPLoss(nn.Module):
    """The CyCLIP objective ``L_base + λ_in · L_in + λ_cross · L_cross`` (docs/method.md §1).

    Follows open_clip's loss contract: ``loss(**model(images, texts), output_dict=True)`` returns a
    dict of named, already-weighted terms whose values sum to the total loss, so it drops into
    open_clip's training loop. The base term is CLIP's softmax InfoNCE (``objective="clip"``) or
    SigLIP's sigmoid loss (``"siglip"``, which needs the model's ``logit_bias``); either way it is
    the ``contrastive_loss`` entry, as open_clip names both. With both lambdas 0 it is exactly the
    base loss; ``lambda_inmodal=0`` is C-CyCLIP and ``lambda_crossmodal=0`` is I-CyCLIP; the
    siglip base with the lambdas is Cy-SigLIP.

    Distributed: the global batch is the union of all ranks' batches. CLIP gathers features with
    gradients (or uses only the local rows of the logits with ``local_loss``); SigLIP exchanges
    captions between ranks with open_clip's ``dist_impl``; the Gram form of the cyclic terms
    all-reduces three d x d matrices instead of gathering. See :mod:`cyclip.distributed` and
    :mod:`cyclip.losses.objectives` for the gradient semantics under DDP.

    Args:
        lambda_inmodal: weight of the in-modal cyclic term (paper: 0.25).
        lambda_crossmodal: weight of the cross-modal cyclic term (paper: 0.25).
        normalization: "paper" divides the cyclic terms by the global batch size N (as
            published; their scale grows with N), "mean" by N² (batch-size invariant).
        implementation: how the cyclic terms are computed: "gram" (O(N·d²)), "naive" (O(N²·d))
            or "auto" (the cheaper for N and d); all give the same values.
        local_loss: clip: compute only this rank's rows of the logits (open_clip's option).
        objective: the base objective, a name of
            :data:`~cyclip.losses.objectives.BASE_OBJECTIVES` (``"clip"``, ``"siglip"``).
        dist_impl: siglip: open_clip's exchange of captions between ranks (``"bidir"``, ...).
    """

    def __init__(
        self,
        lambda_inmodal: float = 0.25,
        lambda_crossmodal: float = 0.25,
        normalization: Normalization = "paper",
        implementation: CyclicImpl = "auto",
        local_loss: bool = False,
        objective: str = "clip",
        dist_impl: SigLipDistImpl = "bidir",
    ) -> None:
        super().__init__()
        if objective not in BASE_OBJECTIVES:
            raise ValueError(
                f"unknown objective {objective!r}; known: {', '.join(BASE_OBJECTIVES)}"
            )
        for name, value in (
            ("lambda_inmodal", lambda_inmodal),
            ("lambda_crossmodal", lambda_crossmodal),
        ):
            if not value >= 0:  # also rejects NaN
                raise ValueError(f"{name} must be >= 0, got {value}; use 0 to disable the term")
        check_normalization(normalization)  # at construction, not at the first step
        check_cyclic_impl(implementation)
        self.lambda_inmodal = float(lambda_inmodal)
        self.lambda_crossmodal = float(lambda_crossmodal)
        self.normalization = normalization
        self.implementation = implementation
        self.local_loss = local_loss
        self.objective = objective
        self.base = BASE_OBJECTIVES[objective].term(local_loss=local_loss, dist_impl=dist_impl)

    def extra_repr(self) -> str:
        return (
            f"lambda_inmodal={self.lambda_inmodal}, lambda_crossmodal={self.lambda_crossmodal}, "
            f"normalization={self.normalization!r}, implementation={self.implementation!r}, "
            f"local_loss={self.local_loss}, objective={self.objective!r}"
        )

    def forward(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        output_dict: bool = False,
        augmented_image_features: torch.Tensor | None = None,
        augmented_text_features: torch.Tensor | None = None,
        logit_bias: torch.Tensor | None = None,
        **unused: object,
    ) -> dict[str, torch.Tensor] | torch.Tensor:
        """Compute the objective.

        Args:
            image_features: (n, d) L2-normalised image embeddings of this rank's pairs.
            text_features: (n, d) L2-normalised text embeddings, paired row by row.
            logit_scale: inverse temperature ``s``, already exponentiated (as open_clip's model
                returns it), scalar.
            output_dict: return the dict of terms (open_clip's trainer passes True) instead of
                the total.
            augmented_image_features, augmented_text_features: (n, d) embeddings of augmented
                views, for the in-modal augmentation variant (both or neither).
            logit_bias: the model's bias ``b`` (SigLIP models; the siglip objective needs it,
                the clip objective refuses it), scalar.

        Returns:
            ``{"contrastive_loss", "inmodal_cyclic_loss", "crossmodal_cyclic_loss"}`` (cyclic
            entries only for lambdas > 0, already weighted) or their sum.
        """
        if (augmented_image_features is None) != (augmented_text_features is None):
            raise ValueError("pass both augmented_image_features and augmented_text_features")
        if image_features.shape != text_features.shape:
            raise ValueError(
                f"image and text features must have the same shape, got "
                f"{tuple(image_features.shape)} and {tuple(text_features.shape)}"
            )
        with torch.autocast(image_features.device.type, enabled=False):
            # Logits and cyclic terms in fp32: autocast would otherwise run them in bf16/fp16.
            image_features, text_features = image_features.float(), text_features.float()
            logit_scale = logit_scale.float()
            features = StepFeatures(
                image_features,
                text_features,
                None if augmented_image_features is None else augmented_image_features.float(),
                None if augmented_text_features is None else augmented_text_features.float(),
            )
            losses = {"contrastive_loss": self.base(features, logit_scale, logit_bias)}
            losses.update(self._cyclic(features))
        return losses if output_dict else sum(losses.values())

    def _cyclic(self, f: StepFeatures) -> dict[str, torch.Tensor]:
        if self.lambda_inmodal == 0 and self.lambda_crossmodal == 0:
            return {}
        n, d = sum(f.sizes) if dist.is_distributed() else f.image.shape[0], f.image.shape[1]
        out = {}
        if resolve_cyclic_impl(n, d, self.implementation) == "gram":
            # Per-rank Grams summed over ranks: the global Grams, with gradients.
            grams = dist.all_reduce_sum(cyclic_grams(f.image, f.text))  # (3, d, d)
            if self.lambda_inmodal > 0:
                out["inmodal_cyclic_loss"] = self.lambda_inmodal * inmodal_from_grams(
                    grams, n, self.normalization
                )
            if self.lambda_crossmodal > 0:
                out["crossmodal_cyclic_loss"] = self.lambda_crossmodal * crossmodal_from_grams(
                    grams, n, self.normalization
                )
            return out
        if self.lambda_inmodal > 0:
            out["inmodal_cyclic_loss"] = self.lambda_inmodal * inmodal_cyclic_loss_naive(
                f.all_image, f.all_text, self.normalization
            )
        if self.lambda_crossmodal > 0:
            out["crossmodal_cyclic_loss"] = self.lambda_crossmodal * crossmodal_cyclic_loss_naive(
                f.all_image, f.all_text, self.normalization
            )
        return out


class ClipLoss(CyCLIPLoss):
    """CLIP's contrastive loss alone: :class:`CyCLIPLoss` with both lambdas 0."""

    def __init__(self, local_loss: bool = False) -> None:
        super().__init__(lambda_inmodal=0.0, lambda_crossmodal=0.0, local_loss=local_loss)


class SigmoidLoss(CyCLIPLoss):
    """SigLIP's sigmoid loss alone: :class:`CyCLIPLoss` with the siglip objective, lambdas 0."""

    def __init__(self, dist_impl: SigLipDistImpl = "bidir") -> None:
        super().__init__(0.0, 0.0, objective="siglip", dist_impl=dist_impl)
