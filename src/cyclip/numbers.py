"""How a metric value is written as text, shared by the terminal tables and the report.

Imports nothing from cyclip, so both :mod:`cyclip.cli` and :mod:`cyclip.report` can use it.
"""

from __future__ import annotations


def format_value(value: float | None) -> str:
    """Percent-like numbers with 2 decimals, values below 1 with 4, tiny ones in e-notation."""
    if value is None:
        return "-"
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 1.0 or value == 0.0:
        return f"{value:.2f}"
    if abs(value) >= 1e-3:
        return f"{value:.4f}"
    return f"{value:.3g}"


def is_number(text: str) -> bool:
    """Whether a table cell holds a number (or a missing-number mark)."""
    try:
        float(text)
    except ValueError:
        return text in ("-", "nan")
    return True
