"""Hidden checks for ch11_mlp: relu, relu_grad, sigmoid_grad, tanh_grad, mlp_forward.

The three derivatives are computed by hand (``by_hand=True``: no autograd) and compared with
autograd's in float64. ``relu_grad(0)`` is 0, the value autograd gives ``torch.relu`` at its kink.
``relu`` may use ``clamp(min=0)``, ``torch.maximum`` or ``torch.where``, not PyTorch's ReLU in
any spelling. ``mlp_forward`` may use anything: the network's structure is the exercise.
"""

import torch

from autograder.checks._common import call, devices, expect_close, expect_tensor, generator

# "No NumPy": a round trip through NumPy passes a CPU-only grader's device checks.
NUMPY = ("torch.Tensor.numpy", "torch.from_numpy")
# PyTorch's ReLU in every spelling (nn.ReLU calls F.relu, which calls torch.relu), and the
# functions that are a ReLU with one argument fixed: threshold(x, 0, 0), leaky_relu(x, 0),
# prelu(x, 0) and rrelu(x, 0, 0).
RELU_BUILTINS = (
    "torch.relu", "torch.relu_", "torch.Tensor.relu", "torch.Tensor.relu_",
    "torch.nn.functional.relu", "torch.nn.functional.relu_",
    "torch._refs.nn.functional.relu",
    "aten.relu", "aten.relu_",
    "torch.nn.functional.threshold", "torch.threshold", "aten.threshold",
    "torch.nn.functional.leaky_relu", "aten.leaky_relu",
    "torch.nn.functional.prelu", "torch.prelu", "aten._prelu_kernel",
    "torch.nn.functional.rrelu", "torch.rrelu", "aten.rrelu_with_noise",
)  # fmt: skip
# The derivatives that autograd's backward pass uses, called directly.
BACKWARD_BUILTINS = (
    "aten.sigmoid_backward", "aten.tanh_backward", "aten.threshold_backward",
)  # fmt: skip
RELU_FORBIDDEN = RELU_BUILTINS + NUMPY
GRAD_FORBIDDEN = BACKWARD_BUILTINS + NUMPY


def _close(a, b, rtol=1e-4, atol=1e-6) -> bool:
    """Same shape and close: for recognising a known mistake (never raises)."""
    if not isinstance(a, torch.Tensor) or a.shape != b.shape:
        return False
    a, b = a.detach().to(b.device), b.detach()
    if a.dtype == torch.bool:
        a = a.to(b.dtype)
    return bool(torch.isfinite(a).all()) and torch.allclose(a.to(b.dtype), b, rtol=rtol, atol=atol)


def _cases(device, g):
    """Inputs of every kind an elementwise function must handle, each with a description and
    the tolerances to compare with (float16 rounds to 3 significant digits)."""
    x = 3 * torch.randn(4, 5, generator=g)
    x[0, :3] = torch.tensor([0.0, -0.0, 0.0])  # exact zeros: the kink of the ReLU
    x[1, 0] = 1e-30  # tiny but positive
    yield x.to(device), "a (4, 5) float32 batch (with exact zeros)", {}
    x64 = 3 * torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    x64[0, 0, 0] = 0.0
    yield x64.to(device), "a (2, 3, 4) float64 batch", {"rtol": 1e-10, "atol": 1e-12}
    x16 = (3 * torch.randn(6, generator=g)).to(device, torch.float16)
    yield x16, "a float16 vector", {"rtol": 1e-2, "atol": 2e-3}
    yield torch.tensor(0.7, device=device), "a 0-dim tensor", {}
    yield torch.empty(0, 3, device=device), "an empty (0, 3) tensor", {}
    yield torch.randn(5, 4, generator=g).to(device).T, "a transposed (non-contiguous) batch", {}


