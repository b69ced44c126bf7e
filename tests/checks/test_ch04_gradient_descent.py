"""The ch04 hidden checks pass the reference solutions and fail realistic mistakes."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from autograder.checks.ch04_gradient_descent import (
    check_grad_mse,
    check_gradient_descent,
    check_minibatch_sgd,
)
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# minibatch_sgd that drops the last, partial minibatch. The mistake is local to this function, so
# only minibatch_sgd_hidden scores 0.
WRONG_SUBMISSION = {
    "minibatch_sgd": """def minibatch_sgd(x, y, lr, epochs, batch_size, generator):
    n = len(x)
    w = torch.zeros((), dtype=x.dtype, device=x.device)
    b = torch.zeros((), dtype=x.dtype, device=x.device)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator).to(x.device)
        for i in range(n // batch_size):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            dw, db = grad_mse(w, b, x[idx], y[idx])
            w = w - lr * dw
            b = b - lr * db
        losses.append(((w * x + b - y) ** 2).mean().item())
    return w, b, losses
"""
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch04_gradient_descent")


def test_reference_passes(reference):
    check_grad_mse(reference["grad_mse"])
    check_gradient_descent(reference["gradient_descent"])
    check_minibatch_sgd(reference["minibatch_sgd"])


def test_wrong_submission_fails_only_its_own_check(reference):
    namespace = dict(reference)
    exec(WRONG_SUBMISSION["minibatch_sgd"], namespace)
    with pytest.raises(AssertionError, match="last, partial minibatch"):
        check_minibatch_sgd(namespace["minibatch_sgd"])
    check_grad_mse(namespace["grad_mse"])
    check_gradient_descent(namespace["gradient_descent"])


def not_implemented(*args):
    raise NotImplementedError()


# ---------------------------------------------------------------------------------------------
# grad_mse


def grad_sign_flipped(w, b, x, y):
    r = y - (w * x + b)
    return (2 * r * x).mean(), (2 * r).mean()


def grad_without_factor_2(w, b, x, y):
    r = w * x + b - y
    return (r * x).mean(), r.mean()


def grad_sum(w, b, x, y):
    r = w * x + b - y
    return (2 * r * x).sum(), (2 * r).sum()


def grad_db_zero(w, b, x, y):
    r = w * x + b - y
    return (2 * r * x).mean(), torch.zeros((), dtype=x.dtype, device=x.device)


def grad_db_with_x(w, b, x, y):
    r = w * x + b - y
    return (2 * r * x).mean(), (2 * r * x).mean()


def grad_dw_without_x(w, b, x, y):
    r = w * x + b - y
    return (2 * r).mean(), (2 * r).mean()


def grad_autograd(w, b, x, y):
    w = torch.tensor(float(w), dtype=x.dtype, device=x.device, requires_grad=True)
    b = torch.tensor(float(b), dtype=x.dtype, device=x.device, requires_grad=True)
    dw, db = torch.autograd.grad(((w * x + b - y) ** 2).mean(), [w, b])
    return dw, db


def grad_autograd_under_enable_grad(w, b, x, y):
    """backward() inside torch.enable_grad(), which turns a caller's torch.no_grad() off."""
    with torch.enable_grad():
        params = torch.tensor([float(w), float(b)], dtype=x.dtype, device=x.device, requires_grad=True)
        ((params[0] * x + params[1] - y) ** 2).mean().backward()
    return params.grad[0], params.grad[1]


def grad_ones_without_device(w, b, x, y):
    """d y_hat/db = 1 written as torch.ones(n) without device=: it breaks on a GPU."""
    r = w * x + b - y
    return (2 * r * x).mean(), (2 * r * torch.ones(len(x), dtype=x.dtype)).mean()


def grad_python_floats(w, b, x, y):
    r = w * x + b - y
    return (2 * r * x).mean().item(), (2 * r).mean().item()


def grad_float32(w, b, x, y):
    r = w * x + b - y
    return (
        torch.tensor((2 * r * x).mean().item(), device=x.device),
        torch.tensor((2 * r).mean().item(), device=x.device),
    )


def grad_in_place(w, b, x, y):
    x.mul_(w).add_(b)  # overwrites x with the predictions
    r = x - y
    x.sub_(b).div_(w)  # tries to undo it, with rounding errors
    return (2 * r * x).mean(), (2 * r).mean()


def grad_on_cpu(w, b, x, y):
    x, y = x.cpu(), y.cpu()
    r = w.cpu() * x + b.cpu() - y if isinstance(w, torch.Tensor) else w * x + b - y
    return (2 * r * x).mean(), (2 * r).mean()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (grad_sign_flipped, "signs are flipped"),
        (grad_without_factor_2, "half the right size"),
        (grad_sum, "mean"),
        (grad_db_zero, "db is 0"),
        (grad_db_with_x, "no factor x"),
        (grad_dw_without_x, "d y_hat/dw = x"),
        (grad_autograd, "calls torch.autograd.grad; this exercise computes the gradient by hand"),
        (grad_autograd_under_enable_grad, "by hand"),
        (grad_ones_without_device, "made without device="),
        (grad_python_floats, "expected a torch.Tensor"),
        (grad_float32, "dtype"),
        (grad_in_place, "in place"),
        (not_implemented, "not implemented"),
    ],
)
def test_grad_mse_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_grad_mse(wrong)


