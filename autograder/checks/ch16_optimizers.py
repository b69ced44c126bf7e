"""Hidden checks for ch16_optimizers: five ``torch.optim.Optimizer`` subclasses (SGD, Momentum,
AdaGrad, RMSprop, Adam), each compared step for step with its ``torch.optim`` counterpart.

One helper, ``_check_optimizer``, does the work for all five. It gives the student's optimizer and
the ``torch.optim`` one the same parameters (a scalar, a vector, a matrix, and one that never gets
a gradient) and the same fresh random gradients at every step, some of them ``None``, in float64
and float32, on every device. It also checks that ``state_dict()``/``load_state_dict()`` resume a
run exactly, that ``zero_grad()`` works, that ``step(closure)`` returns the closure's loss and
that parameters and state stay on their device, that each parameter group's own settings are
used, and that the class writes its own ``step`` rather than inheriting torch.optim's.

The rules the exercises state are enforced too: ``step()`` leaves ``p.grad`` unchanged, calls
none of torch.optim's update functions (``torch.optim.adam.adam``, the fused kernels...), and
makes its state on the parameter's device: a run with tensors made without ``device=`` landing
on the ``meta`` device shows a forgotten ``device=`` on a CPU-only grader too.

When the iterates differ, it replays typical mistakes (small functional versions of the update
rules below) to name the likely one.
"""

import copy
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from autograder.checks._common import call, devices, expect_device_respected, generator

SHAPES = [(), (5,), (3, 4), (2,)]  # a scalar, a vector, a matrix and ...
NEVER = 3  # ... a parameter that never gets a gradient
GRAD_SCALES = [1.0, 1e-3, 10.0, 1.0]  # tiny gradients make the place of eps visible
MISSING = {2: {0}, 3: {1, 2}, 5: {0}}  # step -> parameters whose .grad is None in that step
NUM_STEPS = 7
SPLIT = 3  # the state_dict check saves the optimizer after this many steps
TOLERANCE = {torch.float64: dict(rtol=1e-9, atol=1e-12), torch.float32: dict(rtol=2e-5, atol=1e-6)}
# Adam in float64 with its step count kept as a float32 tensor, as torch.optim.Adam keeps it: its
# 1 - beta**t is rounded to float32 (a relative error up to ~1e-5 for beta2 = 0.999), which moves
# the iterates by ~4e-8 in 7 steps; the mistakes worth naming move them by 1e-4 and more.
FLOAT32_BIAS_CORRECTION = dict(rtol=1e-6, atol=2e-7)
# a replayed mistake "matches" the student's iterates within this (looser) tolerance
MATCH_TOLERANCE = {torch.float64: dict(rtol=1e-6, atol=1e-9), torch.float32: dict(rtol=1e-4, atol=1e-5)}

ERROR_HINTS = [
    ("leaf Variable that requires grad",
     "decorate step() with @torch.no_grad(): the in-place update of a parameter must not be "
     "recorded by autograd"),
    ("NoneType",
     "some parameters have no gradient (p.grad is None, e.g. a layer the loss did not use): "
     "skip them with `if p.grad is None: continue`"),
    ("does not require grad",
     "step() runs under torch.no_grad(), so call the closure inside `with torch.enable_grad():`"),
    ("device",
     "keep every tensor on the parameter's device: create state with torch.zeros_like(p) and "
     "never move tensors to the CPU"),
]  # fmt: skip

