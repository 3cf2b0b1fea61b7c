"""Sentence-pair similarity sets (STS): one reader per released format, one place that knows them.

Every reader returns an :class:`STSSet`: parallel lists of sentence pairs and gold scores, an
optional group per pair (the STS Benchmark's genre, a SentEval subset), and the lines it skipped,
counted by reason. Formats (:data:`FORMATS`), detected from the path by :func:`detect_format` or
chosen with ``format=``:

- ``stsb``: the STS Benchmark as released, ``sts-{train,dev,test}.csv``: tab-separated genre,
  file, year, id, score, sentence1, sentence2 and, on some lines, extra source fields (ignored).
  Sentences contain unbalanced quotes, so lines are split on tabs only (``QUOTE_NONE``). The
  genre is ``main-news`` etc. without its ``main-`` prefix. A folder holding the three files is
  read at ``split=`` (default ``test``).
- ``sick``: ``SICK_test_annotated.txt`` (and SentEval's ``SICK_train.txt`` / ``SICK_trial.txt``)
  with a header row, or the full release ``SICK.txt`` whose ``SemEval_set`` column
  (TRAIN / TRIAL / TEST) selects the split (``dev`` is TRIAL).
- ``senteval``: SentEval's STS12-16 folders: ``STS.input.<subset>.txt`` (two tab-separated
  sentences per line) beside ``STS.gs.<subset>.txt`` (one gold score per line). A line whose gold
  is empty is dropped with its pair, as SentEval does; each pair's group is its subset.
- ``csv``: any CSV / TSV with a header; columns ``sentence1``, ``sentence2``, ``score`` by
  default (``sentence1=``, ``sentence2=``, ``score=`` rename them; ``genre=`` names an optional
  group column). Tab-separated when the name ends in ``.tsv`` or the header holds a tab.
- ``builtin``: ``builtin:shapes/sts`` from the synthetic world (:mod:`cyclip.world.sts`).

Bad lines (a missing or non-numeric score, a line with one sentence) are skipped and counted in
:attr:`STSSet.skipped`; an empty file, a gold file whose length differs from its input, or a set
with no usable pair raise ``ValueError`` with one line that says what to fix.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from cyclip import world
from cyclip.data.builtin import builtin_task_name, is_builtin, parse_builtin

FORMATS = ("stsb", "sick", "senteval", "csv", "builtin")
SPLITS = ("train", "dev", "test")
OPTIONS = ("format", "split", "sentence1", "sentence2", "score", "genre")
"""The ``--option KEY=VALUE`` keys the STS task understands."""

STSB_FILE = re.compile(r"^sts-(train|dev|test)\.csv$")
SENTEVAL_INPUT = re.compile(r"^STS\.input\.(.+)\.txt$")
SICK_FILES = {"train": "SICK_train.txt", "dev": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}
SICK_FULL = "SICK.txt"
SICK_SEMEVAL_SET = {"train": "TRAIN", "dev": "TRIAL", "test": "TEST"}

# Skip reasons, as counted in STSSet.skipped.
MISSING_SCORE = "missing score"
BAD_SCORE = "non-numeric score"
ONE_SENTENCE = "one sentence"
NO_GOLD = "empty gold line"


@dataclass(frozen=True)
class STSSet:
    """Sentence pairs with gold similarity scores."""

    source: str
    """As given by the user."""
    name: str
    """Short display name, e.g. ``stsbenchmark/test``, ``sick/test``, ``STS12-en-test``."""
    format: str
    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]
    groups: list[str] | None = None
    """Per pair: the genre (STS Benchmark, ``genre=`` of a CSV) or the subset (SentEval)."""
    group_kind: str | None = None
    """``"genre"`` or ``"subset"``: what :attr:`groups` holds."""
    split: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    """Lines left out, by reason."""
    fingerprint: str | None = None
    """Identity of the data (file contents and the options that parsed them)."""

    def __len__(self) -> int:
        return len(self.scores)

    def describe(self) -> dict:
        """The ``dataset`` block of a result document."""
        out: dict = {
            "source": self.source,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "format": self.format,
            "n": len(self),
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": dict(self.skipped),
        }
        if self.split is not None:
            out["split"] = self.split
        return out


class _Builder:
    """Collects pairs and skip counts while a reader walks its lines."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.s1: list[str] = []
        self.s2: list[str] = []
        self.scores: list[float] = []
        self.groups: list[str] = []
        self.skipped: Counter[str] = Counter()
        self.lines = 0

    def add(self, s1: str | None, s2: str | None, score: str | None, group: str = "") -> None:
        self.lines += 1
        s1, s2 = (s1 or "").strip(), (s2 or "").strip()
        if not s1 or not s2:
            self.skipped[ONE_SENTENCE] += 1
            return
        text = (score or "").strip()
        if not text:
            self.skipped[MISSING_SCORE] += 1
            return
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self.skipped[BAD_SCORE] += 1
            return
        self.s1.append(s1)
        self.s2.append(s2)
        self.scores.append(value)
        self.groups.append(group)

    def build(self, source: str, name: str, fmt: str, **extra) -> STSSet:
        if self.lines == 0:
            raise ValueError(f"{self.where} is empty: no sentence pairs to evaluate")
        if not self.scores:
            raise ValueError(
                f"{self.where}: no usable sentence pair in {self.lines} line(s) "
                f"(skipped: {_reasons(self.skipped)}); check the format (--option format=...)"
            )
        return STSSet(
            source,
            name,
            fmt,
            self.s1,
            self.s2,
            self.scores,
            skipped=dict(self.skipped),
            **extra,
        )