def _elementwise(fn, name, x, what, forbid, by_hand):
    """Call ``fn(x)`` under the rules, then check the kind of result and that x is unchanged."""
    x_before = x.clone()
    try:
        out = call(fn, x, what=what, forbid=forbid, by_hand=by_hand, probe_device=True,
                   stay_on_device=True)
    except AssertionError as err:
        if "ambiguous" in str(err):
            raise AssertionError(
                f"{err}. Python's max(0, x) or an `if x > 0:` compares a whole tensor with 0; "
                "work elementwise with torch.maximum, torch.where, clamp or a mask"
            ) from None
        raise
    if isinstance(out, tuple):  # torch.max(x, 0) reduces over dimension 0
        raise AssertionError(
            f"{what}: {name} returned a tuple ({type(out).__name__}). torch.max(x, 0) is not the "
            "elementwise maximum with 0: it reduces over dimension 0 and returns (values, "
            "indices). Use torch.maximum(x, torch.zeros_like(x)), x.clamp(min=0) or torch.where"
        )
    assert torch.equal(x, x_before), (
        f"{what}: {name} changed its input in place (e.g. x[x < 0] = 0, x.clamp_(...) or "
        "x.sigmoid_()); compute on new tensors and leave x unchanged"
    )
    if isinstance(out, torch.Tensor) and out.dtype == torch.bool and x.dtype != torch.bool:
        raise AssertionError(
            f"{what}: {name} returned a bool tensor (a mask). Convert it to x's dtype, "
            "e.g. (x > 0).to(x.dtype), or use it to pick values"
        )
    expect_tensor(out, x, what)
    return out


# --------------------------------------------------------------------------------------------
# relu
# --------------------------------------------------------------------------------------------


def check_relu(relu):
    for device in devices():
        g = generator(110)
        for x, kind, tol in _cases(device, g):
            what = f"relu of {kind}"
            out = _elementwise(relu, "relu", x, what, RELU_FORBIDDEN, by_hand=False)
            expected = x.clamp(min=0)
            if x.numel():
                if _close(out, (x > 0).to(x.dtype)) and not _close(out, expected):
                    raise AssertionError(
                        f"{what}: returned the mask (x > 0), which is relu's derivative; "
                        "relu(x) = max(x, 0) keeps the positive values themselves"
                    )
                if _close(out, x.abs()) and not _close(out, expected):
                    raise AssertionError(f"{what}: returned |x|; negative inputs must give 0")
                if _close(out, x.clamp(max=0)) and not _close(out, expected):
                    raise AssertionError(
                        f"{what}: returned min(x, 0); relu keeps the positive values and "
                        "sets the negative ones to 0"
                    )
            expect_close(out, expected, what, hint="relu(x) = max(x, 0), entry by entry.", **tol)


# --------------------------------------------------------------------------------------------
# the three derivatives
# --------------------------------------------------------------------------------------------


def _autograd_derivative(f, x):
    """d f(x) / dx, entry by entry, by autograd in float64 (f is elementwise)."""
    x64 = x.detach().to(torch.float64).requires_grad_()
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(f(x64).sum(), x64)
    return grad


def _check_derivative(fn, name, f, extra_mistakes, hint):
    """Common checks for relu_grad, sigmoid_grad and tanh_grad: ``f`` the activation, whose
    autograd derivative is the reference; ``extra_mistakes(x, out, what)`` names known slips."""
    for device in devices():
        g = generator(111)
        for x, kind, tol in _cases(device, g):
            what = f"{name} of {kind}"
            out = _elementwise(fn, name, x, what, GRAD_FORBIDDEN, by_hand=True)
            _expect_finite(out, x, what, hint)
            if x.numel():
                expected = _autograd_derivative(f, x).to(x.dtype)
                with torch.no_grad():
                    extra_mistakes(x, out, expected, what)
                    if _close(out, f(x)) and not _close(out, expected):
                        raise AssertionError(
                            f"{what}: returned the activation itself, not its derivative"
                        )
                expect_close(out, expected, what, hint=hint, **tol)
        # far out in both tails the derivative is finite and (almost) 0
        extremes = torch.tensor(
            [-1e4, -1e3, -100.0, -88.5, -45.0, -20.0, 20.0, 45.0, 88.5, 100.0, 1e3, 1e4],
            device=device,
        )
        what = f"{name} of inputs up to +-10000"
        out = _elementwise(fn, name, extremes, what, GRAD_FORBIDDEN, by_hand=True)
        _expect_finite(out, extremes, what, hint)
        expect_close(out, _autograd_derivative(f, extremes).to(extremes.dtype), what, hint=hint)


