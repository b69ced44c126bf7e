"""The ch10 hidden checks pass the reference solutions and fail realistic mistakes."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

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


def stable_softmax(X):
    E = (X - X.amax(dim=-1, keepdim=True)).exp()
    return E / E.sum(dim=-1, keepdim=True)


def softmax_float32(X):
    return stable_softmax(X.float())


def softmax_in_place(X):
    X -= X.max(dim=-1, keepdim=True).values
    X.exp_()
    return X / X.sum(dim=-1, keepdim=True)


def softmax_on_cpu(X):
    return stable_softmax(X.cpu())


def softmax_cpu_round_trip(X):
    return stable_softmax(X.cpu()).to(X.device)


def softmax_sum_in_a_loop(X):
    E = (X - X.amax(dim=-1, keepdim=True)).exp()
    total = torch.zeros(*X.shape[:-1], 1, dtype=X.dtype)  # made without device=
    for j in range(X.shape[-1]):
        total = total + E[..., j : j + 1]
    return E / total


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
        (softmax_sum_in_a_loop, "without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_softmax_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_softmax(wrong)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda X: torch.softmax(X, dim=-1), "torch.softmax"),
        (lambda X: X.softmax(dim=-1), "torch.Tensor.softmax"),
        (lambda X: F.softmax(X, dim=-1), "torch.nn.functional.softmax"),
        (lambda X: torch.special.softmax(X, dim=-1), "torch.special.softmax"),
        (lambda X: nn.Softmax(dim=-1)(X), "torch.nn.functional.softmax"),
        (lambda X: F.softmin(-X, dim=-1), "torch.nn.functional.softmin"),
        (lambda X: F.log_softmax(X, dim=-1).exp(), "torch.nn.functional.log_softmax"),
        (lambda X: nn.LogSoftmax(dim=-1)(X).exp(), "torch.nn.functional.log_softmax"),
        (lambda X: (X - torch.logsumexp(X, dim=-1, keepdim=True)).exp(), "torch.logsumexp"),
        (lambda X: torch.distributions.Categorical(logits=X).probs, "torch.nn.functional.softmax"),
    ],
    ids=["torch.softmax", "method", "F.softmax", "torch.special", "nn.Softmax", "softmin",
         "exp of log_softmax", "nn.LogSoftmax", "logsumexp", "Categorical"],
)
def test_softmax_calling_torch_fails(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}.*write yourself"):
        check_softmax(cheat)


def softmax_row_by_row(X):
    rows = [(row - row.max()).exp() for row in X.reshape(-1, X.shape[-1])]
    return torch.stack([row / row.sum() for row in rows]).reshape(X.shape)


def softmax_float_constant(X):
    E = torch.exp(X - torch.max(X, dim=-1, keepdim=True).values)
    return E / torch.sum(E, dim=-1, keepdim=True) * torch.tensor(1.0, dtype=X.dtype)


@pytest.mark.parametrize("correct", [softmax_row_by_row, softmax_float_constant])
def test_softmax_correct_variants_pass(correct):
    check_softmax(correct)


def test_softmax_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_softmax(softmax_on_cpu)
    with pytest.raises(AssertionError, match="copied GPU tensors to the CPU"):
        check_softmax(softmax_cpu_round_trip)


def log_softmax_by_hand(logits):
    o_max = logits.amax(dim=-1, keepdim=True)
    return logits - o_max - (logits - o_max).exp().sum(dim=-1, keepdim=True).log()


def rows(y):
    return torch.arange(len(y), device=y.device)


def ce_sum(logits, y):
    return -log_softmax_by_hand(logits)[rows(y), y].sum()


def ce_log_of_naive_softmax(logits, y):
    return -naive_softmax(logits)[rows(y), y].log().mean()


def ce_log_of_stable_softmax(logits, y):
    return -stable_softmax(logits)[rows(y), y].log().mean()


def ce_wrong_sign(logits, y):
    return log_softmax_by_hand(logits)[rows(y), y].mean()


def ce_detached(logits, y):
    value = -log_softmax_by_hand(logits)[rows(y), y].mean()
    return torch.tensor(value.item(), dtype=logits.dtype, device=logits.device)


def ce_without_max_subtraction(logits, y):
    lse = logits.exp().sum(dim=-1).log()
    return (lse - logits[rows(y), y]).mean()


def ce_one_hot_from_eye(logits, y):
    one_hot = torch.eye(logits.shape[-1], dtype=logits.dtype)[y]  # eye made without device=
    return -(log_softmax_by_hand(logits) * one_hot).sum(dim=-1).mean()


def ce_on_cpu(logits, y):
    return -log_softmax_by_hand(logits.cpu())[torch.arange(len(y)), y.cpu()].mean().to(logits.device)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (ce_sum, "sum over the batch"),
        (ce_log_of_naive_softmax, "logsumexp"),
        (ce_log_of_stable_softmax, "logsumexp"),
        (ce_without_max_subtraction, "logsumexp"),
        (ce_wrong_sign, "sign"),
        (ce_detached, "detached"),
        (ce_one_hot_from_eye, "without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_cross_entropy_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_cross_entropy(wrong)


def _picked(log_probs, y):
    return log_probs[torch.arange(len(y), device=y.device), y]


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda logits, y: F.cross_entropy(logits, y), "torch.nn.functional.cross_entropy"),
        (lambda logits, y: nn.CrossEntropyLoss()(logits, y), "torch.nn.functional.cross_entropy"),
        (lambda logits, y: F.nll_loss(log_softmax_by_hand(logits), y), "torch.nn.functional.nll_loss"),
        (lambda logits, y: nn.NLLLoss()(log_softmax_by_hand(logits), y), "torch.nn.functional.nll_loss"),
        (lambda logits, y: -_picked(F.log_softmax(logits, dim=-1), y).mean(), "log_softmax"),
        (lambda logits, y: -_picked(logits.log_softmax(-1), y).mean(), "torch.Tensor.log_softmax"),
        (lambda logits, y: (torch.logsumexp(logits, -1) - _picked(logits, y)).mean(), "torch.logsumexp"),
        (lambda logits, y: (logits.logsumexp(-1) - _picked(logits, y)).mean(), "torch.Tensor.logsumexp"),
    ],
    ids=["F.cross_entropy", "nn.CrossEntropyLoss", "F.nll_loss", "nn.NLLLoss", "F.log_softmax",
         "log_softmax method", "torch.logsumexp", "logsumexp method"],
)
def test_cross_entropy_calling_torch_fails(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}.*write yourself"):
        check_cross_entropy(cheat)


def ce_index_rows_on_cpu(logits, y):
    """torch.arange without device= as an index: CPU index tensors work on a GPU too."""
    return -log_softmax_by_hand(logits)[torch.arange(len(y)), y].mean()


def ce_gather(logits, y):
    return -log_softmax_by_hand(logits).gather(1, y.unsqueeze(1)).mean()


def ce_one_hot(logits, y):
    return -(log_softmax_by_hand(logits) * F.one_hot(y, logits.shape[-1])).sum(dim=-1).mean()


@pytest.mark.parametrize("correct", [ce_index_rows_on_cpu, ce_gather, ce_one_hot])
def test_cross_entropy_correct_variants_pass(correct):
    check_cross_entropy(correct)


def test_cross_entropy_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="copied GPU tensors to the CPU"):
        check_cross_entropy(ce_on_cpu)


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
