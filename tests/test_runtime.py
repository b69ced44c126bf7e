import pytest
import torch

import dlcourse


def test_device_defaults_to_cuda_when_available(monkeypatch):
    monkeypatch.delenv("DLCOURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert dlcourse.device().type == expected


def test_device_can_be_overridden(monkeypatch):
    monkeypatch.setenv("DLCOURSE_DEVICE", "cpu")
    assert dlcourse.device() == torch.device("cpu")


def test_device_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("DLCOURSE_DEVICE", "banana")
    with pytest.raises(ValueError, match="DLCOURSE_DEVICE"):
        dlcourse.device()


def test_device_refuses_cuda_without_gpu(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setenv("DLCOURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no GPU"):
        dlcourse.device()


def test_seed_everything_makes_runs_repeat():
    generator = dlcourse.seed_everything(3)
    first = (torch.rand(3), torch.rand(2, generator=generator))
    generator = dlcourse.seed_everything(3)
    second = (torch.rand(3), torch.rand(2, generator=generator))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    dlcourse.seed_everything(4)
    assert not torch.equal(first[0], torch.rand(3))


def test_seed_must_be_an_int():
    with pytest.raises(TypeError):
        dlcourse.seed_everything(1.5)
