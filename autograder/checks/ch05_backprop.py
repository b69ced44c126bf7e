"""Hidden checks for ch05_backprop: numerical_grad, two_layer_backward.

When a result is wrong, the checks replay the typical mistakes with a float64 reference and name
the one that matches, so the feedback says what to fix.
"""

import torch

from autograder.checks._common import call, devices, expect_close, expect_tensor, generator

F64 = torch.float64
CENTRAL_HINT = "Entry i must be (f(x + h e_i) - f(x - h e_i)) / (2h), with the h you are given."
# Ready-made numerical gradients, which numerical_grad must not call: the course's helper and
# torch's gradient checker (its public functions and the private ones that do the work).
GRADIENT_CHECKERS = (
    "dlcourse.gradcheck.finite_difference_grad", "dlcourse.gradcheck.check_gradient",
    "torch.autograd.gradcheck.gradcheck", "torch.autograd.gradcheck.gradgradcheck",
    "torch.autograd.gradcheck.get_numerical_jacobian",
    "torch.autograd.gradcheck.get_numerical_jacobian_wrt_specific_input",
    "torch.autograd.gradcheck._get_numerical_jacobian",
    "torch.autograd.gradcheck._compute_numerical_gradient",
)  # fmt: skip
# "Use only torch": a NumPy round trip would pass a CPU-only grader (the device probe does not
# see torch.from_numpy).
NUMPY = ("torch.Tensor.numpy", "torch.from_numpy")


# ---------------------------------------------------------------------------------------------
# numerical_grad


def _watched(f, x, name):
    """``f``, asserting that numerical_grad calls it with tensors shaped like x, and recording in
    ``.saw_perturbation`` whether it was ever called with values other than x's."""
    original = x.detach().clone()

    def watched(t):
        assert isinstance(t, torch.Tensor) and t.shape == original.shape, (
            f"{name}: numerical_grad called f with "
            f"{'shape ' + str(tuple(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__}"
            f" instead of a tensor shaped like x {tuple(original.shape)}; f must receive a perturbed "
            "copy of x"
        )
        if t.device == original.device and not torch.equal(t.detach().to(original.dtype), original):
            watched.saw_perturbation = True
        return f(t)

    watched.saw_perturbation = False
    return watched


def _zero_cause(saw_perturbation):
    """Why a gradient came out all zeros: f never saw a perturbed x, or the values were written
    into a copy of the result. Both happen through .reshape(-1) of a non-contiguous tensor."""
    if not saw_perturbation:
        return (
            "f was only ever called with x's own values, so it never saw the perturbation. For a "
            "non-contiguous x (e.g. a transposed matrix) x.reshape(-1) or x.flatten() is a copy, and "
            "changing it does not change x: perturb a contiguous copy "
            "(x.detach().clone(memory_format=torch.contiguous_format)) and pass that to f"
        )
    return (
        "f did see the perturbed x, but the differences never reached the tensor you return: they "
        "were written into a copy. torch.zeros_like(x) of a non-contiguous x (e.g. a transposed "
        "matrix) keeps x's strides, and its .reshape(-1) or .flatten() is a copy. Make the result "
        "contiguous (torch.zeros(x.shape, dtype=x.dtype, device=x.device)) and write into its "
        ".view(-1)"
    )


def _diagnose_numerical(result, x, expected, alternatives, what, tol, saw_perturbation):
    """Name the mistake when ``result`` is wrong: ``alternatives`` maps hints to wrong results."""
    result = result.detach().to(F64)
    expected = expected.to(F64)
    if torch.allclose(result, expected, **tol):
        return
    if not torch.isfinite(result).all():
        raise AssertionError(f"{what}: the result contains inf or nan. {CENTRAL_HINT}")
    if expected.abs().max() > 0 and result.abs().max() == 0:
        raise AssertionError(f"{what}: every entry is 0. {_zero_cause(saw_perturbation)}")
    for hint, wrong in alternatives.items():
        if torch.allclose(result, wrong.to(F64), **tol):
            raise AssertionError(f"{what}: {hint}")
    if x.dim() >= 1 and x.numel() > 1:
        rows = expected.reshape(x.shape[0], -1).sum(dim=1)
        per_row = rows.reshape((-1,) + (1,) * (x.dim() - 1)).expand(x.shape)
        if torch.allclose(result, per_row, **tol):
            raise AssertionError(
                f"{what}: each entry holds the sum over a whole row: x[i] += h perturbs a row of a "
                "2-D x. Perturb one entry at a time: loop over x.numel() entries of a flat view"
            )
        if torch.allclose(result, expected.sum().expand(x.shape), **tol):
            raise AssertionError(
                f"{what}: every entry holds the sum of all partial derivatives: x + h perturbs all "
                "entries at once. Perturb one entry at a time (x + h e_i)"
            )
    expect_close(result, expected, what, hint=CENTRAL_HINT, **tol)


