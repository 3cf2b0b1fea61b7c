"""Shared argument parsing for the sub-commands: tyro, with parse errors as one line (exit 2)."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")
_BOX_CHARS = "│╭╮╰╯─"


def condense_tyro_error(text: str) -> str:
    """tyro draws parse errors in a box; keep the message lines as one line."""
    all_lines = text.splitlines()
    # Skip anything printed before the box (e.g. a library's warning during import).
    top = next((i for i, line in enumerate(all_lines) if line.lstrip().startswith("╭")), 0)
    lines: list[str] = []
    for raw in all_lines[top + 1 :]:
        line = raw.strip().strip(_BOX_CHARS).strip()
        if not line or set(line) <= set(_BOX_CHARS + " "):
            if lines:
                break
            continue
        lines.append(line)
    return " ".join(lines) or " ".join(text.split())


@overload
def parse_cli(
    cls: type[T],
    argv: list[str],
    prog: str,
    description: str | None = None,
    *,
    default: T | None = None,
    hint: Callable[[str], str] | None = None,
) -> T: ...


@overload
def parse_cli(
    cls: Any,
    argv: list[str],
    prog: str,
    description: str | None = None,
    *,
    default: Any = None,
    hint: Callable[[str], str] | None = None,
) -> Any: ...


def parse_cli(
    cls: Any,
    argv: list[str],
    prog: str,
    description: str | None = None,
    *,
    default: T | None = None,
    hint: Callable[[str], str] | None = None,
) -> T:
    """``tyro.cli`` whose parse errors become ``PROG: error: MESSAGE`` on stderr.

    Args:
        cls: the dataclass (or union of subcommand dataclasses) to build.
        argv: the arguments after the sub-command name.
        prog: shown in usage and errors, e.g. ``"cyclip eval"``.
        description: the help text's header.
        default: an instance whose values the flags override (e.g. read from a config file).
        hint: maps the error message to an extra suffix (e.g. "did you mean --optim.lr?").

    Raises:
        SystemExit: 0 after ``--help``; 2 after printing one line for invalid input.
    """
    import tyro

    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return tyro.cli(cls, args=argv, prog=prog, description=description, default=default)
    except SystemExit as exc:
        if exc.code not in (0, None):
            message = condense_tyro_error(captured.getvalue())
            suffix = hint(message) if hint else ""
            print(f"{prog}: error: {message}{suffix}", file=sys.stderr)
        raise
