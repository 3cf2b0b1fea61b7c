"""Data: every real format, the training input pipeline, and robust decoding.

Sources are strings: ``builtin:NAME``, a CSV/TSV file, webdataset shards (``.tar`` patterns), a
COCO folder or captions JSON, an ImageFolder root, a ``labels.csv`` folder, a CIFAR python
folder. :func:`open_pairs`, :func:`open_retrieval` and :func:`open_classification` detect the
layout and return datasets following :mod:`cyclip.types`; :func:`build_train_loader` and
:func:`build_eval_loader` turn them into batches. Bad items (unreadable images, empty captions,
malformed rows) are skipped and counted, never fatal.
"""

from cyclip.data.classnames import openai_imagenet_templates
from cyclip.data.config import DataConfig
from cyclip.data.eval_loader import build_eval_loader
from cyclip.data.fingerprint import fingerprint
from cyclip.data.images import clean_caption, load_image
from cyclip.data.resolve import detect_type, open_classification, open_pairs, open_retrieval
from cyclip.data.train_loader import TrainLoader, build_train_loader
from cyclip.types import BadSampleError, ClassificationInfo, SkippedItem

__all__ = [
    "BadSampleError",
    "ClassificationInfo",
    "DataConfig",
    "SkippedItem",
    "TrainLoader",
    "build_eval_loader",
    "build_train_loader",
    "clean_caption",
    "detect_type",
    "fingerprint",
    "load_image",
    "open_classification",
    "open_pairs",
    "open_retrieval",
    "openai_imagenet_templates",
]
