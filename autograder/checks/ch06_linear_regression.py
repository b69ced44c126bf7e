"""Hidden checks for ch06_linear_regression: closed_form, data_iter, huber_loss."""

import torch
import torch.nn.functional as F
from torch.utils._device import _device_constructors
from torch.utils._pytree import tree_leaves

from autograder.checks._common import (
    UnplacedOnMeta,
    call,
    devices,
    expect_close,
    expect_device_respected,
    expect_tensor,
    generator,
)

NORMAL_EQUATIONS_HINT = (
    "Append a column of ones to X for the bias, A = [X, 1] of shape (n, d + 1), and solve the normal "
    "equations (A^T A) theta = A^T y, e.g. with torch.linalg.lstsq(A, y); A^T A is (d + 1) x (d + 1), "
    "not n x n. Then w = theta[:-1] and b = theta[-1]."
)


# --------------------------------------------------------------------------------------------
# closed_form
# --------------------------------------------------------------------------------------------


# closed_form computes with torch on X's device, no NumPy: a NumPy round trip (np.linalg.lstsq)
# passes a CPU-only grader, as the device probe does not see torch.from_numpy.
NUMPY = ("torch.Tensor.numpy", "torch.from_numpy")


def _call_with_hint(fn, *args, what: str, hint: str, forbid=()):
    """Like ``call``, but a crash (not a missing implementation) also gets ``hint``."""
    try:
        return call(fn, *args, what=what, forbid=forbid)
    except AssertionError as err:
        if "not implemented" in str(err):
            raise
        raise AssertionError(f"{err}. {hint}") from None


def _lstsq64(A, y):
    """Least-squares solution in float64 on the CPU (the reference)."""
    return torch.linalg.lstsq(A.double().cpu(), y.reshape(-1, 1).double().cpu()).solution.reshape(-1)


def _reference_closed_form(X, y):
    ones = torch.ones(len(X), 1, dtype=X.dtype, device=X.device)
    theta = _lstsq64(torch.cat([X, ones], dim=1), y)
    return theta[:-1], theta[-1]


def _check_closed_form_case(closed_form, X, y, what, rtol, atol):
    X_before, y_before = X.clone(), y.clone()
    result = _call_with_hint(closed_form, X, y, what=what, hint=NORMAL_EQUATIONS_HINT,
                             forbid=NUMPY)
    assert isinstance(result, tuple | list) and len(result) == 2, (
        f"{what}: return the pair (w, b), got {type(result).__name__}"
    )
    w, b = result
    d = X.shape[1]
    assert isinstance(w, torch.Tensor), f"{what}: w must be a tensor, got {type(w).__name__}"
    if w.numel() == d + 1:
        raise AssertionError(
            f"{what}: w has {d + 1} entries for {d} features. Its last entry is the bias: return it "
            "separately, w = theta[:-1] (shape (d,)) and b = theta[-1] (a 0-dim tensor)"
        )
    if w.shape == (d, 1):
        raise AssertionError(
            f"{what}: w has shape ({d}, 1); return it with shape ({d},), even when y has shape "
            "(n, 1) (reshape(-1))"
        )
    expect_tensor(w, X, f"{what}: w", shape=(d,))
    assert isinstance(b, torch.Tensor), (
        f"{what}: b must be a 0-dim tensor (theta[-1]), got {type(b).__name__}"
    )
    expect_tensor(b, X, f"{what}: b", shape=())
    assert torch.equal(X, X_before) and torch.equal(y, y_before), (
        f"{what}: closed_form changed X or y in place; build the augmented matrix as a new tensor "
        "(torch.cat) instead"
    )
    w_ref, b_ref = _reference_closed_form(X, y)
    w_no_bias = _lstsq64(X, y)
    if torch.allclose(w.detach().double().cpu(), w_no_bias, rtol=rtol, atol=atol) and not torch.allclose(
        w_no_bias, w_ref, rtol=rtol, atol=atol
    ):
        raise AssertionError(
            f"{what}: w is the least-squares fit of a line through the origin, without a bias. "
            "Append a column of ones to X so that the bias is fitted together with w."
        )
    expect_close(w, w_ref, f"{what}: w", hint=NORMAL_EQUATIONS_HINT, rtol=rtol, atol=atol)
    expect_close(b, b_ref, f"{what}: b", hint=NORMAL_EQUATIONS_HINT, rtol=rtol, atol=atol)
    expect_device_respected(closed_form, X.clone(), y.clone(), what=what)


