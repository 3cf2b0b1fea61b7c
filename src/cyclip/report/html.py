"""Render a :class:`Document` as one self-contained HTML file (figures inlined as base64 PNG)."""

from __future__ import annotations

import base64
from html import escape

from cyclip.numbers import is_number
from cyclip.report.document import Document, Section
from cyclip.report.tables import Table

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1180px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } .subtitle { color: #666; margin-top: 0; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; } .note { color: #666; font-size: 0.85em; }
nav a { margin-right: 1em; font-size: 0.9em; }
.grid { display: flex; flex-wrap: wrap; gap: 0.5em 2em; align-items: flex-start; }
.grid h3 { font-size: 0.95em; margin: 0.8em 0 0.2em; }
"""


def _cell(text: str) -> str:
    # Differences are not coloured: for some statistics lower is better, for others higher.
    attr = ' class="num"' if is_number(text) else ""
    return f"<td{attr}>{escape(text)}</td>"


def render_table(table: Table) -> str:
    """One :class:`Table` as an HTML ``<table>`` (numbers right-aligned, the note below)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = "\n".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>\n{note}"


def _section(section: Section) -> str:
    parts = [f'<h2 id="{section.slug}">{escape(section.title)}</h2>']
    if section.text:
        parts.append(f"<p>{escape(section.text)}</p>")
    if section.png is not None:
        data = base64.b64encode(section.png).decode("ascii")
        parts.append(f'<img alt="{escape(section.title)}" src="data:image/png;base64,{data}">')
    if len(section.tables) == 1:
        parts.append(render_table(section.tables[0]))
    elif section.tables:
        cells = "".join(
            f'<div class="cell"><h3>{escape(t.title)}</h3>{render_table(t)}</div>'
            for t in section.tables
        )
        parts.append(f'<div class="grid">{cells}</div>')
    return "\n".join(parts)


def render_html(document: Document) -> str:
    """The whole page; no external assets."""
    nav = " ".join(f'<a href="#{s.slug}">{escape(s.title)}</a>' for s in document.sections)
    body = "\n".join(_section(s) for s in document.sections)
    problems = ""
    if document.problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in document.problems)
        problems = f'<h2 id="problems">Skipped inputs</h2><ul class="note">{items}</ul>'
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(document.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f'<h1>{escape(document.title)}</h1>\n<p class="subtitle">{escape(document.subtitle)}</p>\n'
        f"<nav>{nav}</nav>\n{body}\n{problems}\n</body>\n</html>\n"
    )
