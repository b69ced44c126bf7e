"""Hidden checks for ch03_linear_model: mse, grid_search.

Each check calls only the function under test: ``check_grid_search`` never calls the student's
``mse``, so a wrong ``mse`` costs only its own points even when their ``grid_search`` is built on
it. When a value is wrong, the check replays the typical mistakes with a float64 reference and
names the one that matches.

The rules the instructions state: ``mse`` must not call torch's MSE (``F.mse_loss``,
``nn.MSELoss``), and neither function may make a tensor without ``device=`` (caught on a
CPU-only grader too). ``grid_search`` may take its costs from anywhere, ``F.mse_loss`` included:
that exercise is the search.
"""

import torch

from autograder.checks._common import call, devices, expect_close, expect_tensor, generator

FLOAT32_TOL = {"rtol": 1e-4, "atol": 1e-5}
FLOAT64_TOL = {"rtol": 1e-9, "atol": 1e-11}

# Torch's MSE in every spelling: nn.MSELoss calls F.mse_loss; torch._C._nn, torch.ops and
# TorchScript reach the aten operator; torch._refs/_decomp are Python versions of it.
MSE_BUILTINS = (
    "torch.nn.functional.mse_loss", "torch._refs.nn.functional.mse_loss",
    "torch._decomp.decompositions.mse_loss", "aten.mse_loss",
)  # fmt: skip

UNRAVEL_HINT = (
    "In a (len(ws), len(bs)) grid flattened row by row, the flat index k sits at row "
    "k // len(bs) and column k % len(bs) (or use torch.unravel_index(k, costs.shape))."
)


# ---------------------------------------------------------------------------------------------
# references (float64) and the typical mistakes, replayed


def _value(v) -> float:
    return float(v.detach()) if isinstance(v, torch.Tensor) else float(v)


def _variants(w, b, x, y) -> list[tuple[torch.Tensor, str | None]]:
    """The MSE of ``w * x + b`` on (x, y) in float64 (first entry), then typical mistakes with
    the message each one deserves. ``w`` and ``b`` broadcast against ``x`` (the last dim)."""
    x, y = x.detach().double(), y.detach().double()
    r = w * x + b - y
    sq = (r**2).mean(dim=-1)
    variants = [
        (sq, None),
        (
            (r**2).sum(dim=-1),
            "returned the sum of the squared errors; the mean divides by the "
            "number of points (use .mean(), not .sum())",
        ),
        (
            0.5 * sq,
            "returned half the mean squared error; the MSE here is the plain mean of "
            "(w*x + b - y)**2, without a factor 1/2",
        ),
        (sq.sqrt(), "returned the root of the mean squared error (RMSE); do not take the square root"),
        (
            r.abs().mean(dim=-1),
            "computed the mean absolute error; square each error instead of taking its absolute value",
        ),
        (r.mean(dim=-1), "forgot to square the errors: positive and negative errors cancel out"),
        (((w * x - y) ** 2).mean(dim=-1), "ignored the bias b: the prediction is w*x + b"),
        (((w * x - b - y) ** 2).mean(dim=-1), "subtracted the bias: the prediction is w*x + b"),
        (
            ((w + b * x - y) ** 2).mean(dim=-1),
            "mixed up w and b: the prediction is w*x + b (w multiplies x, b is added)",
        ),
    ]
    return [(value.expand(sq.shape), message) for value, message in variants]


def _close(actual: torch.Tensor, expected: torch.Tensor, tol: dict) -> bool:
    actual = actual.detach().to("cpu", torch.float64)
    expected = expected.to("cpu", torch.float64)
    return (
        actual.shape == expected.shape
        and bool(torch.isfinite(actual).all())
        and torch.allclose(actual, expected, **tol)
    )


def _diagnose(result: torch.Tensor, variants, what: str, tol: dict):
    """``result`` equals the first variant; otherwise name the mistake that it matches."""
    expected = variants[0][0]
    if _close(result, expected, tol):
        return
    for value, message in variants[1:]:
        if _close(result, value, tol):
            raise AssertionError(f"{what}: {message}")
    expect_close(
        result,
        expected.to(result.dtype),
        what,
        hint="Compute mean((w*x + b - y)**2) over all the points.",
        **tol,
    )