def _expect_unchanged(x, before, what):
    if torch.equal(x, before):
        return
    gap = (x.detach().to(F64) - before.to(F64)).abs().max().item()
    if gap < 1e-9 * max(1.0, before.abs().max().item()):
        raise AssertionError(
            f"{what}: numerical_grad changed x by a rounding error ({gap:.1e}): x[i] += h and a "
            "later x[i] -= h do not always give back the original. Save the original value and "
            "write it back, or perturb a copy of x"
        )
    raise AssertionError(
        f"{what}: numerical_grad changed x (largest change {gap:.1e}). x must be unchanged when it "
        "returns: restore each entry after perturbing it, or perturb a copy (x.detach().clone())"
    )


def _central(f, x, h):
    """The reference: the central-difference formula, entry by entry, in x's dtype."""
    with torch.no_grad():
        x_work = x.detach().clone(memory_format=torch.contiguous_format)
        grad = torch.zeros_like(x_work, dtype=F64)
        flat, grad_flat = x_work.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            original = flat[i].item()
            flat[i] = original + h
            up = float(f(x_work))
            flat[i] = original - h
            down = float(f(x_work))
            flat[i] = original
            grad_flat[i] = (up - down) / (2 * h)
    return grad


def _one_sided(f, x, h):
    with torch.no_grad():
        x_work = x.detach().clone(memory_format=torch.contiguous_format)
        grad = torch.zeros_like(x_work, dtype=F64)
        flat, grad_flat = x_work.view(-1), grad.view(-1)
        base = float(f(x_work))
        for i in range(flat.numel()):
            original = flat[i].item()
            flat[i] = original + h
            grad_flat[i] = (float(f(x_work)) - base) / h
            flat[i] = original
    return grad


def _mistakes(f, x, h, expected):
    return {
        "this is the forward difference (f(x + h e_i) - f(x)) / h; use the central difference "
        "(f(x + h e_i) - f(x - h e_i)) / (2h), whose error is O(h^2) instead of O(h)": _one_sided(f, x, h),
        "the result is twice the central difference: divide by 2h, not by h": 2 * expected,
        "the result is half the central difference: divide f(x + h e_i) - f(x - h e_i) by 2h": expected / 2,
        "the sign is flipped: compute f(x + h e_i) - f(x - h e_i), in this order": -expected,
        "the result matches h = 1e-5, not the h passed in: use the h argument": _central(f, x, 1e-5),
    }


def _check_numerical_case(numerical_grad, f, x, h, what, tol, exact=None):
    """Run one case: shape/dtype/device, x unchanged, no graph, values right."""
    before = x.detach().clone()
    watched = _watched(f, x, what)
    kwargs = {} if h is None else {"h": h}
    h = 1e-5 if h is None else h
    result = call(
        numerical_grad,
        watched,
        x,
        what=what,
        forbid=GRADIENT_CHECKERS + NUMPY,
        by_hand=True,
        probe_device=True,
        **kwargs,
    )
    _expect_unchanged(x, before, what)
    if isinstance(result, torch.Tensor) and result.shape != x.shape and result.numel() == x.numel():
        raise AssertionError(
            f"{what}: the result has shape {tuple(result.shape)}; return it shaped like x "
            f"{tuple(x.shape)} (reshape the flat gradient back)"
        )
    expect_tensor(result, x, what)
    assert not result.requires_grad, (
        f"{what}: the result is attached to an autograd graph (requires_grad=True). Evaluate f "
        "under torch.no_grad() (and perturb x.detach()), so no graph is built"
    )
    expected = _central(f, x, h) if exact is None else exact
    _diagnose_numerical(
        result, x, expected, _mistakes(f, x, h, expected), what, tol, watched.saw_perturbation
    )


