"""Compositional evaluation as pure functions over features: which caption an image prefers
(docs/method.md §4.8).

An item is an image, its true caption and one or more negatives. The model gets it right when the
image's cosine similarity with the true caption is strictly higher than with every negative; a
tie is wrong (as SugarCrepe's own evaluation counts it). Accuracies are percentages, per category
(``add_att``, ``swap_rel``, ...), per family (the category name up to its first ``_``: ``add``,
``replace``, ``swap``; reported when a family has two or more categories) and overall.

The text-only ("blind") baseline scores a caption with the text tower alone: its cosine to the
mean embedding of the true captions of every *other* image of the set (leave-one-image-out), a
language-model-free plausibility score ("does this read like the set's real captions?"). It
never sees the image, and the held-out mean keeps an item's own true caption (which SugarCrepe
repeats across categories of the same image) out of its reference. A benchmark whose negatives
are implausible text lets this baseline score well above chance, which is the shortcut
SugarCrepe's authors built their set to remove.

Winoground-style 2x2 groups (two images, two captions, caption j true of image j) get the three
Winoground scores: text (each image prefers its caption), image (each caption prefers its image)
and group (both), again with strict inequalities. They get no text-only score: without the image
both images of a group would prefer the same caption, so its text score would be 0 by design.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from cyclip.evaluation.compositional_sets import CompositionalSet
    from cyclip.evaluation.features import CompositionalFeatures

OVERALL = "overall"
MEAN_CATEGORY = "mean_category"


def preferences(
    image_features: Tensor, text_features: Tensor, image_index: Tensor, caption_index: Tensor
) -> Tensor:
    """Cosine similarity of each item's image with each of its captions.

    Args:
        image_features: (M, d) unit image embeddings.
        text_features: (T, d) unit text embeddings.
        image_index: (N,) image of each item.
        caption_index: (N, 1 + K) the item's true caption first, then its negatives; ``-1`` pads
            items with fewer negatives.

    Returns:
        (N, 1 + K) similarities, ``-inf`` at padded positions.
    """
    images = image_features[image_index]  # (N, d)
    texts = text_features[caption_index.clamp(min=0)]  # (N, 1 + K, d)
    sims = torch.einsum("nd,nkd->nk", images, texts)
    return sims.masked_fill(caption_index < 0, float("-inf"))


def blind_preferences(text_features: Tensor, image_index: Tensor, caption_index: Tensor) -> Tensor:
    """Text-only plausibility of each item's captions (see the module docstring).

    Each caption scores its cosine with the normalised mean embedding of the distinct true
    captions of the other images (leave-one-image-out).

    Args:
        text_features: (T, d) unit text embeddings.
        image_index: (N,) image of each item (items of one image share the held-out mean).
        caption_index: (N, 1 + K) as in :func:`preferences`.

    Returns:
        (N, 1 + K) scores, ``-inf`` at padded positions.

    Raises:
        ValueError: fewer than two images (there is no other image to compare with).
    """
    pairs = torch.unique(torch.stack([image_index, caption_index[:, 0]], dim=1), dim=0)
    images, inverse = torch.unique(pairs[:, 0], return_inverse=True)
    if images.numel() < 2:
        raise ValueError("the text-only baseline needs items of at least two images")
    positives = text_features[pairs[:, 1]]  # (P, d), one row per distinct (image, true caption)
    per_image = torch.zeros(images.numel(), text_features.shape[1]).index_add_(
        0, inverse, positives
    )
    total = per_image.sum(dim=0)  # (d,)
    slot = torch.searchsorted(images, image_index)  # (N,) row of each item's image
    held_out = torch.nn.functional.normalize(total - per_image[slot], dim=-1)  # (N, d)
    texts = text_features[caption_index.clamp(min=0)]  # (N, 1 + K, d)
    scores = torch.einsum("nd,nkd->nk", held_out, texts)
    return scores.masked_fill(caption_index < 0, float("-inf"))


def correct(scores: Tensor) -> Tensor:
    """(N, 1 + K) scores, true caption first -> (N,) bool: the true caption wins strictly."""
    return scores[:, 0] > scores[:, 1:].max(dim=1).values


def family_of(category: str) -> str:
    """``replace_att`` -> ``replace``; a name without ``_`` is its own family."""
    return category.split("_", 1)[0]


def accuracy_by_category(
    right: Tensor, categories: Sequence[str], order: Sequence[str] | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Accuracy (%) per category, ``overall`` (all items) and ``mean_category`` (unweighted
    mean over categories); and per family, where a family holds two or more categories.

    Args:
        right: (N,) bool, whether each item was right.
        categories: the N items' categories.
        order: category order of the output (default: first appearance).
    """
    if right.numel() != len(categories):
        raise ValueError(f"{right.numel()} results for {len(categories)} categories")
    if right.numel() == 0:
        raise ValueError("no items to score")
    names = list(order) if order is not None else list(dict.fromkeys(categories))
    values = right.float()
    by_category: dict[str, float] = {}
    for name in names:
        mask = torch.tensor([c == name for c in categories])
        if mask.any():
            by_category[name] = 100.0 * values[mask].mean().item()
    per_category = dict(by_category)
    by_category[OVERALL] = 100.0 * values.mean().item()
    by_category[MEAN_CATEGORY] = sum(per_category.values()) / len(per_category)
    families: dict[str, list[str]] = {}
    for name in per_category:
        families.setdefault(family_of(name), []).append(name)
    by_family = {}
    if any(len(members) > 1 for members in families.values()):
        for family, members in families.items():
            mask = torch.tensor([c in members for c in categories])
            by_family[family] = 100.0 * values[mask].mean().item()
    return by_category, by_family


