"""The report as data: a title and an ordered list of sections (text, a figure, a table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cyclip.report.tables import Table


@dataclass(frozen=True)
class Section:
    """One titled part of the report: text, an optional figure, tables."""

    title: str
    slug: str
    """File-name-safe identifier (figure file names, HTML anchors)."""
    text: str = ""
    png: bytes | None = None
    """The section's figure, PNG-encoded."""
    tables: tuple[Table, ...] = ()
    """Shown after the figure; several small tables sit side by side in the HTML version."""


@dataclass(frozen=True)
class Document:
    """The whole report, rendered to HTML and to Markdown by the same data."""

    title: str
    subtitle: str
    sections: tuple[Section, ...] = field(default_factory=tuple)
    problems: tuple[str, ...] = ()
    """Unreadable inputs, listed at the end rather than failing the report."""
