"""Files never run code: checkpoints and cached features load with ``weights_only=True`` (a
pickle carrying code is refused before it runs), the source has no ``eval``/``exec`` or unsafe
loader, tar member names are never used as paths, and the repository holds no secrets.

Also elsewhere: ``classes.py`` of a data folder is parsed, never executed
(``tests/data/test_classification_sources.py::test_classes_py_is_parsed_never_executed``), and
CIFAR pickles go through a restricted unpickler (``::test_malicious_cifar_pickle_is_refused``).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

import pytest
import torch

from cyclip.cli import eval as eval_cli
from cyclip.cli import train as train_cli
from cyclip.evaluation.cache import FeatureCache
from cyclip.evaluation.load import load_model
from cyclip.models import create_model
from cyclip.train.checkpoint import load_checkpoint

from .conftest import REPO_ROOT, error_lines

SRC = REPO_ROOT / "src" / "cyclip"


class Payload:
    """Unpickling this creates the directory ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.fixture
def evil_checkpoint(tmp_path) -> tuple[Path, Path]:
    """A file that looks like a cyclip checkpoint (real cyclip-tiny weights and every key) and
    carries a payload; returns ``(path, marker)``."""
    marker = tmp_path / "PWNED"
    weights = create_model("cyclip-tiny").model.state_dict()
    path = tmp_path / "run" / "checkpoints" / "step_00000004.pt"
    path.parent.mkdir(parents=True)
    torch.save(
        {"state_dict": weights, "model_name": "cyclip-tiny", "model_overrides": {}, "step": 4,
         "epoch": 0, "batch_in_epoch": 4, "config": {}, "hook": Payload(marker)},
        path,
    )  # fmt: skip
    return path, marker


def test_the_payload_is_live_under_plain_pickle(evil_checkpoint, tmp_path):
    """Control: without weights_only the file does run code, so the refusals below mean
    something."""
    path, marker = evil_checkpoint
    torch.load(path, weights_only=False)
    assert marker.is_dir()


def test_library_loaders_refuse_a_checkpoint_carrying_code(evil_checkpoint):
    path, marker = evil_checkpoint
    with pytest.raises(Exception, match="[Ww]eights.only|WeightsUnpickler"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="weights_only=True"):
        load_model(path)
    with pytest.raises(Exception, match="[Ww]eights.only|WeightsUnpickler"):
        create_model("cyclip-tiny", pretrained=str(path))
    assert not marker.exists()


def test_cli_resume_pretrained_and_eval_refuse_it_with_exit_2(evil_checkpoint, tmp_path, capsys):
    """``cyclip train --run.resume``, ``--model.pretrained`` and ``cyclip eval --checkpoint``:
    exit 2, one line naming the refused object, no advice to turn the protection off."""
    path, marker = evil_checkpoint
    base = ["--optim.max-steps", "1", "--run.output-dir", str(tmp_path / "out")]
    runs = [
        (train_cli.main, [*base, "--run.resume", str(path)]),
        (train_cli.main, [*base, "--model.pretrained", str(path)]),
        (eval_cli.main, ["--checkpoint", str(path), "--suite", "builtin"]),
    ]
    for main, argv in runs:
        assert main(argv) == 2, argv
        lines = error_lines(capsys.readouterr().err)
        assert len(lines) == 1, lines
        assert "weights_only=True" in lines[0] and "posix.mkdir" in lines[0], lines[0]
        assert "set to `False`" not in lines[0]
    assert not marker.exists()


