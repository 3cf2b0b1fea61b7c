import os

import pytest
import torch

from cyclip.evaluation.load import file_fingerprint, load_model, module_fingerprint, run_dir_of


def test_cyclip_checkpoint_round_trip(tiny_run, tiny_bundle):
    loaded = load_model(tiny_run / "checkpoints" / "latest.pt")
    assert loaded.info.name == "cyclip-tiny" and loaded.info.step == 7
    assert not loaded.bundle.model.training
    for (k, a), b in zip(
        tiny_bundle.model.state_dict().items(), loaded.bundle.model.state_dict().values()
    ):
        assert torch.equal(a, b), k
    assert loaded.info.fingerprint == file_fingerprint(tiny_run / "checkpoints" / "latest.pt")
    assert run_dir_of(tiny_run / "checkpoints" / "latest.pt") == tiny_run.resolve()


def test_open_clip_style_checkpoint_needs_model_name(tmp_path, tiny_bundle):
    path = tmp_path / "openclip.pt"
    sd = {f"module.{k}": v for k, v in tiny_bundle.model.state_dict().items()}
    torch.save({"epoch": 3, "name": "x", "state_dict": sd}, path)
    # without --model, the OpenAI-format keys are built as OpenAI's loader does (QuickGELU)
    assert load_model(path).info.name == "openai-format"
    torch.save({"epoch": 3, "state_dict": {"weight": torch.zeros(2)}}, path)
    with pytest.raises(ValueError, match="pass --model NAME"):
        load_model(path)
    torch.save({"epoch": 3, "name": "x", "state_dict": sd}, path)
    loaded = load_model(path, model="cyclip-tiny")
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(
        loaded.bundle.model.encode_image(x), tiny_bundle.model.encode_image(x)
    )


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "model_name": "cyclip-tiny", "obj": object()}, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        load_model(path)


def test_mismatched_architecture_and_missing_file(tiny_run, tmp_path):
    with pytest.raises(ValueError, match="holds a 'cyclip-tiny' model"):
        load_model(tiny_run / "checkpoints" / "latest.pt", model="cyclip-small")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="nothing to evaluate"):
        load_model()


def test_random_init_is_reproducible_and_uncached():
    a, b = load_model(model="cyclip-tiny"), load_model(model="cyclip-tiny")
    assert a.info.fingerprint is None
    assert module_fingerprint(a.bundle.model) == module_fingerprint(b.bundle.model)


def test_fingerprint_changes_when_file_changes(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 3_000_000)
    first = file_fingerprint(path)
    with open(path, "r+b") as f:
        f.seek(2_999_000)
        f.write(b"b")
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns))
    assert file_fingerprint(path) != first


def test_local_weights_file_as_pretrained(tmp_path, tiny_bundle):
    path = tmp_path / "weights.pt"
    torch.save(tiny_bundle.model.state_dict(), path)  # a bare state_dict
    loaded = load_model(model="cyclip-tiny", pretrained=str(path))
    assert loaded.info.pretrained == str(path.resolve()) and loaded.info.fingerprint
    tokens = tiny_bundle.tokenizer(["a red circle."])
    torch.testing.assert_close(
        loaded.bundle.model.encode_text(tokens), tiny_bundle.model.encode_text(tokens)
    )
    with pytest.raises(ValueError, match="either --checkpoint or --pretrained"):
        load_model(path, model="cyclip-tiny", pretrained=str(path))
