"""Render a :class:`Document` as Markdown; figures are written as PNG files beside it."""

from __future__ import annotations

from pathlib import Path

from cyclip.numbers import is_number
from cyclip.report.document import Document
from cyclip.report.tables import Table


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(table: Table) -> str:
    """One :class:`Table` as a GitHub-flavoured Markdown table (numeric columns right-aligned)."""
    numeric = [
        bool(table.rows) and all(is_number(row[i]) for row in table.rows)
        for i in range(len(table.header))
    ]
    lines = [
        "| " + " | ".join(_escape(h) for h in table.header) + " |",
        "|" + "|".join("---:" if num else "---" for num in numeric) + "|",
    ]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines)


def render_markdown(document: Document, figure_dir: Path, relative_to: Path) -> str:
    """Markdown text; each section's PNG is written to ``figure_dir`` and linked relative to
    ``relative_to`` (the Markdown file's folder)."""
    out = [f"# {document.title}", "", document.subtitle, ""]
    for section in document.sections:
        out += [f"## {section.title}", ""]
        if section.text:
            out += [section.text, ""]
        if section.png is not None:
            figure_dir.mkdir(parents=True, exist_ok=True)
            path = figure_dir / f"{section.slug}.png"
            path.write_bytes(section.png)
            out += [f"![{section.title}]({path.relative_to(relative_to).as_posix()})", ""]
        for table in section.tables:
            if len(section.tables) > 1:
                out += [f"### {table.title}", ""]
            out += [render_table(table), ""]
    if document.problems:
        out += ["## Skipped inputs", ""] + [f"- {p}" for p in document.problems] + [""]
    return "\n".join(out)
