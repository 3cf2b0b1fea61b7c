import torch

from cyclip.evaluation.cache import FeatureCache, cache_key, default_cache_dir


def test_round_trip_and_miss(tmp_path):
    cache = FeatureCache(tmp_path)
    key = cache_key(model="m", dataset="d")
    assert cache.load(key) is None
    tensors = {"features": torch.randn(5, 3), "labels": torch.arange(5)}
    cache.save(key, tensors, meta={"kind": "images"})
    back = cache.load(key)
    assert back.keys() == tensors.keys()
    assert all(torch.equal(back[k], tensors[k]) for k in tensors)
    # written atomically: no temporary files are left behind
    assert [p.name for p in cache.path(key).parent.iterdir()] == [f"{key}.pt"]


def test_keys_depend_on_every_part():
    assert cache_key(a=1, b="x") == cache_key(b="x", a=1)
    assert cache_key(a=1, b="x") != cache_key(a=1, b="y")


def test_corrupt_entry_is_a_miss_and_disabled_cache_never_hits(tmp_path):
    cache = FeatureCache(tmp_path)
    key = cache_key(x=1)
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_bytes(b"not a torch file")
    assert cache.load(key) is None
    off = FeatureCache(None)
    off.save(key, {"a": torch.zeros(1)})
    assert off.load(key) is None and not off.enabled


def test_default_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CYCLIP_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CYCLIP_CACHE")
    assert default_cache_dir().parts[-3:] == (".cache", "cyclip", "features")