# torch.optim's own update functions, which the exercises write by hand: the functional forms
# that torch.optim.SGD.step() & co. call, their single-tensor, multi-tensor and fused versions,
# and the fused C kernels, by their torch names and as aten operators (torch.ops.aten._fused_adam_,
# TorchScript). The _foreach_* operators are building blocks, not updates: allowed.
_OPTIM_MODULES = ("sgd", "adam", "adamw", "adagrad", "rmsprop")
TORCH_OPTIM_UPDATES = (
    tuple(
        f"torch.optim.{module}.{prefix}{module}"
        for module in _OPTIM_MODULES
        for prefix in ("", "_single_tensor_", "_multi_tensor_", "_fused_")
        if hasattr(importlib.import_module(f"torch.optim.{module}"), f"{prefix}{module}")
    )
    + tuple(
        f"torch._fused_{name}_"
        for name in ("sgd", "adam", "adamw", "adagrad")
        if hasattr(torch, f"_fused_{name}_")
    )
    + tuple(
        f"aten._fused_{name}{suffix}"
        for name in ("sgd", "adam", "adamw", "adagrad")
        for suffix in ("", "_")
        if hasattr(torch.ops.aten, f"_fused_{name}{suffix}")
    )
)


def _call(fn, *args, what, **kwargs):
    """``call`` from _common, with a hint added for the errors optimizers typically raise."""
    try:
        return call(fn, *args, what=what, **kwargs)
    except AssertionError as err:
        message = str(err)
        for pattern, hint in ERROR_HINTS:
            if " raised " in message and pattern in message:
                raise AssertionError(f"{message.rstrip('.')}. Hint: {hint}") from None
        raise


# ---------------------------------------------------------------------------------------------
# The update rules of one parameter, functional (no in-place ops), with the typical mistakes as
# options. They only serve to name a mistake; the expected values come from torch.optim.


def _sgd(p, g, state, hp, calls):
    return p - hp["lr"] * g


def _momentum(p, g, state, hp, calls, dampening=False):
    mu = hp["momentum"]
    buf = mu * state.get("buf", torch.zeros_like(p)) + ((1 - mu) if dampening else 1.0) * g
    state["buf"] = buf
    return p - hp["lr"] * buf


def _adagrad(p, g, state, hp, calls, eps_inside=False):
    total = state.get("sum", torch.zeros_like(p)) + g * g
    state["sum"] = total
    denom = (total + hp["eps"]).sqrt() if eps_inside else total.sqrt() + hp["eps"]
    return p - hp["lr"] * g / denom


def _rmsprop(p, g, state, hp, calls, swapped=False, eps_inside=False):
    alpha = 1 - hp["alpha"] if swapped else hp["alpha"]
    avg = alpha * state.get("avg", torch.zeros_like(p)) + (1 - alpha) * g * g
    state["avg"] = avg
    denom = (avg + hp["eps"]).sqrt() if eps_inside else avg.sqrt() + hp["eps"]
    return p - hp["lr"] * g / denom


def _adam(p, g, state, hp, calls, bias_correction=True, eps_inside=False, global_step=False,
          swap_betas=False):  # fmt: skip
    beta1, beta2 = reversed(hp["betas"]) if swap_betas else hp["betas"]
    t = calls if global_step else state.get("t", 0) + 1
    m = beta1 * state.get("m", torch.zeros_like(p)) + (1 - beta1) * g
    v = beta2 * state.get("v", torch.zeros_like(p)) + (1 - beta2) * g * g
    state.update(t=t, m=m, v=v)
    if bias_correction:
        m, v = m / (1 - beta1**t), v / (1 - beta2**t)
    denom = (v + hp["eps"]).sqrt() if eps_inside else v.sqrt() + hp["eps"]
    return p - hp["lr"] * m / denom


def _simulate(rule, hp, params0, grads, uphill=False, reset=False, **options):
    """Iterates of ``rule`` (with ``options``); ``uphill`` flips the step, ``reset`` forgets the
    state before every step."""
    if uphill:
        hp = dict(hp, lr=-hp["lr"])
    params = [p.clone() for p in params0]
    states = [{} for _ in params]
    path = []
    for calls, row in enumerate(grads, start=1):
        for i, g in enumerate(row):
            if g is not None:
                if reset:
                    states[i] = {}
                params[i] = rule(params[i], g, states[i], hp, calls, **options)
        path.append([p.clone() for p in params])
    return path


