"""Hidden checks for ch04_gradient_descent: grad_mse, gradient_descent, minibatch_sgd.

Each check compares the function under test with a float64 reference of its own. A student's
``gradient_descent`` and ``minibatch_sgd`` call their ``grad_mse``, as the instructions ask, so
that one has to pass its tests first. When a result is wrong, the check replays the typical
mistakes and names the one that matches.

The rules the instructions state, for all three functions: the gradient by hand, no autograd
(also under ``torch.enable_grad()``), and no tensor made without ``device=`` (caught on a
CPU-only grader too); ``grad_mse`` computes with torch, no NumPy; ``minibatch_sgd`` draws
exactly one ``randperm`` per epoch from the generator it is given.
"""

import torch

from autograder.checks._common import (
    call,
    devices,
    expect_close,
    expect_device_respected,
    expect_tensor,
    generator,
)

FLOAT32_TOL = {"rtol": 1e-4, "atol": 1e-5}
FLOAT64_TOL = {"rtol": 1e-9, "atol": 1e-11}


# ---------------------------------------------------------------------------------------------
# references (float64)


def _mse64(w, b, x, y) -> torch.Tensor:
    x, y = x.double(), y.double()
    return ((w * x + b - y) ** 2).mean()


def _grad64(w, b, x, y, scale=1.0, reduce="mean"):
    """The gradient of mean((w x + b - y)^2); ``scale``/``reduce`` replay typical mistakes."""
    x, y = x.double(), y.double()
    r = w * x + b - y
    if reduce == "sum":
        return scale * (2 * r * x).sum(), scale * (2 * r).sum()
    return scale * (2 * r * x).mean(), scale * (2 * r).mean()


# grad_mse computes "with tensor operations on x and y", no NumPy: a round trip through NumPy
# passes a CPU-only grader, as the device probe does not see torch.from_numpy.
NUMPY = ("torch.Tensor.numpy", "torch.from_numpy")


def _call(fn, *args, what, forbid=()):
    """The student's call with the rules of this chapter: by hand, and on x's device."""
    return call(fn, *args, what=what, by_hand=True, probe_device=True, forbid=forbid)


def _zero(x):
    return torch.zeros((), dtype=torch.float64, device=x.device)


def _gd64(x, y, lr, epochs, scale=1.0, reduce="mean", update_b=True, record="after"):
    w, b = _zero(x), _zero(x)
    losses = []
    for _ in range(epochs):
        before = _mse64(w, b, x, y).item()
        dw, db = _grad64(w, b, x, y, scale, reduce)
        w = w - lr * dw
        if update_b:
            b = b - lr * db
        losses.append(before if record == "before" else _mse64(w, b, x, y).item())
    return w, b, losses


def _sgd64(
    x,
    y,
    lr,
    epochs,
    batch_size,
    seed,
    drop_last=False,
    shuffle="epoch",
    same_perm=True,
    record="after",
    reduce="mean",
    scale=1.0,
):
    """minibatch_sgd in float64; the keywords replay typical mistakes."""
    g = torch.Generator().manual_seed(seed)
    n = len(x)
    w, b = _zero(x), _zero(x)
    losses = []
    perm = torch.randperm(n, generator=g) if shuffle == "once" else None
    for _ in range(epochs):
        if shuffle == "epoch":
            perm = torch.randperm(n, generator=g)
        elif shuffle == "none":
            perm = torch.arange(n)
        perm_y = perm if same_perm else torch.randperm(n, generator=g)
        perm, perm_y = perm.to(x.device), perm_y.to(x.device)
        before = _mse64(w, b, x, y).item()
        batch_losses = []
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            if drop_last and len(idx) < batch_size:
                break
            xb, yb = x[idx], y[perm_y[start : start + batch_size]]
            batch_losses.append(_mse64(w, b, xb, yb).item())
            dw, db = _grad64(w, b, xb, yb, scale, reduce)
            w, b = w - lr * dw, b - lr * db
        if record == "before":
            losses.append(before)
        elif record == "batch_mean":
            losses.append(sum(batch_losses) / len(batch_losses))
        else:
            losses.append(_mse64(w, b, x, y).item())
    return w, b, losses