def _expect_finite(out, x, what, hint):
    """A derivative of these activations is finite everywhere: name the input that overflowed."""
    bad = ~torch.isfinite(out.detach())
    if bad.any():
        at = x.detach()[bad].flatten()[0].item()
        raise AssertionError(
            f"{what}: inf or nan at x = {at:g}. exp of a large number overflows to inf (in float32 "
            f"above about 88.7, in float16 above about 11), and inf / inf is nan. {hint}"
        )


def _relu_grad_mistakes(x, out, expected, what):
    zero = x == 0
    if not zero.any() or not isinstance(out, torch.Tensor) or out.shape != x.shape:
        return
    at_zero = out.detach()[zero].to(torch.float64).cpu()
    if _close(out[~zero], expected[~zero]) and not torch.all(at_zero == 0):
        raise AssertionError(
            f"{what}: relu_grad(0) = {at_zero[at_zero != 0][0].item():g}, but it must be 0, the "
            "value autograd gives torch.relu at its kink: the derivative is 1 where x > 0 (strictly) and 0 "
            "elsewhere. Compare with x > 0, not x >= 0"
        )
    if _close(out, x.clamp(min=0)) and not _close(out, expected):
        raise AssertionError(
            f"{what}: returned relu(x) itself; its derivative is 1 where x > 0 and 0 elsewhere"
        )


def _sigmoid_grad_mistakes(x, out, expected, what):
    s = torch.sigmoid(x.to(torch.float64))
    if _close(out, (x * (1 - x)).to(torch.float64)) and not _close(out, expected):
        raise AssertionError(
            f"{what}: computed x * (1 - x). The formula sigma' = sigma (1 - sigma) is in terms of "
            "s = sigmoid(x): compute s = torch.sigmoid(x) first, then s * (1 - s)"
        )
    if _close(out, 1 - s**2) and not _close(out, expected):
        raise AssertionError(
            f"{what}: computed 1 - sigmoid(x)**2, the pattern of tanh's derivative; the sigmoid's "
            "is sigmoid(x) * (1 - sigmoid(x))"
        )


def _tanh_grad_mistakes(x, out, expected, what):
    t = torch.tanh(x.to(torch.float64))
    if _close(out, (1 - x**2).to(torch.float64)) and not _close(out, expected):
        raise AssertionError(
            f"{what}: computed 1 - x**2. The formula tanh'(x) = 1 - tanh(x)**2 squares tanh(x), "
            "not x: compute t = torch.tanh(x) first, then 1 - t**2"
        )
    if _close(out, 1 - t) and not _close(out, expected):
        raise AssertionError(f"{what}: computed 1 - tanh(x); the derivative squares it: 1 - tanh(x)**2")
    if _close(out, t * (1 - t)) and not _close(out, expected):
        raise AssertionError(
            f"{what}: computed tanh(x) * (1 - tanh(x)), the sigmoid's pattern; tanh's derivative "
            "is 1 - tanh(x)**2"
        )


def check_relu_grad(relu_grad):
    _check_derivative(
        relu_grad, "relu_grad", torch.relu, _relu_grad_mistakes,
        "The derivative of relu is 1 where x > 0 and 0 where x <= 0, in x's dtype.",
    )


def check_sigmoid_grad(sigmoid_grad):
    _check_derivative(
        sigmoid_grad, "sigmoid_grad", torch.sigmoid, _sigmoid_grad_mistakes,
        "The derivative of the sigmoid is s * (1 - s) with s = torch.sigmoid(x).",
    )


