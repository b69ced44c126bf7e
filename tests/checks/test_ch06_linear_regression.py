"""The ch06 hidden checks pass the reference solutions and fail realistic mistakes."""

import numpy as np
import pytest
import torch
import torch._decomp.decompositions
import torch._refs.nn.functional
import torch.nn.functional as F
from torch import nn

from autograder.checks.ch06_linear_regression import check_closed_form, check_data_iter, check_huber_loss
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test: data_iter drops the last partial
# batch (like DataLoader(drop_last=True)). Its hidden test scores 0; closed_form and huber_loss pass.
WRONG_SUBMISSION = {
    "data_iter": '''def data_iter(batch_size, X, y, generator=None):
    """Yield shuffled minibatches (X_batch, y_batch) that cover every example exactly once.

    The order is torch.randperm(len(X), generator=generator); the last batch is smaller when
    batch_size does not divide len(X). The batches are on X's device.
    """
    indices = torch.randperm(len(X), generator=generator).to(X.device)
    for start in range(0, len(X) - batch_size + 1, batch_size):
        batch = indices[start:start + batch_size]
        yield X[batch], y[batch]
''',
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch06_linear_regression")


def test_reference_passes(reference):
    check_closed_form(reference["closed_form"])
    check_data_iter(reference["data_iter"])
    check_huber_loss(reference["huber_loss"])


def test_wrong_submission_fails_only_its_check(reference):
    namespace = {"torch": torch}
    exec(WRONG_SUBMISSION["data_iter"], namespace)
    with pytest.raises(AssertionError, match="last partial batch is missing"):
        check_data_iter(namespace["data_iter"])


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


# --------------------------------------------------------------------------------------------
# closed_form
# --------------------------------------------------------------------------------------------


def _with_ones(X):
    return torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype, device=X.device)], dim=1)


def closed_form_without_bias(X, y):
    w = torch.linalg.lstsq(X, y.reshape(-1, 1)).solution[:, 0]
    return w, torch.zeros((), dtype=X.dtype, device=X.device)


def closed_form_bias_inside_w(X, y):
    theta = torch.linalg.lstsq(_with_ones(X), y.reshape(-1, 1)).solution[:, 0]
    return theta, theta[-1]


def closed_form_wrong_system(X, y):
    A = _with_ones(X)  # the min-norm formula A^T (A A^T)^-1 y, for the wrong (n x n) system
    return_theta = A.T @ torch.linalg.solve(A @ A.T, y.reshape(-1, 1))
    theta = return_theta[:, 0]
    return theta[:-1], theta[-1]


def closed_form_column_w(X, y):
    theta = torch.linalg.lstsq(_with_ones(X), y.reshape(-1, 1)).solution
    return theta[:-1], theta[-1, 0]


def closed_form_float64(X, y):
    A = _with_ones(X).double()
    theta = torch.linalg.lstsq(A, y.reshape(-1, 1).double()).solution[:, 0]
    return theta[:-1], theta[-1]


def closed_form_bias_column_in_place(X, y):
    X[:, -1] = 1.0  # overwrites the last feature with the bias column
    theta = torch.linalg.lstsq(X, y.reshape(-1, 1)).solution[:, 0]
    return theta, theta[-1]


def closed_form_on_cpu(X, y):
    A = _with_ones(X).cpu()
    theta = torch.linalg.lstsq(A, y.reshape(-1, 1).cpu()).solution[:, 0]
    return theta[:-1], theta[-1]


def closed_form_inverse(X, y):
    """An explicit inverse is not recommended, but it is not wrong on these well-conditioned data."""
    A = _with_ones(X)
    theta = torch.linalg.inv(A.T @ A) @ A.T @ y.reshape(-1)
    return theta[:-1], theta[-1]


def closed_form_solve_ones_like(X, y):
    """The normal equations with solve, and the ones made from X itself."""
    A = torch.cat([X, torch.ones_like(X[:, :1])], dim=1)
    theta = torch.linalg.solve(A.T @ A, A.T @ y.reshape(-1))
    return theta[:-1], theta[-1]


def closed_form_new_ones(X, y):
    """X.new_ones makes the column on X's device with X's dtype."""
    A = torch.cat([X, X.new_ones(len(X), 1)], dim=1)
    theta = torch.linalg.lstsq(A, y.reshape(-1, 1)).solution.reshape(-1)
    return theta[:-1], theta[-1]


@pytest.mark.parametrize("correct", [closed_form_inverse, closed_form_solve_ones_like, closed_form_new_ones])
def test_closed_form_correct_variants_pass(correct):
    check_closed_form(correct)


def closed_form_ones_without_device(X, y):
    """The column of ones with X's dtype but without device=: on the CPU when X is on a GPU."""
    A = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1)
    theta = torch.linalg.lstsq(A, y.reshape(-1, 1)).solution[:, 0]
    return theta[:-1], theta[-1]


