"""Zero-shot classification (docs/method.md §4.1): class prompts -> text classifier -> argmax.

All accuracies in this package are percentages in [0, 100].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cyclip.models.factory import ClipModel


@torch.inference_mode()
def build_classifier(
    model: ClipModel,
    tokenizer,
    classnames: Sequence[str],
    templates: Sequence[str],
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> Tensor:
    """Zero-shot classifier weights from class names and prompt templates.

    Per class, every template is filled with the class name and embedded; each text embedding is
    L2-normalised, the class's embeddings are averaged, the mean renormalised (docs/method.md §4.1).

    Args:
        model: an open_clip ``CLIP`` (``encode_text(tokens, normalize=True)``).
        tokenizer: ``list[str] -> LongTensor (B, L)``.
        classnames: the C class names, index = label.
        templates: the P format strings, each with a ``{c}`` placeholder.
        device: where to run the text tower.
        batch_size: prompts per forward pass.

    Returns:
        Float32 CPU tensor (d, C) whose columns are unit vectors.
    """
    if not classnames:
        raise ValueError("build_classifier needs at least one class name")
    if not templates:
        raise ValueError("build_classifier needs at least one prompt template")
    for t in templates:
        if "{c}" not in t:
            raise ValueError(f"prompt template {t!r} has no '{{c}}' placeholder")
    was_training = model.training
    model.eval()
    prompts = [t.format(c=name) for name in classnames for t in templates]  # class-major order
    chunks = []
    for start in range(0, len(prompts), batch_size):
        tokens = tokenizer(prompts[start : start + batch_size]).to(device)
        chunks.append(model.encode_text(tokens, normalize=True).float().cpu())  # (b, d)
    model.train(was_training)
    per_prompt = F.normalize(torch.cat(chunks), dim=-1)  # (C * P, d)
    per_class = per_prompt.view(len(classnames), len(templates), -1).mean(dim=1)  # (C, d)
    return F.normalize(per_class, dim=-1).T.contiguous()  # (d, C)


def predict(image_features: Tensor, classifier: Tensor) -> Tensor:
    """Zero-shot prediction: argmax over classes of cosine similarity.

    Args:
        image_features: (N, d) L2-normalised image embeddings.
        classifier: (d, C) from :func:`build_classifier`.

    Returns:
        LongTensor (N,) of class indices.
    """
    return (image_features.float() @ classifier.float()).argmax(dim=1)


def topk_accuracy(scores: Tensor, labels: Tensor, ks: Sequence[int]) -> dict[str, float]:
    """Top-k accuracy (%) for each k in ``ks`` that is at most the number of classes.

    Args:
        scores: (N, C) class scores, higher is better.
        labels: (N,) true class indices.
        ks: the k values; those above C are skipped (top-k would be 100% by construction).

    Returns:
        ``{"top1": ..., "top3": ...}``.
    """
    num_classes = scores.shape[1]
    ks = sorted({k for k in ks if k <= num_classes})
    if not ks:
        return {}
    top = scores.topk(ks[-1], dim=1).indices  # (N, kmax), best first
    hits = top == labels.view(-1, 1)  # (N, kmax); at most one True per row
    return {f"top{k}": 100.0 * hits[:, :k].any(dim=1).double().mean().item() for k in ks}


def mean_per_class_recall(predictions: Tensor, labels: Tensor) -> float:
    """Unweighted mean over the classes present in ``labels`` of each class's recall (%).

    Args:
        predictions: (N,) predicted class indices.
        labels: (N,) true class indices.
    """
    present = labels.unique()
    recalls = [(predictions[labels == c] == c).double().mean() for c in present]
    return 100.0 * torch.stack(recalls).mean().item()


def zero_shot_metrics(
    image_features: Tensor,
    labels: Tensor,
    classifier: Tensor,
    ks: Sequence[int] = (1, 3, 5),
) -> dict[str, float]:
    """Zero-shot top-k accuracy and mean per-class recall (docs/method.md §4.1), in percent.

    Args:
        image_features: (N, d) L2-normalised image embeddings.
        labels: (N,) true class indices in ``[0, C)``.
        classifier: (d, C) class text embeddings (unit columns) from :func:`build_classifier`.
        ks: top-k values to report; those above C are skipped.

    Returns:
        ``{"top1", "top3", "top5", "mean_per_class_recall"}`` (keys for k > C omitted).
    """
    _check_features(image_features, labels, classifier)
    scores = image_features.float() @ classifier.float()  # (N, C)
    labels = labels.long()
    metrics = topk_accuracy(scores, labels, ks)
    metrics["mean_per_class_recall"] = mean_per_class_recall(scores.argmax(dim=1), labels)
    return metrics


def _check_features(image_features: Tensor, labels: Tensor, classifier: Tensor) -> None:
    if image_features.ndim != 2 or classifier.ndim != 2:
        raise ValueError(
            f"expected image_features (N, d) and classifier (d, C), got "
            f"{tuple(image_features.shape)} and {tuple(classifier.shape)}"
        )
    if image_features.shape[1] != classifier.shape[0]:
        raise ValueError(
            f"feature dimension mismatch: images have d={image_features.shape[1]}, "
            f"classifier has d={classifier.shape[0]} (was it built with another model?)"
        )
    if labels.shape != (image_features.shape[0],):
        raise ValueError(f"labels must be ({image_features.shape[0]},), got {tuple(labels.shape)}")
    if labels.numel() == 0:
        raise ValueError("cannot compute zero-shot metrics on an empty test set")
    if labels.min() < 0 or labels.max() >= classifier.shape[1]:
        raise ValueError(
            f"labels must lie in [0, {classifier.shape[1]}), got range "
            f"[{labels.min().item()}, {labels.max().item()}]"
        )
