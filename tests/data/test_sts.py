"""The STS readers on small hand-made files in each released layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from cyclip.data.sts import (
    BAD_SCORE,
    MISSING_SCORE,
    NO_GOLD,
    ONE_SENTENCE,
    detect_format,
    find_sts_sets,
    open_sts,
    read_csv,
    read_senteval,
    read_sick,
    read_stsb,
)

STSB_LINES = [
    # genre, file, year, id, score, sentence1, sentence2[, extra source fields]
    "main-captions\tMSRvid\t2012test\t0001\t5.000\tA man plays a guitar.\tA man is playing a guitar.",
    'main-news\theadlines\t2015\t0002\t1.200\tHe said "no\tShe said "yes" twice.\tsrc1\tsrc2',
    'main-forums\tdeft-forum\t2014\t0003\t2.500\t"Quoted start\tend quote"\textra',
    "main-news\theadlines\t2015\t0004\t\tMissing score here.\tAnd here.",
    "main-news\theadlines\t2015\t0005\tfive\tBad score.\tReally bad.",
    "main-captions\tMSRvid\t2012test\t0006\t3.000\tOnly one sentence.",
]


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_stsb_quotes_extra_fields_genres_and_bad_lines(tmp_path):
    folder = tmp_path / "stsbenchmark"
    write(folder / "sts-test.csv", STSB_LINES)
    data = read_stsb(folder)
    assert data.name == "stsbenchmark/test" and data.split == "test" and data.format == "stsb"
    # quotes inside a field are kept as text, never joined with the next field or line
    assert data.sentences1 == ["A man plays a guitar.", 'He said "no', '"Quoted start']
    assert data.sentences2 == ["A man is playing a guitar.", 'She said "yes" twice.', 'end quote"']
    assert data.scores == [5.0, 1.2, 2.5]
    assert data.groups == ["captions", "news", "forums"] and data.group_kind == "genre"
    assert data.skipped == {MISSING_SCORE: 1, BAD_SCORE: 1, ONE_SENTENCE: 1}
    block = data.describe()
    assert block["n"] == 3 and block["skipped"] == 3 and block["skipped_by_reason"] == data.skipped


def test_stsb_split_option_and_detection(tmp_path):
    folder = tmp_path / "stsb"
    write(folder / "sts-test.csv", STSB_LINES[:1])
    write(folder / "sts-dev.csv", STSB_LINES[:2])
    assert detect_format(folder) == "stsb" and detect_format(folder / "sts-dev.csv") == "stsb"
    dev = open_sts(str(folder), {"split": "dev"})
    assert len(dev) == 2 and dev.name == "stsb/dev"
    assert len(open_sts(str(folder))) == 1  # default split: test
    assert open_sts(str(folder / "sts-dev.csv")).split == "dev"  # the file names its split
    with pytest.raises(FileNotFoundError, match="sts-train.csv"):
        open_sts(str(folder), {"split": "train"})
    with pytest.raises(ValueError, match="split='val': choose from train, dev, test"):
        open_sts(str(folder), {"split": "val"})
    assert dev.fingerprint != open_sts(str(folder)).fingerprint


SICK_HEADER = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment"
SICK_FULL_HEADER = (
    "pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tentailment_AB\t"
    "entailment_BA\tsentence_A_original\tsentence_B_original\tsentence_A_dataset\t"
    "sentence_B_dataset\tSemEval_set"
)


def _full_row(i: int, score: str, split: str) -> str:
    return f"{i}\tA dog runs {i}\tA dog is running {i}\tNEUTRAL\t{score}\tx\tx\to\to\tF\tF\t{split}"


def test_sick_annotated_test_file(tmp_path):
    path = write(
        tmp_path / "sick" / "SICK_test_annotated.txt",
        [
            SICK_HEADER,
            "6\tA boy plays outdoors\tA kid is playing outside\t4.5\tENTAILMENT",
            '7\tThe man said "hi\tNobody is talking\t1.3\tCONTRADICTION',
            "8\tA woman cuts an onion\t\t3.0\tNEUTRAL",
            "9\tA cat sleeps\tA cat is sleeping\tn/a\tENTAILMENT",
        ],
    )
    assert detect_format(path) == "sick" and detect_format(path.parent) == "sick"
    data = open_sts(str(path.parent))
    assert data.format == "sick" and data.name == "sick/test"
    assert data.sentences1 == ["A boy plays outdoors", 'The man said "hi']
    assert data.scores == [4.5, 1.3]
    assert data.skipped == {ONE_SENTENCE: 1, BAD_SCORE: 1}


def test_sick_full_release_chooses_the_split(tmp_path):
    path = write(
        tmp_path / "SICK.txt",
        [
            SICK_FULL_HEADER,
            _full_row(1, "4.5", "TRAIN"),
            _full_row(2, "3.2", "TEST"),
            _full_row(3, "3.6", "TRIAL"),
            _full_row(4, "1.0", "TEST"),
        ],
    )
    assert read_sick(path).scores == [3.2, 1.0]  # default split: test
    assert read_sick(path, "dev").scores == [3.6]  # dev = TRIAL
    assert read_sick(path, "train").sentences1 == ["A dog runs 1"]
    # a folder with only SICK.txt reads it for any split
    assert read_sick(tmp_path, "train").scores == [4.5]


def test_sick_wrong_columns_is_one_clear_error(tmp_path):
    path = write(tmp_path / "SICK_x.txt", ["a\tb\tc", "1\t2\t3"])
    with pytest.raises(ValueError, match="no column.*relatedness_score"):
        read_sick(path)


def test_senteval_folder_drops_unscored_pairs(tmp_path):
    folder = tmp_path / "STS16-en-test"
    write(folder / "STS.input.answer-answer.txt", ["a b\tc d", "e f\tg h", "i j\tk l"])
    write(folder / "STS.gs.answer-answer.txt", ["4", "", "2.5"])
    write(folder / "STS.input.headlines.txt", ["m n\to p", 'q "r\ts t', "only one"])
    write(folder / "STS.gs.headlines.txt", ["1", "3", "5"])
    assert detect_format(folder) == "senteval"
    data = read_senteval(folder)
    assert data.name == "STS16-en-test" and data.group_kind == "subset"
    assert data.sentences1 == ["a b", "i j", "m n", 'q "r']
    assert data.scores == [4.0, 2.5, 1.0, 3.0]
    assert data.groups == ["answer-answer", "answer-answer", "headlines", "headlines"]
    assert data.skipped == {NO_GOLD: 1, ONE_SENTENCE: 1}


def test_senteval_gold_length_mismatch_and_missing_gold(tmp_path):
    folder = tmp_path / "STS12"
    write(folder / "STS.input.MSRpar.txt", ["a\tb", "c\td"])
    write(folder / "STS.gs.MSRpar.txt", ["1"])
    with pytest.raises(ValueError, match="has 1 lines but STS.input.MSRpar.txt has 2"):
        read_senteval(folder)
    (folder / "STS.gs.MSRpar.txt").unlink()
    with pytest.raises(FileNotFoundError, match="no gold file STS.gs.MSRpar.txt"):
        read_senteval(folder)


def test_plain_csv_and_tsv_with_column_options(tmp_path):
    csv_path = write(
        tmp_path / "pairs.csv",
        [
            "sentence1,sentence2,score",
            'A red circle.,"A circle, red.",4.5',
            "A star.,A square.,0.5",
            "No score,Here,",
        ],
    )
    data = read_csv(csv_path)
    assert detect_format(csv_path) == "csv" and data.name == "pairs"
    assert data.sentences2 == ["A circle, red.", "A square."] and data.scores == [4.5, 0.5]
    assert data.skipped == {MISSING_SCORE: 1}

    tsv = write(tmp_path / "mine.tsv", ["left\tright\tsim\tdomain", "a\tb\t1\tx", "c\td\t2\ty"])
    options = {"sentence1": "left", "sentence2": "right", "score": "sim", "genre": "domain"}
    data = open_sts(str(tsv), options)
    assert data.sentences1 == ["a", "c"] and data.groups == ["x", "y"]
    with pytest.raises(ValueError, match="no column.*sentence1.*--option sentence1=COL"):
        open_sts(str(tsv))


def test_bad_sets_are_one_clear_error(tmp_path):
    empty = write(tmp_path / "sts-test.csv", [])
    with pytest.raises(ValueError, match="is empty"):
        open_sts(str(empty))
    bad = write(tmp_path / "other" / "sts-test.csv", ["a\tb\tc\td\tx\tone\ttwo"] * 3)
    with pytest.raises(ValueError, match=r"no usable sentence pair in 3 line\(s\).*3 non-numeric"):
        open_sts(str(bad))
    with pytest.raises(ValueError, match="not an STS option"):
        open_sts(str(bad), {"splt": "dev"})
    with pytest.raises(ValueError, match="only apply to format=csv"):
        open_sts(str(bad), {"score": "x"})
    with pytest.raises(ValueError, match="format='xml'"):
        open_sts(str(bad), {"format": "xml"})
    with pytest.raises(FileNotFoundError):
        open_sts(str(tmp_path / "missing.csv"))
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(ValueError, match="no STS set here"):
        detect_format(tmp_path / "empty-dir")


def test_explicit_format_overrides_detection(tmp_path):
    path = write(tmp_path / "renamed.txt", STSB_LINES[:2])
    assert detect_format(path) == "csv"
    assert open_sts(str(path), {"format": "stsb"}).scores == [5.0, 1.2]


def test_builtin_set():
    data = open_sts("builtin:shapes/sts?size=12")
    assert data.format == "builtin" and data.name == "shapes/sts" and len(data) == 12
    assert all(0.0 <= s <= 5.0 for s in data.scores)
    assert "shapes-v1/sts?n=12" in data.fingerprint


def test_find_sts_sets_walks_a_tree(tmp_path):
    write(tmp_path / "stsbenchmark" / "sts-test.csv", STSB_LINES[:1])
    write(tmp_path / "sick" / "SICK_test_annotated.txt", [SICK_HEADER, "1\ta\tb\t3\tN"])
    write(tmp_path / "senteval" / "STS12" / "STS.input.x.txt", ["a\tb"])
    write(tmp_path / "senteval" / "STS12" / "STS.gs.x.txt", ["1"])
    (tmp_path / "notes").mkdir()
    found = find_sts_sets(tmp_path)
    assert found == [tmp_path / "senteval" / "STS12", tmp_path / "sick", tmp_path / "stsbenchmark"]
    assert find_sts_sets(tmp_path / "sick") == [tmp_path / "sick"]
    with pytest.raises(ValueError, match="no STS set found"):
        find_sts_sets(tmp_path / "notes")
