"""The ch10 hidden checks pass the reference solutions and fail realistic mistakes."""

import pytest
import torch

from autograder.checks.ch10_softmax import check_accuracy, check_cross_entropy, check_softmax
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py).
WRONG_SUBMISSION = {
    "softmax": '''def softmax(X):
    E = torch.exp(X)
    return E / E.sum(dim=-1, keepdim=True)
'''
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch10_softmax")


def test_reference_passes(reference):
    check_softmax(reference["softmax"])
    check_cross_entropy(reference["cross_entropy"])
    check_accuracy(reference["accuracy"])


def naive_softmax(X):
    E = X.exp()
    return E / E.sum(dim=-1, keepdim=True)


def softmax_over_dim0(X):
    E = (X - X.max(dim=0, keepdim=True).values).exp()
    return E / E.sum(dim=0, keepdim=True)


def softmax_dim1(X):
    E = (X - X.max(dim=1, keepdim=True).values).exp()
    return E / E.sum(dim=1, keepdim=True)


def softmax_global_max(X):
    E = (X - X.max()).exp()
    return E / E.sum(dim=-1, keepdim=True)


def softmax_float32(X):
    return torch.softmax(X.float(), dim=-1)


def softmax_in_place(X):
    X -= X.max(dim=-1, keepdim=True).values
    X.exp_()
    return X / X.sum(dim=-1, keepdim=True)


def softmax_on_cpu(X):
    return torch.softmax(X.cpu(), dim=-1)


def not_implemented(*args):
    raise NotImplementedError()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (naive_softmax, "overflows"),
        (softmax_over_dim0, "sum to 1"),
        (softmax_dim1, "last dimension"),
        (softmax_global_max, "underflows"),
        (softmax_float32, "dtype"),
        (softmax_in_place, "in place"),
        (not_implemented, "not implemented"),
    ],
)
def test_softmax_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_softmax(wrong)


def test_softmax_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_softmax(softmax_on_cpu)


def ce_sum(logits, y):
    return -torch.log_softmax(logits, dim=-1)[torch.arange(len(y)), y].sum()


def ce_log_of_naive_softmax(logits, y):
    return -naive_softmax(logits)[torch.arange(len(y)), y].log().mean()


def ce_log_of_stable_softmax(logits, y):
    return -torch.softmax(logits, dim=-1)[torch.arange(len(y)), y].log().mean()


def ce_wrong_sign(logits, y):
    return torch.log_softmax(logits, dim=-1)[torch.arange(len(y)), y].mean()


def ce_detached(logits, y):
    value = -torch.log_softmax(logits, dim=-1)[torch.arange(len(y)), y].mean()
    return torch.tensor(value.item(), dtype=logits.dtype, device=logits.device)


def ce_without_max_subtraction(logits, y):
    lse = logits.exp().sum(dim=-1).log()
    return (lse - logits[torch.arange(len(y)), y]).mean()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (ce_sum, "sum over the batch"),
        (ce_log_of_naive_softmax, "logsumexp"),
        (ce_log_of_stable_softmax, "logsumexp"),
        (ce_without_max_subtraction, "logsumexp"),
        (ce_wrong_sign, "sign"),
        (ce_detached, "detached"),
        (not_implemented, "not implemented"),
    ],
)
def test_cross_entropy_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_cross_entropy(wrong)


def accuracy_count(logits, y):
    return float((logits.argmax(dim=1) == y).sum())


def accuracy_tensor(logits, y):
    return (logits.argmax(dim=1) == y).float().mean()


def accuracy_wrong_axis(logits, y):
    return float((logits.argmax(dim=0)[: len(y)] == y).float().mean())


def accuracy_integer_division(logits, y):
    return float(int((logits.argmax(dim=1) == y).sum()) // len(y))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (accuracy_count, "count"),
        (accuracy_tensor, "Python float"),
        (accuracy_wrong_axis, "must match the size"),
        (accuracy_integer_division, "expected 0.6667"),
        (not_implemented, "not implemented"),
    ],
)
def test_accuracy_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_accuracy(wrong)
