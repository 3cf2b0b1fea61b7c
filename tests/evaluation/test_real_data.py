"""Evaluation on the small real data sets of ../shared/data (skipped when absent)."""

from cyclip.evaluation.cache import FeatureCache
from cyclip.evaluation.features import ExtractConfig, FeatureExtractor
from cyclip.evaluation.load import ModelInfo
from cyclip.evaluation.run import Evaluator
from cyclip.evaluation.sources import (
    open_classification_source,
    open_pairs_source,
    open_retrieval_source,
)

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _evaluator(bundle):
    extractor = FeatureExtractor(bundle, None, FeatureCache(None), ExtractConfig(256, 0))
    return Evaluator(extractor, ModelInfo("cyclip-tiny"))


def test_cifar10_imagefolder_zero_shot(tiny_bundle, cifar10_mini):
    source = open_classification_source(str(cifar10_mini))
    assert source.info.classnames == CIFAR10
    assert len(source.info.templates) == 80  # OpenAI's ImageNet templates by default
    result = _evaluator(tiny_bundle).classification(source)
    assert result["dataset"]["n"] == 1000 and result["dataset"]["skipped"] == 0
    assert result["dataset"]["fingerprint"] is not None
    zs = result["metrics"]["zero_shot"]
    recalls = result["details"]["per_class_recall"]
    assert len(recalls) == 10
    # 100 images per class: mean per-class recall equals top-1 exactly
    assert abs(zs["mean_per_class_recall"] - zs["top1"]) < 1e-9
    assert abs(sum(recalls) / 10 - zs["top1"]) < 1e-9


def test_coco_retrieval_and_geometry(tiny_bundle, coco_mini):
    root = str(coco_mini)
    evaluator = _evaluator(tiny_bundle)
    result = evaluator.retrieval(open_retrieval_source(root))
    n = result["dataset"]["n"]
    assert n == 79  # COCO's val split is the retrieval set
    assert result["details"]["captions_per_image"]["min"] >= 5
    r = result["metrics"]["retrieval"]
    assert r["image_to_text_R@1"] <= r["image_to_text_R@5"] <= r["image_to_text_R@10"] <= 100
    geometry = evaluator.geometry(open_pairs_source(root))
    assert geometry["dataset"]["n"] == n  # one pair per image, not one per caption
    assert set(geometry["details"]["similarity_histogram"]) == {"bin_edges", "matched", "unmatched"}
