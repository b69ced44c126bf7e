"""Hidden checks for ch15_stability: xavier_uniform_ and clip_grad_norm_."""

import math
from contextlib import contextmanager

import torch
from torch import nn

from autograder.checks._common import (
    call,
    devices,
    expect_close,
    expect_device_respected,
    expect_tensor,
)

# What xavier_uniform_ re-implements: nn.init's initialisers, their fans and their in-place fill
# (the deprecated names without the underscore call these). Tensor.uniform_ is the building block.
INIT_BUILTINS = tuple(
    f"torch.nn.init.{name}"
    for name in (
        "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "uniform_",
        "normal_", "trunc_normal_", "_calculate_fan_in_and_fan_out", "_no_grad_uniform_",
    )
)  # fmt: skip
# What clip_grad_norm_ re-implements (clip_grad_norm_ is get_total_norm + clip_grads_with_norm_).
CLIP_BUILTINS = (
    "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_norm",
    "torch.nn.utils.get_total_norm", "torch.nn.utils.clip_grads_with_norm_",
)  # fmt: skip


@contextmanager
def _seeded(seed: int, device: torch.device):
    """Seed the global generators for a statistical check and restore them afterwards."""
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def _bound(fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


def _bound_hint(observed: float, fan_in: int, fan_out: int, gain: float, receptive_field: int = 1) -> str:
    """Name the likely formula behind a wrong bound (observed = largest |w|)."""
    one_fan = "only one of fan_in and fan_out" if fan_in == fan_out else None
    only_in = f"the bound uses {one_fan or 'fan_in only'}; Xavier averages fan_in and fan_out"
    only_out = f"the bound uses {one_fan or 'fan_out only'}; Xavier averages fan_in and fan_out"
    candidates = [
        (_bound(fan_in, fan_out, 1.0), "the gain is ignored: multiply the bound by gain"),
        (
            gain * math.sqrt(2.0 / (fan_in + fan_out)),
            "sqrt(2 / (fan_in + fan_out)) is the standard deviation, not the bound of the uniform "
            "distribution: a = sqrt(3) * std = gain * sqrt(6 / (fan_in + fan_out))",
        ),
        *[(gain * math.sqrt(k / fan_in), only_in) for k in (6.0, 3.0, 2.0, 1.0)],
        *[(gain * math.sqrt(k / fan_out), only_out) for k in (6.0, 3.0, 2.0, 1.0)],
    ]
    if receptive_field > 1:
        candidates.insert(0, (
            _bound(fan_in // receptive_field, fan_out // receptive_field, gain),
            "the fans ignore the receptive field: for a weight of shape (out, in, k, ...) multiply both "
            f"fans by math.prod(W.shape[2:]) = {receptive_field}",
        ))  # fmt: skip
    for value, hint in candidates:
        near = 0.997 * value <= observed <= (1 + 1e-4) * value  # the largest of many draws is near a
        if near and abs(value - _bound(fan_in, fan_out, gain)) > 0.004 * value:
            return hint
    return (
        "a = gain * sqrt(6 / (fan_in + fan_out)) with fan_in = W.shape[1] and fan_out = W.shape[0], "
        "both times math.prod(W.shape[2:]) for a weight with more than 2 dimensions"
    )


def _xavier_case(xavier_uniform_, shape, gain, dtype, device, what, seed):
    """Fill a zero tensor of ``shape``; check in place, dtype/device, bound and moments."""
    W = torch.zeros(shape, dtype=dtype, device=device)
    ptr = W.data_ptr()
    with _seeded(seed, device):
        result = call(xavier_uniform_, W, gain=gain, what=what, forbid=INIT_BUILTINS)
    assert result is not None, f"{what}: returned None; return W (the tensor you filled in place)"
    if isinstance(result, torch.Tensor) and result is not W and torch.all(W == 0):
        raise AssertionError(
            f"{what}: W is unchanged and a new tensor was returned; fill W in place (W.uniform_) "
            "and return W itself"
        )
    assert result is W, f"{what}: return W itself (the same tensor object), not a new tensor"
    assert W.data_ptr() == ptr, (
        f"{what}: W now points to new memory; fill its existing storage in place (W.uniform_(-a, a)) "
        "instead of assigning a new tensor to W.data"
    )
    assert W.dtype == dtype, f"{what}: W's dtype changed from {dtype} to {W.dtype}; keep it"
    assert W.device == device, f"{what}: W moved from {device} to {W.device}; keep it on its device"
    assert W.shape == torch.Size(shape), f"{what}: W's shape changed to {tuple(W.shape)}"
    assert torch.isfinite(W).all(), f"{what}: W contains inf or nan"

    receptive_field = math.prod(shape[2:])
    fan_out, fan_in = shape[0] * receptive_field, shape[1] * receptive_field
    a = _bound(fan_in, fan_out, gain)
    values = W.detach().double().flatten()
    largest = values.abs().max().item()
    variance = values.var().item()
    fans = f"fan_in = {fan_in}, fan_out = {fan_out}, gain = {gain:g}"
    hint = _bound_hint(largest, fan_in, fan_out, gain, receptive_field)
    if largest > a * (1 + 1e-4):
        if largest > 1.5 * a and abs(variance - a * a / 3) <= 0.1 * a * a / 3:
            raise AssertionError(
                f"{what}: values up to {largest:.4g} exceed the bound a = {a:.4g}, although the "
                "variance is right: this looks like the normal distribution (xavier_normal_); "
                "draw from the uniform distribution U(-a, a)"
            )
        raise AssertionError(
            f"{what}: values up to {largest:.4g} exceed the bound a = {a:.4g} ({fans}): {hint}"
        )
    if largest < 0.98 * a:
        raise AssertionError(
            f"{what}: the largest |w| is {largest:.4g} but should come close to a = {a:.4g} ({fans}): {hint}"
        )
    n = values.numel()
    mean = values.mean().item()
    assert abs(mean) <= 6 * a / math.sqrt(3 * n), (
        f"{what}: the mean of the values is {mean:.4g}, not about 0; draw from U(-a, a), symmetric around 0"
    )
    assert abs(variance - a * a / 3) <= 0.05 * a * a / 3, (
        f"{what}: the variance is {variance:.4g} but U(-a, a) with a = {a:.4g} has variance "
        f"a^2 / 3 = {a * a / 3:.4g}; fill every entry with an independent uniform value"
    )


# (shape, gain, dtype, what); nn.Linear(10, 1000).weight has shape (1000, 10): fan_in 10, fan_out 1000.
XAVIER_CASES = [
    (
        (1000, 10),
        1.0,
        torch.float32,
        "xavier_uniform_ on a (1000, 10) weight, fan_in = 10 and fan_out = 1000",
    ),
    (
        (10, 1000),
        1.0,
        torch.float32,
        "xavier_uniform_ on a (10, 1000) weight, fan_in = 1000 and fan_out = 10",
    ),
    ((1000, 1000), 1.0, torch.float32, "xavier_uniform_ on a 1000 x 1000 float32 weight"),
    ((300, 700), 5 / 3, torch.float64, "xavier_uniform_ with gain = 5/3 on a (300, 700) float64 weight"),
    (
        (64, 32, 3, 3),
        1.0,
        torch.float32,
        "xavier_uniform_ on a (64, 32, 3, 3) conv weight, fan_in = 32 * 9 and fan_out = 64 * 9",
    ),
    (
        (64, 32, 5),
        2.0,
        torch.float32,
        "xavier_uniform_ with gain = 2 on a (64, 32, 5) conv1d weight, fan_in = 32 * 5, fan_out = 64 * 5",
    ),
]


def _check_fresh_draws(xavier_uniform_, device):
    """Each call draws new numbers from the global generator, reproducibly after a manual_seed."""
    what = "xavier_uniform_ called twice in a row on two (50, 40) weights"
    draws = [torch.zeros(50, 40, device=device) for _ in range(3)]
    with _seeded(7, device):
        for W in draws[:2]:
            call(xavier_uniform_, W, what=what, forbid=INIT_BUILTINS)
    assert not torch.equal(draws[0], draws[1]), (
        f"{what}: both got the same numbers, so every layer of a network would start identical; "
        "draw from PyTorch's global generator and do not reseed it (no torch.manual_seed and no "
        "torch.Generator of your own inside the function)"
    )
    with _seeded(7, device):
        call(xavier_uniform_, draws[2], what=what, forbid=INIT_BUILTINS)
    assert torch.equal(draws[2], draws[0]), (
        f"{what}: after the same torch.manual_seed the numbers differ; draw from PyTorch's global "
        "generator (W.uniform_(-a, a)) so that seeding makes the initialisation reproducible"
    )


def check_xavier_uniform_(xavier_uniform_):
    for device in devices():
        for seed, (shape, gain, dtype, what) in enumerate(XAVIER_CASES):
            _xavier_case(xavier_uniform_, shape, gain, dtype, device, what, seed=seed + 1)
        _check_fresh_draws(xavier_uniform_, device)

        what = "xavier_uniform_ on an nn.Linear weight (an nn.Parameter with requires_grad=True)"
        with _seeded(5, device):
            weight = nn.Linear(400, 300, device=device).weight
            result = call(
                xavier_uniform_,
                weight,
                what=what + "; fill it under torch.no_grad() (in-place changes to a leaf that requires "
                "grad are refused while autograd records)",
                forbid=INIT_BUILTINS,
            )
        assert result is weight, f"{what}: return W itself"
        assert result.grad_fn is None and result.is_leaf, (
            f"{what}: the result has autograd history (grad_fn = {result.grad_fn}); fill W under "
            "torch.no_grad() so it stays a leaf parameter"
        )
        assert weight.requires_grad, f"{what}: W no longer requires grad; fill it in place, do not detach it"
        a = _bound(400, 300)
        largest = weight.detach().abs().max().item()
        assert 0.98 * a <= largest <= a * (1 + 1e-4), (
            f"{what}: the largest |w| is {largest:.4g}, expected close to a = {a:.4g}"
        )


def _make_params(shapes, dtype, device, seed, scale, none_at=()):
    """Parameters with random gradients (``None`` at the given positions) and a torch copy."""
    g = torch.Generator().manual_seed(seed)
    ours, theirs = [], []
    for i, shape in enumerate(shapes):
        value = torch.randn(shape, generator=g, dtype=dtype).to(device)
        p, q = value.clone().requires_grad_(), value.clone().requires_grad_()
        if i not in none_at:
            grad = (scale * torch.randn(shape, generator=g, dtype=dtype)).to(device)
            p.grad, q.grad = grad.clone(), grad.clone()
        ours.append(p)
        theirs.append(q)
    return ours, theirs


SHAPES = [(3, 4), (4,), (2, 3, 5), (7,), (1,)]


def _clip_case(
    clip_grad_norm_, device, dtype, what, *, max_norm=1.0, scale=2.0, none_at=(), as_generator=False, seed=0
):
    ours, theirs = _make_params(SHAPES, dtype, device, seed, scale, none_at)
    values_before = [p.detach().clone() for p in ours]
    grads_before = [None if p.grad is None else p.grad.clone() for p in ours]
    grad_tensors = [p.grad for p in ours]
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    params = (p for p in ours) if as_generator else ours
    result = call(clip_grad_norm_, params, max_norm, what=what, forbid=CLIP_BUILTINS)

    # The gradients.
    for p, before in zip(ours, values_before, strict=True):
        assert torch.equal(p.detach(), before), (
            f"{what}: the parameters themselves changed; scale their gradients (p.grad), not p"
        )
    for p, grad in zip(ours, grad_tensors, strict=True):
        assert grad is None or p.grad is None or p.grad is grad, (
            f"{what}: p.grad was replaced by a new tensor; multiply the gradient in place "
            "(p.grad.mul_(...)), as the trailing underscore of clip_grad_norm_ promises"
        )
    for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
        if q.grad is None:
            assert p.grad is None, f"{what}: a parameter whose .grad was None got a gradient; skip it"
            continue
        assert p.grad is not None, f"{what}: a gradient was removed (set to None); scale it in place"
        expect_tensor(p.grad, q.grad, f"{what}: gradient {i}")
    got = [p.grad for p in ours if p.grad is not None]
    want = [q.grad for q in theirs if q.grad is not None]
    before = [g for g in grads_before if g is not None]
    total = expected.item()
    coef = min(1.0, max_norm / (total + 1e-6))
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-12}
    close = all(torch.allclose(a, b, **tol) for a, b in zip(got, want, strict=True))
    if not close:
        unchanged = all(torch.equal(a, b) for a, b in zip(got, before, strict=True))
        separately = all(
            torch.allclose(a, b * min(1.0, max_norm / (b.norm().item() + 1e-6)), **tol)
            for a, b in zip(got, before, strict=True)
        )
        if unchanged and coef < 1 and as_generator:
            raise AssertionError(
                f"{what}: nothing was clipped. A generator (like model.parameters()) can be iterated only "
                "once: after computing the norm it is exhausted. Turn params into a list first"
            )
        if unchanged and coef < 1:
            raise AssertionError(
                f"{what}: the gradients were not changed although their total norm {total:.4g} exceeds "
                f"max_norm = {max_norm}; scale every gradient in place by max_norm / (total_norm + 1e-6)"
            )
        if separately:
            raise AssertionError(
                f"{what}: each gradient was clipped separately by its own norm. Clip by the global norm: "
                "one total norm over all gradients together, one common factor for all of them"
            )
        if coef >= 1:
            raise AssertionError(
                f"{what}: the gradients changed although their total norm {total:.4g} is below max_norm = "
                f"{max_norm}; only scale when max_norm / (total_norm + 1e-6) < 1 (never scale up)"
            )
        worst = max((a - b).abs().max().item() for a, b in zip(got, want, strict=True))
        raise AssertionError(
            f"{what}: the clipped gradients differ from torch.nn.utils.clip_grad_norm_'s (largest "
            f"difference {worst:.3g}); multiply every gradient by min(1, max_norm / (total_norm + 1e-6))"
        )

    # The returned norm.
    assert result is not None, f"{what}: returned None; return the total norm of the gradients"
    if not isinstance(result, torch.Tensor):
        raise AssertionError(
            f"{what}: returned a {type(result).__name__}; return the total norm as a 0-dim tensor, "
            "like torch.nn.utils.clip_grad_norm_"
        )
    expect_tensor(result, expected, f"{what}: the returned total norm", shape=())
    if coef < 1 and abs(result.item() - max_norm) <= 1e-3 * max_norm:
        raise AssertionError(
            f"{what}: returned {result.item():.4g}, the norm after clipping; return the total norm "
            f"before clipping ({total:.4g})"
        )
    expect_close(
        result,
        expected,
        f"{what}: the returned total norm",
        hint="the total norm is sqrt of the sum of the squares of all gradient entries, "
        "computed before clipping",
        **tol,
    )
    fresh, _ = _make_params(SHAPES, dtype, device, seed, scale, none_at)
    expect_device_respected(clip_grad_norm_, fresh, max_norm, what=what)


def _clip_without_gradients(clip_grad_norm_, device):
    """No parameter has a gradient (or there is none): nothing changes and the norm is 0."""
    without = [torch.ones(shape, device=device, requires_grad=True) for shape in ((3, 4), (4,))]
    for params, what in [
        (
            without,
            "clip_grad_norm_ on parameters of which none has a gradient (.grad is None, as before the "
            "first backward; change nothing and return torch.tensor(0.0))",
        ),
        ([], "clip_grad_norm_ on an empty list of parameters (return torch.tensor(0.0))"),
    ]:
        result = call(clip_grad_norm_, params, 1.0, what=what, forbid=CLIP_BUILTINS)
        assert all(p.grad is None for p in params), f"{what}: a gradient appeared; change nothing"
        assert all(torch.equal(p.detach(), torch.ones_like(p)) for p in params), (
            f"{what}: the parameters changed; change nothing"
        )
        assert isinstance(result, torch.Tensor) and result.shape == () and result.item() == 0, (
            f"{what}: returned {result!r}; return a total norm of 0 as a 0-dim tensor, torch.tensor(0.0), "
            "as PyTorch does"
        )


# (dtype, what, keyword arguments of _clip_case)
CLIP_CASES = [
    (torch.float32, "clip_grad_norm_ on a list of 5 parameters (total norm about 17, max_norm = 1)", {}),
    (
        torch.float32,
        "clip_grad_norm_ on parameters of which one has .grad = None (skip those)",
        {"none_at": (1,)},
    ),
    (
        torch.float32,
        "clip_grad_norm_ on a generator of parameters (model.parameters() is one)",
        {"max_norm": 2.0, "none_at": (3,), "as_generator": True},
    ),
    (
        torch.float32,
        "clip_grad_norm_ with a total norm of about 0.7, below max_norm = 1 (nothing to clip)",
        {"scale": 0.1},
    ),
    (
        torch.float64,
        "clip_grad_norm_ on float64 parameters (max_norm = 5)",
        {"max_norm": 5.0, "scale": 3.0, "none_at": (0,)},
    ),
]


def check_clip_grad_norm_(clip_grad_norm_):
    for device in devices():
        for seed, (dtype, what, kwargs) in enumerate(CLIP_CASES):
            _clip_case(clip_grad_norm_, device, dtype, what, seed=seed + 1, **kwargs)
        _clip_without_gradients(clip_grad_norm_, device)