def check_closed_form(closed_form):
    for device in devices():
        g = generator(60)
        X = torch.randn(100, 2, generator=g)
        y = (X @ torch.tensor([2.0, -3.4]) + 4.2 + 0.01 * torch.randn(100, generator=g)).reshape(-1, 1)
        _check_closed_form_case(
            closed_form,
            X.to(device),
            y.to(device),
            "closed_form on 100 float32 examples with 2 features, y of shape (100, 1)",
            rtol=1e-4,
            atol=1e-4,
        )

        X64 = torch.randn(40, 4, generator=g, dtype=torch.float64)
        y64 = X64 @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64) - 1.5
        y64 = y64 + 0.3 * torch.randn(40, generator=g, dtype=torch.float64)
        _check_closed_form_case(
            closed_form,
            X64.to(device),
            y64.to(device),
            "closed_form on 40 float64 examples with 4 features, y of shape (40,)",
            rtol=1e-8,
            atol=1e-10,
        )

        x_toy = torch.tensor([[1.0], [2.0], [3.0]], device=device)
        y_toy = torch.tensor([[2.0], [4.0], [6.0]], device=device)
        _check_closed_form_case(
            closed_form,
            x_toy,
            y_toy,
            "closed_form on x = [1, 2, 3], y = [2, 4, 6] (w = 2, b = 0)",
            rtol=1e-4,
            atol=1e-4,
        )

        Xt = torch.randn(3, 30, generator=g, dtype=torch.float64).to(device).T  # non-contiguous
        yt = torch.randn(30, generator=g, dtype=torch.float64).to(device)
        _check_closed_form_case(
            closed_form,
            Xt,
            yt,
            "closed_form on a transposed (non-contiguous) X of shape (30, 3)",
            rtol=1e-8,
            atol=1e-10,
        )


# --------------------------------------------------------------------------------------------
# data_iter
# --------------------------------------------------------------------------------------------

REPLACEMENT_HINT = (
    "sample without replacement: draw one permutation per epoch, "
    "indices = torch.randperm(len(X), generator=generator), and cut it into consecutive batches"
)


class _IndicesMayStayOnCpu(UnplacedOnMeta):
    """``UnplacedOnMeta``, except that integer tensors made without ``device=`` stay on the CPU:
    an index tensor on the CPU (D2L's ``torch.tensor(indices[i:j])``) indexes a GPU tensor fine."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = super().__torch_function__(func, types, args, kwargs)
        if (
            func in _device_constructors()
            and isinstance(out, torch.Tensor)
            and out.device.type == "meta"
            and not (out.is_floating_point() or out.is_complex())
        ):
            return func(*args, **(kwargs or {}))
        return out


def _expect_batches_on_device(data_iter, batch_size, X, y, seed, what):
    """The batches stay on X's device when tensors made without ``device=`` land elsewhere. (The
    shared ``expect_device_respected`` iterates a generator after its probe has ended.)"""
    hint = (
        "the batches must be X's and y's rows (X[idx], y[idx]), on X's device: a tensor made without "
        "device= (torch.zeros, torch.empty, torch.stack of new rows ...) lands on the CPU when X is "
        "on a GPU"
    )
    try:
        with _IndicesMayStayOnCpu():
            batches = list(data_iter(batch_size, X.clone(), y.clone(), torch.Generator().manual_seed(seed)))
    except Exception as err:
        raise AssertionError(
            f"{what}: {hint} (with the default device changed, it raised {type(err).__name__}: "
            f"{str(err)[:200]})"
        ) from None
    if any(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in tree_leaves(batches)):
        raise AssertionError(f"{what}: {hint} (a batch landed on another device)")


def _numbered_data(n, device, y_column):
    """Example i has features (i, -i, i / 2) and label 10 i + 1: every row says who it is."""
    ids = torch.arange(n, dtype=torch.float64)
    X = torch.stack([ids, -ids, ids / 2], dim=1).to(device)
    y = (10 * ids + 1).to(device)
    return X, (y.reshape(-1, 1) if y_column else y)


def _epoch(data_iter, batch_size, X, y, gen, what):
    """One epoch of the student's iterator as a list of (X_batch, y_batch), checked batch by batch."""
    batches = call(data_iter, batch_size, X, y, gen, what=what)
    assert not isinstance(batches, torch.Tensor) and hasattr(batches, "__iter__"), (
        f"{what}: data_iter must yield the batches one by one (a for loop with `yield X[idx], y[idx]`), "
        f"got {type(batches).__name__}"
    )
    batches = call(list, batches, what=f"{what}, while iterating")
    ids = []
    for k, batch in enumerate(batches):
        assert isinstance(batch, tuple | list) and len(batch) == 2, (
            f"{what}: each item must be a pair (X_batch, y_batch), got {type(batch).__name__}"
        )
        Xb, yb = batch
        assert isinstance(Xb, torch.Tensor) and isinstance(yb, torch.Tensor), (
            f"{what}: X_batch and y_batch must be tensors"
        )
        expect_tensor(Xb, X, f"{what}: X_batch number {k}", shape=(len(Xb), *X.shape[1:]))
        expect_tensor(yb, y, f"{what}: y_batch number {k}", shape=(len(Xb), *y.shape[1:]))
        ids_X = Xb[:, 0].round().long().cpu()
        ids_y = ((yb.reshape(-1) - 1) / 10).round().long().cpu()
        assert torch.equal(ids_X, ids_y), (
            f"{what}: X_batch and y_batch do not belong together (a feature row is paired with "
            "another example's label). Shuffle X and y with the same permutation: index both with "
            "the same indices"
        )
        ids.append(ids_X)
    return [len(i) for i in ids], (torch.cat(ids) if ids else torch.empty(0, dtype=torch.long))