@dataclass(frozen=True)
class Spec:
    """What one exercise must match, and the mistakes worth naming."""

    name: str  # the student's class
    reference: type  # its torch.optim counterpart
    fixed: dict  # torch.optim settings that switch off what the exercise leaves out
    defaults: dict  # the keyword defaults of the student's signature
    settings: list  # keyword arguments to try
    rule: Callable
    formula: str  # the hint when no known mistake matches
    mistakes: list = field(default_factory=list)  # (options of _simulate, hint)
    nonfinite: str = ""  # extra hint when the iterates become inf or nan
    float64_tolerance: dict = field(default_factory=lambda: TOLERANCE[torch.float64])

    def tolerance(self, dtype):
        return self.float64_tolerance if dtype == torch.float64 else TOLERANCE[dtype]


UPHILL = "the parameters moved uphill: subtract the step (p -= lr * ...), don't add it"

SPECS = {
    "SGD": Spec(
        "SGD", torch.optim.SGD, dict(momentum=0, dampening=0, nesterov=False, weight_decay=0), {},
        [dict(lr=0.1), dict(lr=0.5)], _sgd,
        "the update is p <- p - lr * p.grad for every parameter that has a gradient",
    ),
    "Momentum": Spec(
        "Momentum", torch.optim.SGD, dict(dampening=0, nesterov=False, weight_decay=0),
        dict(momentum=0.9),
        [dict(lr=0.1), dict(lr=0.05, momentum=0.5), dict(lr=0.02, momentum=0.99)], _momentum,
        "PyTorch's momentum is v <- momentum * v + g, then p <- p - lr * v, with v starting at 0",
        [
            (dict(reset=True),
             "the momentum buffer is not kept between steps (this is plain SGD): store it in "
             "self.state[p] and update that same tensor every step"),
            (dict(dampening=True),
             "PyTorch's momentum adds the whole gradient, v <- momentum * v + g, without a "
             "(1 - momentum) factor"),
        ],
    ),
    "AdaGrad": Spec(
        "AdaGrad", torch.optim.Adagrad, dict(lr_decay=0, weight_decay=0, initial_accumulator_value=0),
        dict(eps=1e-10), [dict(lr=0.1), dict(lr=0.5, eps=1e-3)], _adagrad,
        "AdaGrad keeps s <- s + g * g in self.state[p] and updates p <- p - lr * g / (sqrt(s) + eps)",
        [
            (dict(reset=True),
             "AdaGrad must accumulate: keep the running sum s <- s + g * g of all squared gradients "
             "in self.state[p], not just the current g * g"),
            (dict(eps_inside=True),
             "torch.optim.Adagrad adds eps after the square root: sqrt(s) + eps, not sqrt(s + eps)"),
        ],
    ),
    "RMSprop": Spec(
        "RMSprop", torch.optim.RMSprop, dict(weight_decay=0, momentum=0, centered=False),
        dict(alpha=0.99, eps=1e-8), [dict(lr=0.01), dict(lr=0.05, alpha=0.9, eps=1e-3)], _rmsprop,
        "RMSprop keeps v <- alpha * v + (1 - alpha) * g * g in self.state[p] (v starts at 0) and "
        "updates p <- p - lr * g / (sqrt(v) + eps)",
        [
            (dict(swapped=True),
             "alpha and 1 - alpha are swapped: the average keeps alpha of its old value, "
             "v <- alpha * v + (1 - alpha) * g * g"),
            (dict(eps_inside=True),
             "torch.optim.RMSprop adds eps after the square root: sqrt(v) + eps, not sqrt(v + eps)"),
            (dict(reset=True),
             "the running average is not kept between steps: store v in self.state[p] and update "
             "that same tensor every step"),
        ],
    ),
    "Adam": Spec(
        "Adam", torch.optim.Adam, dict(weight_decay=0, amsgrad=False),
        dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8),
        [dict(), dict(lr=0.05, betas=(0.8, 0.95), eps=1e-4)], _adam,
        "Adam: t <- t + 1, m <- b1 * m + (1 - b1) * g, v <- b2 * v + (1 - b2) * g * g, "
        "m_hat = m / (1 - b1**t), v_hat = v / (1 - b2**t), p <- p - lr * m_hat / (sqrt(v_hat) + eps)",
        [
            (dict(bias_correction=False),
             "the bias correction is missing: divide m by (1 - beta1**t) and v by (1 - beta2**t), "
             "where t counts this parameter's steps, starting at 1"),
            (dict(eps_inside=True),
             "eps goes after the square root: sqrt(v_hat) + eps, not sqrt(v_hat + eps)"),
            (dict(global_step=True),
             "count the steps t per parameter, in self.state[p]: a parameter without a gradient "
             "in some step does not advance its own t"),
            (dict(swap_betas=True),
             "the betas are swapped: m (the average of g) uses beta1, v (the average of g * g) "
             "uses beta2"),
            (dict(reset=True),
             "m, v and t are not kept between steps: store them in self.state[p]"),
        ],
        "Count t from 1 (increment it before the bias correction: 1 - beta**0 is 0).",
        FLOAT32_BIAS_CORRECTION,
    ),
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Running optimizers


