"""The ch05 hidden checks pass the reference solutions and fail realistic mistakes."""

import pytest
import torch

from autograder.checks.ch05_backprop import check_numerical_grad, check_two_layer_backward
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# the backward pass forgets the ReLU's derivative.
WRONG_SUBMISSION = {
    "two_layer_backward": """def two_layer_backward(X, y, W1, b1, W2, b2):
    Z = X @ W1 + b1
    H = torch.relu(Z)
    Y_hat = H @ W2 + b2
    R = Y_hat - y
    loss = (R**2).mean()
    dY_hat = 2 * R / R.numel()
    dW2 = H.T @ dY_hat
    db2 = dY_hat.sum(dim=0)
    dZ = dY_hat @ W2.T
    dW1 = X.T @ dZ
    db1 = dZ.sum(dim=0)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
"""
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch05_backprop")


def test_reference_passes(reference):
    check_numerical_grad(reference["numerical_grad"])
    check_two_layer_backward(reference["two_layer_backward"])


def test_wrong_submission_fails_its_check():
    namespace = {"torch": torch}
    exec(WRONG_SUBMISSION["two_layer_backward"], namespace)
    with pytest.raises(AssertionError, match="ReLU"):
        check_two_layer_backward(namespace["two_layer_backward"])


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


# ---------------------------------------------------------------------------------------------
# numerical_grad: wrong versions


def _work_copy(x):
    return x.detach().clone(memory_format=torch.contiguous_format)


def ng_forward_difference(f, x, h=1e-5):
    with torch.no_grad():
        xw = _work_copy(x)
        grad = torch.zeros_like(xw)
        flat, gflat = xw.view(-1), grad.view(-1)
        base = float(f(xw))
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            gflat[i] = (float(f(xw)) - base) / h
            flat[i] = old
    return grad


def ng_divide_by_h(f, x, h=1e-5):
    with torch.no_grad():
        xw = _work_copy(x)
        grad = torch.zeros_like(xw)
        flat, gflat = xw.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            up = float(f(xw))
            flat[i] = old - h
            down = float(f(xw))
            flat[i] = old
            gflat[i] = (up - down) / h
    return grad


def ng_leaves_x_modified(f, x, h=1e-5):
    """Perturbs x in place and never restores it."""
    grad = torch.zeros_like(x)
    with torch.no_grad():
        flat, gflat = x.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            flat[i] += h
            up = float(f(x))
            flat[i] -= 2 * h
            down = float(f(x))
            gflat[i] = (up - down) / (2 * h)
    return grad


def ng_restores_by_arithmetic(f, x, h=1e-5):
    """Restores x with x[i] += h after x[i] -= 2h: rounding errors remain."""
    grad = torch.zeros_like(x)
    with torch.no_grad():
        flat, gflat = x.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            flat[i] += h
            up = float(f(x))
            flat[i] -= 2 * h
            down = float(f(x))
            flat[i] += h
            gflat[i] = (up - down) / (2 * h)
    return grad


def ng_loops_over_rows(f, x, h=1e-5):
    """for i in range(len(x)): perturbs whole rows of a 2-D x."""
    with torch.no_grad():
        x = x.detach()
        grad = torch.zeros_like(x)
        for i in range(len(x)):
            up, down = x.clone(), x.clone()
            up[i] += h
            down[i] -= h
            grad[i] = (float(f(up)) - float(f(down))) / (2 * h)
    return grad


def ng_reshape_copy(f, x, h=1e-5):
    """x.reshape(-1) is a copy for a non-contiguous x: f never sees the perturbation."""
    with torch.no_grad():
        xw = x.detach().clone()  # keeps x's strides: a transposed x stays non-contiguous
        grad = torch.zeros(xw.shape, dtype=xw.dtype, device=xw.device)
        flat, gflat = xw.reshape(-1), grad.view(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            up = float(f(xw))
            flat[i] = old - h
            down = float(f(xw))
            flat[i] = old
            gflat[i] = (up - down) / (2 * h)
    return grad


def ng_float32_result(f, x, h=1e-5):
    """torch.zeros(x.shape): float32 on the CPU whatever x is."""
    with torch.no_grad():
        xw = _work_copy(x)
        grad = torch.zeros(x.shape)
        flat, gflat = xw.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            up = float(f(xw))
            flat[i] = old - h
            down = float(f(xw))
            flat[i] = old
            gflat[i] = (up - down) / (2 * h)
    return grad


def ng_flat_result(f, x, h=1e-5):
    with torch.no_grad():
        xw = _work_copy(x)
        flat = xw.view(-1)
        grad = torch.zeros_like(flat)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            up = float(f(xw))
            flat[i] = old - h
            down = float(f(xw))
            flat[i] = old
            grad[i] = (up - down) / (2 * h)
    return grad


def ng_builds_graph(f, x, h=1e-5):
    """No torch.no_grad(), tensor arithmetic: the result hangs on to autograd graphs."""
    grad = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
    for i in range(x.numel()):
        e = torch.zeros_like(grad)
        e.view(-1)[i] = 1
        grad.view(-1)[i] = (f(x + h * e) - f(x - h * e)) / (2 * h)
    return grad


def ng_ignores_h(f, x, h=1e-5):
    return ng_reference_like(f, x, 1e-5)


def ng_reference_like(f, x, h):
    with torch.no_grad():
        xw = _work_copy(x)
        grad = torch.zeros_like(xw)
        flat, gflat = xw.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            up = float(f(xw))
            flat[i] = old - h
            down = float(f(xw))
            flat[i] = old
            gflat[i] = (up - down) / (2 * h)
    return grad


def ng_all_at_once(f, x, h=1e-5):
    """x + h perturbs every entry at once."""
    with torch.no_grad():
        x = x.detach()
        value = (float(f(x + h)) - float(f(x - h))) / (2 * h)
    return torch.full_like(x, value)


def ng_tensor_only(f, x, h=1e-5):
    """Assumes f returns a tensor (calls .item()): fails for a Python float."""
    with torch.no_grad():
        xw = _work_copy(x)
        grad = torch.zeros_like(xw)
        flat, gflat = xw.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            up = f(xw).item()
            flat[i] = old - h
            down = f(xw).item()
            flat[i] = old
            gflat[i] = (up - down) / (2 * h)
    return grad


def ng_library(f, x, h=1e-5):
    """dlcourse.gradcheck.finite_difference_grad always returns float64."""
    from dlcourse.gradcheck import finite_difference_grad

    return finite_difference_grad(f, x, h)


def ng_on_cpu(f, x, h=1e-5):
    return ng_reference_like(lambda t: f(t.to(x.device)), x.cpu(), h)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (ng_forward_difference, "forward difference"),
        (ng_divide_by_h, "divide by 2h"),
        (ng_leaves_x_modified, "changed x"),
        (ng_restores_by_arithmetic, "rounding error"),
        (ng_loops_over_rows, "one entry at a time"),
        (ng_reshape_copy, "non-contiguous"),
        (ng_float32_result, "dtype"),
        (ng_flat_result, "shaped like x"),
        (ng_builds_graph, "autograd graph"),
        (ng_ignores_h, "h argument"),
        (ng_all_at_once, "one entry at a time"),
        (ng_tensor_only, "Python float"),
        (ng_library, "transposed|dtype"),
        (not_implemented, "not implemented"),
    ],
)
def test_numerical_grad_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_numerical_grad(wrong)