def _check_epoch(data_iter, n, batch_size, device, y_column, seed):
    X, y = _numbered_data(n, device, y_column)
    X_before, y_before = X.clone(), y.clone()
    what = f"data_iter(batch_size={batch_size}) over {n} examples"
    gen = torch.Generator().manual_seed(seed)
    reference = torch.Generator().manual_seed(seed)
    for epoch in (1, 2):  # the same generator twice: two epochs, two different orders
        sizes, seen = _epoch(data_iter, batch_size, X, y, gen, f"{what}, epoch {epoch}")
        expected_order = torch.randperm(n, generator=reference)
        assert torch.equal(X, X_before) and torch.equal(y, y_before), (
            f"{what}: data_iter changed X or y in place; index them (X[idx]) instead of shuffling them"
        )
        if len(seen.unique()) < len(seen):
            raise AssertionError(
                f"{what}: some examples appear more than once in one epoch (and others never); "
                + REPLACEMENT_HINT
            )
        rest = n % batch_size
        if len(seen) < n:
            if rest and len(seen) == n - rest and all(s == batch_size for s in sizes):
                raise AssertionError(
                    f"{what}: the last partial batch is missing. {n} examples in batches of "
                    f"{batch_size} end with a batch of {rest}; keep it (for i in range(0, n, batch_size): "
                    "indices[i:i + batch_size])"
                )
            raise AssertionError(
                f"{what}: only {len(seen)} of the {n} examples were yielded; every example must "
                "appear exactly once per epoch"
            )
        expected_sizes = [batch_size] * (n // batch_size) + ([rest] if rest else [])
        assert sizes == expected_sizes, (
            f"{what}: batch sizes {sizes}, expected {expected_sizes}: every batch has batch_size "
            "examples, except a smaller last one when batch_size does not divide n (and no empty batch)"
        )
        if torch.equal(seen, torch.arange(n)):
            raise AssertionError(
                f"{what}: the examples come in their original order; shuffle them with "
                "torch.randperm(len(X), generator=generator)"
            )
        assert torch.equal(seen, expected_order), (
            f"{what}: the examples are shuffled, but not in the order of "
            "torch.randperm(len(X), generator=generator): draw exactly that permutation, once per "
            "epoch, with the generator that is passed in (so that runs are reproducible)"
        )
    _expect_batches_on_device(data_iter, batch_size, X, y, seed, what)


def check_data_iter(data_iter):
    for device in devices():
        _check_epoch(data_iter, n=23, batch_size=5, device=device, y_column=True, seed=62)
        _check_epoch(data_iter, n=20, batch_size=5, device=device, y_column=False, seed=63)
        _check_epoch(data_iter, n=7, batch_size=10, device=device, y_column=True, seed=64)
        _check_epoch(data_iter, n=9, batch_size=1, device=device, y_column=False, seed=65)


# --------------------------------------------------------------------------------------------
# huber_loss
# --------------------------------------------------------------------------------------------


# PyTorch's Huber loss under every name that reaches it: the functions and modules, their Python
# references in torch._refs/_decomp, and the aten operators (torch._C._nn, torch.ops, TorchScript).
# Smooth L1 times delta is the Huber loss too.
HUBER_BUILTINS = (
    "torch.nn.functional.huber_loss", "torch.nn.functional.smooth_l1_loss",
    "torch.nn.HuberLoss.forward", "torch.nn.SmoothL1Loss.forward",
    "torch._refs.nn.functional.huber_loss", "torch._refs.nn.functional.smooth_l1_loss",
    "torch._decomp.decompositions.smooth_l1_loss",
    "aten.huber_loss", "aten.smooth_l1_loss",
)  # fmt: skip


def _matches_instead(loss, wrong, expected):
    """``loss`` equals the value of a typical mistake that differs from the right value here."""
    return torch.allclose(loss, wrong, rtol=1e-4) and not torch.allclose(wrong, expected, rtol=1e-4)


def _huber_case(huber_loss, y_hat, y, delta, what, hint, rtol=1e-5, atol=1e-6):
    y_hat_before, y_before = y_hat.clone(), y.clone()
    rules = {"what": what, "forbid": HUBER_BUILTINS, "probe_device": True}
    if delta is None:
        loss = call(huber_loss, y_hat, y, **rules)
        delta = 1.0
    else:
        loss = call(huber_loss, y_hat, y, delta=delta, **rules)
    expect_tensor(loss, y_hat, what, shape=())
    assert torch.equal(y_hat, y_hat_before) and torch.equal(y, y_before), (
        f"{what}: huber_loss changed its inputs in place; compute on new tensors"
    )
    expected = F.huber_loss(y_hat, y, delta=delta)
    r = (y_hat - y).abs()
    if torch.allclose(loss, expected * r.numel(), rtol=1e-4):
        raise AssertionError(f"{what}: returned the sum over all elements; return the mean")
    no_half = torch.where(r <= delta, r**2, delta * (r - delta / 2)).mean()
    if _matches_instead(loss, no_half, expected):
        raise AssertionError(
            f"{what}: the quadratic part is missing its 1/2: for |y_hat - y| <= delta the loss is "
            "0.5 * (y_hat - y)**2"
        )
    no_shift = torch.where(r <= delta, r**2 / 2, delta * r).mean()
    if _matches_instead(loss, no_shift, expected):
        raise AssertionError(
            f"{what}: the linear part is missing its - delta / 2: for |y_hat - y| > delta the loss is "
            "delta * (|y_hat - y| - delta / 2), which meets 0.5 * r**2 at |r| = delta"
        )
    expect_close(loss, expected, what, hint=hint, rtol=rtol, atol=atol)
    return loss


def check_huber_loss(huber_loss):
    for device in devices():
        g = generator(66)
        y = torch.randn(40, generator=g).to(device)
        r_small = (torch.rand(40, generator=g) * 1.8 - 0.9).to(device)  # |r| < 0.9
        _huber_case(
            huber_loss,
            y + r_small,
            y,
            None,
            "huber_loss (default delta=1) with every |y_hat - y| < 1, the quadratic region",
            hint="There the loss is 0.5 * (y_hat - y)**2: check that the two branches are not swapped.",
        )
        sign = torch.where(torch.rand(40, generator=g) < 0.5, -1.0, 1.0)
        r_large = (sign * (1.5 + 2.5 * torch.rand(40, generator=g))).to(device)  # 1.5 < |r| < 4
        _huber_case(
            huber_loss,
            y + r_large,
            y,
            None,
            "huber_loss (default delta=1) with every |y_hat - y| > 1, the linear region",
            hint="There the loss is delta * (|y_hat - y| - delta / 2): check that the two branches are "
            "not swapped.",
        )
        y_hat = (2 * torch.randn(8, 5, generator=g)).to(device)
        y2 = torch.randn(8, 5, generator=g).to(device)
        _huber_case(
            huber_loss,
            y_hat,
            y2,
            1.0,
            "huber_loss of an (8, 5) batch with delta=1.0",
            hint="Average over all elements of the batch.",
        )
        for delta in (0.5, 2.0):
            _huber_case(
                huber_loss,
                y_hat,
                y2,
                delta,
                f"huber_loss of an (8, 5) batch with delta={delta}",
                hint="Use the delta argument in the threshold and in the linear part; don't hard-code 1.",
            )

        y_hat64 = (2 * torch.randn(6, 3, generator=g, dtype=torch.float64)).to(device).requires_grad_()
        y64 = torch.randn(6, 3, generator=g, dtype=torch.float64).to(device)
        what = "huber_loss in float64 with delta=1.5"
        loss64 = _huber_case(huber_loss, y_hat64, y64, 1.5, what, hint="", rtol=1e-10, atol=1e-12)
        assert loss64.requires_grad, (
            f"{what}: the result is detached from the graph; keep it differentiable "
            "(no .item(), .detach() or torch.tensor(...) on the way)"
        )
        (grad,) = torch.autograd.grad(loss64, y_hat64)
        (expected_grad,) = torch.autograd.grad(F.huber_loss(y_hat64, y64, delta=1.5), y_hat64)
        expect_close(
            grad,
            expected_grad,
            f"gradient of {what}",
            rtol=1e-8,
            atol=1e-10,
            hint="The derivative is y_hat - y where |y_hat - y| <= delta and delta * sign(y_hat - y) "
            "elsewhere.",
        )
