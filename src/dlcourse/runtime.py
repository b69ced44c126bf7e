"""Where code runs and how it is seeded."""

import os
import random

import numpy as np
import torch

DEVICE_ENV = "DLCOURSE_DEVICE"


def device() -> torch.device:
    """The device the chapters train on: CUDA when available, else CPU.

    Set the environment variable ``DLCOURSE_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``...) to choose
    one yourself, for example to compare CPU and GPU timings.
    """
    wanted = os.environ.get(DEVICE_ENV, "").strip()
    if not wanted:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(wanted)
    except RuntimeError as err:
        raise ValueError(f"{DEVICE_ENV}={wanted!r} is not a torch device name ({err})") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{DEVICE_ENV}={wanted!r} asks for CUDA, but no GPU is available here")
    return chosen


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) so a chapter reruns identically.

    Returns a ``torch.Generator`` seeded with ``seed`` for code that takes an explicit generator.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
