import urllib.error

import pytest
import torch
from torchvision import transforms

from dlcourse import data


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    # The grader keeps its own copy (it does not import torch); both must agree.
    from autograder.grade import _data_root as graders_data_root

    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))
    assert data.data_root() == graders_data_root() == tmp_path
    monkeypatch.delenv("DLCOURSE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.data_root() == graders_data_root() == tmp_path / "cache" / "dlcourse"


def test_image_tensors_equal_to_tensor_transform():
    images, labels = data.image_tensors("FashionMNIST", train=False)
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (10000,) and labels.dtype == torch.int64
    assert 0 <= images.min() and images.max() <= 1
    pil, label = data.image_dataset("FashionMNIST", train=False)[7]
    assert torch.equal(images[7], transforms.ToTensor()(pil)) and labels[7] == label


def test_resize():
    images, _ = data.image_tensors("MNIST", train=False, resize=32)
    assert images.shape == (10000, 1, 32, 32)


def test_loaders_with_subsets_are_seeded():
    train, test = data.load_fashion_mnist(batch_size=64, train_size=300, test_size=100)
    assert len(train.dataset) == 300 and len(test.dataset) == 100
    X, y = next(iter(train))
    assert X.shape == (64, 1, 28, 28) and y.shape == (64,)
    again, _ = data.load_fashion_mnist(batch_size=64, train_size=300, test_size=100)
    assert torch.equal(train.dataset.tensors[1], again.dataset.tensors[1])


def test_labels_have_names():
    assert data.fashion_mnist_labels(torch.tensor([0, 9])) == ["t-shirt", "ankle boot"]


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.image_dataset("CIFAR", train=True)
    with pytest.raises(ValueError, match="batch_size"):
        data.load_fashion_mnist(batch_size=0)


def test_missing_files_without_internet_name_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", offline)
    with pytest.raises(RuntimeError, match="DLCOURSE_DATA"):
        data.image_dataset("MNIST", train=False)


def test_synthetic_linear_data_follows_the_model():
    w = torch.tensor([2.0, -3.4])
    X, y = data.synthetic_linear_data(w, 4.2, 5000, noise=0.01, generator=torch.Generator().manual_seed(0))
    assert X.shape == (5000, 2) and y.shape == (5000, 1)
    residual = y.squeeze(1) - (X @ w + 4.2)
    assert abs(residual.std().item() - 0.01) < 1e-3 and abs(residual.mean().item()) < 1e-3
    again, _ = data.synthetic_linear_data(w, 4.2, 5000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(X, again)


def test_synthetic_linear_data_rejects_an_empty_set():
    with pytest.raises(ValueError, match="at least 1"):
        data.synthetic_linear_data([1.0], 0.0, 0)