# ---------------------------------------------------------------------------------------------
# helpers


def _close(a, b, tol) -> bool:
    a = torch.as_tensor(a).detach().double().cpu()
    b = torch.as_tensor(b).detach().double().cpu()
    return a.shape == b.shape and bool(torch.isfinite(a).all()) and torch.allclose(a, b, **tol)


def _matches(result, reference, tol) -> bool:
    w, b, losses = result
    w_ref, b_ref, losses_ref = reference
    return (
        _close(w, w_ref, tol)
        and _close(b, b_ref, tol)
        and _close(torch.tensor(losses, dtype=torch.float64), torch.tensor(losses_ref), tol)
    )


def _data(g, n, device, dtype=torch.float32):
    x = torch.randn(n, generator=g, dtype=torch.float64)
    y = 1.5 * x - 0.7 + 0.3 * torch.randn(n, generator=g, dtype=torch.float64)
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def _expect_unchanged(x, x_before, y, y_before, what):
    assert torch.equal(x, x_before) and torch.equal(y, y_before), (
        f"{what}: x or y was changed in place; leave the inputs alone (index them, x[idx], "
        "and compute new tensors instead of modifying them)"
    )


def _expect_parameters(result, x, what, n_losses):
    """(w, b, losses): two 0-dim tensors like x and a list of n_losses Python floats."""
    assert isinstance(result, tuple | list) and len(result) == 3, (
        f"{what}: return the tuple (w, b, losses), got {type(result).__name__}"
    )
    w, b, losses = result
    for name, value in (("w", w), ("b", b)):
        if not isinstance(value, torch.Tensor):
            raise AssertionError(
                f"{what}: {name} must be a 0-dim tensor, got {type(value).__name__}; start from "
                "torch.zeros((), dtype=x.dtype, device=x.device) rather than a Python number"
            )
        expect_tensor(value, x, f"{what}: {name}", shape=())
    if isinstance(losses, torch.Tensor):
        raise AssertionError(
            f"{what}: losses must be a Python list of floats (append loss.item()), not a tensor"
        )
    assert isinstance(losses, list), f"{what}: losses must be a list, got {type(losses).__name__}"
    assert len(losses) == n_losses, f"{what}: expected {n_losses} losses (one per epoch), got {len(losses)}"
    bad = [type(v).__name__ for v in losses if not isinstance(v, float)]
    assert not bad, f"{what}: losses must hold Python floats (use loss.item()), found {bad[0]}"


# ---------------------------------------------------------------------------------------------
# grad_mse

GRAD_MISTAKES = [
    (
        {"scale": -1.0},
        "the signs are flipped: the gradient of (wx + b - y)^2 is 2(wx + b - y)x, not 2(y - wx - b)x",
    ),
    (
        {"scale": 0.5},
        "the gradient is half the right size: the loss mean((wx + b - y)^2) has no 1/2 "
        "in front, so its derivative keeps the factor 2 of the power rule",
    ),
    ({"reduce": "sum"}, "the gradient is n times too large: average over the examples (mean), do not sum"),
    (
        {"reduce": "sum", "scale": 0.5},
        "the gradient is n/2 times too large: average over the examples (mean) and keep the factor 2",
    ),
]


def _diagnose_grad(dw, db, w, b, x, y, what, tol):
    dw_ref, db_ref = _grad64(w, b, x, y)
    if _close(dw, dw_ref, tol) and _close(db, db_ref, tol):
        return
    for kwargs, message in GRAD_MISTAKES:
        dw_bad, db_bad = _grad64(w, b, x, y, **kwargs)
        if _close(dw, dw_bad, tol) and _close(db, db_bad, tol):
            raise AssertionError(f"{what}: {message}")
    if _close(dw, dw_ref, tol):
        if _close(db, torch.zeros(()), tol):
            raise AssertionError(
                f"{what}: db is 0: the bias has a gradient too, "
                "d/db mean((wx + b - y)^2) = mean(2(wx + b - y))"
            )
        if _close(db, dw_ref, tol):
            raise AssertionError(
                f"{what}: db equals dw: since d y_hat/db = 1, db has no factor x, db = mean(2(wx + b - y))"
            )
        expect_close(db, db_ref, f"{what}: db", hint="db = mean(2(wx + b - y))", **tol)
    if _close(db, db_ref, tol):
        expect_close(
            dw,
            dw_ref,
            f"{what}: dw",
            hint="dw = mean(2(wx + b - y) * x): the chain rule brings in d y_hat/dw = x",
            **tol,
        )
    expect_close(dw, dw_ref, f"{what}: dw", hint="dw = mean(2(wx + b - y) * x)", **tol)
    expect_close(db, db_ref, f"{what}: db", hint="db = mean(2(wx + b - y))", **tol)