def grad_from_python_numbers(w, b, x, y):
    """Right values, rebuilt with torch.tensor(number, dtype=...) but without device=."""
    dw, db = _grad(w, b, x, y)
    return torch.tensor(dw.item(), dtype=x.dtype), torch.tensor(db.item(), dtype=x.dtype)


def grad_through_numpy(w, b, x, y):
    """Right values, computed in NumPy: on the CPU whatever x's device."""
    xn, yn = x.numpy(), y.numpy()
    r = float(w) * xn + float(b) - yn
    return torch.from_numpy((2 * r * xn).mean()[None])[0], torch.from_numpy((2 * r).mean()[None])[0]


def grad_scripted_autograd(w, b, x, y):
    """torch.autograd.grad inside a TorchScript function."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated

        @torch.jit.script
        def scripted(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
            w, b = w.detach().requires_grad_(), b.detach().requires_grad_()
            grads = torch.autograd.grad([((w * x + b - y) ** 2).mean()], [w, b])
            dw, db = grads[0], grads[1]
            assert dw is not None and db is not None
            return dw.detach(), db.detach()

    w, b = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (w, b))
    with torch.enable_grad():
        return scripted(w, b, x, y)


@pytest.mark.parametrize(
    ("cheat", "message"),
    [
        (grad_from_python_numbers, "returned a tensor made without device="),
        (grad_through_numpy, "calls torch.Tensor.numpy, torch.from_numpy"),
        (grad_scripted_autograd, "used autograd"),
    ],
)
def test_grad_mse_cheats_fail(cheat, message):
    with pytest.raises(AssertionError, match=message):
        check_grad_mse(cheat)


def test_grad_mse_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_grad_mse(grad_on_cpu)


# ---------------------------------------------------------------------------------------------
# gradient_descent: self-contained wrong versions (the check never calls grad_mse)


def _grad(w, b, x, y):
    r = w * x + b - y
    return (2 * r * x).mean(), (2 * r).mean()


def _loss(w, b, x, y):
    return ((w * x + b - y) ** 2).mean().item()


def _zeros(x):
    return torch.zeros((), dtype=x.dtype, device=x.device), torch.zeros((), dtype=x.dtype, device=x.device)


def gd_ascent(x, y, lr, epochs):
    w, b = _zeros(x)
    losses = []
    for _ in range(epochs):
        dw, db = _grad(w, b, x, y)
        w, b = w + lr * dw, b + lr * db
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def gd_half_gradient(x, y, lr, epochs):
    w, b = _zeros(x)
    losses = []
    for _ in range(epochs):
        r = w * x + b - y
        w, b = w - lr * (r * x).mean(), b - lr * r.mean()
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def gd_sum_gradient(x, y, lr, epochs):
    w, b = _zeros(x)
    losses = []
    for _ in range(epochs):
        r = w * x + b - y
        w, b = w - lr * (2 * r * x).sum(), b - lr * (2 * r).sum()
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def gd_b_frozen(x, y, lr, epochs):
    w, b = _zeros(x)
    losses = []
    for _ in range(epochs):
        dw, _ = _grad(w, b, x, y)
        w = w - lr * dw
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def gd_loss_before_update(x, y, lr, epochs):
    w, b = _zeros(x)
    losses = []
    for _ in range(epochs):
        losses.append(_loss(w, b, x, y))
        dw, db = _grad(w, b, x, y)
        w, b = w - lr * dw, b - lr * db
    return w, b, losses


def gd_random_start(x, y, lr, epochs):
    g = torch.Generator().manual_seed(0)
    w = torch.randn((), generator=g).to(device=x.device, dtype=x.dtype)
    b = torch.randn((), generator=g).to(device=x.device, dtype=x.dtype)
    losses = []
    for _ in range(epochs):
        dw, db = _grad(w, b, x, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def gd_python_float_start(x, y, lr, epochs):
    w = b = 0.0
    losses = []
    for _ in range(epochs):
        dw, db = _grad(w, b, x, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def gd_sequential_update(x, y, lr, epochs):
    """Updates w first, then computes db at the new w."""
    w, b = _zeros(x)
    losses = []
    for _ in range(epochs):
        dw, _ = _grad(w, b, x, y)
        w = w - lr * dw
        _, db = _grad(w, b, x, y)
        b = b - lr * db
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def gd_tensor_losses(x, y, lr, epochs):
    w, b = _zeros(x)
    losses = []
    for _ in range(epochs):
        dw, db = _grad(w, b, x, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(((w * x + b - y) ** 2).mean())
    return w, b, torch.stack(losses) if losses else torch.empty(0, device=x.device)


def gd_one_epoch_too_many(x, y, lr, epochs):
    w, b = _zeros(x)
    losses = []
    for _ in range(epochs + 1):
        dw, db = _grad(w, b, x, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(_loss(w, b, x, y))
    return w, b, losses[:epochs]


def gd_on_cpu(x, y, lr, epochs):
    w, b, losses = gd_loss_after(x.cpu(), y.cpu(), lr, epochs)
    return w, b, losses


def gd_loss_after(x, y, lr, epochs):
    w, b = _zeros(x)
    losses = []
    for _ in range(epochs):
        dw, db = _grad(w, b, x, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def gd_autograd(x, y, lr, epochs):
    """The concise way of section 4.10 instead of the exercise: autograd and torch.optim.SGD."""
    w = torch.zeros((), dtype=x.dtype, device=x.device, requires_grad=True)
    b = torch.zeros((), dtype=x.dtype, device=x.device, requires_grad=True)
    optimizer = torch.optim.SGD([w, b], lr=lr)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        F.mse_loss(w * x + b, y).backward()
        optimizer.step()
        losses.append(_loss(w.detach(), b.detach(), x, y))
    return w.detach(), b.detach(), losses


def gd_zeros_without_device(x, y, lr, epochs):
    """Starts from torch.zeros((), dtype=x.dtype): on a GPU, w and b stay on the CPU for 0 epochs."""
    w, b = torch.zeros((), dtype=x.dtype), torch.zeros((), dtype=x.dtype)
    losses = []
    for _ in range(epochs):
        dw, db = _grad(w, b, x, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def gd_tensor_number_start(x, y, lr, epochs):
    """Starts from torch.tensor(0.0) without device=: with 0 epochs it returns that CPU tensor."""
    w, b = torch.tensor(0.0, dtype=x.dtype), torch.tensor(0.0, dtype=x.dtype)
    losses = []
    for _ in range(epochs):
        dw, db = _grad(w, b, x, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def gd_in_python_floats(x, y, lr, epochs):
    """Iterates on Python floats and wraps the result with torch.tensor(w, dtype=...) only."""
    w = b = 0.0
    losses = []
    for _ in range(epochs):
        dw, db = (g.item() for g in _grad(w, b, x, y))
        w, b = w - lr * dw, b - lr * db
        losses.append(_loss(w, b, x, y))
    return torch.tensor(w, dtype=x.dtype), torch.tensor(b, dtype=x.dtype), losses


def gd_in_python_floats_placed(x, y, lr, epochs):
    """The same, with device=x.device: correct."""
    w, b, losses = gd_in_python_floats(x, y, lr, epochs)
    return w.to(x.device), b.to(x.device), losses


def test_self_contained_gd_passes():
    check_gradient_descent(gd_loss_after)
    check_gradient_descent(gd_in_python_floats_placed)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (gd_ascent, "gradient ascent"),
        (gd_half_gradient, "half the right size"),
        (gd_sum_gradient, "n times too large"),
        (gd_b_frozen, "b never moves"),
        (gd_loss_before_update, "recorded before each update"),
        (gd_random_start, "start w = b = 0"),
        (gd_python_float_start, "0-dim tensor"),
        (gd_sequential_update, "wrong values"),
        (gd_tensor_losses, "list of floats"),
        (gd_one_epoch_too_many, "with no epochs"),
        (gd_autograd, "by hand"),
        (gd_zeros_without_device, "made without device="),
        (gd_tensor_number_start, "returned a tensor made without device="),
        (gd_in_python_floats, "returned a tensor made without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_gradient_descent_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_gradient_descent(wrong)


def test_gradient_descent_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_gradient_descent(gd_on_cpu)


# ---------------------------------------------------------------------------------------------
# minibatch_sgd


def make_sgd(
    *,
    drop_last=False,
    shuffle="epoch",
    same_perm=True,
    record="after",
    reduce="mean",
    start=0.0,
    use_generator=True,
    perm_device="cpu",
    result_device=None,
    start_on_x_device=True,
):
    """A minibatch_sgd with one typical mistake switched on by a keyword."""

    def minibatch_sgd(x, y, lr, epochs, batch_size, generator):
        n = len(x)
        start_device = x.device if start_on_x_device else None
        w = torch.full((), start, dtype=x.dtype, device=start_device)
        b = torch.full((), start, dtype=x.dtype, device=start_device)
        losses = []
        g = generator if use_generator else None
        perm = torch.randperm(n, generator=g) if shuffle == "once" else None
        for _ in range(epochs):
            if shuffle == "epoch":
                if perm_device == "x":
                    perm = torch.randperm(n, generator=g, device=x.device)
                else:
                    perm = torch.randperm(n, generator=g)
            elif shuffle == "none":
                perm = torch.arange(n)
            perm_y = perm if same_perm else torch.randperm(n, generator=g)
            perm, perm_y = perm.to(x.device), perm_y.to(x.device)
            batch_losses = []
            before = _loss(w, b, x, y)
            for start_i in range(0, n, batch_size):
                idx = perm[start_i : start_i + batch_size]
                if drop_last and len(idx) < batch_size:
                    break
                xb, yb = x[idx], y[perm_y[start_i : start_i + batch_size]]
                r = w * xb + b - yb
                batch_losses.append((r**2).mean().item())
                if reduce == "sum":
                    dw, db = (2 * r * xb).sum(), (2 * r).sum()
                else:
                    dw, db = (2 * r * xb).mean(), (2 * r).mean()
                w, b = w - lr * dw, b - lr * db
            if record == "before":
                losses.append(before)
            elif record == "batch_mean":
                losses.append(sum(batch_losses) / len(batch_losses))
            else:
                losses.append(_loss(w, b, x, y))
        if result_device is not None:
            w, b = w.to(result_device), b.to(result_device)
        return w, b, losses

    return minibatch_sgd


def sgd_extra_draw(x, y, lr, epochs, batch_size, generator):
    """Correct, but draws one permutation too many at the end."""
    result = make_sgd()(x, y, lr, epochs, batch_size, generator)
    torch.randperm(len(x), generator=generator)
    return result


def sgd_autograd(x, y, lr, epochs, batch_size, generator):
    """Follows the procedure, but with autograd and torch.optim.SGD instead of the gradient by hand."""
    w = torch.zeros((), dtype=x.dtype, device=x.device, requires_grad=True)
    b = torch.zeros((), dtype=x.dtype, device=x.device, requires_grad=True)
    optimizer = torch.optim.SGD([w, b], lr=lr)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=generator).to(x.device)
        for idx in perm.split(batch_size):
            optimizer.zero_grad()
            F.mse_loss(w * x[idx] + b, y[idx]).backward()
            optimizer.step()
        losses.append(_loss(w.detach(), b.detach(), x, y))
    return w.detach(), b.detach(), losses


def sgd_in_place_shuffle(x, y, lr, epochs, batch_size, generator):
    """Shuffles x and y in place with the same permutation, then trains in order."""
    n = len(x)
    w, b = _zeros(x)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator).to(x.device)
        x[:], y[:] = x[perm].clone(), y[perm].clone()
        for start_i in range(0, n, batch_size):
            xb, yb = x[start_i : start_i + batch_size], y[start_i : start_i + batch_size]
            dw, db = _grad(w, b, xb, yb)
            w, b = w - lr * dw, b - lr * db
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def sgd_variant(x, y, lr, epochs, batch_size, generator):
    """Correct in another style: x.new_zeros, a CPU permutation indexing x (fine on a GPU too),
    perm.split, and the losses from F.mse_loss."""
    w, b = x.new_zeros(()), x.new_zeros(())
    losses = []
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(batch_size):
            r = w * x[idx] + b - y[idx]
            w, b = w - lr * (2 * r * x[idx]).mean(), b - lr * (2 * r).mean()
        losses.append(F.mse_loss(w * x + b, y).item())
    return w, b, losses


def sgd_tensor_number_start(x, y, lr, epochs, batch_size, generator):
    """Correct updates from w = torch.tensor(0.0, dtype=x.dtype), without device=."""
    w = b = torch.tensor(0.0, dtype=x.dtype)
    losses = []
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).to(x.device).split(batch_size):
            dw, db = _grad(w, b, x[idx], y[idx])
            w, b = w - lr * dw, b - lr * db
        losses.append(_loss(w, b, x, y))
    return w, b, losses


def test_self_contained_sgd_passes():
    check_minibatch_sgd(make_sgd())


def test_sgd_in_another_style_passes():
    check_minibatch_sgd(sgd_variant)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (make_sgd(drop_last=True), "last, partial minibatch was skipped"),
        (make_sgd(shuffle="none"), "same order every epoch"),
        (make_sgd(shuffle="once"), "shuffled only once"),
        (make_sgd(same_perm=False), "different permutations"),
        (make_sgd(record="before"), "recorded at the start of each epoch"),
        (make_sgd(record="batch_mean"), "average of the minibatch losses"),
        (make_sgd(reduce="sum"), "not the sum"),
        (make_sgd(start=0.5), "start w = b = 0"),
        (make_sgd(use_generator=False), "generator was not used"),
        (sgd_extra_draw, "exactly once per epoch"),
        (sgd_in_place_shuffle, "changed in place"),
        (sgd_autograd, "by hand"),
        (make_sgd(start_on_x_device=False), "made without device="),
        (sgd_tensor_number_start, "returned a tensor made without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_minibatch_sgd_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_minibatch_sgd(wrong)


def test_minibatch_sgd_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_minibatch_sgd(make_sgd(result_device="cpu"))


def test_minibatch_sgd_randperm_on_gpu_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="Generator|generator|device"):
        check_minibatch_sgd(make_sgd(perm_device="x"))