def check_numerical_grad(numerical_grad):
    tight = {"rtol": 1e-8, "atol": 1e-8}
    for device in devices():
        g = generator(50)

        # A cubic: the central difference is exactly 3x^2 + c + h^2; the forward one is off by 3xh.
        x = torch.randn(2, 3, generator=g, dtype=F64).to(device)
        c = torch.randn(2, 3, generator=g, dtype=F64).to(device)
        h = 1e-3

        def cubic(t, c=c):
            return (t**3).sum() + (c * t).sum()

        _check_numerical_case(
            numerical_grad,
            cubic,
            x,
            h,
            "numerical_grad of sum(x**3 + c*x), x (2, 3) float64, h=1e-3",
            tight,
            exact=3 * x**2 + c + h**2,
        )

        # The default h, a 1-D x and a non-polynomial f.
        x = torch.randn(5, generator=g, dtype=F64).to(device)
        a = torch.randn(5, generator=g, dtype=F64).to(device)

        def smooth(t, a=a):
            return (torch.sin(t) * a).sum() + t.sum() ** 2

        _check_numerical_case(
            numerical_grad,
            smooth,
            x,
            None,
            "numerical_grad of sum(a*sin(x)) + sum(x)**2, x (5,) float64, default h",
            {"rtol": 1e-7, "atol": 1e-8},
        )

        # A 0-dim x.
        s = torch.tensor(0.7, dtype=F64, device=device)
        _check_numerical_case(
            numerical_grad,
            lambda t: t**3,
            s,
            1e-3,
            "numerical_grad of x**3 for a 0-dim x",
            tight,
            exact=3 * s**2 + 1e-6,
        )

        # A non-contiguous (transposed) x.
        x = torch.randn(3, 4, generator=g, dtype=F64).to(device).T
        c = torch.randn(4, 3, generator=g, dtype=F64).to(device)

        def cubic_t(t, c=c):
            return (t**3).sum() + (c * t).sum()

        _check_numerical_case(
            numerical_grad,
            cubic_t,
            x,
            h,
            "numerical_grad for a transposed (non-contiguous) x of shape (4, 3)",
            tight,
            exact=3 * x**2 + c + h**2,
        )

        # f returns a Python float.
        x = torch.randn(2, 2, generator=g, dtype=F64).to(device)
        a = torch.rand(2, 2, generator=g, dtype=F64).to(device) + 0.5

        def as_float(t, a=a):
            return float((a * t**2).sum())

        _check_numerical_case(
            numerical_grad,
            as_float,
            x,
            1e-4,
            "numerical_grad where f returns a Python float",
            tight,
            exact=2 * a * x,
        )

        # float32 in, float32 out (a step suited to float32).
        x = torch.randn(4, generator=g).to(device)
        _check_numerical_case(
            numerical_grad,
            lambda t: (t**2).sum(),
            x,
            1e-2,
            "numerical_grad of sum(x**2) for a float32 x",
            {"rtol": 1e-3, "atol": 1e-3},
            exact=2 * x.to(F64),
        )

        # No graph: x requires grad, and f uses a tensor that requires grad.
        x = torch.randn(3, generator=g, dtype=F64).to(device).requires_grad_()
        _check_numerical_case(
            numerical_grad,
            lambda t: (t**2).sum(),
            x,
            1e-4,
            "numerical_grad of an x with requires_grad=True",
            tight,
            exact=2 * x.detach(),
        )
        assert x.grad is None, (
            "numerical_grad of an x with requires_grad=True: x.grad was set; do not call backward()"
        )
        w = torch.randn(3, generator=g, dtype=F64).to(device).requires_grad_()
        x = torch.randn(3, generator=g, dtype=F64).to(device)
        _check_numerical_case(
            numerical_grad,
            lambda t, w=w: (t * w).sum(),
            x,
            1e-4,
            "numerical_grad of sum(x * w) where w requires grad",
            tight,
            exact=w.detach().clone(),
        )


# ---------------------------------------------------------------------------------------------
# two_layer_backward