def _scenario(seed, dtype, device):
    """Initial parameters and, for each step, one gradient per parameter (or None)."""
    g = generator(seed)
    params0 = [torch.randn(shape, generator=g, dtype=torch.float64) for shape in SHAPES]
    grads = []
    for step in range(1, NUM_STEPS + 1):
        row = [
            torch.randn(shape, generator=g, dtype=torch.float64) * scale
            for shape, scale in zip(SHAPES, GRAD_SCALES, strict=True)
        ]
        grads.append([None if i == NEVER or i in MISSING.get(step, ()) else x for i, x in enumerate(row)])

    def to(x):
        return None if x is None else x.to(device=device, dtype=dtype)

    return [to(p) for p in params0], [[to(x) for x in row] for row in grads]


def _label(name, kwargs):
    return f"{name}(params{''.join(f', {k}={v!r}' for k, v in kwargs.items())})"


def _leaves(params0):
    return [p.clone().requires_grad_() for p in params0]


def _make_student(student_cls, params, kwargs, what):
    opt = _call(student_cls, params, what=f"{what}: creating the optimizer", **kwargs)
    assert isinstance(opt, torch.optim.Optimizer), (
        f"{what}: the optimizer must be an instance of a torch.optim.Optimizer subclass"
    )
    return opt


def _make_reference(spec, params, kwargs):
    return spec.reference(params, **{**spec.fixed, **spec.defaults, **kwargs})


def _run_steps(opt, params, grads, what, first_step=1, forbid=TORCH_OPTIM_UPDATES):
    """Set each step's gradients, call opt.step() (without calling ``forbid``: torch.optim's
    update functions, except for torch.optim's own optimizer), check that it left the gradients
    alone, record copies of the parameters."""
    kinds = [(p.device, p.dtype) for p in params]
    path = []
    for step, row in enumerate(grads, start=first_step):
        for p, g in zip(params, row, strict=True):
            p.grad = None if g is None else g.clone()
        given = [(p.grad, None if p.grad is None else p.grad._version) for p in params]
        _call(opt.step, what=f"{what}, step {step}", forbid=forbid)
        for i, (p, g, (device, dtype)) in enumerate(zip(params, row, kinds, strict=True)):
            where = f"{what}: after step {step}, parameter {i} (shape {tuple(p.shape)})"
            assert p.device == device, (
                f"{where} is on {p.device}, but it started on {device}: update each parameter in "
                "place on its own device (no round trip through the CPU)"
            )
            assert p.dtype == dtype, f"{where} has dtype {p.dtype}, but it started as {dtype}"
            _expect_grad_unchanged(p.grad, g, given[i], where)
        path.append([p.detach().clone() for p in params])
    return path


