"""In-modal variant augmentations (docs/method.md §1.6): AutoAugment images and EDA captions.

Both are computed fresh each time an item is loaded (the official code augmented captions once,
before training). Randomness comes from the caller: the image policy draws from torch's global
generator, which the loader forks and seeds per item; EDA takes an explicit ``random.Random``.

EDA (Wei & Zou, 2019) applies one of four operations per caption, touching about ``rate`` of the
words: synonym replacement, random insertion, random swap, random deletion. Synonyms come from
WordNet through nltk *only if both are already installed locally* (nothing is downloaded). Without
them synonym replacement is disabled (logged once) and random insertion inserts a copy of a word
of the caption instead of a synonym of it.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable

from PIL import Image
from torchvision.transforms import AutoAugment, AutoAugmentPolicy

log = logging.getLogger(__name__)

# The stop words EDA leaves alone when replacing by synonyms (its list, abridged to English basics).
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with you your yours yourself yourselves""".split()
)


def image_policy() -> Callable[[Image.Image], Image.Image]:
    """AutoAugment with its ImageNet policy, applied to PIL images before the model's preprocess."""
    return AutoAugment(AutoAugmentPolicy.IMAGENET)


class WordNetSynonyms:
    """Synonyms of a word from a locally installed WordNet (never downloads)."""

    def __call__(self, word: str) -> list[str]:
        from nltk.corpus import wordnet

        names = {
            lemma.name().replace("_", " ").lower()
            for synset in wordnet.synsets(word)
            for lemma in synset.lemmas()
        }
        names.discard(word.lower())
        return sorted(names)


@functools.cache
def local_wordnet() -> WordNetSynonyms | None:
    """A synonym source if nltk and its WordNet corpus are installed locally, else ``None`` (logged once)."""
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
    except (ImportError, LookupError, OSError) as exc:
        log.info(
            "EDA: synonym replacement disabled (no local nltk WordNet: %s); using random insertion, "
            "swap and deletion",
            type(exc).__name__,
        )
        return None
    return WordNetSynonyms()


class CaptionAugmenter:
    """EDA: one random operation per caption, changing about ``rate`` of its words."""

    def __init__(
        self, rate: float = 0.1, synonyms: Callable[[str], list[str]] | None = None
    ) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"EDA rate must be in (0, 1], got {rate}")
        self.rate = rate
        self.synonyms = synonyms

    @classmethod
    def with_local_lexicon(cls, rate: float = 0.1) -> CaptionAugmenter:
        return cls(rate, local_wordnet())

    def operations(self) -> list[Callable[[list[str], int, random.Random], list[str]]]:
        ops: list[Callable[[list[str], int, random.Random], list[str]]]
        ops = [self.random_insertion, self.random_swap, self.random_deletion]
        return ops + [self.synonym_replacement] if self.synonyms is not None else ops

    def __call__(self, caption: str, rng: random.Random) -> str:
        words = caption.split()
        if not words:
            return caption
        n = max(1, int(self.rate * len(words)))
        op = rng.choice(self.operations())
        return " ".join(op(words, n, rng)) or caption

    def synonym_replacement(self, words: list[str], n: int, rng: random.Random) -> list[str]:
        assert self.synonyms is not None
        out = list(words)
        candidates = [i for i, w in enumerate(words) if w.lower() not in STOPWORDS]
        rng.shuffle(candidates)
        replaced = 0
        for i in candidates:
            options = self.synonyms(words[i])
            if options:
                out[i] = rng.choice(options)
                replaced += 1
                if replaced >= n:
                    break
        return out

    def random_insertion(self, words: list[str], n: int, rng: random.Random) -> list[str]:
        out = list(words)
        for _ in range(n):
            word = rng.choice(words)
            options = self.synonyms(word) if self.synonyms is not None else []
            out.insert(rng.randrange(len(out) + 1), rng.choice(options) if options else word)
        return out

    @staticmethod
    def random_swap(words: list[str], n: int, rng: random.Random) -> list[str]:
        out = list(words)
        if len(out) < 2:
            return out
        for _ in range(n):
            i, j = rng.sample(range(len(out)), 2)
            out[i], out[j] = out[j], out[i]
        return out

    def random_deletion(self, words: list[str], n: int, rng: random.Random) -> list[str]:
        if len(words) == 1:
            return list(words)
        kept = [w for w in words if rng.random() > self.rate]
        return kept or [rng.choice(words)]