def _points(g, n, device, dtype=torch.float32):
    x = torch.randn(n, generator=g, dtype=torch.float64)
    y = 1.3 * x - 0.4 + 0.2 * torch.randn(n, generator=g, dtype=torch.float64)
    return x.to(device, dtype), y.to(device, dtype)


# ---------------------------------------------------------------------------------------------
# mse


def _check_mse_result(result, w, b, x, y, what, tol):
    if isinstance(result, (float, int)):
        raise AssertionError(
            f"{what}: returned a Python number; return the 0-dim tensor itself (no .item() or float(...))"
        )
    expect_tensor(result, x, what, shape=())
    _diagnose(result, _variants(_value(w), _value(b), x, y), what, tol)


def _call_mse(mse, *args, what):
    return call(mse, *args, what=what, forbid=MSE_BUILTINS, probe_device=True)


def check_mse(mse):
    for device in devices():
        # The classic points with Python floats; mixed-sign errors tell the mistakes apart.
        x = torch.tensor([1.0, 2.0, 3.0], device=device)
        y = torch.tensor([2.0, 4.0, 6.0], device=device)
        x_before, y_before = x.clone(), y.clone()
        what = f"mse(2.5, -0.75, x, y) for x = [1, 2, 3], y = [2, 4, 6] on {device.type}"
        result = _call_mse(mse, 2.5, -0.75, x, y, what=what)
        assert torch.equal(x, x_before) and torch.equal(y, y_before), (
            f"{what}: mse changed x or y in place; compute the predictions in a new tensor"
        )
        _check_mse_result(result, 2.5, -0.75, x, y, what, FLOAT32_TOL)

        # 0-dim float32 tensors for w and b, 40 points, x a non-contiguous view.
        g = generator(30)
        columns, y40 = _points(g, 80, device)
        x40 = columns.reshape(40, 2)[:, 1]
        y40 = y40[:40]
        w = torch.tensor(0.8, device=device)
        b = torch.tensor(0.3, device=device)
        what = f"mse with 0-dim tensors w, b and 40 points (x non-contiguous) on {device.type}"
        _check_mse_result(_call_mse(mse, w, b, x40, y40, what=what), w, b, x40, y40, what, FLOAT32_TOL)

        # float64, w and b require grad: the result must be differentiable.
        x64, y64 = _points(generator(31), 9, device, torch.float64)
        w = torch.tensor(-0.6, dtype=torch.float64, device=device, requires_grad=True)
        b = torch.tensor(1.1, dtype=torch.float64, device=device, requires_grad=True)
        what = f"mse in float64 with w, b that require grad on {device.type}"
        result = _call_mse(mse, w, b, x64, y64, what=what)
        _check_mse_result(result, w, b, x64, y64, what, FLOAT64_TOL)
        assert result.requires_grad, (
            f"{what}: the result is detached from w and b; keep it a tensor computed from them "
            "(no .item(), float(...) or torch.tensor(...) on the way)"
        )
        dw, db = torch.autograd.grad(result, (w, b))
        r = w.detach() * x64 + b.detach() - y64
        expect_close(dw, (2 * r * x64).mean(), f"d mse / dw of {what}", **FLOAT64_TOL)
        expect_close(db, (2 * r).mean(), f"d mse / db of {what}", **FLOAT64_TOL)

        # A single point: the MSE is just its squared error.
        x1, y1 = torch.tensor([2.0], device=device), torch.tensor([1.0], device=device)
        what = f"mse(1.5, 0.5, x, y) for the single point x = [2], y = [1] on {device.type}"
        _check_mse_result(_call_mse(mse, 1.5, 0.5, x1, y1, what=what), 1.5, 0.5, x1, y1, what, FLOAT32_TOL)


# ---------------------------------------------------------------------------------------------
# grid_search