def _expect_pair(result, x, what):
    assert isinstance(result, tuple | list) and len(result) == 2, (
        f"{what}: return the pair (dw, db), got {type(result).__name__}"
    )
    for name, value in zip(("dw", "db"), result, strict=True):
        expect_tensor(value, x, f"{what}: {name}", shape=())


def check_grad_mse(grad_mse):
    for device in devices():
        g = generator(40)
        x, y = _data(g, 12, device)
        x_before, y_before = x.clone(), y.clone()
        what = f"grad_mse(0.4, 0.9, x, y) with 12 float32 examples on {device.type}"
        result = _call(grad_mse, 0.4, 0.9, x, y, what=what, forbid=NUMPY)
        _expect_unchanged(x, x_before, y, y_before, what)
        _expect_pair(result, x, what)
        _diagnose_grad(*result, 0.4, 0.9, x, y, what, FLOAT32_TOL)

        # 0-dim tensor parameters, float64, a non-contiguous x
        columns = torch.randn(7, 3, generator=g, dtype=torch.float64).to(device)
        x64 = columns[:, 1]  # a strided view
        y64 = 2.0 - 3.0 * x64 + 0.1 * torch.randn(7, generator=g, dtype=torch.float64).to(device)
        w = torch.tensor(-1.25, dtype=torch.float64, device=device)
        b = torch.tensor(0.5, dtype=torch.float64, device=device)
        what = f"grad_mse with 0-dim float64 tensors w, b and a non-contiguous x on {device.type}"
        result = _call(grad_mse, w, b, x64, y64, what=what, forbid=NUMPY)
        _expect_pair(result, x64, what)
        _diagnose_grad(*result, w, b, x64, y64, what, FLOAT64_TOL)

        # at the minimum of a noise-free line the gradient vanishes
        x3 = torch.tensor([1.0, 2.0, 3.0], device=device)
        result = _call(
            grad_mse, 2.0, 0.0, x3, 2 * x3, what="grad_mse at the minimum w = 2, b = 0", forbid=NUMPY
        )
        _expect_pair(result, x3, "grad_mse at the minimum w = 2, b = 0 of y = 2x")
        _diagnose_grad(*result, 2.0, 0.0, x3, 2 * x3, "grad_mse at the minimum of y = 2x", FLOAT32_TOL)


# ---------------------------------------------------------------------------------------------
# gradient_descent

GD_MISTAKES = [
    (
        {"scale": -1.0},
        "the loss grows: this is gradient ascent. Step against the gradient, "
        "w = w - lr * dw, b = b - lr * db",
    ),
    (
        {"scale": 0.5},
        "the steps are half the right size: the loss mean((wx + b - y)^2) has no 1/2, "
        "so its gradient keeps the factor 2",
    ),
    (
        {"reduce": "sum"},
        "the steps are n times too large: use the mean gradient over the examples, not the sum",
    ),
    ({"update_b": False}, "b never moves: update the bias too, b = b - lr * db"),
    (
        {"record": "before"},
        "the losses are recorded before each update: losses[k] must be the "
        "loss after the (k+1)-th update, so losses[-1] is the loss of the "
        "returned w, b",
    ),
]


