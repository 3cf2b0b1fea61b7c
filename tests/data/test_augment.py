"""EDA caption operations and the template / superclass helpers."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from cyclip.data.augment import CaptionAugmenter, local_wordnet
from cyclip.data.classnames import openai_imagenet_templates, resolve_superclasses

CAPTION = "a small red circle next to a large blue square on grey"


def test_swap_and_insertion_keep_the_words_and_deletion_removes_some() -> None:
    eda = CaptionAugmenter(rate=0.2)
    rng = random.Random(0)
    words = CAPTION.split()
    n = 2
    swapped = eda.random_swap(words, n, rng)
    assert Counter(swapped) == Counter(words) and swapped != words
    inserted = eda.random_insertion(words, n, rng)
    assert len(inserted) == len(words) + n and set(inserted) == set(words)
    deleted = eda.random_deletion(words, n, rng)
    assert 1 <= len(deleted) < len(words) and all(w in words for w in deleted)
    assert eda.random_deletion(["alone"], 1, rng) == ["alone"]


def test_synonym_replacement_with_a_given_lexicon_skips_stopwords() -> None:
    eda = CaptionAugmenter(
        rate=0.1, synonyms=lambda w: {"small": ["little"], "a": ["one"]}.get(w, [])
    )
    out = eda.synonym_replacement(CAPTION.split(), 1, random.Random(1))
    assert out == ["a", "little", *CAPTION.split()[2:]]


def test_one_operation_per_caption_and_determinism() -> None:
    eda = CaptionAugmenter(rate=0.1)
    words = CAPTION.split()
    outs = {eda(CAPTION, random.Random(seed)) for seed in range(30)}
    assert len(outs) > 5
    for out in outs:  # each output is explained by exactly one of the three lexicon-free operations
        got = out.split()
        swap = Counter(got) == Counter(words)
        insertion = len(got) == len(words) + 1 and not Counter(words) - Counter(got)
        deletion = len(got) < len(words) and _is_subsequence(got, words)
        assert swap or insertion or deletion, out
    assert eda(CAPTION, random.Random(3)) == eda(CAPTION, random.Random(3))
    assert eda("", random.Random(0)) == ""


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(w in it for w in short)


def test_without_a_local_wordnet_synonym_replacement_is_disabled() -> None:
    eda = CaptionAugmenter.with_local_lexicon(0.1)
    names = [op.__name__ for op in eda.operations()]
    if local_wordnet() is None:
        assert names == ["random_insertion", "random_swap", "random_deletion"]
    else:
        assert "synonym_replacement" in names


def test_rate_is_validated() -> None:
    with pytest.raises(ValueError, match="EDA rate"):
        CaptionAugmenter(rate=0.0)


def test_openai_templates_are_format_strings() -> None:
    templates = openai_imagenet_templates()
    assert len(templates) == 80 and len(set(templates)) == 80
    assert templates[0].format(c="dog") == "a bad photo of a dog."
    assert all(t.count("{c}") >= 1 for t in templates)


def test_superclass_map_forms(tmp_path: Path) -> None:
    names = ("cat", "dog", "carp")
    assert resolve_superclasses(["m", "m", "f"], names, "x") == ("m", "m", "f")
    assert resolve_superclasses({"cat": "m", "dog": "m", "carp": "f"}, names, "x") == (
        "m",
        "m",
        "f",
    )
    assert resolve_superclasses({"m": ["cat", "dog"], "f": ["carp"]}, names, "x") == ("m", "m", "f")
    with pytest.raises(ValueError, match=r"no superclass for 1 classes, e.g. \['carp'\]"):
        resolve_superclasses({"m": ["cat", "dog"]}, names, "x")
    with pytest.raises(ValueError, match="2 superclasses for 3 classes"):
        resolve_superclasses(["m", "f"], names, "x")
