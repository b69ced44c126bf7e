"""Datasets through their standard loaders, from one data root.

The data root is ``$DLCOURSE_DATA`` when set, else a per-user cache folder. torchvision checks
the MD5 of every archive it finds there and only downloads what is missing or corrupt, so a
machine without internet works as long as the archives are in place (see README: data).
"""

import os
from pathlib import Path

import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms.v2 import functional as TF

DATA_ENV = "DLCOURSE_DATA"

FASHION_MNIST_CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip

_DATASETS = {"FashionMNIST": torchvision.datasets.FashionMNIST, "MNIST": torchvision.datasets.MNIST}


def data_root() -> Path:
    """``$DLCOURSE_DATA`` if set, else ``$XDG_CACHE_HOME/dlcourse`` (``~/.cache/dlcourse``)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "dlcourse"


def image_dataset(name: str, train: bool, transform=None):
    """torchvision's ``FashionMNIST`` or ``MNIST`` under :func:`data_root`, downloaded if missing."""
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(_DATASETS)}")
    root = data_root()
    try:
        return _DATASETS[name](root=root, train=train, transform=transform, download=True)
    except (RuntimeError, OSError) as err:
        raise RuntimeError(
            f"could not load {name} from {root / name / 'raw'} ({err}). Without internet, put the "
            f"four original .gz files there, or point {DATA_ENV} at a folder that has them."
        ) from err


def image_tensors(name: str, train: bool, resize: int | None = None):
    """The whole split as tensors: images (N, 1, H, W) float32 in [0, 1] and labels (N,) int64.

    This equals applying ``transforms.ToTensor()`` (and ``Resize``) image by image, done once for
    the whole split: decoding 60,000 PIL images every epoch would dominate a 2-core CPU.
    """
    dataset = image_dataset(name, train)
    images = dataset.data.unsqueeze(1).to(torch.float32).div_(255)
    if resize is not None:
        images = TF.resize(images, [resize, resize], antialias=True)
    return images, dataset.targets.clone()


def load_image_data(
    name: str = "FashionMNIST",
    batch_size: int = 256,
    resize: int | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> tuple[DataLoader, DataLoader]:
    """Train and test loaders (shuffled train batches), like D2L's ``load_data_fashion_mnist``.

    ``train_size``/``test_size`` keep a random subset of that many examples (for short runs).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    loaders = []
    for train, size in ((True, train_size), (False, test_size)):
        # One generator per loader: iterating the test set must not shift the training order.
        generator = torch.Generator().manual_seed(seed + int(train))
        images, labels = image_tensors(name, train, resize)
        if size is not None:
            keep = torch.randperm(len(labels), generator=generator)[:size]
            images, labels = images[keep], labels[keep]
        loaders.append(
            DataLoader(TensorDataset(images, labels), batch_size, shuffle=train, generator=generator)
        )
    return loaders[0], loaders[1]


def load_fashion_mnist(batch_size: int = 256, **kwargs) -> tuple[DataLoader, DataLoader]:
    """Fashion-MNIST train and test loaders; see :func:`load_image_data` for the options."""
    return load_image_data("FashionMNIST", batch_size, **kwargs)


def fashion_mnist_labels(labels) -> list[str]:
    """Class names for numeric Fashion-MNIST labels (D2L's ``get_fashion_mnist_labels``)."""
    return [FASHION_MNIST_CLASSES[int(i)] for i in labels]


def synthetic_linear_data(
    w, b: float, num_examples: int, noise: float = 0.01, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features X ~ N(0, 1) of shape (n, len(w)) and labels y = Xw + b + N(0, noise²) of shape
    (n, 1), like D2L's ``synthetic_data``; pass a ``generator`` for reproducible draws."""
    w = torch.as_tensor(w, dtype=torch.float32).reshape(-1)
    if num_examples < 1:
        raise ValueError(f"num_examples must be at least 1, got {num_examples}")
    X = torch.randn(num_examples, len(w), generator=generator)
    y = X @ w + b + noise * torch.randn(num_examples, generator=generator)
    return X, y.reshape(-1, 1)