def _expect_grad_unchanged(grad, values, given, where):
    """p.grad is still the gradient the step was given: the same values and, if it is the same
    tensor, not written in place (its version counter counts in-place operations, even those
    that happen to leave the values alone, such as g.add_(p, alpha=0.0))."""
    if values is None:
        assert grad is None, f"{where}: step() gave it a gradient (p.grad was None); leave p.grad alone"
        return
    tensor, version = given
    same = (
        isinstance(grad, torch.Tensor)
        and grad.shape == values.shape
        and torch.equal(grad.to(values.device), values)
        and (grad is not tensor or grad._version == version)
    )
    assert same, (
        f"{where}: step() modified p.grad; leave p.grad unchanged (it belongs to the caller: "
        "gradient clipping, logging or a second optimizer may read it). No in-place operation on "
        "it (p.grad.mul_(...), g = p.grad; g.add_(...)): compute with new tensors, e.g. "
        "lr * p.grad, and update only p and the state"
    )


def _paths_match(actual, expected, tolerance):
    return all(
        a.shape == e.shape and torch.allclose(a.to(e.dtype), e, **tolerance)
        for row_a, row_e in zip(actual, expected, strict=True)
        for a, e in zip(row_a, row_e, strict=True)
    )


def _diagnose(spec, hp, params0, grads, actual, step, index):
    """The likely mistake behind a first mismatch at (step, parameter index)."""
    values = [a for row in actual for a in row]
    if not all(torch.isfinite(a).all() for a in values):
        return f"The parameters became inf or nan. {spec.nonfinite} Hint: {spec.formula}".strip()
    if all(torch.equal(a.cpu(), p.cpu()) for row in actual for a, p in zip(row, params0, strict=True)):
        return (
            "Hint: step() did not change the parameters. Update them in place (p.add_(...) or "
            "p -= ...); `p = p - ...` only rebinds a local name."
        )
    tolerance = MATCH_TOLERANCE[params0[0].dtype]
    for options, hint in [(dict(uphill=True), UPHILL), *spec.mistakes]:
        if _paths_match(actual, _simulate(spec.rule, hp, params0, grads, **options), tolerance):
            return f"Likely mistake: {hint}."
    if grads[step - 1][index] is None:
        return (
            f"Parameter {index} had no gradient in step {step} (p.grad is None), yet it changed: "
            "skip such parameters entirely, as torch.optim does; their state must not change either."
        )
    return f"Hint: {spec.formula}."


def _compare(spec, hp, params0, grads, actual, expected, what):
    for step, (row_a, row_e) in enumerate(zip(actual, expected, strict=True), start=1):
        for i, (a, e) in enumerate(zip(row_a, row_e, strict=True)):
            where = f"{what}: parameter {i} (shape {tuple(e.shape)}) after step {step}"
            if not torch.allclose(a, e, **spec.tolerance(e.dtype)):
                gap = (a - e).abs().max().item() if torch.isfinite(a).all() else float("nan")
                diagnosis = _diagnose(spec, hp, params0, grads, actual, step, i)
                raise AssertionError(
                    f"{where} differs from torch.optim.{spec.reference.__name__} with the same "
                    f"settings (largest difference {gap:.3g}). {diagnosis}"
                )


def _check_state_devices(opt, what):
    for p, state in opt.state.items():
        if not isinstance(p, torch.Tensor) or p.dim() == 0:
            continue
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == p.shape:
                assert value.device == p.device, (
                    f"{what}: self.state[p][{key!r}] is on {value.device} but the parameter is on "
                    f"{p.device}: keep the state on the parameter's device (torch.zeros_like(p))"
                )