def closed_form_numpy_lstsq(X, y):
    """np.linalg.lstsq, back with torch.from_numpy: on the CPU whatever X's device."""
    A = np.concatenate([X.numpy(), np.ones((len(X), 1), dtype=X.numpy().dtype)], axis=1)
    theta = torch.from_numpy(np.linalg.lstsq(A, y.numpy().reshape(-1), rcond=None)[0])
    return theta[:-1], theta[-1]


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (closed_form_numpy_lstsq, "calls torch.Tensor.numpy, torch.from_numpy"),
        (closed_form_without_bias, "without a bias"),
        (closed_form_bias_inside_w, "last entry is the bias"),
        (closed_form_wrong_system, "not n x n"),
        (closed_form_column_w, r"shape \(2,\)"),
        (closed_form_float64, "dtype"),
        (closed_form_bias_column_in_place, "last entry is the bias|in place"),
        (closed_form_ones_without_device, "made without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_closed_form_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_closed_form(wrong)


def test_closed_form_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_closed_form(closed_form_on_cpu)


# --------------------------------------------------------------------------------------------
# data_iter
# --------------------------------------------------------------------------------------------


def data_iter_drop_last(batch_size, X, y, generator=None):
    indices = torch.randperm(len(X), generator=generator)
    for start in range(0, len(X) - batch_size + 1, batch_size):
        batch = indices[start : start + batch_size].to(X.device)
        yield X[batch], y[batch]


def data_iter_no_shuffle(batch_size, X, y, generator=None):
    for start in range(0, len(X), batch_size):
        yield X[start : start + batch_size], y[start : start + batch_size]


def data_iter_two_permutations(batch_size, X, y, generator=None):
    perm_X = torch.randperm(len(X), generator=generator)
    perm_y = torch.randperm(len(X), generator=generator)
    for start in range(0, len(X), batch_size):
        yield X[perm_X[start : start + batch_size]], y[perm_y[start : start + batch_size]]


def data_iter_with_replacement(batch_size, X, y, generator=None):
    for start in range(0, len(X), batch_size):
        size = min(batch_size, len(X) - start)
        batch = torch.randint(0, len(X), (size,), generator=generator).to(X.device)
        yield X[batch], y[batch]


def data_iter_without_generator(batch_size, X, y, generator=None):
    indices = torch.randperm(len(X)).to(X.device)  # forgets the generator: not reproducible
    for start in range(0, len(X), batch_size):
        batch = indices[start : start + batch_size]
        yield X[batch], y[batch]


def data_iter_empty_last_batch(batch_size, X, y, generator=None):
    indices = torch.randperm(len(X), generator=generator).to(X.device)
    for start in range(0, len(X) + 1, batch_size):
        batch = indices[start : start + batch_size]
        yield X[batch], y[batch]


def data_iter_shuffles_in_place(batch_size, X, y, generator=None):
    indices = torch.randperm(len(X), generator=generator).to(X.device)
    X[:] = X[indices]
    y[:] = y[indices]
    for start in range(0, len(X), batch_size):
        yield X[start : start + batch_size], y[start : start + batch_size]


def data_iter_copies_rows(batch_size, X, y, generator=None):
    """Copies each batch's rows into a new tensor made without device=: on the CPU next to a GPU X."""
    indices = torch.randperm(len(X), generator=generator)
    for start in range(0, len(X), batch_size):
        batch = indices[start : start + batch_size]
        X_batch = torch.empty(len(batch), *X.shape[1:], dtype=X.dtype)
        for row, i in enumerate(batch):
            X_batch[row] = X[i]
        yield X_batch, y[batch]


def data_iter_d2l_style(batch_size, X, y, generator=None):
    """D2L's iterator with the course's permutation: CPU index tensors index a GPU X fine."""
    indices = torch.randperm(len(X), generator=generator).tolist()
    for i in range(0, len(X), batch_size):
        batch_indices = torch.tensor(indices[i : min(i + batch_size, len(X))])
        yield X[batch_indices], y[batch_indices]


def data_iter_cpu_indices(batch_size, X, y, generator=None):
    """The permutation stays on the CPU: indexing a GPU tensor with it is allowed."""
    indices = torch.randperm(len(X), generator=generator)
    for start in range(0, len(X), batch_size):
        yield X[indices[start : start + batch_size]], y[indices[start : start + batch_size]]


@pytest.mark.parametrize("correct", [data_iter_d2l_style, data_iter_cpu_indices])
def test_data_iter_correct_variants_pass(correct):
    check_data_iter(correct)


def data_iter_on_cpu(batch_size, X, y, generator=None):
    indices = torch.randperm(len(X), generator=generator)
    X, y = X.cpu(), y.cpu()
    for start in range(0, len(X), batch_size):
        batch = indices[start : start + batch_size]
        yield X[batch], y[batch]


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (data_iter_drop_last, "last partial batch is missing"),
        (data_iter_no_shuffle, "original order"),
        (data_iter_two_permutations, "do not belong together"),
        (data_iter_with_replacement, "without replacement"),
        (data_iter_without_generator, "generator that is passed in"),
        (data_iter_empty_last_batch, "no empty batch"),
        (data_iter_shuffles_in_place, "in place"),
        (data_iter_copies_rows, "made without\\s+device="),
        (not_implemented, "not implemented"),
    ],
)
def test_data_iter_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_data_iter(wrong)


