"""``cyclip data``: list, look at and export the builtin synthetic world.

cyclip data list
cyclip data show shapes/pretrain --out grid.png --n 16
cyclip data export shapes/pretrain out/pretrain --format webdataset --limit 5000
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro

from cyclip.cli.args import parse_cli

PROG = "cyclip data"


@dataclass(frozen=True)
class ListTasks:
    """List the builtin tasks with their kind, default size and number of classes."""


@dataclass(frozen=True)
class Show:
    """Save a contact sheet of a task's first images with their captions or labels."""

    name: tyro.conf.Positional[str]
    """Task name, e.g. shapes/pretrain or shapes/colour-shape/sketch."""
    out: Path
    """PNG file to write."""
    n: int = 16
    """Number of items to show."""
    image_size: int = 64
    """Side of the rendered images in pixels."""


@dataclass(frozen=True)
class Export:
    """Write a task to disk as JPEGs with a CSV, an ImageFolder or webdataset shards."""

    name: tyro.conf.Positional[str]
    """Task name, e.g. shapes/pretrain."""
    dir: tyro.conf.Positional[Path]
    """Output directory (created; must be empty unless --overwrite)."""
    format: Literal["auto", "csv", "imagefolder", "webdataset"] = "auto"
    """auto: csv for pairs and retrieval, imagefolder for classification."""
    limit: int | None = None
    """Export only the first N items."""
    image_size: int = 64
    """Side of the rendered images in pixels."""
    overwrite: bool = False
    """Allow writing into a non-empty directory."""


Command = (
    Annotated[ListTasks, tyro.conf.subcommand("list")]
    | Annotated[Show, tyro.conf.subcommand("show")]
    | Annotated[Export, tyro.conf.subcommand("export")]
)


def _list_tasks() -> int:
    from cyclip import world
    from cyclip.world.classes import classification_info
    from cyclip.world.tasks import resolve

    print(f"{'task':<30} {'kind':<15} {'size':>8}  classes")
    for name in world.list_tasks():
        spec = resolve(name)
        n_classes = "-"
        if spec.kind == "classification" and spec.factor is not None:
            n_classes = str(len(classification_info(spec.factor).classnames))
        print(f"{name:<30} {spec.kind:<15} {spec.size:>8,}  {n_classes}")
    print(
        f"\nWorld version {world.WORLD_VERSION} ('shapes' is its alias); names also accept a "
        "'builtin:' prefix. Held-out colour-shape pairs (only in */novel): "
        + ", ".join(f"{c} {s}" for c, s in world.HELD_OUT_PAIRS)
    )
    return 0


def _show(cmd: Show) -> int:
    from cyclip.world.preview import contact_sheet

    if cmd.out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--out must end in .png or .jpg, got {str(cmd.out)!r}")
    sheet = contact_sheet(cmd.name, n=cmd.n, image_size=cmd.image_size)
    cmd.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(cmd.out)
    print(f"wrote {cmd.out} ({cmd.n} items of {cmd.name})")
    return 0


def _export(cmd: Export) -> int:
    from tqdm import tqdm

    from cyclip.world.export import export_task

    def progress(items, total):
        return tqdm(items, total=total, desc=f"export {cmd.name}", unit="img", file=sys.stderr)

    summary = export_task(
        cmd.name,
        cmd.dir,
        format=cmd.format,
        limit=cmd.limit,
        image_size=cmd.image_size,
        overwrite=cmd.overwrite,
        progress=progress,
    )
    print(
        f"wrote {summary.count} images of {summary.task} as {summary.format} to {summary.directory}"
    )
    return 0


def main(argv: list[str]) -> int:
    """Run ``cyclip data`` with the given arguments; returns the exit code."""
    try:
        cmd = parse_cli(Command, argv, PROG)
    except SystemExit as exit_:  # --help, or a parse error already reported in one line
        return int(exit_.code or 0)
    try:
        if isinstance(cmd, ListTasks):
            return _list_tasks()
        if isinstance(cmd, Show):
            return _show(cmd)
        return _export(cmd)
    except ValueError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
