"""Image-caption CSV/TSV files, as the official CyCLIP code and open_clip write them.

CyCLIP writes ``image,caption`` with commas; open_clip reads ``filepath<TAB>title`` (often in a
file named ``.csv``). Both are handled by the same reader: the delimiter is sniffed from the header
line (then the extension), the columns are found by name, relative paths resolve against the CSV
file's folder.

Bad rows never stop a run. A row is kept in the index as a *bad item* (raising
:class:`BadSampleError` when loaded, so the loaders skip and count it) when:

- its caption is not valid UTF-8. The row is not decoded with replacement characters: a caption of
  U+FFFD marks would train on noise. (A non-UTF-8 *path* is kept byte-exact via surrogateescape,
  which is how POSIX file names work, and loads if the file exists.)
- it has fewer fields than the header, or more fields when the surplus cannot be explained by an
  unquoted delimiter inside the last column (then the extra fields are joined back into it).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from cyclip.data.images import clean_caption, load_image, refuse_special_file
from cyclip.data.packed import PackedStrings
from cyclip.types import BadSampleError

log = logging.getLogger(__name__)

IMAGE_COLUMNS = ("image", "filepath", "image_path", "filename", "file", "path", "img")
"""Column names tried, in order, for the image path when none is given."""
CAPTION_COLUMNS = ("caption", "title", "text", "captions")
"""Column names tried, in order, for the caption when none is given."""

# Undecodable bytes land in this range under surrogateescape.
_SURROGATES = range(0xDC80, 0xDD00)
# A giant quoted caption must not abort parsing (csv's default cap is 128 KiB per field).
_FIELD_SIZE_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class CsvTable:
    """The parsed index of a CSV file: one entry per data row."""

    path: Path
    images: Sequence[str]
    """Resolved image paths, one per row."""
    captions: Sequence[str]
    """Raw captions, one per row (cleaned when loaded)."""
    lines: np.ndarray
    """(N,) int64: 1-based line number of each row in the file, for error messages."""
    bad_rows: dict[int, str]
    """Row index -> why the row is unusable."""

    def __len__(self) -> int:
        return len(self.images)

    def row_key(self, index: int) -> str:
        return f"{self.path}:{int(self.lines[index])}"


_SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def _separator(value: str) -> str:
    """A one-character delimiter; ``tab``, ``\\t``, ``comma``... are accepted (easier on a command line)."""
    delimiter = _SEPARATOR_NAMES.get(value, value)
    if len(delimiter) != 1:
        raise ValueError(
            f"CSV separator must be one character (or one of {sorted(_SEPARATOR_NAMES)}), got {value!r}"
        )
    return delimiter


def sniff_separator(path: Path, header_line: str) -> str:
    """Pick ``,`` or ``\\t``: from the header when it contains only one of them, else the extension."""
    tabs, commas = header_line.count("\t"), header_line.count(",")
    if tabs and not commas:
        return "\t"
    if commas and not tabs:
        return ","
    return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","


def _find_column(
    header: list[str],
    wanted: str | None,
    defaults: tuple[str, ...],
    role: str,
    option: str,
    path: Path,
) -> int:
    candidates = (wanted,) if wanted is not None else defaults
    for name in candidates:
        if name in header:
            return header.index(name)
    looked_for = (
        f"column '{wanted}'" if wanted is not None else f"any of the columns {list(defaults)}"
    )
    raise ValueError(
        f"{path}: no {role} column: looked for {looked_for}; the columns present are {header}. "
        f"Pass the right name with {option}."
    )


def read_csv_table(
    path: str | os.PathLike,
    *,
    img_key: str | None = None,
    caption_key: str | None = None,
    separator: str | None = None,
) -> CsvTable:
    """Parse an image-caption CSV/TSV file into a :class:`CsvTable`.

    Args:
        path: the CSV/TSV file.
        img_key: name of the image-path column; default: the first of :data:`IMAGE_COLUMNS` present.
        caption_key: name of the caption column; default: the first of :data:`CAPTION_COLUMNS`.
        separator: field delimiter (one character, or ``tab``/``comma``/...); default: sniffed
            (see :func:`sniff_separator`).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file has no header row, or a named column is missing (the message lists
            the columns present).
    """
    path = Path(path)
    refuse_special_file(path, "CSV file")
    if not path.is_file():
        raise FileNotFoundError(f"CSV file not found: {path}")
    text = path.read_bytes().decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise ValueError(
            f"{path}: empty file or empty first line; expected a header row such as 'image,caption'"
        )
    delimiter = (
        _separator(separator) if separator is not None else sniff_separator(path, first_line)
    )
    old_limit = csv.field_size_limit(_FIELD_SIZE_LIMIT)
    try:
        return _parse(path, text, delimiter, img_key, caption_key)
    finally:
        csv.field_size_limit(old_limit)


def _parse(
    path: Path, text: str, delimiter: str, img_key: str | None, caption_key: str | None
) -> CsvTable:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip() for name in next(reader)]
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        raise ValueError(
            f"{path}: header columns {', '.join(map(repr, repeated))} appear more than once; "
            "rename them so that each column is named once"
        )
    img_col = _find_column(header, img_key, IMAGE_COLUMNS, "image-path", "--data.csv-img-key", path)
    cap_col = _find_column(
        header, caption_key, CAPTION_COLUMNS, "caption", "--data.csv-caption-key", path
    )

    folder = str(path.parent)
    images: list[str] = []
    captions: list[str] = []
    lines = array("q")
    bad_rows: dict[int, str] = {}
    for row in reader:
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        row, problem = _fit_row(row, len(header), cap_col, delimiter)
        if problem is None and any(ord(ch) in _SURROGATES for ch in row[cap_col]):
            problem = "caption is not valid UTF-8"
        if problem is not None:
            bad_rows[len(images)] = f"{problem} (line {line})"
        image = row[img_col].strip() if img_col < len(row) else ""
        images.append(os.path.join(folder, image) if image else "")
        captions.append(row[cap_col] if cap_col < len(row) else "")
        lines.append(line)
    if bad_rows:
        log.warning(
            "%s: %d of %d rows are malformed and will be skipped (first: %s)",
            path,
            len(bad_rows),
            len(images),
            next(iter(bad_rows.values())),
        )
    return CsvTable(
        path, PackedStrings(images), PackedStrings(captions), np.asarray(lines), bad_rows
    )


def _fit_row(
    row: list[str], width: int, cap_col: int, delimiter: str
) -> tuple[list[str], str | None]:
    if len(row) < width:
        return row, f"row has {len(row)} fields, the header has {width}"
    if len(row) > width:
        if cap_col != width - 1:
            return (
                row,
                f"row has {len(row)} fields, the header has {width} (unquoted '{delimiter}'?)",
            )
        # An unquoted delimiter inside the caption: the surplus fields belong to it.
        row = row[: width - 1] + [delimiter.join(row[width - 1 :])]
    return row, None


class CsvPairs(Dataset):
    """Image-caption pairs from a CSV file: item ``{"image": PIL RGB, "caption": str}``."""

    def __init__(self, table: CsvTable) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def item_key(self, index: int) -> str:
        return self.table.images[index] or self.table.row_key(index)

    def __getitem__(self, index: int) -> dict:
        table = self.table
        if index in table.bad_rows:
            raise BadSampleError(table.row_key(index), table.bad_rows[index])
        path = table.images[index]
        if not path:
            raise BadSampleError(table.row_key(index), "empty image path")
        caption = clean_caption(table.captions[index], key=table.row_key(index))
        return {"image": load_image(path), "caption": caption}


class CsvRetrieval(Dataset):
    """Images with all their captions: rows with the same image path are grouped, order kept.

    Item: ``{"image": PIL RGB, "captions": list[str]}``. Malformed rows and empty captions are
    dropped when the file is opened (and logged); an image left with no caption is a bad item.
    """

    def __init__(self, table: CsvTable) -> None:
        self.table = table
        groups: dict[str, list[str]] = {}
        dropped = 0
        for i in range(len(table)):
            path = table.images[i]
            captions = groups.setdefault(path, [])
            caption = " ".join(table.captions[i].split())
            if i in table.bad_rows or not caption or not path:
                dropped += 1
                continue
            captions.append(caption)
        groups.pop("", None)
        if dropped:
            log.warning("%s: dropped %d malformed rows or empty captions", table.path, dropped)
        self.images = PackedStrings(groups)
        self.captions: list[tuple[str, ...]] = [tuple(c) for c in groups.values()]

    def __len__(self) -> int:
        return len(self.images)

    def item_key(self, index: int) -> str:
        return self.images[index]

    def __getitem__(self, index: int) -> dict:
        path = self.images[index]
        if not self.captions[index]:
            raise BadSampleError(path, "no usable caption")
        return {"image": load_image(path), "captions": list(self.captions[index])}