def _diagnose_gd(result, x, y, lr, epochs, what, tol):
    reference = _gd64(x, y, lr, epochs)
    if _matches(result, reference, tol):
        return
    for kwargs, message in GD_MISTAKES:
        if _matches(result, _gd64(x, y, lr, epochs, **kwargs), tol):
            raise AssertionError(f"{what}: {message}")
    w, b, losses = result
    if _close(w, reference[0], tol) and _close(b, reference[1], tol):
        last = _mse64(w, b, x, y).item()
        assert abs(losses[-1] - last) <= 1e-4 * abs(last) + 1e-5, (
            f"{what}: w and b are right but losses[-1] = {losses[-1]:.6g} is not the loss "
            f"{last:.6g} of the returned w, b: record the loss after each update"
        )
        expect_close(
            torch.tensor(losses),
            torch.tensor(reference[2]),
            f"{what}: losses",
            hint="losses[k] = mean((w*x + b - y)**2) after update k + 1",
            **tol,
        )
    expect_close(
        w,
        reference[0],
        f"{what}: w",
        hint="start at w = b = 0 and make `epochs` updates w = w - lr * dw, "
        "b = b - lr * db with the full-batch gradient",
        **tol,
    )
    expect_close(b, reference[1], f"{what}: b", **tol)


def check_gradient_descent(gradient_descent):
    for device in devices():
        x, y = _data(generator(50), 12, device)
        x_before, y_before = x.clone(), y.clone()

        what = f"gradient_descent(x, y, lr=0.1, epochs=0) on {device.type}"
        result = _call(gradient_descent, x, y, 0.1, 0, what=what)
        _expect_parameters(result, x, what, 0)
        assert result[0].item() == 0 and result[1].item() == 0, (
            f"{what}: with no epochs w and b must stay at their start w = b = 0, "
            f"got w = {result[0].item():.4g}, b = {result[1].item():.4g}"
        )

        what = f"gradient_descent(x, y, lr=0.05, epochs=10) on 12 float32 examples on {device.type}"
        result = _call(gradient_descent, x, y, 0.05, 10, what=what)
        _expect_unchanged(x, x_before, y, y_before, what)
        _expect_parameters(result, x, what, 10)
        _diagnose_gd(result, x, y, 0.05, 10, what, FLOAT32_TOL)

        x64, y64 = _data(generator(51), 9, device, torch.float64)
        what = f"gradient_descent(x, y, lr=0.2, epochs=25) in float64 on {device.type}"
        result = _call(gradient_descent, x64, y64, 0.2, 25, what=what)
        _expect_parameters(result, x64, what, 25)
        _diagnose_gd(result, x64, y64, 0.2, 25, what, FLOAT64_TOL)


# ---------------------------------------------------------------------------------------------
# minibatch_sgd

SGD_MISTAKES = [
    (
        {"drop_last": True},
        "the last, partial minibatch was skipped: with n = {n} and batch_size = "
        "{bs} every epoch must also use the last {rest} examples; go through "
        "range(0, n, batch_size)",
    ),
    (
        {"shuffle": "none"},
        "the minibatches come in the same order every epoch: at the start of "
        "each epoch draw perm = torch.randperm(n, generator=generator) and index "
        "x and y with it",
    ),
    (
        {"shuffle": "once"},
        "the data are shuffled only once: draw a new permutation at the start of every epoch",
    ),
    (
        {"same_perm": False},
        "x and y were shuffled with different permutations, which breaks the "
        "pairs (x_i, y_i): draw one permutation per epoch and index both "
        "x and y with it",
    ),
    (
        {"record": "before"},
        "the losses are recorded at the start of each epoch: losses[k] must be "
        "the full-data loss after epoch k's updates",
    ),
    (
        {"record": "batch_mean"},
        "losses[k] is the average of the minibatch losses; it must be the "
        "loss on the whole dataset with w, b as they are after epoch k",
    ),
    ({"reduce": "sum"}, "the updates are too large: use the mean gradient over the minibatch, not the sum"),
    (
        {"scale": 0.5},
        "the steps are half the right size: the loss mean((wx + b - y)^2) has no "
        "1/2, so its gradient keeps the factor 2",
    ),
    ({"scale": -1.0}, "the loss grows: step against the gradient, w = w - lr * dw"),
]


def _state_after(seed, n, epochs):
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        torch.randperm(n, generator=g)
    return g.get_state()