def chance_by_category(
    n_captions: Tensor, categories: Sequence[str], order: Sequence[str]
) -> dict[str, float]:
    """Expected accuracy (%) of a random guess: mean of 100 / (1 + K) per category."""
    out = {}
    for name in order:
        mask = torch.tensor([c == name for c in categories])
        if mask.any():
            out[name] = 100.0 * (1.0 / n_captions[mask].float()).mean().item()
    out[OVERALL] = 100.0 * (1.0 / n_captions.float()).mean().item()
    return out


def group_scores(sims: Tensor) -> dict[str, float]:
    """Winoground's text, image and group scores (%) from (G, 2, 2) similarities
    ``sims[g, i, j] = cos(image i, caption j)``, caption j being true of image j."""
    if sims.ndim != 3 or sims.shape[1:] != (2, 2):
        raise ValueError(f"expected (G, 2, 2) similarities, got {tuple(sims.shape)}")
    text = (sims[:, 0, 0] > sims[:, 0, 1]) & (sims[:, 1, 1] > sims[:, 1, 0])
    image = (sims[:, 0, 0] > sims[:, 1, 0]) & (sims[:, 1, 1] > sims[:, 0, 1])
    return {
        "text": 100.0 * text.float().mean().item(),
        "image": 100.0 * image.float().mean().item(),
        "group": 100.0 * (text & image).float().mean().item(),
    }


# ----------------------------------------------------------------------------- the protocol

BLIND_SCORE = (
    "text-only baseline: a caption scores its cosine with the normalised mean text embedding of "
    "the distinct true captions of every other image of the set (leave-one-image-out); the "
    "image is never used"
)


def protocol(data: CompositionalSet, features: CompositionalFeatures) -> tuple[dict, dict, dict]:
    """Metrics, details and the dataset block of a compositional result.

    Metric groups: ``image_text`` and ``text_only`` (accuracy % per category, ``overall``,
    ``mean_category``), ``image_text_family`` / ``text_only_family`` (per family, where a
    family has two or more categories), ``chance`` (%), ``items`` (counts per category, image-text
    ties, items lost to missing or unreadable images), and for 2x2 groups ``groups`` (text / image / group
    score %, with their chance levels 25 / 25 / 16.67).
    """
    readable = features.readable
    items = [it for it in data.items if bool(readable[it.image])]
    groups = [g for g in data.groups if all(bool(readable[i]) for i in g.images)]
    unreadable = (len(data.items) - len(items)) + (len(data.groups) - len(groups))
    if not items and not groups:
        raise ValueError(f"{data.source}: no item has a readable image")
    texts = {t: n for n, t in enumerate(data.texts())}
    metrics: dict[str, dict[str, float]] = {}
    details: dict = {"blind_score": BLIND_SCORE}
    counts: dict[str, float] = {}
    if items:
        width = max(len(it.captions) for it in items)
        caption_index = torch.full((len(items), width), -1, dtype=torch.long)
        for row, it in enumerate(items):
            caption_index[row, : len(it.captions)] = torch.tensor([texts[c] for c in it.captions])
        image_index = torch.tensor([it.image for it in items], dtype=torch.long)
        categories = [it.category for it in items]
        order = list(dict.fromkeys(categories))
        sims = preferences(
            features.image_features, features.text_features, image_index, caption_index
        )
        metrics["image_text"], family = accuracy_by_category(correct(sims), categories, order)
        if family:
            metrics["image_text_family"] = family
        try:
            blind = blind_preferences(features.text_features, image_index, caption_index)
        except ValueError as exc:
            details["text_only_skipped"] = str(exc)
        else:
            metrics["text_only"], family = accuracy_by_category(correct(blind), categories, order)
            if family:
                metrics["text_only_family"] = family
        n_captions = (caption_index >= 0).sum(dim=1)
        metrics["chance"] = chance_by_category(n_captions, categories, order)
        counts = {c: float(categories.count(c)) for c in order}
        counts[OVERALL] = float(len(items))
        # Ties are scored wrong; how many there were tells whether that rule mattered (e.g.
        # captions that differ only after the text tower's context length).
        counts["ties"] = float((sims[:, 0] == sims[:, 1:].max(dim=1).values).sum())
        details["categories"] = order
    if groups:
        sims = torch.empty(len(groups), 2, 2)
        for g, group in enumerate(groups):
            img = features.image_features[list(group.images)]  # (2, d)
            txt = features.text_features[[texts[c] for c in group.captions]]  # (2, d)
            sims[g] = img @ txt.T
        metrics["groups"] = group_scores(sims)
        metrics["groups_chance"] = {"text": 25.0, "image": 25.0, "group": 100.0 / 6}
        counts["groups"] = float(len(groups))
    counts["missing_image"] = float(data.missing)
    counts["unreadable_image"] = float(unreadable)
    metrics["items"] = counts
    if data.missing_examples:
        details["missing_examples"] = data.missing_examples
    dataset = {
        **data.describe(),
        "n": len(items) + len(groups),
        "skipped": unreadable,
    }
    return metrics, details, dataset
