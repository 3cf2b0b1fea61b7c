import pytest
import torch
import torch.nn.functional as F

from cyclip.evaluation.retrieval import retrieval_metrics


def _naive(images, texts, text_to_image, ks):
    sims = images @ texts.T
    out = {}
    i2t = []
    for i in range(images.shape[0]):
        own = [j for j in range(texts.shape[0]) if text_to_image[j] == i]
        if not own:
            continue
        order = sorted(range(texts.shape[0]), key=lambda j: -float(sims[i, j]))
        i2t.append(min(order.index(j) for j in own))
    t2i = []
    for j in range(texts.shape[0]):
        order = sorted(range(images.shape[0]), key=lambda i: -float(sims[i, j]))
        t2i.append(order.index(int(text_to_image[j])))
    for k in ks:
        out[f"image_to_text_R@{k}"] = 100.0 * sum(r < k for r in i2t) / len(i2t)
    for k in ks:
        out[f"text_to_image_R@{k}"] = 100.0 * sum(r < k for r in t2i) / len(t2i)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_naive_loop_with_variable_caption_counts(seed):
    g = torch.Generator().manual_seed(seed)
    n_img = 30
    counts = torch.randint(0, 7, (n_img,), generator=g)  # 0..6 captions, some images have none
    text_to_image = torch.repeat_interleave(torch.arange(n_img), counts)
    text_to_image = text_to_image[torch.randperm(text_to_image.numel(), generator=g)]
    images = F.normalize(torch.randn(n_img, 8, generator=g), dim=-1)
    texts = F.normalize(
        images[text_to_image] + torch.randn(len(text_to_image), 8, generator=g), dim=-1
    )
    ks = (1, 5, 10)
    out = retrieval_metrics(images, texts, text_to_image, ks)
    ref = _naive(images, texts, text_to_image, ks)
    for key, value in ref.items():
        assert out[key] == pytest.approx(value), key
    assert out["mean_recall"] == pytest.approx(sum(ref.values()) / len(ref))


def test_five_captions_count_once():
    # Image 0 has five captions and is a hit; image 1 has one caption, beaten by image 0's.
    images = torch.tensor([[1.0, 0.0], [0.8, 0.6]])
    texts = torch.tensor([[1.0, 0.0]] * 5 + [[0.0, 1.0]])
    text_to_image = torch.tensor([0, 0, 0, 0, 0, 1])
    out = retrieval_metrics(images, texts, text_to_image, ks=(1,))
    assert out["image_to_text_R@1"] == pytest.approx(50.0)  # per-caption counting gives 83.3
    assert out["text_to_image_R@1"] == pytest.approx(100.0)


def test_identity_is_perfect_and_ties_are_not_optimistic():
    images = torch.eye(4)
    out = retrieval_metrics(images, images.clone(), torch.arange(4), ks=(1,))
    assert out["image_to_text_R@1"] == 100.0 and out["text_to_image_R@1"] == 100.0
    # A collapsed model (all embeddings equal) ties everything: no credit below k = N.
    same = torch.ones(4, 2) / 2**0.5
    out = retrieval_metrics(same, same.clone(), torch.arange(4), ks=(1, 3, 4))
    assert out["image_to_text_R@1"] == 0.0 and out["text_to_image_R@3"] == 0.0
    assert out["image_to_text_R@4"] == 100.0 and out["text_to_image_R@4"] == 100.0


def test_rejects_bad_indices():
    with pytest.raises(ValueError, match="text_to_image indices"):
        retrieval_metrics(torch.eye(3), torch.eye(3), torch.tensor([0, 1, 3]))