def test_numerical_grad_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_numerical_grad(ng_on_cpu)


# ---------------------------------------------------------------------------------------------
# two_layer_backward: wrong versions


def make_two_layer(
    *, mask="Z", scale="mean", b_reduce="sum", transpose=False, w2_input="H", sign=1, cpu=False
):
    """A by-hand backward pass with one typical mistake switched on."""

    def two_layer_backward(X, y, W1, b1, W2, b2):
        device = X.device
        if cpu:
            X, y, W1, b1, W2, b2 = (t.cpu() for t in (X, y, W1, b1, W2, b2))
        Z = X @ W1 + b1
        H = torch.relu(Z)
        R = H @ W2 + b2 - y
        loss = (R**2).mean()
        n, k = y.shape
        dY = {"mean": 2 * R / (n * k), "half": R / (n * k), "over_n": 2 * R / n}[scale] * sign
        dW2 = (H if w2_input == "H" else Z).T @ dY
        dH = dY @ W2.T
        dZ = {"Z": dH * (Z > 0).to(dH.dtype), "none": dH, "H": dH * H, "Z_value": dH * Z}[mask]
        dW1 = X.T @ dZ
        if b_reduce == "sum":
            db1, db2 = dZ.sum(dim=0), dY.sum(dim=0)
        elif b_reduce == "mean":
            db1, db2 = dZ.mean(dim=0), dY.mean(dim=0)
        else:  # not reduced over the batch
            db1, db2 = dZ, dY
        if transpose:
            dW1, dW2 = dZ.T @ X, dY.T @ H
        grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
        if cpu:
            return loss, grads
        return loss.to(device), grads

    return two_layer_backward