def _expect_candidate(value, candidates: torch.Tensor, name: str, source: str, what: str):
    if isinstance(value, (float, int)):
        raise AssertionError(
            f"{what}: {name} is a Python number; return the 0-dim tensor "
            f"{source}[i] itself (no .item() or float(...))"
        )
    assert isinstance(value, torch.Tensor), (
        f"{what}: {name} must be a 0-dim tensor, got {type(value).__name__}"
    )
    assert value.dim() == 0, (
        f"{what}: {name} must be a 0-dim tensor (one entry of {source}), got shape {tuple(value.shape)}"
    )
    if not value.dtype.is_floating_point and candidates.dtype.is_floating_point:
        raise AssertionError(
            f"{what}: {name} is an index (dtype {value.dtype}); return the "
            f"candidate {source}[i] itself, not i"
        )
    assert value.device == candidates.device, (
        f"{what}: {name} is on {value.device} but {source} is on {candidates.device}; "
        f"pick it from {source} itself"
    )
    assert value.dtype == candidates.dtype, (
        f"{what}: {name} has dtype {value.dtype} but {source} has {candidates.dtype}; "
        f"pick it from {source} itself"
    )
    assert bool((candidates == value).any()), (
        f"{what}: {name} = {value.item():.6g} is not one of the candidates in {source}; "
        f"return {source}[i] for the best pair"
    )


def _expect_not_swapped(w_best, b_best, x, y, ws, bs, what):
    if not (isinstance(w_best, torch.Tensor) and isinstance(b_best, torch.Tensor)):
        return
    if w_best.numel() != 1 or b_best.numel() != 1:
        return
    ref = _variants(ws.double().reshape(-1, 1, 1), bs.double().reshape(1, -1, 1), x, y)[0][0]
    i, j = divmod(ref.argmin().item(), len(bs))
    best = (ws[i].item(), bs[j].item())
    if (w_best.item(), b_best.item()) == best[::-1] != best:
        raise AssertionError(
            f"{what}: w and b are swapped; return (w_best, b_best, costs) with "
            "w_best from ws and b_best from bs"
        )


