"""The ``cyclip`` command: a thin dispatcher over sub-command modules.

Each sub-command lives in its own module ``cyclip.cli.<name>`` exposing ``main(argv) -> int``
and is imported only when used, so ``cyclip --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, one-line summary). Order is the order shown by ``cyclip --help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "cyclip.cli.demo",
        "the main job: train CyCLIP on the builtin world, evaluate, report",
    ),
    "train": ("cyclip.cli.train", "train CLIP / CyCLIP from scratch or from open_clip weights"),
    "eval": (
        "cyclip.cli.eval",
        "evaluate a model: zero-shot, retrieval, consistency@k, geometry, ...",
    ),
    "report": ("cyclip.cli.report", "turn run directories into an HTML report with plots"),
    "data": ("cyclip.cli.data", "inspect and export the builtin synthetic world"),
    "models": ("cyclip.cli.models", "list the model configs cyclip and open_clip know"),
}


def _usage() -> str:
    from cyclip import __version__

    lines = [
        f"cyclip {__version__}: train and analyse CLIP / CyCLIP image-text models",
        "",
        "usage: cyclip <command> [options]      (cyclip <command> --help for its options)",
        "",
        "commands:",
    ]
    for name, (_, summary) in COMMANDS.items():
        lines.append(f"  {name:<10} {summary}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run ``cyclip SUB-COMMAND ARGS``; returns the exit code (2 for invalid input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from cyclip import __version__

        print(__version__)
        return 0
    name = argv[0]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        print(f"cyclip: unknown command '{name}'.{hint} Run 'cyclip --help'.", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(argv[1:]) or 0)