def _run_sgd(minibatch_sgd, x, y, lr, epochs, batch_size, seed, tol, what):
    g = torch.Generator().manual_seed(seed)
    x_before, y_before = x.clone(), y.clone()
    result = call(minibatch_sgd, x, y, lr, epochs, batch_size, g, what=what, by_hand=True)
    _expect_unchanged(x, x_before, y, y_before, what)
    _expect_parameters(result, x, what, epochs)
    n = len(x)
    reference = _sgd64(x, y, lr, epochs, batch_size, seed)
    used_generator_right = torch.equal(g.get_state(), _state_after(seed, n, epochs))
    if _matches(result, reference, tol):
        assert used_generator_right, (
            f"{what}: call torch.randperm(n, generator=generator) exactly once per epoch and "
            "draw no other random numbers from the generator"
        )
        # The device probe only now: a run that ignores the generator fails it too, with a
        # message about device= that would hide the real mistake.
        generator_copy = torch.Generator().manual_seed(seed)
        expect_device_respected(minibatch_sgd, x.clone(), y.clone(), lr, epochs, batch_size,
                                generator_copy, what=what)
        return
    for kwargs, message in SGD_MISTAKES:
        if _matches(result, _sgd64(x, y, lr, epochs, batch_size, seed, **kwargs), tol):
            message = message.format(n=n, bs=batch_size, rest=n % batch_size)
            raise AssertionError(f"{what}: {message}")
    assert used_generator_right, (
        f"{what}: wrong values, and the generator was not used as specified: call "
        "torch.randperm(n, generator=generator) exactly once at the start of every epoch "
        "(on the CPU, then move the permutation to x.device)"
    )
    w, b, losses = result
    if _close(w, reference[0], tol) and _close(b, reference[1], tol):
        expect_close(
            torch.tensor(losses),
            torch.tensor(reference[2]),
            f"{what}: losses",
            hint="losses[k] = mean((w*x + b - y)**2) over all n examples after epoch k",
            **tol,
        )
    hint = (
        "start at w = b = 0; every epoch: perm = torch.randperm(n, generator=generator), then "
        "for each minibatch perm[i:i + batch_size] update w, b with its mean gradient"
    )
    expect_close(w, reference[0], f"{what}: w", hint=hint, **tol)
    expect_close(b, reference[1], f"{what}: b", hint=hint, **tol)


def check_minibatch_sgd(minibatch_sgd):
    for device in devices():
        x, y = _data(generator(60), 10, device)

        what = f"minibatch_sgd(x, y, lr=0.1, epochs=0, batch_size=4, generator) on {device.type}"
        g = torch.Generator().manual_seed(3)
        result = _call(minibatch_sgd, x, y, 0.1, 0, 4, g, what=what)
        _expect_parameters(result, x, what, 0)
        assert result[0].item() == 0 and result[1].item() == 0, (
            f"{what}: with no epochs w and b must stay at their start w = b = 0, "
            f"got w = {result[0].item():.4g}, b = {result[1].item():.4g}"
        )

        what = (
            f"minibatch_sgd(x, y, lr=0.05, epochs=3, batch_size=4, generator) on 10 float32 "
            f"examples on {device.type}"
        )
        _run_sgd(minibatch_sgd, x, y, 0.05, 3, 4, 7, FLOAT32_TOL, what)

        x64, y64 = _data(generator(61), 8, device, torch.float64)
        what = f"minibatch_sgd with batch_size=1 (one example per update) in float64 on {device.type}"
        _run_sgd(minibatch_sgd, x64, y64, 0.05, 2, 1, 8, FLOAT64_TOL, what)
        what = f"minibatch_sgd with batch_size=3 dividing n=12 in float64 on {device.type}"
        x12, y12 = _data(generator(62), 12, device, torch.float64)
        _run_sgd(minibatch_sgd, x12, y12, 0.1, 2, 3, 9, FLOAT64_TOL, what)
        what = f"minibatch_sgd with batch_size=20 larger than n=8 (full batch) on {device.type}"
        _run_sgd(minibatch_sgd, x64, y64, 0.1, 3, 20, 10, FLOAT64_TOL, what)