def _diagnose_pair(w_best, b_best, x, y, ws, bs, what):
    """The returned pair has the lowest cost; otherwise name the likely mistake."""
    ref = _variants(ws.double().reshape(-1, 1, 1), bs.double().reshape(1, -1, 1), x, y)[0][0]
    n_w, n_b = ref.shape
    min_cost, max_cost = ref.min().item(), ref.max().item()
    # Candidates may repeat; look the pair up by value.
    rows = (ws.cpu() == w_best.cpu()).nonzero().flatten()
    cols = (bs.cpu() == b_best.cpu()).nonzero().flatten()
    cost = ref.cpu()[rows][:, cols].min().item()
    if abs(cost - min_cost) <= 1e-9 + 1e-7 * abs(min_cost):
        return
    k = ref.argmin().item()
    i, j = divmod(k, n_b)
    got = (w_best.item(), b_best.item())
    if abs(cost - max_cost) <= 1e-9 + 1e-7 * abs(max_cost):
        raise AssertionError(
            f"{what}: returned the pair with the highest cost (the worst fit); "
            "the best pair minimises the cost: use argmin, not argmax"
        )
    wrong_unravels = [(k // n_w, k % n_w), (k % n_b, k // n_b), (k % n_w, k // n_w)]
    for wi, wj in wrong_unravels:
        if wi < n_w and wj < n_b and got == (ws[wi].item(), bs[wj].item()):
            raise AssertionError(
                f"{what}: the flat index of the lowest cost was turned into the "
                f"wrong (row, column) pair. {UNRAVEL_HINT}"
            )
    raise AssertionError(
        f"{what}: (w, b) = ({got[0]:.6g}, {got[1]:.6g}) costs {cost:.6g}, but "
        f"({ws[i].item():.6g}, {bs[j].item():.6g}) costs only {min_cost:.6g}. Return ws[i] and "
        f"bs[j] for the row i and column j of the lowest cost (the candidates may come in any "
        f"order). {UNRAVEL_HINT}"
    )


def _check_search(grid_search, x, y, ws, bs, what, tol):
    inputs = [t.clone() for t in (x, y, ws, bs)]
    result = call(grid_search, x, y, ws, bs, what=what, probe_device=True)
    assert all(torch.equal(a, b) for a, b in zip((x, y, ws, bs), inputs, strict=True)), (
        f"{what}: grid_search changed one of its inputs in place; compute on new tensors"
    )
    assert isinstance(result, tuple) and len(result) == 3, (
        f"{what}: return a tuple (w_best, b_best, costs), got {type(result).__name__}"
    )
    w_best, b_best, costs = result
    n_w, n_b = len(ws), len(bs)
    assert isinstance(costs, torch.Tensor), f"{what}: costs must be a tensor, got {type(costs).__name__}"
    if n_w != n_b and tuple(costs.shape) == (n_b, n_w):
        raise AssertionError(
            f"{what}: costs has shape {tuple(costs.shape)} but must be (len(ws), len(bs)) = "
            f"({n_w}, {n_b}): costs is transposed; rows index ws and columns bs, "
            "costs[i, j] is the cost of (ws[i], bs[j])"
        )
    expect_tensor(costs, x, f"costs of {what}", shape=(n_w, n_b))
    variants = _variants(ws.double().reshape(-1, 1, 1), bs.double().reshape(1, -1, 1), x, y)
    if not _close(costs, variants[0][0], tol) and _close(costs, variants[0][0].T, tol):
        raise AssertionError(
            f"{what}: costs is transposed; rows index ws and columns bs, "
            "costs[i, j] is the cost of (ws[i], bs[j])"
        )
    _diagnose(costs, variants, f"costs of {what}", tol)
    _expect_not_swapped(w_best, b_best, x, y, ws, bs, what)
    _expect_candidate(w_best, ws, "w_best", "ws", what)
    _expect_candidate(b_best, bs, "b_best", "bs", what)
    _diagnose_pair(w_best, b_best, x, y, ws, bs, what)


def check_grid_search(grid_search):
    for device in devices():
        # The classic points; the best pair (2, 0) is at row 4, column 3 of a 9 x 7 grid.
        x = torch.tensor([1.0, 2.0, 3.0], device=device)
        y = torch.tensor([2.0, 4.0, 6.0], device=device)
        ws = torch.linspace(0.0, 4.0, 9, device=device)
        bs = torch.linspace(-1.5, 1.5, 7, device=device)
        what = (
            f"grid_search on x = [1, 2, 3], y = [2, 4, 6] with 9 ws in [0, 4] and 7 bs in "
            f"[-1.5, 1.5] on {device.type}"
        )
        _check_search(grid_search, x, y, ws, bs, what, FLOAT32_TOL)

        # 60 x 50 = 3000 pairs, 30 noisy points, candidates in shuffled order.
        g = generator(32)
        x30, y30 = _points(g, 30, device)
        ws = torch.linspace(-1.0, 3.0, 60)[torch.randperm(60, generator=g)].to(device)
        bs = torch.linspace(-2.0, 2.0, 50)[torch.randperm(50, generator=g)].to(device)
        what = f"grid_search over 60 ws x 50 bs (in shuffled order) on 30 noisy points on {device.type}"
        _check_search(grid_search, x30, y30, ws, bs, what, FLOAT32_TOL)

        # float64, unevenly spaced ws and a single b: costs keeps its (len(ws), 1) shape.
        x64, y64 = _points(generator(33), 12, device, torch.float64)
        ws = (torch.rand(25, generator=g, dtype=torch.float64) * 4 - 1).to(device)
        bs = torch.tensor([-0.4], dtype=torch.float64, device=device)
        what = f"grid_search in float64 over 25 uneven ws and the single b = -0.4 on {device.type}"
        _check_search(grid_search, x64, y64, ws, bs, what, FLOAT64_TOL)
