"""The ch05 hidden checks pass the reference solutions and fail realistic mistakes."""

import itertools

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
    """The course's helper does the exercise (it computes in float64: cast back)."""
    from dlcourse.gradcheck import finite_difference_grad

    return finite_difference_grad(f, x, h).to(x.dtype)


def ng_torch_numerical_jacobian(f, x, h=1e-5):
    """torch's own finite differences, from its gradient checker."""
    from torch.autograd.gradcheck import get_numerical_jacobian

    with torch.no_grad():
        xw = _work_copy(x).requires_grad_()
        scalar = lambda inputs: torch.as_tensor(f(inputs[0]), dtype=x.dtype, device=x.device).reshape(1)  # noqa: E731
        (jacobian,) = get_numerical_jacobian(scalar, (xw,), eps=h)
    return jacobian.reshape(x.shape)


def ng_autograd_under_enable_grad(f, x, h=1e-5):
    """autograd's gradient instead of finite differences; enable_grad() undoes the caller's no_grad()."""
    with torch.enable_grad():
        xw = x.detach().clone().requires_grad_()
        (grad,) = torch.autograd.grad(f(xw), xw)
    return grad


def ng_output_lost_in_reshape(f, x, h=1e-5):
    """zeros_like(x) keeps a transposed x's strides: grad.reshape(-1) is a copy, and the values
    written into it never reach grad, although f sees every perturbation."""
    with torch.no_grad():
        xw = _work_copy(x)
        grad = torch.zeros_like(x)
        flat, gflat = xw.view(-1), grad.reshape(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            up = float(f(xw))
            flat[i] = old - h
            down = float(f(xw))
            flat[i] = old
            gflat[i] = (up - down) / (2 * h)
    return grad


def ng_result_without_device(f, x, h=1e-5):
    """torch.zeros(x.shape, dtype=x.dtype) forgets device=: on the CPU whatever x's device."""
    with torch.no_grad():
        xw = _work_copy(x)
        grad = torch.zeros(x.shape, dtype=x.dtype)
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


def ng_stack_of_numbers(f, x, h=1e-5):
    """Stacks torch.tensor(number, dtype=x.dtype) made without device=: on the CPU whatever x's
    device."""
    values = []
    with torch.no_grad():
        xw = _work_copy(x)
        for i in range(xw.numel()):
            e = torch.zeros_like(xw)
            e.view(-1)[i] = h
            difference = (float(f(xw + e)) - float(f(xw - e))) / (2 * h)
            values.append(torch.tensor(difference, dtype=x.dtype))
    return torch.stack(values).reshape(x.shape)


def ng_through_numpy(f, x, h=1e-5):
    """The differences gathered in a NumPy array: on the CPU whatever x's device."""
    values = ng_from_a_list(f, x, h).cpu().numpy()
    return torch.from_numpy(values.copy())


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
        (ng_reshape_copy, "never saw the perturbation"),
        (ng_output_lost_in_reshape, "written into a copy"),
        (ng_float32_result, "dtype|made without device="),
        (ng_flat_result, "shaped like x"),
        (ng_builds_graph, "autograd graph"),
        (ng_ignores_h, "h argument"),
        (ng_all_at_once, "one entry at a time"),
        (ng_tensor_only, "Python float"),
        (ng_library, "calls dlcourse.gradcheck.finite_difference_grad"),
        (ng_torch_numerical_jacobian, "calls torch.autograd.gradcheck.get_numerical_jacobian"),
        (ng_autograd_under_enable_grad, "without autograd"),
        (ng_result_without_device, "made without device="),
        (ng_stack_of_numbers, "returned a tensor made without device="),
        (ng_through_numpy, "calls torch.Tensor.numpy, torch.from_numpy"),
        (not_implemented, "not implemented"),
    ],
)
@pytest.mark.filterwarnings("ignore:`get_numerical_jacobian`:FutureWarning")
def test_numerical_grad_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_numerical_grad(wrong)


def ng_in_place_restoring(f, x, h=1e-5):
    """Perturbs x itself, entry by entry, and writes the saved value back: allowed."""
    grad = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for idx in itertools.product(*(range(size) for size in x.shape)):
            original = x[idx].item()
            x[idx] = original + h
            up = float(f(x))
            x[idx] = original - h
            down = float(f(x))
            x[idx] = original
            grad[idx] = (up - down) / (2 * h)
    return grad


def ng_from_a_list(f, x, h=1e-5):
    """Collects the differences in a list and makes the tensor at the end, on x's device."""
    values = []
    with torch.no_grad():
        xw = _work_copy(x)
        flat = xw.view(-1)
        for i in range(flat.numel()):
            e = torch.zeros_like(xw)
            e.view(-1)[i] = h
            values.append((float(f(xw + e)) - float(f(xw - e))) / (2 * h))
    return torch.tensor(values, dtype=x.dtype, device=x.device).reshape(x.shape)


@pytest.mark.parametrize("correct", [ng_in_place_restoring, ng_from_a_list])
def test_numerical_grad_correct_variants_pass(correct):
    check_numerical_grad(correct)


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


def tl_autograd_under_enable_grad(X, y, W1, b1, W2, b2):
    """enable_grad() undoes the caller's no_grad(): autograd runs although the exercise forbids it."""
    with torch.enable_grad():
        return tl_autograd_grad(X, y, W1, b1, W2, b2)


def tl_sums_without_device(X, y, W1, b1, W2, b2):
    """Sums over the batch as 1^T dZ, with a row of ones made without device=."""
    Z = X @ W1 + b1
    H = torch.relu(Z)
    R = H @ W2 + b2 - y
    ones = torch.ones(1, len(X), dtype=X.dtype)
    dY = 2 * R / R.numel()
    dZ = (dY @ W2.T) * (Z > 0).to(X.dtype)
    grads = {"W1": X.T @ dZ, "b1": (ones @ dZ)[0], "W2": H.T @ dY, "b2": (ones @ dY)[0]}
    return (R**2).mean(), grads


def tl_sums_on_device(X, y, W1, b1, W2, b2):
    """The same with the ones on X's device, the mask by torch.where and scalars from torch.tensor."""
    Z = X @ W1 + b1
    H = torch.where(Z > 0, Z, torch.zeros_like(Z))
    R = H @ W2 + b2 - y
    ones = torch.ones(1, len(X), dtype=X.dtype, device=X.device)
    dY = torch.tensor(2.0) * R / R.numel()
    dZ = torch.where(Z > 0, dY @ W2.T, torch.zeros_like(Z))
    grads = {"W1": X.T @ dZ, "b1": (ones @ dZ)[0], "W2": H.T @ dY, "b2": (ones @ dY)[0]}
    return (R**2).mean(), grads


def test_two_layer_backward_correct_variant_passes():
    check_two_layer_backward(tl_sums_on_device)


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
        (tl_autograd_under_enable_grad, "by hand, without autograd"),
        (tl_sums_without_device, "made without device="),
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
