"""``cyclip models``: the architectures open_clip can build, cyclip's own configs first."""

from __future__ import annotations

from dataclasses import dataclass

from cyclip.cli.args import parse_cli


@dataclass(frozen=True)
class ModelsArgs:
    """List model architectures (any of them works with --model.name / --model)."""

    pretrained: bool = False
    """Also list open_clip's pretrained tags for each architecture (weights download on first use)."""
    filter: str | None = None
    """Only names containing this text (case-insensitive)."""


def main(argv: list[str]) -> int:
    """Run ``cyclip models`` with the given arguments; returns the exit code."""
    try:
        args = parse_cli(ModelsArgs, argv, "cyclip models")
    except SystemExit as exc:
        return int(exc.code or 0)
    import open_clip

    from cyclip.models import list_models

    names = list_models()
    ours = [n for n in names if n.startswith("cyclip-")]
    names = ours + [n for n in names if n not in ours]
    if args.filter:
        names = [n for n in names if args.filter.lower() in n.lower()]
    for name in names:
        tags = open_clip.list_pretrained_tags_by_model(name) if args.pretrained else []
        print(f"{name:<40} {' '.join(tags)}".rstrip())
    return 0