def _reasons(skipped: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in skipped.items()) or "none"


def _digest(paths: Iterable[Path], **options: object) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(repr(sorted(options.items())).encode())
    for path in paths:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return f"sts:{h.hexdigest()}"


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return path.read_text(encoding="utf-8-sig", errors="replace")


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: choose from {', '.join(SPLITS)}")
    return split


# --------------------------------------------------------------------------- STS Benchmark


def read_stsb(path: str | os.PathLike, split: str = "test", source: str | None = None) -> STSSet:
    """The STS Benchmark file ``path`` (or ``path/sts-<split>.csv`` for its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / f"sts-{_check_split(split)}.csv"
    match = STSB_FILE.match(path.name)
    split = match.group(1) if match else split
    text = _read_text(path)
    rows = csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    builder = _Builder(str(path))
    for row in rows:
        if not row or not "".join(row).strip():
            continue
        genre = row[0].strip().removeprefix("main-")
        fields = row + [""] * (7 - len(row))
        builder.add(fields[5], fields[6], fields[4], genre)
    data = builder.build(
        source or str(path),
        f"{path.parent.name}/{split}",
        "stsb",
        split=split,
        fingerprint=_digest([path], format="stsb"),
    )
    return _with_groups(data, builder.groups, "genre")


def _with_groups(data: STSSet, groups: list[str], kind: str) -> STSSet:
    if not any(groups):
        return data
    return replace(data, groups=[g or "-" for g in groups], group_kind=kind)


# --------------------------------------------------------------------------- SICK


def _sick_file(path: Path, split: str) -> Path:
    """The file to read for ``split`` in a SICK folder (per-split files first, then SICK.txt)."""
    per_split = path / SICK_FILES[_check_split(split)]
    if per_split.is_file():
        return per_split
    if (path / SICK_FULL).is_file():
        return path / SICK_FULL
    raise FileNotFoundError(
        f"{path}: no {SICK_FILES[split]} or {SICK_FULL} (the SICK files for split={split})"
    )


def read_sick(path: str | os.PathLike, split: str = "test", source: str | None = None) -> STSSet:
    """SICK relatedness (SICK-R): a per-split file with a header, or ``SICK.txt`` + split."""
    path = Path(path)
    if path.is_dir():
        path = _sick_file(path, split)
    text = _read_text(path)
    rows = csv.DictReader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    needed = ("sentence_A", "sentence_B", "relatedness_score")
    missing = [c for c in needed if c not in (rows.fieldnames or ())]
    if rows.fieldnames is None:
        raise ValueError(f"{path} is empty: no sentence pairs to evaluate")
    if missing:
        raise ValueError(
            f"{path}: no column(s) {', '.join(missing)} in the header; a SICK file has "
            f"{', '.join(needed)} (or pass --option format=csv with column names)"
        )
    full = "SemEval_set" in rows.fieldnames
    if not full:  # a per-split file: its name says which split it is
        split = next((s for s, name in SICK_FILES.items() if name == path.name), split)
    wanted = SICK_SEMEVAL_SET[_check_split(split)]
    builder = _Builder(str(path))
    for row in rows:
        if full and (row.get("SemEval_set") or "").strip().upper() != wanted:
            continue
        builder.add(row.get("sentence_A"), row.get("sentence_B"), row.get("relatedness_score"))
    return builder.build(
        source or str(path),
        f"{path.parent.name}/{split}",
        "sick",
        split=split,
        fingerprint=_digest([path], format="sick", split=split),
    )


# --------------------------------------------------------------------------- SentEval STS12-16


def senteval_subsets(folder: Path) -> list[str]:
    """Subset names of a SentEval STS folder (``STS.input.<subset>.txt``), sorted."""
    return sorted(
        m.group(1) for p in folder.iterdir() if (m := SENTEVAL_INPUT.match(p.name)) and p.is_file()
    )


def read_senteval(path: str | os.PathLike, source: str | None = None) -> STSSet:
    """A SentEval STS12-16 folder: every subset, each pair labelled with its subset."""
    folder = Path(path)
    if folder.is_file():  # one STS.input.<subset>.txt: that subset alone
        match = SENTEVAL_INPUT.match(folder.name)
        if match is None:
            raise ValueError(f"{folder}: not a SentEval STS.input.<subset>.txt file")
        subsets, folder = [match.group(1)], folder.parent
    else:
        subsets = senteval_subsets(folder)
    if not subsets:
        raise ValueError(f"{folder}: no STS.input.<subset>.txt files (SentEval STS layout)")
    builder = _Builder(str(folder))
    files = []
    for subset in subsets:
        inputs = folder / f"STS.input.{subset}.txt"
        gold = folder / f"STS.gs.{subset}.txt"
        if not gold.is_file():
            raise FileNotFoundError(f"{inputs} has no gold file {gold.name} beside it")
        files += [inputs, gold]
        lines = _read_text(inputs).splitlines()
        scores = _read_text(gold).splitlines()
        if not lines:
            raise ValueError(f"{inputs} is empty: no sentence pairs to evaluate")
        if len(lines) != len(scores):
            raise ValueError(
                f"{gold} has {len(scores)} lines but {inputs.name} has {len(lines)}: "
                "each pair needs one gold line (an empty line for an unscored pair)"
            )
        for line, score in zip(lines, scores):
            if not score.strip():  # SentEval drops unscored pairs
                builder.skipped[NO_GOLD] += 1
                builder.lines += 1
                continue
            fields = line.split("\t") + ["", ""]
            builder.add(fields[0], fields[1], score, subset)
    data = builder.build(
        source or str(path),
        folder.name,
        "senteval",
        fingerprint=_digest(files, format="senteval"),
    )
    return replace(data, groups=builder.groups, group_kind="subset")


# --------------------------------------------------------------------------- plain CSV / TSV


def read_csv(
    path: str | os.PathLike,
    *,
    sentence1: str = "sentence1",
    sentence2: str = "sentence2",
    score: str = "score",
    genre: str | None = None,
    source: str | None = None,
) -> STSSet:
    """A CSV / TSV with a header naming the two sentence columns and the score column."""
    path = Path(path)
    text = _read_text(path)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path} is empty: no sentence pairs to evaluate")
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in lines[0] else ","
    rows = csv.DictReader(lines, delimiter=delimiter)
    columns = [sentence1, sentence2, score] + ([genre] if genre else [])
    missing = [c for c in columns if c not in (rows.fieldnames or ())]
    if missing:
        raise ValueError(
            f"{path}: no column(s) {', '.join(missing)} in the header "
            f"({', '.join(rows.fieldnames or ())}); name them with --option "
            "sentence1=COL --option sentence2=COL --option score=COL"
        )
    builder = _Builder(str(path))
    for row in rows:
        builder.add(
            row.get(sentence1),
            row.get(sentence2),
            row.get(score),
            row.get(genre) or "" if genre else "",
        )
    data = builder.build(
        source or str(path),
        path.stem,
        "csv",
        fingerprint=_digest([path], format="csv", columns=columns),
    )
    return _with_groups(data, builder.groups, "genre") if genre else data


# --------------------------------------------------------------------------- builtin


def read_builtin(source: str) -> STSSet:
    """``builtin:shapes/sts[?size=N]``: caption pairs with the world's graded gold."""
    name, options = parse_builtin(source)
    options.pop("image_size", None)  # a text-only task: no images to size
    dataset = world.load_sts(name, **options)
    s1, s2, scores = [], [], []
    for i in range(len(dataset)):
        item = dataset[i]
        s1.append(item["sentence1"])
        s2.append(item["sentence2"])
        scores.append(item["score"])
    return STSSet(
        source,
        builtin_task_name(source),
        "builtin",
        s1,
        s2,
        scores,
        fingerprint=dataset.metadata["fingerprint"],
    )


