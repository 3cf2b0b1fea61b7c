"""``CyCLIPLoss``: contrastive + in-modal + cross-modal cyclic terms, open_clip's loss contract."""

from __future__ import annotations

import torch
from torch import nn

from cyclip import distributed as dist
from cyclip.losses.contrastive import (
    augmented_contrastive_loss,
    contrastive_loss,
    contrastive_loss_local,
)
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


class CyCLIPLoss(nn.Module):
    """The CyCLIP objective ``L_clip + λ_in · L_in + λ_cross · L_cross`` (docs/method.md §1).

    Follows open_clip's loss contract: ``loss(**model(images, texts), output_dict=True)`` returns a
    dict of named, already-weighted terms whose values sum to the total loss, so it drops into
    open_clip's training loop. With both lambdas 0 it is exactly CLIP's loss; ``lambda_inmodal=0``
    is C-CyCLIP and ``lambda_crossmodal=0`` is I-CyCLIP.

    Distributed: the global batch is the union of all ranks' batches. Features are gathered with
    gradients for the contrastive term (or only the local rows of the logits are used with
    ``local_loss``); the Gram form of the cyclic terms all-reduces three d x d matrices instead of
    gathering. See :mod:`cyclip.distributed` for the gradient semantics under DDP.

    Args:
        lambda_inmodal: weight of the in-modal cyclic term (paper: 0.25).
        lambda_crossmodal: weight of the cross-modal cyclic term (paper: 0.25).
        normalization: "paper" divides the cyclic terms by the global batch size N (as
            published; their scale grows with N), "mean" by N² (batch-size invariant).
        implementation: how the cyclic terms are computed: "gram" (O(N·d²)), "naive" (O(N²·d))
            or "auto" (the cheaper for N and d); all give the same values.
        local_loss: compute only this rank's rows of the contrastive logits (open_clip's option).
    """

    def __init__(
        self,
        lambda_inmodal: float = 0.25,
        lambda_crossmodal: float = 0.25,
        normalization: Normalization = "paper",
        implementation: CyclicImpl = "auto",
        local_loss: bool = False,
    ) -> None:
        super().__init__()
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

    def extra_repr(self) -> str:
        return (
            f"lambda_inmodal={self.lambda_inmodal}, lambda_crossmodal={self.lambda_crossmodal}, "
            f"normalization={self.normalization!r}, implementation={self.implementation!r}, "
            f"local_loss={self.local_loss}"
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
            logit_bias: SigLIP models' bias; CyCLIP is defined for softmax CLIP models only.

        Returns:
            ``{"contrastive_loss", "inmodal_cyclic_loss", "crossmodal_cyclic_loss"}`` (cyclic
            entries only for lambdas > 0, already weighted) or their sum.
        """
        if logit_bias is not None:
            raise ValueError(
                "CyCLIPLoss is for softmax CLIP models; this model returns a logit_bias "
                "(SigLIP). Use a CLIP architecture."
            )
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
            all_image, all_text = dist.gather(image_features), dist.gather(text_features)
            losses = {
                "contrastive_loss": self._contrastive(
                    image_features,
                    text_features,
                    all_image,
                    all_text,
                    logit_scale,
                    augmented_image_features,
                    augmented_text_features,
                )
            }
            losses.update(self._cyclic(image_features, text_features, all_image, all_text))
        return losses if output_dict else sum(losses.values())

    def _contrastive(
        self,
        image: torch.Tensor,
        text: torch.Tensor,
        all_image: torch.Tensor,
        all_text: torch.Tensor,
        scale: torch.Tensor,
        image_aug: torch.Tensor | None,
        text_aug: torch.Tensor | None,
    ) -> torch.Tensor:
        if self.local_loss and dist.is_distributed():
            offset = int(
                dist.gather(torch.tensor([image.shape[0]], device=image.device))[
                    : dist.rank()
                ].sum()
            )
            loss = contrastive_loss_local(image, text, all_image, all_text, scale, offset)
        else:
            loss = contrastive_loss(all_image, all_text, scale)
        if image_aug is None:
            return loss
        all_image_aug = dist.gather(image_aug.float())
        all_text_aug = dist.gather(text_aug.float())
        inmodal = 0.5 * (
            augmented_contrastive_loss(all_image, all_image_aug, scale)
            + augmented_contrastive_loss(all_text, all_text_aug, scale)
        )
        return 0.5 * (loss + inmodal)

    def _cyclic(
        self,
        image: torch.Tensor,
        text: torch.Tensor,
        all_image: torch.Tensor,
        all_text: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        if self.lambda_inmodal == 0 and self.lambda_crossmodal == 0:
            return {}
        n, d = all_image.shape
        out = {}
        if resolve_cyclic_impl(n, d, self.implementation) == "gram":
            # Per-rank Grams summed over ranks: the global Grams, with gradients.
            grams = dist.all_reduce_sum(cyclic_grams(image, text))  # (3, d, d)
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
                all_image, all_text, self.normalization
            )
        if self.lambda_crossmodal > 0:
            out["crossmodal_cyclic_loss"] = self.lambda_crossmodal * crossmodal_cyclic_loss_naive(
                all_image, all_text, self.normalization
            )
        return out


class ClipLoss(CyCLIPLoss):
    """CLIP's contrastive loss alone: :class:`CyCLIPLoss` with both lambdas 0."""

    def __init__(self, local_loss: bool = False) -> None:
        super().__init__(lambda_inmodal=0.0, lambda_crossmodal=0.0, local_loss=local_loss)
