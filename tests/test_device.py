import pytest
import torch

from cyclip.device import resolve_device


def test_auto_picks_what_this_machine_has():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("name", ["gpu", "cuda1", "mps:0", ""])
def test_unknown_names_are_refused(name):
    with pytest.raises(ValueError, match="auto, cpu, cuda or cuda:N"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_says_what_to_use():
    with pytest.raises(ValueError, match="use cpu or auto"):
        resolve_device("cuda:1")
