import matplotlib

matplotlib.use("Agg")  # tests draw figures without a screen

import os
from pathlib import Path

import pytest
import torch

from autograder.course import assignments


def pytest_report_header(config):
    data = os.environ.get("DLCOURSE_DATA", "(unset: per-user cache, downloads allowed)")
    return [f"DLCOURSE_DATA: {data}", f"CUDA available: {torch.cuda.is_available()}"]


@pytest.fixture(scope="session")
def assignment_ids() -> list[str]:
    found = assignments()
    assert found, "no source notebooks under solutions/"
    return found


@pytest.fixture
def cuda_device():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return torch.device("cuda")


@pytest.fixture(scope="session")
def data_root() -> Path:
    from dlcourse.data import data_root

    return data_root()
