"""The ch03 hidden checks pass the reference solutions and fail realistic mistakes."""

import pytest
import torch
import torch._refs.nn.functional
import torch.nn.functional as F
from torch import nn

from autograder.checks.ch03_linear_model import check_grid_search, check_mse
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py).
# check_grid_search never calls the student's mse, so only mse_hidden scores 0.
WRONG_SUBMISSION = {
    "mse": """def mse(w, b, x, y):
    y_hat = w * x + b
    return ((y_hat - y) ** 2).sum()
"""
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch03_linear_model")


def test_reference_passes(reference):
    check_mse(reference["mse"])
    check_grid_search(reference["grid_search"])


def not_implemented(*args):
    raise NotImplementedError()


# ---------------------------------------------------------------------------------------------
# mse


def mse_sum(w, b, x, y):
    return ((w * x + b - y) ** 2).sum()


def mse_half(w, b, x, y):
    return 0.5 * ((w * x + b - y) ** 2).mean()


def mse_rmse(w, b, x, y):
    return ((w * x + b - y) ** 2).mean().sqrt()


def mse_absolute(w, b, x, y):
    return (w * x + b - y).abs().mean()


def mse_no_square(w, b, x, y):
    return (w * x + b - y).mean()


def mse_no_bias(w, b, x, y):
    return ((w * x - y) ** 2).mean()


def mse_minus_bias(w, b, x, y):
    return ((w * x - b - y) ** 2).mean()


def mse_w_b_mixed_up(w, b, x, y):
    return ((w + b * x - y) ** 2).mean()


def mse_item(w, b, x, y):
    return ((w * x + b - y) ** 2).mean().item()


def mse_rebuilt_tensor(w, b, x, y):
    value = ((w * x + b - y) ** 2).mean()
    return torch.tensor(value.item(), dtype=x.dtype, device=x.device)


def mse_float32(w, b, x, y):
    return ((w * x + b - y) ** 2).float().mean()


def mse_python_loop(w, b, x, y):
    total = 0.0
    for xn, yn in zip(x, y, strict=True):
        total = total + (w * xn + b - yn) ** 2
    return total / len(x)


def mse_in_place(w, b, x, y):
    x.mul_(w).add_(b).sub_(y)
    return (x**2).mean()


def mse_keepdim(w, b, x, y):
    return ((w * x + b - y) ** 2).mean(dim=0, keepdim=True)


def mse_on_cpu(w, b, x, y):
    w, b = (v.cpu() if isinstance(v, torch.Tensor) else v for v in (w, b))
    return ((w * x.cpu() + b - y.cpu()) ** 2).mean()


def mse_functional(w, b, x, y):
    return F.mse_loss(w * x + b, y)


def mse_module(w, b, x, y):
    return nn.MSELoss()(w * x + b, y)


def mse_loop_cpu_total(w, b, x, y):
    """A loop that sums into torch.zeros(1): made without device=, it breaks on a GPU."""
    total = torch.zeros(1, dtype=x.dtype)
    for xn, yn in zip(x, y, strict=True):
        total += (w * xn + b - yn) ** 2
    return total[0] / len(x)


def test_mse_python_loop_passes():
    """A slow but correct per-example loop is accepted."""
    check_mse(mse_python_loop)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (mse_sum, "sum of the squared errors"),
        (mse_half, "half the mean squared error"),
        (mse_rmse, "RMSE"),
        (mse_absolute, "mean absolute error"),
        (mse_no_square, "forgot to square"),
        (mse_no_bias, "ignored the bias"),
        (mse_minus_bias, "subtracted the bias"),
        (mse_w_b_mixed_up, "mixed up w and b"),
        (mse_item, "Python number"),
        (mse_rebuilt_tensor, "detached"),
        (mse_float32, "dtype"),
        (mse_in_place, "in place"),
        (mse_keepdim, "shape"),
        (mse_functional, "calls torch.nn.functional.mse_loss.*which this exercise asks you"),
        (mse_module, "calls torch.nn.functional.mse_loss.*which this exercise asks you"),
        (mse_loop_cpu_total, "made without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_mse_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_mse(wrong)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda w, b, x, y: torch._C._nn.mse_loss(w * x + b, y, 1), "aten.mse_loss"),
        (lambda w, b, x, y: torch.ops.aten.mse_loss(w * x + b, y), "aten.mse_loss"),
        (lambda w, b, x, y: torch._refs.nn.functional.mse_loss(w * x + b, y),
         "torch._refs.nn.functional.mse_loss"),
    ],
    ids=["torch._C._nn", "torch.ops.aten", "torch._refs"],
)  # fmt: skip
def test_mse_calling_torch_by_other_names_fails(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}.*write yourself"):
        check_mse(cheat)