def check_tanh_grad(tanh_grad):
    _check_derivative(
        tanh_grad, "tanh_grad", torch.tanh, _tanh_grad_mistakes,
        "The derivative of tanh is 1 - t**2 with t = torch.tanh(x).",
    )


# --------------------------------------------------------------------------------------------
# mlp_forward
# --------------------------------------------------------------------------------------------


def _reference_mlp(X, params, activation=torch.relu, last=None, transpose=False):
    """The MLP's logits, and the usual wrong variants (another activation, one after the last
    layer, W transposed)."""
    H = X.reshape(len(X), -1)
    for i, (W, b) in enumerate(params):
        H = H @ (W.T if transpose else W) + b
        if i < len(params) - 1:
            H = activation(H)
    return H if last is None else last(H)


def _params(sizes, g, dtype=torch.float32, device="cpu"):
    return [
        (torch.randn(d_in, d_out, generator=g, dtype=dtype).to(device),
         torch.randn(d_out, generator=g, dtype=dtype).to(device))
        for d_in, d_out in zip(sizes, sizes[1:], strict=False)
    ]  # fmt: skip


LAYERS_HINT = (
    "mlp_forward takes any number of layers >= 1 (one (W, b) pair for softmax regression, three "
    "for two hidden layers): loop over params, with a ReLU after every layer but the last"
)
FLATTEN_HINT = (
    "flatten X to (n, d) first with X.reshape(len(X), -1): an image batch has shape "
    "(n, 1, 28, 28), and d is whatever the other dimensions multiply to (don't hard-code 784; "
    "view fails on a non-contiguous X, reshape does not)"
)
TRANSPOSE_HINT = (
    "each W has shape (d_in, d_out), so a layer computes H @ W + b (nn.Linear stores the "
    "transpose, but these W are not nn.Linear weights)"
)


def _mlp_case(mlp_forward, X, params, what, hint="", tol=None):
    """Call mlp_forward under the rules, check X and params unchanged and the kind of result,
    name the classic mistakes, compare with the reference."""
    tol = tol or {}
    X_before = X.clone()
    params_before = [(W.detach().clone(), b.detach().clone()) for W, b in params]
    try:
        out = call(mlp_forward, X, params, what=what, probe_device=True, stay_on_device=True)
    except AssertionError as err:
        if "raised" in str(err) and hint:
            raise AssertionError(f"{err}. Hint: {hint}") from None
        raise
    assert torch.equal(X, X_before), (
        f"{what}: mlp_forward changed X in place (an in-place ReLU such as H.relu_() or "
        "H[H < 0] = 0 on X or a view of it); leave X unchanged"
    )
    for (W, b), (W0, b0) in zip(params, params_before, strict=True):
        assert torch.equal(W.detach(), W0) and torch.equal(b.detach(), b0), (
            f"{what}: mlp_forward changed a weight or a bias in place; leave params unchanged"
        )
    n, d_out = len(X), params[-1][0].shape[1]
    expected = _reference_mlp(X, params)
    with torch.no_grad():
        if isinstance(out, torch.Tensor) and out.shape == (n, d_out) and not _close(out, expected):
            if len(params) > 1 and _close(out, _reference_mlp(X, params, activation=lambda h: h)):
                raise AssertionError(
                    f"{what}: no ReLU between the layers: the network is then one affine map "
                    "in disguise. Apply the ReLU to every hidden layer's output"
                )
            if _close(out, _reference_mlp(X, params, last=torch.relu)):
                raise AssertionError(
                    f"{what}: ReLU after the last layer too. The output layer returns logits, "
                    "which may be negative: no activation after it (the loss applies the softmax)"
                )
            for act, act_name in ((torch.sigmoid, "sigmoid"), (torch.tanh, "tanh")):
                if _close(out, _reference_mlp(X, params, activation=act)):
                    raise AssertionError(f"{what}: used {act_name} between the layers; use ReLU")
            if all(W.shape[0] == W.shape[1] for W, _ in params) and _close(
                out, _reference_mlp(X, params, transpose=True)
            ):
                raise AssertionError(f"{what}: multiplied by W transposed; {TRANSPOSE_HINT}")
    try:
        expect_tensor(out, X, what, shape=(n, d_out))
    except AssertionError as err:
        if hint and "expected shape" in str(err):
            raise AssertionError(f"{err}. Hint: {hint}") from None
        raise
    expect_close(out, expected, what, hint=hint, **tol)
    return out