def test_data_iter_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_data_iter(data_iter_on_cpu)


# --------------------------------------------------------------------------------------------
# huber_loss
# --------------------------------------------------------------------------------------------


def _huber_elementwise(y_hat, y, delta, quadratic_factor=0.5, linear_shift=True, swapped=False):
    r = (y_hat - y).abs()
    quadratic = quadratic_factor * r**2
    linear = delta * (r - delta / 2) if linear_shift else delta * r
    if swapped:
        quadratic, linear = linear, quadratic
    return torch.where(r <= delta, quadratic, linear)


def huber_delta_ignored(y_hat, y, delta=1.0):
    return _huber_elementwise(y_hat, y, 1.0).mean()


def huber_swapped_branches(y_hat, y, delta=1.0):
    return _huber_elementwise(y_hat, y, delta, swapped=True).mean()


def huber_sum(y_hat, y, delta=1.0):
    return _huber_elementwise(y_hat, y, delta).sum()


def huber_without_half(y_hat, y, delta=1.0):
    return _huber_elementwise(y_hat, y, delta, quadratic_factor=1.0).mean()


def huber_without_shift(y_hat, y, delta=1.0):
    return _huber_elementwise(y_hat, y, delta, linear_shift=False).mean()


def huber_detached(y_hat, y, delta=1.0):
    value = _huber_elementwise(y_hat, y, delta).mean().item()
    return torch.tensor(value, dtype=y_hat.dtype, device=y_hat.device)


def huber_float32(y_hat, y, delta=1.0):
    return _huber_elementwise(y_hat.float(), y.float(), delta).mean()


def huber_smooth_l1(y_hat, y, delta=1.0):
    return F.smooth_l1_loss(y_hat, y, beta=delta)  # equals Huber only for delta = 1


def huber_builtin(y_hat, y, delta=1.0):
    return F.huber_loss(y_hat, y, delta=delta)


def huber_scaled_smooth_l1(y_hat, y, delta=1.0):
    return delta * F.smooth_l1_loss(y_hat, y, beta=delta)  # the Huber loss for every delta


def huber_module(y_hat, y, delta=1.0):
    return nn.HuberLoss(delta=delta)(y_hat, y)


def huber_smooth_l1_module(y_hat, y, delta=1.0):
    return delta * nn.SmoothL1Loss(beta=delta)(y_hat, y)


def huber_aten(y_hat, y, delta=1.0):
    return torch.ops.aten.huber_loss(y_hat, y, 1, delta)  # 1: mean reduction


def huber_c_binding(y_hat, y, delta=1.0):
    return torch._C._nn.huber_loss(y_hat, y, 1, delta)


def huber_refs(y_hat, y, delta=1.0):
    return torch._refs.nn.functional.huber_loss(y_hat, y, delta=delta)


def huber_decomposed_smooth_l1(y_hat, y, delta=1.0):
    return delta * torch._decomp.decompositions.smooth_l1_loss(y_hat, y, 1, delta)


def huber_zeros_without_device(y_hat, y, delta=1.0):
    """Fills a loss tensor made without device=: on the CPU when the inputs are on a GPU."""
    r = (y_hat - y).abs()
    small = r <= delta
    losses = torch.zeros(r.shape, dtype=r.dtype)
    losses[small] = 0.5 * r[small] ** 2
    losses[~small] = delta * (r[~small] - delta / 2)
    return losses.mean()


def huber_on_cpu(y_hat, y, delta=1.0):
    return _huber_elementwise(y_hat.cpu(), y.cpu(), delta).mean()


def huber_strict_boundary(y_hat, y, delta=1.0):
    """|r| < delta instead of <= delta: both branches agree at |r| = delta, so this is right."""
    r = (y_hat - y).abs()
    return torch.where(r < delta, 0.5 * r**2, delta * (r - delta / 2)).mean()


def test_huber_boundary_choice_passes():
    check_huber_loss(huber_strict_boundary)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (huber_delta_ignored, "delta argument"),
        (huber_swapped_branches, "swapped"),
        (huber_sum, "sum over all elements"),
        (huber_without_half, "missing its 1/2"),
        (huber_without_shift, "missing its - delta / 2"),
        (huber_detached, "detached"),
        (huber_float32, "dtype"),
        (huber_smooth_l1, "calls torch.nn.functional.smooth_l1_loss"),
        (huber_builtin, "calls torch.nn.functional.huber_loss"),
        (huber_scaled_smooth_l1, "calls torch.nn.functional.smooth_l1_loss"),
        (huber_module, "calls torch.nn.HuberLoss.forward"),
        (huber_smooth_l1_module, "calls torch.nn.SmoothL1Loss.forward"),
        (huber_aten, "calls aten.huber_loss"),
        (huber_c_binding, "calls aten.huber_loss"),
        (huber_refs, "calls torch._refs.nn.functional.huber_loss"),
        (huber_decomposed_smooth_l1, "calls torch._decomp.decompositions.smooth_l1_loss"),
        (huber_zeros_without_device, "made without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_huber_loss_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_huber_loss(wrong)


def test_huber_loss_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_huber_loss(huber_on_cpu)