def mse_dot(w, b, x, y):
    r = w * x + b - y
    return torch.dot(r, r) / len(r)


def mse_norm(w, b, x, y):
    return torch.linalg.vector_norm(w * x + b - y) ** 2 / len(x)


@pytest.mark.parametrize("correct", [mse_dot, mse_norm])
def test_mse_building_blocks_pass(correct):
    check_mse(correct)


def test_mse_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_mse(mse_on_cpu)


# ---------------------------------------------------------------------------------------------
# grid_search


def _best(costs, ws, bs):
    k = costs.argmin()
    return ws[k // len(bs)], bs[k % len(bs)]


def _costs(x, y, ws, bs):
    return ((ws[:, None, None] * x + bs[None, :, None] - y) ** 2).mean(dim=-1)


def gs_double_loop(x, y, ws, bs):
    """Unvectorised but correct: one MSE per pair, in a tensor on x's device and dtype."""
    costs = torch.empty(len(ws), len(bs), dtype=x.dtype, device=x.device)
    for i, w in enumerate(ws):
        for j, b in enumerate(bs):
            costs[i, j] = ((w * x + b - y) ** 2).mean()
    return (*_best(costs, ws, bs), costs)


def gs_unravel_helper(x, y, ws, bs):
    costs = _costs(x, y, ws, bs)
    i, j = torch.unravel_index(costs.argmin(), costs.shape)
    return ws[i], bs[j], costs


def gs_transposed(x, y, ws, bs):
    costs = ((ws[None, :, None] * x + bs[:, None, None] - y) ** 2).mean(dim=-1)  # rows bs
    k = costs.argmin()
    return ws[k % len(ws)], bs[k // len(ws)], costs


def gs_unravel_by_len_ws(x, y, ws, bs):
    costs = _costs(x, y, ws, bs)
    k = costs.argmin()
    return ws[k // len(ws)], bs[k % len(ws)], costs


def gs_unravel_swapped(x, y, ws, bs):
    costs = _costs(x, y, ws, bs)
    k = costs.argmin()
    return ws[k % len(bs)], bs[k // len(bs)], costs


def gs_returns_b_then_w(x, y, ws, bs):
    costs = _costs(x, y, ws, bs)
    w_best, b_best = _best(costs, ws, bs)
    return b_best, w_best, costs


def gs_argmax(x, y, ws, bs):
    costs = _costs(x, y, ws, bs)
    k = costs.argmax()
    return ws[k // len(bs)], bs[k % len(bs)], costs


def gs_sum(x, y, ws, bs):
    costs = ((ws[:, None, None] * x + bs[None, :, None] - y) ** 2).sum(dim=-1)
    return (*_best(costs, ws, bs), costs)


def gs_absolute(x, y, ws, bs):
    costs = (ws[:, None, None] * x + bs[None, :, None] - y).abs().mean(dim=-1)
    return (*_best(costs, ws, bs), costs)


def gs_no_bias(x, y, ws, bs):
    costs = ((ws[:, None, None] * x + 0 * bs[None, :, None] - y) ** 2).mean(dim=-1)
    return (*_best(costs, ws, bs), costs)


def gs_items(x, y, ws, bs):
    costs = _costs(x, y, ws, bs)
    w_best, b_best = _best(costs, ws, bs)
    return w_best.item(), b_best.item(), costs


def gs_indices(x, y, ws, bs):
    costs = _costs(x, y, ws, bs)
    k = costs.argmin()
    return k // len(bs), k % len(bs), costs


def gs_loop_cpu_zeros(x, y, ws, bs):
    costs = torch.zeros(len(ws), len(bs))  # float32 on the CPU, whatever the inputs
    for i, w in enumerate(ws):
        for j, b in enumerate(bs):
            costs[i, j] = ((w * x + b - y) ** 2).mean()
    return (*_best(costs, ws.cpu(), bs.cpu()), costs)


def gs_squeezed(x, y, ws, bs):
    costs = _costs(x, y, ws, bs).squeeze()
    k = costs.argmin()
    return ws[k // len(bs)], bs[k % len(bs)], costs


def gs_assumes_sorted(x, y, ws, bs):
    """Assumes evenly spaced, sorted candidates and rebuilds w from the index."""
    costs = _costs(x, y, ws, bs)
    k = costs.argmin()
    i, j = k // len(bs), k % len(bs)
    step_w = (ws.max() - ws.min()) / (len(ws) - 1)
    return ws.min() + i * step_w, bs[j], costs


def gs_functional_mse(x, y, ws, bs):
    """Takes the costs from F.mse_loss: allowed, this exercise is the search."""
    predictions = ws[:, None, None] * x + bs[None, :, None]
    costs = F.mse_loss(predictions, y.expand_as(predictions), reduction="none").mean(dim=-1)
    return (*_best(costs, ws, bs), costs)


def gs_loop_zeros_without_device(x, y, ws, bs):
    """Right dtype, but torch.zeros without device=: on a GPU the costs stay on the CPU."""
    costs = torch.zeros(len(ws), len(bs), dtype=x.dtype)
    for i, w in enumerate(ws):
        for j, b in enumerate(bs):
            costs[i, j] = ((w * x + b - y) ** 2).mean()
    return (*_best(costs, ws, bs), costs)


def test_grid_search_double_loop_passes():
    """Thousands of pairs in a Python double loop: slow but correct, and accepted."""
    check_grid_search(gs_double_loop)


def test_grid_search_unravel_index_passes():
    check_grid_search(gs_unravel_helper)


def test_grid_search_with_torch_mse_passes():
    check_grid_search(gs_functional_mse)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (gs_transposed, "transposed"),
        (gs_unravel_by_len_ws, "wrong \\(row, column\\) pair"),
        (gs_unravel_swapped, "wrong \\(row, column\\) pair"),
        (gs_returns_b_then_w, "swapped"),
        (gs_argmax, "highest cost"),
        (gs_sum, "sum of the squared errors"),
        (gs_absolute, "mean absolute error"),
        (gs_no_bias, "ignored the bias"),
        (gs_items, "Python number"),
        (gs_indices, "is an index"),
        (gs_squeezed, "shape"),
        (gs_assumes_sorted, "any order"),
        (gs_loop_zeros_without_device, "made without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_grid_search_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_grid_search(wrong)


def test_grid_search_cpu_loop_fails_on_float64():
    """torch.zeros(len(ws), len(bs)) hard-codes float32 (and the CPU)."""
    with pytest.raises(AssertionError, match="dtype|device"):
        check_grid_search(gs_loop_cpu_zeros)


def test_grid_search_cpu_round_trip_fails_on_gpu(cuda_device):
    def gs_on_cpu(x, y, ws, bs):
        return gs_unravel_helper(x.cpu(), y.cpu(), ws.cpu(), bs.cpu())

    with pytest.raises(AssertionError, match="device"):
        check_grid_search(gs_on_cpu)


def test_grid_search_in_place_fails():
    def gs_modifies_y(x, y, ws, bs):
        result = gs_unravel_helper(x, y, ws, bs)
        y += 1.0
        return result

    with pytest.raises(AssertionError, match="in place"):
        check_grid_search(gs_modifies_y)
