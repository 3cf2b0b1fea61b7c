import pytest
import torch
import torch.nn.functional as F

from cyclip.evaluation.cache import FeatureCache
from cyclip.evaluation.features import ExtractConfig, FeatureExtractor
from cyclip.evaluation.sources import (
    builtin_source,
    open_classification_source,
    open_pairs_source,
    open_retrieval_source,
)

FAST = ExtractConfig(batch_size=16, workers=0, precision="fp32")  # compared with fp32 forwards


class _Counting(torch.nn.Module):
    """Wraps a model and counts image forward passes (to prove cache hits skip them)."""

    def __init__(self, model):
        super().__init__()
        self.inner = model
        self.image_calls = 0

    def encode_image(self, x, normalize=False):
        self.image_calls += 1
        return self.inner.encode_image(x, normalize=normalize)

    def encode_text(self, x, normalize=False):
        return self.inner.encode_text(x, normalize=normalize)


def test_classification_matches_direct_forward_and_is_cached(tiny_bundle, tmp_path):
    counting = _Counting(tiny_bundle.model)
    bundle = tiny_bundle._replace(model=counting)
    source = open_classification_source(builtin_source("shapes/shape/test", size=20, image_size=32))
    extractor = FeatureExtractor(bundle, "tiny-test", FeatureCache(tmp_path), FAST)
    first = extractor.classification(source.dataset, source.fingerprint)
    assert first.features.shape == (20, 32) and first.labels.shape == (20,)
    assert counting.image_calls == 2  # 20 images in batches of 16
    images = torch.stack([bundle.preprocess_val(source.dataset[i]["image"]) for i in range(3)])
    direct = F.normalize(tiny_bundle.model.encode_image(images).detach(), dim=-1)
    torch.testing.assert_close(first.features[:3], direct, atol=1e-5, rtol=1e-5)
    assert first.labels.tolist() == [source.dataset[i]["label"] for i in range(20)]

    again = FeatureExtractor(bundle, "tiny-test", FeatureCache(tmp_path), FAST)
    second = again.classification(source.dataset, source.fingerprint)
    assert counting.image_calls == 2  # served from disk: no forward pass
    assert torch.equal(first.features, second.features)
    assert again.records[-1].cached and not extractor.records[-1].cached

    other_model = FeatureExtractor(bundle, "another-model", FeatureCache(tmp_path), FAST)
    other_model.classification(source.dataset, source.fingerprint)
    assert counting.image_calls == 4  # a different fingerprint misses


def test_no_fingerprint_means_no_cache(tiny_bundle, tmp_path):
    source = open_classification_source(builtin_source("shapes/colour/test", size=4, image_size=32))
    extractor = FeatureExtractor(tiny_bundle, None, FeatureCache(tmp_path), FAST)
    extractor.classification(source.dataset, source.fingerprint)
    assert not any(tmp_path.iterdir())


def test_retrieval_and_pairs(tiny_bundle):
    extractor = FeatureExtractor(tiny_bundle, None, FeatureCache(None), FAST)
    source = open_retrieval_source(builtin_source("shapes/retrieval", size=6, image_size=32))
    feats = extractor.retrieval(source.dataset, source.fingerprint)
    counts = [len(source.dataset[i]["captions"]) for i in range(6)]
    assert feats.image_features.shape == (6, 32)
    assert feats.text_features.shape == (sum(counts), 32)
    assert feats.text_to_image.tolist() == [i for i, c in enumerate(counts) for _ in range(c)]
    caption = source.dataset[1]["captions"][0]
    direct = tiny_bundle.model.encode_text(tiny_bundle.tokenizer([caption]), normalize=True)[0]
    torch.testing.assert_close(
        feats.text_features[counts[0]], direct.detach(), atol=1e-5, rtol=1e-5
    )

    pairs = open_pairs_source(builtin_source("shapes/val", size=5, image_size=32))
    p = extractor.pairs(pairs.dataset, pairs.fingerprint)
    assert p.image_features.shape == p.text_features.shape == (5, 32)
    torch.testing.assert_close(p.text_features.norm(dim=1), torch.ones(5))


def test_classifier_is_memoised(tiny_bundle):
    extractor = FeatureExtractor(tiny_bundle, None, FeatureCache(None), FAST)
    a = extractor.classifier(("cat", "dog"), ("a {c}.",))
    b = extractor.classifier(("cat", "dog"), ("a {c}.",))
    assert a is b and a.shape == (32, 2)
    assert len(extractor.records) == 1


def test_bf16_features_are_close_to_fp32(tiny_bundle):
    source = open_classification_source(builtin_source("shapes/shape/test", size=8, image_size=32))
    fp32 = FeatureExtractor(tiny_bundle, None, FeatureCache(None), FAST)
    bf16 = FeatureExtractor(
        tiny_bundle, None, FeatureCache(None), ExtractConfig(16, 0, "cpu", "bf16")
    )
    a = fp32.classification(source.dataset, None).features
    b = bf16.classification(source.dataset, None).features
    assert b.dtype == torch.float32
    assert (a * b).sum(dim=1).min() > 0.98


def _tree(root, names):
    from PIL import Image

    for i, name in enumerate(names):
        (root / name).mkdir(parents=True)
        Image.new("RGB", (16, 16), (40 * i, 90, 200 - 40 * i)).save(root / name / "0.png")
    return root


def test_class_names_and_templates_do_not_re_extract_image_features(tiny_bundle, tmp_path):
    import json

    counting = _Counting(tiny_bundle.model)
    bundle = tiny_bundle._replace(model=counting)
    root = _tree(tmp_path / "data", ["a", "b", "c"])
    (tmp_path / "names.json").write_text(json.dumps(["ant", "bee", "cat"]))
    (tmp_path / "templates.txt").write_text("a {c}.\n")
    extractor = FeatureExtractor(bundle, "tiny-test", FeatureCache(tmp_path / "cache"), FAST)
    plain = open_classification_source(str(root))
    extractor.classification(plain.dataset, plain.fingerprint)
    assert counting.image_calls == 1
    renamed = open_classification_source(
        str(root), classnames=tmp_path / "names.json", templates=tmp_path / "templates.txt"
    )
    assert renamed.info.classnames == ("ant", "bee", "cat")
    extractor.classification(renamed.dataset, renamed.fingerprint)
    (root / "classnames.json").write_text(json.dumps({"a": "ape", "b": "bat", "c": "cow"}))
    in_folder = open_classification_source(str(root))
    assert in_folder.info.classnames == ("ape", "bat", "cow")
    extractor.classification(in_folder.dataset, in_folder.fingerprint)
    assert counting.image_calls == 1  # names and templates only change the text side

    (root / "c" / "1.png").write_bytes((root / "c" / "0.png").read_bytes())
    more = open_classification_source(str(root))
    extractor.classification(more.dataset, more.fingerprint)
    assert counting.image_calls == 2  # another image: new features


def test_extract_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        ExtractConfig(precision="fp16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="read_timeout and worker_timeout must be >= 0"):
        ExtractConfig(read_timeout=-1)


def test_with_timeouts_takes_the_limits_and_their_flag_names() -> None:
    from cyclip.data.timeouts import LoaderTimeouts

    limits = LoaderTimeouts(read=3.0, worker=30.0, flag_prefix="--data.")
    config = FAST.with_timeouts(limits)
    assert config.timeouts == limits and config.batch_size == FAST.batch_size