def _check_state_made_on_device(student_cls, spec, device):
    """A buffer made without device= (torch.zeros(p.shape)) lands on the CPU next to a GPU
    parameter: run once more with such tensors landing on the meta device, so that a forgotten
    device= shows on a CPU-only grader too. A Python number or torch.tensor(0.0) for a step count
    is fine."""
    kwargs = spec.settings[-1]
    params0, grads = _scenario(10, torch.float64, device)
    params = _leaves(params0)

    def run():
        opt = student_cls(params, **kwargs)
        for row in grads:
            for p, g in zip(params, row, strict=True):
                p.grad = None if g is None else g.clone()
            opt.step()
        return params

    expect_device_respected(run, what=f"{_label(spec.name, kwargs)} on {device.type}: its state")


def _check_zero_grad(opt, params, what):
    for p in params:
        p.grad = torch.ones_like(p)
    _call(opt.zero_grad, what=f"{what}: zero_grad()")
    for p in params:
        assert p.grad is None or not p.grad.any(), (
            f"{what}: gradients are left after zero_grad(); don't override zero_grad, the one "
            "inherited from torch.optim.Optimizer works"
        )


def _check_state_dict(student_cls, spec, device):
    """Save after SPLIT steps, load into a fresh optimizer, continue: same as uninterrupted."""
    kwargs = spec.settings[-1]
    params0, grads = _scenario(7, torch.float64, device)
    what = f"{_label(spec.name, kwargs)} on {device.type}, resumed with load_state_dict"
    reference = _make_reference(spec, _leaves(params0), kwargs)
    expected = _run_steps(reference, reference.param_groups[0]["params"], grads, "torch.optim", forbid=())[-1]
    params = _leaves(params0)
    opt = _make_student(student_cls, params, kwargs, what)
    _run_steps(opt, params, grads[:SPLIT], what)
    saved = copy.deepcopy(_call(opt.state_dict, what=f"{what}: state_dict()"))
    params = [p.detach().clone().requires_grad_() for p in params]
    fresh = _make_student(student_cls, params, kwargs, what)
    _call(fresh.load_state_dict, saved, what=f"{what}: load_state_dict()")
    resumed = _run_steps(fresh, params, grads[SPLIT:], what, first_step=SPLIT + 1)[-1]
    for i, (a, e) in enumerate(zip(resumed, expected, strict=True)):
        assert torch.allclose(a, e, **spec.tolerance(e.dtype)), (
            f"{what}: an optimizer saved with state_dict() after {SPLIT} steps and loaded into a fresh "
            f"one with load_state_dict() does not continue like the uninterrupted run (parameter {i} "
            "differs at the end). Keep every per-parameter quantity (buffers, step counts) in "
            "self.state[p]: state_dict() saves self.state and param_groups, not other attributes"
        )


def _check_closure(student_cls, spec, device):
    """step(closure) evaluates the closure with gradients enabled and returns its loss."""
    kwargs = spec.settings[-1]
    params0, _ = _scenario(8, torch.float64, device)
    what = f"{_label(spec.name, kwargs)} on {device.type}: step(closure)"
    results = []
    for make in (
        lambda ps: _make_reference(spec, ps, kwargs),
        lambda ps: _make_student(student_cls, ps, kwargs, what),
    ):
        params = _leaves(params0)
        opt = make(params)

        def closure(params=params, opt=opt):
            opt.zero_grad()
            loss = sum(((p - 1) ** 2).sum() for p in params)
            loss.backward()
            return loss

        loss = _call(opt.step, closure, what=what)
        results.append((loss, [p.detach() for p in params]))
    (expected_loss, expected), (loss, actual) = results
    assert isinstance(loss, torch.Tensor), (
        f"{what} returned {type(loss).__name__}: return the loss that closure() returned"
    )
    assert torch.allclose(loss.detach(), expected_loss.detach()), (
        f"{what} returned {loss.item():.6g}, but the closure's loss was {expected_loss.item():.6g}"
    )
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert torch.allclose(a.to(e.device), e, **spec.tolerance(e.dtype)), (
            f"{what}: parameter {i} is wrong after the step; call closure() (inside "
            "torch.enable_grad()) before the update, which uses the gradients it computed"
        )