def tl_autograd(X, y, W1, b1, W2, b2):
    params = [p.clone().requires_grad_() for p in (W1, b1, W2, b2)]
    loss = ((torch.relu(X @ params[0] + params[1]) @ params[2] + params[3] - y) ** 2).mean()
    loss.backward()
    return loss.detach(), dict(zip(("W1", "b1", "W2", "b2"), (p.grad for p in params), strict=True))


def tl_autograd_grad(X, y, W1, b1, W2, b2):
    params = [p.clone().requires_grad_() for p in (W1, b1, W2, b2)]
    loss = ((torch.relu(X @ params[0] + params[1]) @ params[2] + params[3] - y) ** 2).mean()
    grads = torch.autograd.grad(loss, params)
    return loss.detach(), dict(zip(("W1", "b1", "W2", "b2"), grads, strict=True))


def tl_loss_as_float(X, y, W1, b1, W2, b2):
    loss, grads = make_two_layer()(X, y, W1, b1, W2, b2)
    return loss.item(), grads


def tl_loss_over_n(X, y, W1, b1, W2, b2):
    loss, grads = make_two_layer()(X, y, W1, b1, W2, b2)
    return loss * y.shape[1], grads


def tl_in_place(X, y, W1, b1, W2, b2):
    loss, grads = make_two_layer()(X, y, W1, b1, W2, b2)
    W1 -= 0.0 * W1 + 1e-3  # an "update" of the caller's tensor
    return loss, grads


def tl_keys_lowercase(X, y, W1, b1, W2, b2):
    loss, grads = make_two_layer()(X, y, W1, b1, W2, b2)
    return loss, {key.lower(): g for key, g in grads.items()}


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (make_two_layer(mask="none"), "ReLU's derivative is missing"),
        (make_two_layer(mask="H"), "not by the\\s+activation H"),
        (make_two_layer(mask="Z_value"), "else 0\\), not by Z"),
        (make_two_layer(scale="half"), "factor 2"),
        (make_two_layer(scale="over_n"), "n\\*k"),
        (make_two_layer(b_reduce="none"), "sum its gradient over the batch"),
        (make_two_layer(b_reduce="mean"), "sum over the batch"),
        (make_two_layer(transpose=True), "transposes are swapped"),
        (make_two_layer(w2_input="Z"), "relu\\(Z\\), not Z"),
        (make_two_layer(sign=-1), "sign is flipped"),
        (tl_autograd, "by hand"),
        (tl_autograd_grad, "by hand"),
        (tl_loss_as_float, "0-dim tensor"),
        (tl_loss_over_n, "mean over all n\\*k"),
        (tl_in_place, "changed its inputs"),
        (tl_keys_lowercase, "missing the keys"),
        (not_implemented, "not implemented"),
    ],
)
def test_two_layer_backward_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_two_layer_backward(wrong)


def test_two_layer_backward_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_two_layer_backward(make_two_layer(cpu=True))