# --------------------------------------------------------------------------- dispatch


def detect_format(path: str | os.PathLike) -> str:
    """The format of an STS path (see the module docstring); ``ValueError`` when unknown."""
    if is_builtin(str(path)):
        return "builtin"
    p = Path(path)
    if p.is_dir():
        names = {c.name for c in p.iterdir()}
        if any(SENTEVAL_INPUT.match(n) for n in names):
            return "senteval"
        if any(STSB_FILE.match(n) for n in names):
            return "stsb"
        if names & {*SICK_FILES.values(), SICK_FULL}:
            return "sick"
        raise ValueError(
            f"{p}: no STS set here (expected sts-<split>.csv, SICK_test_annotated.txt / SICK.txt, "
            "or SentEval STS.input.<subset>.txt files)"
        )
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    if STSB_FILE.match(p.name):
        return "stsb"
    if p.name.startswith("SICK") and p.suffix == ".txt":
        return "sick"
    if SENTEVAL_INPUT.match(p.name):
        return "senteval"
    if p.suffix.lower() in (".csv", ".tsv", ".txt"):
        return "csv"
    raise ValueError(
        f"{p}: cannot tell the STS format from the name; pass --option format=" + "|".join(FORMATS)
    )


def open_sts(source: str, options: Mapping[str, str] | None = None) -> STSSet:
    """Read the STS set ``source`` with the task's ``--option`` values (see :data:`OPTIONS`)."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(
            f"--option {', '.join(unknown)}: not an STS option; the STS task takes "
            + ", ".join(f"{k}=" for k in OPTIONS)
        )
    fmt = options.get("format") or detect_format(source)
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r}: choose from {', '.join(FORMATS)}")
    split = _check_split(options.get("split", "test"))
    columns = {k: options[k] for k in ("sentence1", "sentence2", "score", "genre") if k in options}
    if columns and fmt != "csv":
        raise ValueError(
            f"--option {', '.join(columns)} only apply to format=csv (this source reads as {fmt})"
        )
    if fmt == "builtin":
        return read_builtin(source)
    if fmt == "stsb":
        return read_stsb(source, split, source=source)
    if fmt == "sick":
        return read_sick(source, split, source=source)
    if fmt == "senteval":
        return read_senteval(source, source=source)
    return read_csv(source, source=source, **columns)


def find_sts_sets(root: str | os.PathLike) -> list[Path]:
    """Every folder under ``root`` (``root`` itself included) that holds an STS set, sorted.

    A folder that is a set is not searched further; plain CSV files are not picked up (their
    columns are not known), pass them to ``--task sts`` one by one.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder of STS sets")
    found: list[Path] = []

    def walk(folder: Path) -> None:
        try:
            detect_format(folder)
        except ValueError:
            for child in sorted(folder.iterdir()):
                if child.is_dir() and not child.name.startswith("."):
                    walk(child)
            return
        found.append(folder)

    walk(root)
    if not found:
        raise ValueError(
            f"{root}: no STS set found (folders with sts-<split>.csv, SICK_test_annotated.txt / "
            "SICK.txt, or SentEval STS.input.<subset>.txt files)"
        )
    return found