def check_mlp_forward(mlp_forward):
    for device in devices():
        g = generator(112)
        # square layers, already flat: the structure (ReLU, last layer, W's orientation)
        X = torch.randn(5, 6, generator=g, dtype=torch.float64).to(device)
        params = _params([6, 6, 6], g, torch.float64, device)
        _mlp_case(mlp_forward, X, params, "mlp_forward of a (5, 6) float64 batch, layers 6-6-6",
                  hint=f"{FLATTEN_HINT}; {TRANSPOSE_HINT}", tol={"rtol": 1e-10, "atol": 1e-10})

        # image-shaped input, float32: flatten, and the shapes of a real MLP
        X = torch.rand(7, 1, 4, 4, generator=g).to(device)
        params = _params([16, 8, 3], g, device=device)
        _mlp_case(mlp_forward, X, params, "mlp_forward of a (7, 1, 4, 4) image batch, layers 16-8-3",
                  hint=f"{FLATTEN_HINT}; {TRANSPOSE_HINT}")
        Xt = torch.rand(7, 4, 4, 1, generator=g).to(device).permute(0, 3, 2, 1)  # (7, 1, 4, 4)
        _mlp_case(mlp_forward, Xt, params, "mlp_forward of a non-contiguous (7, 1, 4, 4) batch",
                  hint=FLATTEN_HINT)

        # any number of layers
        for sizes in ([12, 9, 7, 4], [12, 5], [12, 10, 8, 6, 3]):
            X = torch.randn(6, 3, 4, generator=g).to(device)
            params = _params(sizes, g, device=device)
            layers = len(sizes) - 1
            what = (f"mlp_forward with {layers} layer{'s' if layers > 1 else ''} "
                    f"({'-'.join(map(str, sizes))})")
            _mlp_case(mlp_forward, X, params, what, hint=LAYERS_HINT)

        # a single example still has a batch dimension
        X1 = torch.rand(1, 2, 3, generator=g).to(device)
        _mlp_case(mlp_forward, X1, _params([6, 4, 2], g, device=device),
                  "mlp_forward of a batch of one example, shape (1, 2, 3)", hint=FLATTEN_HINT)

        # differentiable with respect to every parameter: training backpropagates through it
        X = torch.randn(8, 10, generator=g, dtype=torch.float64).to(device)
        params = [(W.requires_grad_(), b.requires_grad_())
                  for W, b in _params([10, 7, 5, 3], g, torch.float64, device)]
        what = "mlp_forward with parameters that require gradients"
        out = _mlp_case(mlp_forward, X, params, what, tol={"rtol": 1e-10, "atol": 1e-10})
        assert out.requires_grad, (
            f"{what}: the result is detached from the parameters; keep it differentiable "
            "(no torch.no_grad(), .detach(), .item() or torch.tensor(...) on the way)"
        )
        leaves = [p for pair in params for p in pair]
        grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
        expected = torch.autograd.grad(_reference_mlp(X, params).sum(), leaves)
        for i, (got, want) in enumerate(zip(grads, expected, strict=True)):
            name = f"{'Wb'[i % 2]}{i // 2 + 1}"
            assert got is not None, f"{what}: the logits do not depend on {name} through autograd"
            expect_close(got, want, f"{what}: gradient with respect to {name}",
                         rtol=1e-8, atol=1e-10)