KEYS = ("W1", "b1", "W2", "b2")


def _autograd_reference(X, y, params):
    """Loss and gradients from autograd (float64 copies)."""
    with torch.enable_grad():
        p = {k: v.detach().to(F64).clone().requires_grad_() for k, v in params.items()}
        Xd, yd = X.detach().to(F64), y.detach().to(F64)
        loss = ((torch.relu(Xd @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"] - yd) ** 2).mean()
        grads = torch.autograd.grad(loss, [p[k] for k in KEYS])
    return loss.detach(), dict(zip(KEYS, grads, strict=True))


def _by_hand(X, y, params, mistake=None):
    """The backward pass by hand in float64, optionally with a typical mistake."""
    X, y = X.to(F64), y.to(F64)
    W1, b1, W2, b2 = (params[k].to(F64) for k in KEYS)
    n, k = y.shape
    Z = X @ W1 + b1
    H = torch.relu(Z)
    R = H @ W2 + b2 - y
    scale = {"half": 1.0 / (n * k), "over_n": 2.0 / n, "no_mean": 2.0}.get(mistake, 2.0 / (n * k))
    dY = scale * R
    if mistake == "sign":
        dY = -dY
    dW2 = (Z if mistake == "W2_from_Z" else H).T @ dY
    db2 = dY.sum(dim=0)
    dH = dY @ W2.T
    if mistake == "no_mask":
        dZ = dH
    elif mistake == "mask_is_H":
        dZ = dH * H
    elif mistake == "mask_is_Z":
        dZ = dH * Z
    else:
        dZ = dH * (Z > 0).to(F64)
    dW1 = X.T @ dZ
    db1 = dZ.sum(dim=0)
    if mistake == "b_mean":
        db1, db2 = db1 / n, db2 / n
    grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    if mistake == "transposed":
        grads = {key: g.T if key.startswith("W") else g for key, g in grads.items()}
    return grads


GRAD_HINTS = {
    "no_mask": "the ReLU's derivative is missing: multiply the gradient flowing back into Z by the "
    "mask (Z > 0) before computing the gradients of W1 and b1",
    "mask_is_H": "multiply dH by the ReLU's derivative (1 where Z > 0, else 0), not by the "
    "activation H = relu(Z) itself",
    "mask_is_Z": "multiply dH by the ReLU's derivative (1 where Z > 0, else 0), not by Z",
    "half": "the factor 2 from the derivative of the square is missing: "
    "d/dY_hat mean((Y_hat - y)**2) = 2 (Y_hat - y) / (n*k)",
    "over_n": "wrong normalisation: the loss is the mean over all n*k entries, so divide by n*k, "
    "not by the batch size n",
    "no_mean": "the loss is a mean: divide the gradient 2 (Y_hat - y) by the number of entries n*k",
    "b_mean": "b is added to every row, so its gradient is the sum over the batch (dim=0) of the "
    "rows' gradients, not their mean",
    "sign": "the sign is flipped: the derivative of (Y_hat - y)**2 is 2 (Y_hat - y), not 2 (y - Y_hat)",
    "W2_from_Z": "the input of the second layer is H = relu(Z), not Z: dW2 = H.T @ dY_hat",
    "transposed": "the values are transposed: dW1 = X.T @ dZ and dW2 = H.T @ dY_hat",
}


def _expect_grad_shape(grad, param, key, what):
    if isinstance(grad, torch.Tensor) and grad.shape != param.shape:
        if key.startswith("b"):
            raise AssertionError(
                f"{what}: grads['{key}'] has shape {tuple(grad.shape)} but {key} has shape "
                f"{tuple(param.shape)}: {key} is added to every row, so sum its gradient over the "
                "batch dimension (dim=0, without keepdim)"
            )
        if grad.shape == param.shape[::-1]:
            raise AssertionError(
                f"{what}: grads['{key}'] has shape {tuple(grad.shape)} but {key} has shape "
                f"{tuple(param.shape)}; a gradient has the shape of its parameter: the transposes "
                "are swapped (dW1 = X.T @ dZ, dW2 = H.T @ dY_hat)"
            )
    expect_tensor(grad, param, f"{what}: grads['{key}']")


def _check_two_layer_case(two_layer_backward, shape, dtype, device, seed):
    n, d, h, k = shape
    what = f"two_layer_backward with n={n}, d={d}, h={h}, k={k} ({str(dtype).replace('torch.', '')})"
    g = generator(seed)
    X = torch.randn(n, d, generator=g, dtype=F64)
    y = torch.randn(n, k, generator=g, dtype=F64)
    params = {
        "W1": torch.randn(d, h, generator=g, dtype=F64),
        "b1": torch.randn(h, generator=g, dtype=F64),
        "W2": torch.randn(h, k, generator=g, dtype=F64),
        "b2": torch.randn(k, generator=g, dtype=F64),
    }
    X, y = X.to(device, dtype), y.to(device, dtype)
    params = {key: p.to(device, dtype) for key, p in params.items()}
    before = [t.clone() for t in (X, y, *params.values())]

    result = call(two_layer_backward, X, y, *params.values(), what=what, by_hand=True, probe_device=True)
    for t, old in zip((X, y, *params.values()), before, strict=True):
        assert torch.equal(t, old), (
            f"{what}: the function changed its inputs in place; compute on new tensors"
        )
    assert isinstance(result, (tuple, list)) and len(result) == 2, (
        f"{what}: return a pair (loss, grads), got {type(result).__name__}"
    )
    loss, grads = result

    ref_loss, ref_grads = _autograd_reference(X, y, params)
    tol = {"rtol": 1e-9, "atol": 1e-11} if dtype == F64 else {"rtol": 1e-4, "atol": 1e-5}
    if not isinstance(loss, torch.Tensor):
        raise AssertionError(f"{what}: return the loss as a 0-dim tensor, got {type(loss).__name__}")
    expect_tensor(loss, X, f"{what}: the loss", shape=())
    loss64 = loss.detach().to(F64)
    if not torch.allclose(loss64, ref_loss, **tol):
        if torch.allclose(loss64, ref_loss * k, **tol) and k > 1:
            hint = "The loss is the mean over all n*k entries, not the sum over k and mean over n."
        elif torch.allclose(loss64, ref_loss * n * k, **tol):
            hint = "The loss is the mean of the squared errors, not their sum."
        else:
            hint = "Check the forward pass: Z = X @ W1 + b1, H = relu(Z), Y_hat = H @ W2 + b2."
        expect_close(loss64, ref_loss, f"{what}: the loss", hint=hint, **tol)

    assert isinstance(grads, dict), f"{what}: grads must be a dict, got {type(grads).__name__}"
    missing = [key for key in KEYS if key not in grads]
    assert not missing, f"{what}: grads is missing the keys {missing}; use 'W1', 'b1', 'W2', 'b2'"
    for key in KEYS:
        _expect_grad_shape(grads[key], params[key], key, what)
    for key in KEYS:
        grad = grads[key].detach().to(F64)
        if torch.allclose(grad, ref_grads[key], **tol):
            continue
        for mistake, hint in GRAD_HINTS.items():
            wrong = _by_hand(X, y, params, mistake)[key]
            if wrong.shape == grad.shape and torch.allclose(grad, wrong, **tol):
                raise AssertionError(f"{what}: grads['{key}'] is wrong: {hint}")
        expect_close(
            grad,
            ref_grads[key],
            f"{what}: grads['{key}']",
            hint="Follow the chain rule back from dY_hat = 2 (Y_hat - y) / (n*k), one node at a "
            "time as in 5.3: each gradient has its tensor's shape, which decides the transposes, and "
            "a bias added to every row gets the sum of the rows' gradients",
            **tol,
        )


# (n, d, h, k): a general case; n = 1 and k = 1; k = 1; square W1 and W2 to catch swapped
# transposes by value; a wide hidden layer
SHAPES = [(5, 3, 4, 2), (1, 3, 4, 1), (6, 2, 5, 1), (4, 3, 3, 3), (7, 4, 16, 2)]


def check_two_layer_backward(two_layer_backward):
    for device in devices():
        for i, shape in enumerate(SHAPES):
            _check_two_layer_case(two_layer_backward, shape, F64, device, seed=60 + i)
        _check_two_layer_case(two_layer_backward, (8, 3, 5, 2), torch.float32, device, seed=70)
