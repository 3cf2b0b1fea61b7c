"""``cyclip train``: parse flags (and an optional YAML / TOML file), validate, call
:func:`cyclip.train.train`.

Exit codes: 0 done; 2 invalid input (one line per problem on stderr, nothing run); 1 the run
had to stop (non-finite losses, unreadable data); 128 + signal number when SIGINT / SIGTERM
stopped it after writing a checkpoint.
"""

from __future__ import annotations

import difflib
import re
import signal
import sys
import warnings

from cyclip.cli.args import parse_cli

PROG = "cyclip train"
DESCRIPTION = """\
Train CLIP or CyCLIP (Goel et al., NeurIPS 2022) image-text models, from scratch or from
open_clip weights, on one CPU or many GPUs (launch with torchrun).

Every option below is a flag --<section>.<field>; the same sections can come from a file:
  cyclip train --config run.yaml --optim.lr 5e-4     (flags override the file; YAML or TOML)

Examples:
  cyclip train --model.name cyclip-tiny --optim.max-steps 200 --run.name smoke
  cyclip train --loss.name clip --run.name clip-baseline
  cyclip train --run.name my-run --run.resume latest
  cyclip train --run.eval-every 100 --run.eval-suite quick zeroshot=data/imagefolder,classnames=names.txt
  torchrun --nproc-per-node 4 -m cyclip train --data.train-data shards/{0000..0099}.tar ...
"""


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def split_config_flag(argv: list[str]) -> tuple[str | None, list[str]]:
    """Take ``--config FILE`` (or ``--config=FILE``) out of ``argv``.

    Raises:
        ValueError: ``--config`` without a file name.
    """
    rest: list[str] = []
    path = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--config":
            if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                raise ValueError("--config needs a file name: --config run.yaml")
            path = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return path, rest


def _suggest_flags(message: str) -> str:
    """For unknown flags, name the closest valid one."""
    from cyclip.train.config_file import valid_keys

    flags = [f"--{k.replace('_', '-')}" for k in valid_keys()]
    hints = []
    for token in re.findall(r"--[\w.\-]+", message):
        normal = token.replace("_", "-")
        if normal in flags:
            continue
        close = difflib.get_close_matches(normal, flags, n=1, cutoff=0.6)
        if close:
            hints.append(f"did you mean {close[0]}?")
    return f" ({'; '.join(hints)})" if hints else ""


def _flag(key: str) -> str:
    return f"--{key.replace('_', '-')}"


def rename_deprecated_flags(argv: list[str]) -> list[str]:
    """``--loss.method X`` -> ``--loss.cyclic-impl X`` (with a warning) for every renamed key."""
    from cyclip.train.config_file import DEPRECATED_KEYS, warn_deprecated

    renames = {}
    for old, new in DEPRECATED_KEYS.items():
        renames[_flag(old)] = renames[f"--{old}"] = _flag(new)
    out = []
    for arg in argv:
        flag, eq, value = arg.partition("=")
        if flag in renames:
            warn_deprecated(flag, renames[flag])
            arg = renames[flag] + eq + value
        out.append(arg)
    return out


def parse_args(argv: list[str]):
    """``TrainConfig`` from ``argv`` (flags over ``--config FILE`` over defaults).

    Raises:
        SystemExit: 0 after ``--help``; 2 after printing one line for invalid input.
    """
    from cyclip.train.config import TrainConfig
    from cyclip.train.config_file import ConfigError, load_config

    try:
        config_path, rest = split_config_flag(rename_deprecated_flags(argv))
        base = load_config(config_path) if config_path else TrainConfig()
    except (ConfigError, ValueError) as exc:
        _error(str(exc))
        raise SystemExit(2) from None
    return parse_cli(TrainConfig, rest, PROG, DESCRIPTION, default=base, hint=_suggest_flags)


def _show_warnings(caught: list[warnings.WarningMessage], main_rank: bool) -> None:
    """Renamed keys as one ``PROG: warning:`` line (main rank only); others as Python shows them."""
    from cyclip.train.config_file import DeprecatedKeyWarning

    for w in caught:
        if not issubclass(w.category, DeprecatedKeyWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        elif main_rank:
            print(f"{PROG}: warning: {w.message}", file=sys.stderr)


def main(argv: list[str]) -> int:
    """Entry point of ``cyclip train``; returns the exit code."""
    from cyclip import distributed as dist
    from cyclip.train.config_file import DeprecatedKeyWarning

    cfg, exit_code = None, 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecatedKeyWarning)
        try:
            cfg = parse_args(argv)
        except SystemExit as exc:
            exit_code = int(exc.code or 0)
    _show_warnings(caught, dist.local_rank() == 0)
    if cfg is None:
        return exit_code

    from cyclip.train import ConfigError, TrainingError, train

    try:
        result = train(cfg)  # resolves and checks the config before any work
    except ConfigError as exc:
        if dist.local_rank() == 0:
            for line in str(exc).splitlines():
                _error(line)
        return 2
    except TrainingError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    if result.stopped_by is not None:
        return 128 + signal.Signals[result.stopped_by].value
    return 0