def test_feature_cache_treats_an_entry_carrying_code_as_a_miss(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    cache.save("abcdef", {"x": torch.ones(2)})
    marker = tmp_path / "PWNED"
    torch.save({"tensors": {"x": Payload(marker)}}, cache.path("abcdef"))
    assert cache.load("abcdef") is None
    assert not marker.exists()


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else None
            attr = func.attr if isinstance(func, ast.Attribute) else None
            owner = func.value.id if attr and isinstance(func.value, ast.Name) else None
            yield node, name, owner, attr


def test_source_has_no_eval_exec_or_unsafe_loader():
    """An AST scan of every module: no ``eval``/``exec``/``compile``/``__import__`` builtins, no
    ``pickle.load(s)``, ``yaml.load``/``unsafe_load``, ``os.system``, ``shell=True``,
    ``np.load(allow_pickle=True)`` or ``extractall``; every ``torch.load`` passes
    ``weights_only=True``."""
    problems = []
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 50
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, name, owner, attr in _calls(tree):
            where = f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
            kwargs = {k.arg: k.value for k in node.keywords}
            if name in ("eval", "exec", "compile", "__import__"):
                problems.append(f"{where}: {name}()")
            if (owner, attr) in {("pickle", "load"), ("pickle", "loads"), ("yaml", "load"),
                                 ("yaml", "unsafe_load"), ("os", "system"), ("os", "popen"),
                                 ("marshal", "loads")}:  # fmt: skip
                problems.append(f"{where}: {owner}.{attr}()")
            if attr == "extractall" or attr == "extract":
                problems.append(f"{where}: .{attr}()")
            shell = kwargs.get("shell")
            if isinstance(shell, ast.Constant) and shell.value is True:
                problems.append(f"{where}: shell=True")
            allow = kwargs.get("allow_pickle")
            if isinstance(allow, ast.Constant) and allow.value is True:
                problems.append(f"{where}: allow_pickle=True")
            if owner == "torch" and attr == "load":
                safe = kwargs.get("weights_only")
                if not (isinstance(safe, ast.Constant) and safe.value is True):
                    problems.append(f"{where}: torch.load without weights_only=True")
    assert not problems, "\n".join(problems)


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """Control for the scan above: the patterns it forbids are found in a planted module."""
    planted = "import torch, pickle\neval('1')\ntorch.load('x')\npickle.loads(b'')\n"
    found = [(n, o, a) for _, n, o, a in _calls(ast.parse(planted))]
    assert (None, "torch", "load") in found and ("eval", None, None) in found
    assert (None, "pickle", "loads") in found


SECRET_PATTERNS = {
    "AWS access key": r"AKIA[0-9A-Z]{16}",
    "GitHub token": r"gh[pousr]_[A-Za-z0-9]{36,}",
    "OpenAI / Anthropic key": r"sk-(?:ant-)?[A-Za-z0-9_\-]{20,}",
    "Hugging Face token": r"hf_[A-Za-z0-9]{30,}",
    "Slack token": r"xox[baprs]-[A-Za-z0-9\-]{10,}",
    "W&B API key": r"WANDB_API_KEY\s*[=:]\s*['\"]?[0-9a-f]{40}",
    "private key": r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----",
    "password assignment": r"(?i)\b(?:password|passwd|secret|api_key|token)\s*=\s*['\"][^'\"\s]{8,}['\"]",
}


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO_ROOT / p for p in out.decode().split("\0") if p]


def test_no_secrets_in_tracked_files():
    files = tracked_files()
    assert len(files) > 50
    hits = []
    for path in files:
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        for kind, pattern in SECRET_PATTERNS.items():
            for m in re.finditer(pattern, text):
                hits.append(f"{path.relative_to(REPO_ROOT)}: {kind}: {m.group(0)[:12]}...")
    assert not hits, "\n".join(hits)


def test_the_secret_patterns_match_real_looking_keys():
    samples = [
        "AKIA" + "ABCDEFGHIJKLMNOP",
        "ghp_" + "a" * 36,
        "sk-" + "Ab3" * 10,
        "hf_" + "x" * 34,
        "-----BEGIN " + "PRIVATE KEY-----",
        'api_key = "' + "s3cr3tvalue" + '"',
    ]
    for sample in samples:
        assert any(re.search(p, sample) for p in SECRET_PATTERNS.values()), sample
