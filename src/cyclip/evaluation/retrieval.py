"""Image <-> text retrieval Recall@k with several captions per image (docs/method.md §4.5).

Recalls are percentages. Ranks are computed exactly, without building top-k lists: the rank of
the correct item is the number of wrong candidates scoring at least as high as it, so an image
with five captions counts once (the official CyCLIP code counted such images several times) and
ties count against the query (a collapsed model whose embeddings are all equal gets no hits
instead of perfect recall).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

# Rows of the similarity matrix held at once; keeps memory at chunk x N_text floats.
_CHUNK = 1024


def image_to_text_ranks(
    image_features: Tensor, text_features: Tensor, text_to_image: Tensor
) -> Tensor:
    """Per image, the 0-based rank of its best-scoring own caption among all captions.

    The rank is the number of other images' captions scoring at least as high (ties pessimistic).

    Args:
        image_features: (N_img, d) L2-normalised.
        text_features: (N_txt, d) L2-normalised.
        text_to_image: (N_txt,) index of the image each caption describes.

    Returns:
        LongTensor (N_img,); images without any caption get rank ``N_txt`` (never a hit).
    """
    n_img, n_txt = image_features.shape[0], text_features.shape[0]
    ranks = torch.full((n_img,), n_txt, dtype=torch.long)
    has_caption = torch.zeros(n_img, dtype=torch.bool)
    has_caption[text_to_image] = True
    texts = text_features.float()
    for start in range(0, n_img, _CHUNK):
        stop = min(start + _CHUNK, n_img)
        sims = image_features[start:stop].float() @ texts.T  # (b, N_txt)
        own = text_to_image.view(1, -1) == torch.arange(start, stop).view(-1, 1)  # (b, N_txt)
        best_own = sims.masked_fill(~own, float("-inf")).amax(dim=1, keepdim=True)  # (b, 1)
        chunk_ranks = ((sims >= best_own) & ~own).sum(dim=1)  # (b,)
        ranks[start:stop] = torch.where(has_caption[start:stop], chunk_ranks, ranks[start:stop])
    return ranks


def text_to_image_ranks(
    image_features: Tensor, text_features: Tensor, text_to_image: Tensor
) -> Tensor:
    """Per caption, the 0-based rank of its own image among all images.

    The rank is the number of other images scoring at least as high (ties pessimistic).

    Args:
        image_features: (N_img, d) L2-normalised.
        text_features: (N_txt, d) L2-normalised.
        text_to_image: (N_txt,) index of the image each caption describes.

    Returns:
        LongTensor (N_txt,).
    """
    n_txt = text_features.shape[0]
    ranks = torch.empty(n_txt, dtype=torch.long)
    images = image_features.float()
    for start in range(0, n_txt, _CHUNK):
        stop = min(start + _CHUNK, n_txt)
        sims = text_features[start:stop].float() @ images.T  # (b, N_img)
        own = sims.gather(1, text_to_image[start:stop].view(-1, 1))  # (b, 1)
        ranks[start:stop] = (sims >= own).sum(dim=1) - 1  # the own image always ties itself
    return ranks


def retrieval_metrics(
    image_features: Tensor,
    text_features: Tensor,
    text_to_image: Tensor,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """Image->text and text->image Recall@k (%), images having any number of captions.

    Image->text: an image is a hit at k when any of its captions is among the k captions most
    similar to it; averaged over images that have at least one caption. Text->image: a caption is
    a hit at k when its own image is among the k most similar images; averaged over captions.
    Ties count against the query (a wrong candidate scoring exactly as high as the correct one
    ranks ahead of it), so the recall is never optimistic.

    Args:
        image_features: (N_img, d) L2-normalised image embeddings.
        text_features: (N_txt, d) L2-normalised caption embeddings.
        text_to_image: (N_txt,) long, the image index of each caption.
        ks: cut-offs.

    Returns:
        ``{"image_to_text_R@1", ..., "text_to_image_R@1", ..., "mean_recall"}``; ``mean_recall``
        averages all the reported recalls (the "RSUM / 6" of the retrieval literature).
    """
    text_to_image = text_to_image.long()
    _check(image_features, text_features, text_to_image)
    i2t = image_to_text_ranks(image_features, text_features, text_to_image)
    has_caption = torch.zeros(image_features.shape[0], dtype=torch.bool)
    has_caption[text_to_image] = True
    i2t = i2t[has_caption]
    t2i = text_to_image_ranks(image_features, text_features, text_to_image)
    metrics = {}
    for k in ks:
        metrics[f"image_to_text_R@{k}"] = 100.0 * (i2t < k).double().mean().item()
    for k in ks:
        metrics[f"text_to_image_R@{k}"] = 100.0 * (t2i < k).double().mean().item()
    metrics["mean_recall"] = sum(metrics.values()) / len(metrics)
    return metrics


def _check(image_features: Tensor, text_features: Tensor, text_to_image: Tensor) -> None:
    if image_features.ndim != 2 or text_features.ndim != 2:
        raise ValueError("image_features and text_features must be 2-D (N, d)")
    if image_features.shape[1] != text_features.shape[1]:
        raise ValueError(
            f"image features have d={image_features.shape[1]} but text features "
            f"d={text_features.shape[1]}"
        )
    if text_to_image.shape != (text_features.shape[0],):
        raise ValueError(
            f"text_to_image must be ({text_features.shape[0]},), got {tuple(text_to_image.shape)}"
        )
    if text_to_image.numel() == 0:
        raise ValueError("retrieval needs at least one caption")
    if text_to_image.min() < 0 or text_to_image.max() >= image_features.shape[0]:
        raise ValueError(
            f"text_to_image indices must lie in [0, {image_features.shape[0]}), got "
            f"[{text_to_image.min().item()}, {text_to_image.max().item()}]"
        )
