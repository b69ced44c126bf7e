"""The ch13 hidden checks pass the reference solutions and fail realistic mistakes."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks.ch13_regularization import (
    MISTAKES,
    SEQUENCES,
    check_EarlyStopping,
    check_l1_penalty,
    check_l2_penalty,
    simulate,
)
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# the L2 penalty without its 1/2.
WRONG_SUBMISSION = {
    "l2_penalty": '''def l2_penalty(w):
    return torch.sum(w ** 2)
'''
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch13_regularization")


def test_reference_passes(reference):
    check_l2_penalty(reference["l2_penalty"])
    check_l1_penalty(reference["l1_penalty"])
    check_EarlyStopping(reference["EarlyStopping"])


def not_implemented(*args):
    raise NotImplementedError()


# --------------------------------------------------------------------------------------------
# l2_penalty
# --------------------------------------------------------------------------------------------


def l2_no_half(w):
    return torch.sum(w**2)


def l2_norm(w):
    return torch.sqrt(torch.sum(w**2)) / 2


def l2_norm_no_half(w):
    return (w**2).sum().sqrt()


def l2_mean(w):
    return (w**2).mean() / 2


def l2_item(w):
    return (w**2).sum().item() / 2


def l2_detached(w):
    return (w.detach() ** 2).sum() / 2


def l2_new_tensor(w):
    return torch.tensor((w**2).sum().item() / 2, dtype=w.dtype, device=w.device)


def l2_python_sum(w):
    return sum(w**2) / 2


def l2_sum_dim0(w):
    return (w**2).sum(dim=0) / 2


def l2_float32(w):
    return (w.float() ** 2).sum() / 2


def l2_in_place(w):
    with torch.no_grad():
        w.pow_(2)
    return w.sum() / 2


def l2_abs(w):
    return w.abs().sum() / 2


def l2_square_of_sum(w):
    return w.sum() ** 2 / 2


def l2_loop_accumulator(w):
    total = torch.zeros((), dtype=w.dtype)  # made without device=
    for x in w.reshape(-1):
        total = total + x * x
    return total / 2


def l2_backward_inside(w):
    penalty = (w**2).sum() / 2
    if penalty.requires_grad:
        penalty.backward(retain_graph=True)
    return penalty


def l2_no_grad(w):
    with torch.no_grad():
        return (w**2).sum() / 2


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (l2_no_half, "1/2 is missing"),
        (l2_norm, "square root"),
        (l2_norm_no_half, "square root"),
        (l2_mean, "mean over the weights"),
        (l2_item, "Python float.*differentiate"),
        (l2_detached, "detached"),
        (l2_no_grad, "detached"),
        (l2_new_tensor, "detached|without device="),
        (l2_python_sum, "built-in sum"),
        (l2_sum_dim0, "shape"),
        (l2_float32, "dtype"),
        (l2_in_place, "in place"),
        (l2_abs, "absolute values"),
        (l2_square_of_sum, "squares the sum"),
        (l2_loop_accumulator, "without device="),
        (l2_backward_inside, "backward"),
        (not_implemented, "not implemented"),
    ],
)
def test_l2_penalty_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_l2_penalty(wrong)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda w: torch.norm(w) ** 2 / 2, "torch.norm"),
        (lambda w: w.norm() ** 2 / 2, "torch.Tensor.norm"),
        (lambda w: torch.linalg.norm(w.reshape(-1)) ** 2 / 2, "torch.linalg.norm"),
        (lambda w: torch.linalg.vector_norm(w) ** 2 / 2, "torch.linalg.vector_norm"),
        (lambda w: torch.dist(w, torch.zeros_like(w)) ** 2 / 2, "torch.dist"),
        (lambda w: F.mse_loss(w, torch.zeros_like(w), reduction="sum") / 2, "mse_loss"),
        (lambda w: torch.ops.aten.linalg_vector_norm(w) ** 2 / 2, "aten.linalg_vector_norm"),
        (lambda w: torch.as_tensor(np.sum(w.detach().numpy() ** 2) / 2), "torch.Tensor.numpy"),
    ],
    ids=["torch.norm", "method", "linalg.norm", "vector_norm", "dist", "mse_loss", "aten", "numpy"],
)
def test_l2_penalty_calling_torch_fails(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}.*write yourself"):
        check_l2_penalty(cheat)


@pytest.mark.parametrize(
    "correct",
    [
        lambda w: torch.sum(w.pow(2)) / 2,
        lambda w: (w * w).sum() / 2,
        lambda w: 0.5 * torch.square(w).sum(),
        lambda w: torch.dot(w.reshape(-1), w.reshape(-1)) / 2,
        lambda w: (w**2).sum() * torch.tensor(0.5, dtype=w.dtype, device=w.device),
    ],
    ids=["pow", "product", "square", "dot", "tensor constant"],
)
def test_l2_penalty_correct_variants_pass(correct):
    check_l2_penalty(correct)


# --------------------------------------------------------------------------------------------
# l1_penalty
# --------------------------------------------------------------------------------------------


def l1_half(w):
    return torch.abs(w).sum() / 2


def l1_no_abs(w):
    return w.sum()


def l1_mean(w):
    return w.abs().mean()


def l1_squares(w):
    return (w**2).sum() / 2


def l1_abs_of_sum(w):
    return torch.abs(w.sum())


def l1_sqrt_of_square(w):
    return torch.sqrt(w**2).sum()


def l1_item(w):
    return float(w.abs().sum())


def l1_detached(w):
    return w.detach().abs().sum()


def l1_float64(w):
    return w.double().abs().sum()


def l1_in_place(w):
    with torch.no_grad():
        w.abs_()
    return w.sum()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (l1_half, "no 1/2"),
        (l1_no_abs, "absolute values are missing"),
        (l1_mean, "mean over the weights"),
        (l1_squares, "L2 penalty"),
        (l1_abs_of_sum, "absolute value of the sum"),
        (l1_sqrt_of_square, "sqrt\\(w \\*\\* 2\\)"),
        (l1_item, "Python float"),
        (l1_detached, "detached"),
        (l1_float64, "dtype"),
        (l1_in_place, "in place"),
        (not_implemented, "not implemented"),
    ],
)
def test_l1_penalty_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_l1_penalty(wrong)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda w: torch.norm(w, p=1), "torch.norm"),
        (lambda w: w.norm(p=1), "torch.Tensor.norm"),
        (lambda w: torch.linalg.vector_norm(w, ord=1), "torch.linalg.vector_norm"),
        (lambda w: F.l1_loss(w, torch.zeros_like(w), reduction="sum"), "l1_loss"),
        (lambda w: torch.dist(w, torch.zeros_like(w), p=1), "torch.dist"),
    ],
    ids=["torch.norm", "method", "vector_norm", "l1_loss", "dist"],
)
def test_l1_penalty_calling_torch_fails(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}.*write yourself"):
        check_l1_penalty(cheat)


@pytest.mark.parametrize(
    "correct",
    [
        lambda w: torch.abs(w).sum(),
        lambda w: torch.sum(w.abs()),
        lambda w: torch.where(w > 0, w, -w).sum(),  # subgradient -1 at 0: in [-1, 1]
        lambda w: (w * w.sign()).sum(),
        lambda w: (w.clamp(min=0) - w.clamp(max=0)).sum(),
    ],
    ids=["abs", "torch.sum", "where", "sign", "clamp"],
)
def test_l1_penalty_correct_variants_pass(correct):
    check_l1_penalty(correct)


def test_penalties_on_gpu(cuda_device, reference):
    """On a GPU the checks run there too, and a CPU round trip is named."""
    check_l2_penalty(reference["l2_penalty"])
    check_l1_penalty(reference["l1_penalty"])
    with pytest.raises(AssertionError, match="device|copied GPU tensors to the CPU"):
        check_l2_penalty(lambda w: ((w.cpu() ** 2).sum() / 2).to(w.device))


# --------------------------------------------------------------------------------------------
# EarlyStopping
# --------------------------------------------------------------------------------------------


class Stopper:
    """A configurable EarlyStopping with one mistake at a time (the defaults are right)."""

    reset = True
    strict = True
    delta_sign = 1
    late = 0
    best_update = "improvement"
    compare_last = False
    once = False

    def __init__(self, patience, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.last, self.count = math.inf, math.inf, 0

    def step(self, val_loss):
        val_loss = float(val_loss)
        ref = self.last if self.compare_last else self.best
        bar = ref - self.delta_sign * self.min_delta
        improved = val_loss < bar if self.strict else val_loss <= bar
        if improved:
            self.count = 0 if self.reset else self.count
        else:
            self.count += 1
        if self.best_update == "improvement" and improved:
            self.best = val_loss
        elif self.best_update == "min":
            self.best = min(self.best, val_loss)
        elif self.best_update == "always":
            self.best = val_loss
        elif self.best_update == "never" and self.best == math.inf:
            self.best = val_loss
        self.last = val_loss
        limit = self.patience + self.late
        return self.count == limit if self.once else self.count >= limit


def variant(**attributes):
    return type("EarlyStopping", (Stopper,), attributes)


class NoReset(Stopper):
    """The textbook slip, written out: the count only ever grows."""

    def step(self, val_loss):
        val_loss = float(val_loss)
        if val_loss < self.best - self.min_delta:
            self.best = val_loss
        else:
            self.count += 1
        return self.count >= self.patience


class StoresTensor:
    def __init__(self, patience, min_delta=0.0):
        self.patience, self.min_delta, self.best, self.count = patience, min_delta, math.inf, 0

    def step(self, val_loss):
        if val_loss < self.best - self.min_delta:
            self.best, self.count = val_loss, 0
        else:
            self.count += 1
        return self.count >= self.patience


class ReturnsTensor(Stopper):
    def step(self, val_loss):
        stop = super().step(val_loss)
        return torch.tensor(stop)


class ReturnsNone(Stopper):
    def step(self, val_loss):
        if super().step(val_loss):
            return True


class CallsItem(Stopper):
    def step(self, val_loss):
        return super().step(val_loss.item())


class NoBest:
    def __init__(self, patience, min_delta=0.0):
        self.patience, self.min_delta, self.lowest, self.count = patience, min_delta, math.inf, 0

    def step(self, val_loss):
        val_loss = float(val_loss)
        if val_loss < self.lowest - self.min_delta:
            self.lowest, self.count = val_loss, 0
        else:
            self.count += 1
        return self.count >= self.patience


class SharedState:
    """State in class attributes: every stopper shares one count and one best."""

    count = 0
    best = math.inf

    def __init__(self, patience, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta

    def step(self, val_loss):
        val_loss = float(val_loss)
        if val_loss < SharedState.best - self.min_delta:
            SharedState.best, SharedState.count = val_loss, 0
        else:
            SharedState.count += 1
        return SharedState.count >= self.patience


class IntegerBest(Stopper):
    """best kept as the index of the best epoch instead of the loss."""

    def step(self, val_loss):
        stop = super().step(val_loss)
        self.best = 0
        return stop


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (NoReset, "not reset"),
        (variant(reset=False), "not reset"),
        (variant(compare_last=True), "previous one"),
        (variant(strict=False), "MORE than"),
        (variant(delta_sign=-1), "added instead of subtracted"),
        (variant(delta_sign=0), "min_delta is ignored"),
        (variant(late=1), "one step late"),
        (variant(late=-1), "one step early"),
        (variant(best_update="min"), "by less than min_delta"),
        (variant(best_update="always"), "overwritten by every loss"),
        (variant(best_update="never"), "never updated"),
        (variant(once=True), "keep returning True"),
        (StoresTensor, "best is a tensor"),
        (ReturnsTensor, "returned a tensor"),
        (ReturnsNone, "Python bool"),
        (CallsItem, "raised AttributeError"),
        (NoBest, "no attribute best"),
        (SharedState, "share their state"),
        (IntegerBest, "Python float"),
    ],
    ids=lambda x: x if isinstance(x, str) else getattr(x, "__name__", "variant"),
)
def test_early_stopping_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_EarlyStopping(wrong)


def test_early_stopping_not_a_class_fails():
    with pytest.raises(AssertionError, match="must be a class"):
        check_EarlyStopping(lambda patience, min_delta=0.0: None)


def test_early_stopping_not_implemented_fails():
    class Todo:
        def __init__(self, patience, min_delta=0.0):
            raise NotImplementedError()

    with pytest.raises(AssertionError, match="not implemented"):
        check_EarlyStopping(Todo)


class KerasStyle:
    """Counts "wait" and compares the improvement with min_delta the other way round: right."""

    def __init__(self, patience, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.wait = float("inf"), 0

    def step(self, val_loss):
        current = float(val_loss)
        if self.best - current > self.min_delta:
            self.best, self.wait = current, 0
            return False
        self.wait += 1
        return self.wait >= self.patience


class NoneUntilFirst:
    """best starts as None and the first loss is taken as it is: right too."""

    def __init__(self, patience, min_delta=0.0):
        self.patience, self.min_delta, self.best, self.bad = patience, min_delta, None, 0

    def step(self, val_loss):
        loss = val_loss.item() if isinstance(val_loss, torch.Tensor) else float(val_loss)
        if self.best is None or loss < self.best - self.min_delta:
            self.best, self.bad = loss, 0
        else:
            self.bad += 1
        return bool(self.bad >= self.patience)


@pytest.mark.parametrize("correct", [Stopper, KerasStyle, NoneUntilFirst])
def test_early_stopping_correct_variants_pass(correct):
    check_EarlyStopping(correct)


def test_every_named_mistake_is_caught_by_some_sequence():
    """Each mistake that the check can name changes the outcome of at least one sequence."""
    for options, hint in MISTAKES:
        differs = any(
            simulate(s.losses, s.patience, s.min_delta or 0.0, **options)
            != simulate(s.losses, s.patience, s.min_delta or 0.0)
            for s in SEQUENCES
        )
        assert differs, hint