def _check_own_step(student_cls, spec):
    """The exercise is the update rule: a subclass of torch.optim.Adam would inherit it."""
    allowed = (torch.optim.Optimizer, object)
    borrowed = [c for c in student_cls.__mro__[1:] if c not in allowed and c.__module__.startswith("torch.")]
    assert not borrowed, (
        f"{spec.name} subclasses torch.optim.{borrowed[0].__name__}, whose step() does the work: "
        "subclass torch.optim.Optimizer itself and write step()"
    )


def _check_param_groups(student_cls, spec, device):
    """Two parameter groups, the second with its own settings, as in
    ``[{"params": body}, {"params": head, "lr": 0.01}]``: step() reads each group's values."""
    base, own = spec.settings[0], spec.settings[-1]
    params0, grads = _scenario(9, torch.float64, device)
    what = f"{_label(spec.name, base)} on {device.type} with a second parameter group {own}"

    def groups(params):
        return [{"params": params[:2]}, {"params": params[2:], **own}]

    reference = _make_reference(spec, groups(_leaves(params0)), base)
    expected = _run_steps(
        reference, [p for g in reference.param_groups for p in g["params"]], grads, "torch", forbid=()
    )
    params = _leaves(params0)
    opt = _make_student(student_cls, groups(params), base, what)
    actual = _run_steps(opt, params, grads, what)
    for i, (a, e) in enumerate(zip(actual[-1], expected[-1], strict=True)):
        assert torch.allclose(a, e, **spec.tolerance(e.dtype)), (
            f"{what}: parameter {i} (group {0 if i < 2 else 1}) differs from torch.optim after "
            f"{NUM_STEPS} steps. Read the settings of each group inside the loop over "
            "self.param_groups (group['lr']...), not self.defaults or attributes saved in __init__: "
            "groups may differ, and learning-rate schedulers change group['lr']"
        )


def _check_optimizer(student_cls, spec):
    assert isinstance(student_cls, type) and issubclass(student_cls, torch.optim.Optimizer), (
        f"{spec.name} must be a class that subclasses torch.optim.Optimizer"
    )
    _check_own_step(student_cls, spec)
    for device in devices():
        for dtype in (torch.float64, torch.float32):
            for number, kwargs in enumerate(spec.settings):
                params0, grads = _scenario(100 + number, dtype, device)
                hp = {**spec.defaults, **kwargs}
                what = f"{_label(spec.name, kwargs)} on {device.type} in {dtype}"
                reference = _make_reference(spec, _leaves(params0), kwargs)
                expected = _run_steps(
                    reference, reference.param_groups[0]["params"], grads, "torch", forbid=()
                )
                params = _leaves(params0)
                opt = _make_student(student_cls, params, kwargs, what)
                actual = _run_steps(opt, params, grads, what)
                _compare(spec, hp, params0, grads, actual, expected, what)
                _check_state_devices(opt, what)
                _check_zero_grad(opt, params, what)
        _check_state_dict(student_cls, spec, device)
        _check_closure(student_cls, spec, device)
        _check_param_groups(student_cls, spec, device)
        _check_state_made_on_device(student_cls, spec, device)


def check_SGD(SGD):
    _check_optimizer(SGD, SPECS["SGD"])


def check_Momentum(Momentum):
    _check_optimizer(Momentum, SPECS["Momentum"])


def check_AdaGrad(AdaGrad):
    _check_optimizer(AdaGrad, SPECS["AdaGrad"])


def check_RMSprop(RMSprop):
    _check_optimizer(RMSprop, SPECS["RMSprop"])


def check_Adam(Adam):
    _check_optimizer(Adam, SPECS["Adam"])
