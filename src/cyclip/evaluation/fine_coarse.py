"""Fine- vs coarse-grained zero-shot accuracy with a class -> superclass map (docs/method.md §4.4).

- Fine: each image is classified among the subclasses of its own superclass only.
- Coarse: a superclass scores the maximum similarity over its subclasses; predict the superclass.
  (Coarse top-1 therefore equals the superclass accuracy of the flat zero-shot prediction.)

Accuracies are percentages.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cyclip.evaluation.zero_shot import topk_accuracy


def superclass_index(superclasses: Sequence[str]) -> tuple[list[str], Tensor]:
    """Turn a per-class superclass name list into (sorted unique names, (C,) index tensor)."""
    names = sorted(set(superclasses))
    lookup = {name: i for i, name in enumerate(names)}
    return names, torch.tensor([lookup[s] for s in superclasses], dtype=torch.long)


def fine_coarse_metrics(
    image_features: Tensor,
    labels: Tensor,
    classifier: Tensor,
    class_to_superclass: Tensor,
    ks: Sequence[int] = (1, 3, 5),
) -> dict[str, float]:
    """Fine (within own superclass) and coarse (superclass) zero-shot accuracy, in percent.

    Args:
        image_features: (N, d) L2-normalised image embeddings.
        labels: (N,) true class indices in ``[0, C)``.
        classifier: (d, C) class text embeddings.
        class_to_superclass: (C,) long, superclass index of each class, in ``[0, S)``.
        ks: top-k values. Fine top-k is reported for k up to the size of the smallest superclass
            (so every image is scored against the same k); coarse top-k for k up to S.

    Returns:
        ``{"fine_top1", ..., "coarse_top1", ..., "flat_top1"}``; ``flat_top1`` is the usual
        zero-shot top-1 over all C classes, for reference.
    """
    labels = labels.long()
    class_to_superclass = class_to_superclass.long()
    if class_to_superclass.shape != (classifier.shape[1],):
        raise ValueError(
            f"class_to_superclass must have one entry per class ({classifier.shape[1]}), "
            f"got {tuple(class_to_superclass.shape)}"
        )
    scores = image_features.float() @ classifier.float()  # (N, C)
    n_super = int(class_to_superclass.max().item()) + 1
    members = torch.nn.functional.one_hot(class_to_superclass, n_super).T.bool()  # (S, C)

    own_super = class_to_superclass[labels]  # (N,)
    fine_scores = scores.masked_fill(~members[own_super], float("-inf"))  # (N, C)
    smallest = int(members.sum(dim=1)[members.any(dim=1)].min().item())
    fine = topk_accuracy(fine_scores, labels, [k for k in ks if k <= smallest])

    coarse_scores = torch.stack(
        [scores[:, members[s]].amax(dim=1) for s in range(n_super) if members[s].any()], dim=1
    )  # (N, S')
    # Superclass ids may have gaps if a superclass index has no classes; reindex densely.
    present = torch.nonzero(members.any(dim=1)).view(-1)
    dense = torch.full((n_super,), -1, dtype=torch.long)
    dense[present] = torch.arange(present.numel())
    coarse = topk_accuracy(coarse_scores, dense[own_super], ks)

    metrics = {f"fine_{k}": v for k, v in fine.items()}
    metrics.update({f"coarse_{k}": v for k, v in coarse.items()})
    metrics["flat_top1"] = 100.0 * (scores.argmax(dim=1) == labels).double().mean().item()
    return metrics
