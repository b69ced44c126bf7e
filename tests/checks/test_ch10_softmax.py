"""The ch10 hidden checks pass the reference solutions and fail realistic mistakes."""

import warnings

import pytest
import torch
import torch._decomp.decompositions
import torch._refs
import torch._refs.nn.functional
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


def softmax_by_attention(X):
    """One query of ones against keys X: the attention weights are softmax(X)."""
    q = X.shape[-1]
    ones = torch.ones(*X.shape[:-1], 1, 1, dtype=X.dtype, device=X.device)
    eye = torch.eye(q, dtype=X.dtype, device=X.device).expand(*X.shape[:-1], q, q)
    return F.scaled_dot_product_attention(ones, X[..., None], eye)[..., 0, :]


def softmax_under_disabled_torch_function(X):
    with torch._C.DisableTorchFunction():
        return X.softmax(-1)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda X: torch.ops.aten._softmax(X, -1, False), "aten._softmax"),
        (lambda X: torch.ops.aten.softmax.int(X, -1), "aten._softmax"),
        (lambda X: torch._safe_softmax(X, -1), "aten._safe_softmax"),
        (lambda X: torch.sparse.softmax(X.to_sparse(), -1).to_dense(), "aten._sparse_softmax"),
        (lambda X: torch._refs.softmax(X, -1), "torch._refs.softmax"),
        (lambda X: torch._decomp.decompositions._softmax(X, -1, False), "_decomp.decompositions._softmax"),
        (lambda X: torch.exp(X - torch.logcumsumexp(X, -1)[..., -1:]), "torch.logcumsumexp"),
        (softmax_by_attention, "scaled_dot_product_attention"),
        (softmax_under_disabled_torch_function, "aten._softmax"),
    ],
    ids=["aten._softmax", "aten.softmax.int", "_safe_softmax", "sparse", "_refs", "_decomp",
         "logcumsumexp", "attention", "DisableTorchFunction"],
)
def test_softmax_calling_torch_by_other_names_fails(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}.*write yourself"):
        check_softmax(cheat)


def test_softmax_scripted_fails():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated

        @torch.jit.script
        def scripted(X: torch.Tensor) -> torch.Tensor:
            return torch.softmax(X, -1)

    with pytest.raises(AssertionError, match="calls aten._softmax"):
        check_softmax(scripted)


def softmax_via_numpy(X):
    E = (X - X.amax(dim=-1, keepdim=True)).exp().numpy()
    return torch.from_numpy(E / E.sum(-1, keepdims=True))


def softmax_via_scipy(X):
    scipy_special = pytest.importorskip("scipy.special")
    return torch.as_tensor(scipy_special.softmax(X, -1), device=X.device)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [(softmax_via_numpy, "torch.Tensor.numpy, torch.from_numpy"),
     (softmax_via_scipy, "scipy.special.softmax")],
)  # fmt: skip
def test_softmax_through_numpy_fails(cheat, name):
    """A NumPy round trip passes a CPU-only grader's device checks: it is forbidden."""
    with pytest.raises(AssertionError, match=rf"calls .*{name}"):
        check_softmax(cheat)


def softmax_row_by_row(X):
    rows = [(row - row.max()).exp() for row in X.reshape(-1, X.shape[-1])]
    return torch.stack([row / row.sum() for row in rows]).reshape(X.shape)


def softmax_float_constant(X):
    E = torch.exp(X - torch.max(X, dim=-1, keepdim=True).values)
    return E / torch.sum(E, dim=-1, keepdim=True) * torch.tensor(1.0, dtype=X.dtype)


def softmax_minus_logsumexp(X):
    """exp(X - LSE(X)): correct, though float32 rounds X - LSE near +-1000 by up to 6e-5."""
    m = X.amax(-1, keepdim=True)
    return torch.exp(X - (m + torch.log(torch.exp(X - m).sum(-1, keepdim=True))))


@pytest.mark.parametrize(
    "correct", [softmax_row_by_row, softmax_float_constant, softmax_minus_logsumexp]
)
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


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda logits, y: torch._C._nn.cross_entropy_loss(logits, y, None, 1), "aten._log_softmax"),
        (lambda logits, y: torch._C._nn.nll_loss(log_softmax_by_hand(logits), y, None, 1),
         "aten.nll_loss_forward"),
        (lambda logits, y: torch.ops.aten.cross_entropy_loss(logits, y), "aten._log_softmax"),
        (lambda logits, y: torch.ops.aten.nll_loss(log_softmax_by_hand(logits), y),
         "aten.nll_loss_forward"),
        (lambda logits, y: torch._refs.nn.functional.nll_loss(log_softmax_by_hand(logits), y),
         "torch._refs.nn.functional.nll_loss"),
        (lambda logits, y: (torch.logcumsumexp(logits, -1)[:, -1] - _picked(logits, y)).mean(),
         "torch.logcumsumexp"),
        (lambda logits, y: -_picked(torch.from_numpy(log_softmax_by_hand(logits).detach().numpy()),
                                    y).mean(), "torch.Tensor.numpy"),
    ],
    ids=["_C._nn.cross_entropy_loss", "_C._nn.nll_loss", "aten.cross_entropy_loss",
         "aten.nll_loss", "_refs nll_loss", "logcumsumexp", "numpy"],
)  # fmt: skip
def test_cross_entropy_calling_torch_by_other_names_fails(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}"):
        check_cross_entropy(cheat)


def ce_index_rows_on_cpu(logits, y):
    """torch.arange without device= as an index: CPU index tensors work on a GPU too."""
    return -log_softmax_by_hand(logits)[torch.arange(len(y)), y].mean()


def ce_gather(logits, y):
    return -log_softmax_by_hand(logits).gather(1, y.unsqueeze(1)).mean()


def ce_one_hot(logits, y):
    return -(log_softmax_by_hand(logits) * F.one_hot(y, logits.shape[-1])).sum(dim=-1).mean()


def ce_fold_of_logaddexp(logits, y):
    """The log-sum-exp as a fold of torch.logaddexp over the columns: a building block."""
    lse = logits[:, 0]
    for j in range(1, logits.shape[1]):
        lse = torch.logaddexp(lse, logits[:, j])
    return (lse - logits.gather(1, y[:, None])[:, 0]).mean()


@pytest.mark.parametrize(
    "correct", [ce_index_rows_on_cpu, ce_gather, ce_one_hot, ce_fold_of_logaddexp]
)
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
