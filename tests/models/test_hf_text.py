"""HF text towers through open_clip's HFTextEncoder: pretrained weights, any config, offline,
locking, and the errors for a bad folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import open_clip
import pytest
import torch
import torch.nn.functional as F

from cyclip.models import create_model, text_tower_kwargs
from cyclip.models.hf_text import pooling_modes, resolve_text_tower

CTX = 16


@pytest.fixture(scope="module")
def minilm_clip(minilm_dir):
    torch.manual_seed(0)
    return create_model(
        "cyclip-small-minilm",
        text_tower=minilm_dir,
        force_image_size=32,
        force_context_length=CTX,
    )


def test_the_tower_holds_the_pretrained_encoder(minilm_clip, minilm_dir):
    """Mean-pooled tower output (before the projection) equals sentence-transformers' embedding."""
    st = pytest.importorskip("sentence_transformers")
    sentences = ["A man is playing a guitar.", "Two dogs run on the beach.", "a red square"]
    model, tokenizer = minilm_clip.model, minilm_clip.tokenizer
    tokens = tokenizer(sentences)  # (3, CTX), padded with BERT's pad id 0
    assert tokens.shape == (3, CTX) and tokens[:, 0].eq(101).all()  # [CLS] first
    mask = (tokens != 0).long()
    with torch.no_grad():
        out = model.text.transformer(input_ids=tokens, attention_mask=mask)
        pooled = model.text.pooler(out, mask)  # (3, 384)
        projected = model.encode_text(tokens)  # (3, 256)
    reference = st.SentenceTransformer(str(minilm_dir), device="cpu")
    want = torch.from_numpy(reference.encode(sentences, normalize_embeddings=True))
    torch.testing.assert_close(F.normalize(pooled, dim=-1), want, atol=1e-5, rtol=0)
    torch.testing.assert_close(projected, model.text.proj(pooled))
    assert isinstance(model, open_clip.CustomTextCLIP) and projected.shape == (3, 256)


def test_any_config_takes_a_text_tower(minilm_dir):
    torch.manual_seed(0)
    bundle = create_model("cyclip-tiny", text_tower=str(minilm_dir))
    model = bundle.model
    assert isinstance(model.text, open_clip.hf_model.HFTextEncoder)
    assert model.text.proj.in_features == 384
    embed_dim = model.visual.output_dim
    assert model.text.proj.out_features == embed_dim
    tokens = bundle.tokenizer(["a small blue circle"])
    assert (
        tokens.shape[1] == open_clip.get_model_config("cyclip-tiny")["text_cfg"]["context_length"]
    )
    out = model(torch.randn(2, 3, 32, 32), bundle.tokenizer(["a", "b c"]))
    assert out["image_features"].shape == out["text_features"].shape == (2, embed_dim)


def test_partial_unlocking_works_on_a_bert_tower(minilm_clip):
    """open_clip's arch_dict lacks BERT's layer names; cyclip fills them in, so k layers unlock."""
    import copy

    model = copy.deepcopy(minilm_clip.model)
    model.lock_text_tower(unlocked_layers=2)
    layers = model.text.transformer.encoder.layer
    trainable = [any(p.requires_grad for p in layer.parameters()) for layer in layers]
    assert trainable == [False] * 4 + [True] * 2
    assert not any(p.requires_grad for p in model.text.transformer.embeddings.parameters())
    assert model.text.proj.weight.requires_grad  # the projection is never part of the lock


def test_a_checkpointed_model_rebuilds_in_plain_open_clip(minilm_clip, minilm_dir, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": minilm_clip.model.state_dict()}, path)
    extra = text_tower_kwargs(
        "cyclip-small-minilm", minilm_dir, context_length=CTX, load_tower_weights=False
    )
    rebuilt = open_clip.create_model(
        "cyclip-small-minilm", pretrained=str(path), force_image_size=32, **extra
    )
    want = minilm_clip.model.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in rebuilt.state_dict().items())


def test_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="text tower folder not found: ./no/such/folder"):
        create_model("cyclip-tiny", text_tower="./no/such/folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        resolve_text_tower(tmp_path / "empty")
    assert resolve_text_tower("org/model") == "org/model"  # a hub id passes through


def test_pooling_declared_by_the_folder(minilm_dir, tmp_path):
    assert pooling_modes(minilm_dir) == ("mean",)
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "cls"}))
    assert pooling_modes(tmp_path) == ("cls",)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert pooling_modes(plain) == ("mean",)  # a bare HF folder: sentence-transformers' default


def test_local_folder_loads_offline_and_a_hub_id_offline_says_what_to_do(minilm_dir, tmp_path):
    """A fresh process with HF_HUB_OFFLINE=1 and an empty HF cache: the local folder builds; the
    config's hub id fails with one line naming --model.text-tower."""
    code = f"""
import torch
from cyclip.models import create_model
b = create_model("cyclip-small-minilm", text_tower={str(minilm_dir)!r}, force_context_length=8)
print("tokens", tuple(b.tokenizer(["hi"]).shape))
try:
    create_model("cyclip-small-minilm")
except OSError as exc:
    print("error", exc)
"""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "tokens (1, 8)"
    assert lines[1].startswith("error cannot load text tower 'sentence-transformers/all-MiniLM")
    assert "--model.text-tower PATH" in lines[1] and len(lines) == 2
