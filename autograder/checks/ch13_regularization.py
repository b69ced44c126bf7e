"""Hidden checks for ch13_regularization: l2_penalty, l1_penalty, EarlyStopping.

The penalties are compared with float64 references on every device, in float32 and float64, for
weights of any shape (a vector, a matrix, a 4-d kernel, a 0-dim scalar, an empty tensor, a
transposed view, an ``nn.Parameter``), and their gradients with autograd's: the exercises promise
a differentiable 0-dim tensor with the input's dtype and device, and forbid PyTorch's norms and
losses (the exercise is to write the norm). A wrong value is matched against the typical slips
(the missing 1/2, the square root of the norm, a mean, the other penalty...) to name the likely one.

``|w|`` has no derivative at 0. The L1 exercise promises only a finite subgradient there (a value
in [-1, 1]; ``torch.abs`` gives 0): ``sqrt(w ** 2)`` gives nan, which the check names.

``EarlyStopping`` is a stateful object: it is fed sequences of validation losses (Python floats,
and 0-dim tensors, on every device) and compared, step by step, with the
rule: an improvement is a loss below ``best - min_delta`` (strictly); it sets ``best`` to that
loss and resets the count; any other loss adds one to the count and leaves ``best`` alone; ``step``
returns ``count >= patience`` as a Python bool, and ``best`` is a Python float. At the first
difference, typical mistakes are replayed on the same sequence to name the likely one.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from autograder.checks._common import call, devices, expect_close, expect_tensor, generator

# PyTorch's norms, in every spelling that reaches them (torch.norm and Tensor.norm end in
# aten.linalg_vector_norm or aten.norm; torch.dist is the norm of a difference; cdist and
# _foreach_norm compute norms too), and its losses against zero (F.mse_loss(w, 0, reduction="sum")
# is sum(w ** 2), F.l1_loss(w, 0, reduction="sum") is sum(|w|)). NumPy round trips would pass a
# CPU-only grader's device checks: forbidden too.
NORM_BUILTINS = (
    "torch.norm", "torch.Tensor.norm", "torch.linalg.norm", "torch.linalg.vector_norm",
    "torch.linalg.matrix_norm", "torch.dist", "torch.Tensor.dist", "torch.cdist",
    "torch._foreach_norm",
    "aten.linalg_vector_norm", "aten.norm", "aten.dist", "aten.frobenius_norm", "aten.linalg_norm",
    "aten.linalg_matrix_norm", "aten._foreach_norm", "aten._cdist_forward", "aten.renorm",
)  # fmt: skip
LOSS_BUILTINS = (
    "torch.nn.functional.mse_loss", "torch.nn.functional.l1_loss",
    "torch.nn.functional.smooth_l1_loss", "torch.nn.functional.huber_loss",
    "aten.mse_loss", "aten.l1_loss", "aten.smooth_l1_loss", "aten.huber_loss",
)  # fmt: skip
NUMPY = ("torch.Tensor.numpy", "torch.from_numpy")
PENALTY_FORBIDDEN = NORM_BUILTINS + LOSS_BUILTINS + NUMPY

DETACHED_HINT = (
    "keep it differentiable: return the tensor itself, with no .item(), float(...), .detach(), "
    "torch.tensor(...) or torch.no_grad() on the way, so that loss + lambd * penalty can be "
    "backpropagated into the weights"
)
PYTHON_SUM_HINT = (
    "Python's built-in sum(...) adds only along the first dimension of a tensor (and fails on a "
    "0-dim one); sum over all entries with torch.sum(...) or .sum()"
)


@dataclass(frozen=True)
class Penalty:
    name: str
    formula: str
    value: object  # w (float64) -> the expected value
    grad: object  # w (float64) -> the expected gradient away from 0
    mistakes: tuple  # (function of w in float64, hint)


def _sq(w):
    return (w * w).sum()


L2 = Penalty(
    "l2_penalty",
    "sum(w ** 2) / 2: square every weight, add them all up, halve",
    lambda w: _sq(w) / 2,
    lambda w: w,
    (
        (lambda w: _sq(w),
         "the 1/2 is missing: the penalty is sum(w ** 2) / 2, so that its gradient is w itself"),
        (lambda w: _sq(w).sqrt() / 2,
         "this is the norm ||w|| (a square root), not half its square: don't take the square root, "
         "the penalty is sum(w ** 2) / 2"),
        (lambda w: _sq(w).sqrt(),
         "this is the norm ||w|| (a square root), not half its square: the penalty is "
         "sum(w ** 2) / 2"),
        (lambda w: _sq(w) / max(w.numel(), 1) / 2,
         "this is a mean over the weights, not a sum: use .sum(), not .mean()"),
        (lambda w: _sq(w) / max(w.numel(), 1),
         "this is a mean over the weights without the 1/2: the penalty is sum(w ** 2) / 2"),
        (lambda w: w.abs().sum() / 2, "these are absolute values (L1): square each weight"),
        (lambda w: w.abs().sum(), "this is the L1 penalty sum(|w|): square each weight, then halve"),
        (lambda w: w.sum() ** 2 / 2,
         "this squares the sum of the weights: square each weight first, then add them up"),
    ),
)

L1 = Penalty(
    "l1_penalty",
    "sum(|w|): the absolute value of every weight, added up",
    lambda w: w.abs().sum(),
    lambda w: w.sign(),
    (
        (lambda w: w.abs().sum() / 2,
         "there is no 1/2 in the L1 penalty (that is the L2 convention): it is sum(|w|)"),
        (lambda w: w.sum(),
         "the absolute values are missing: negative weights must add to the penalty too, "
         "sum(|w|) (torch.abs)"),
        (lambda w: w.abs().sum() / max(w.numel(), 1),
         "this is a mean over the weights, not a sum: use .sum(), not .mean()"),
        (lambda w: _sq(w) / 2, "this is the L2 penalty: take absolute values, not squares"),
        (lambda w: _sq(w), "this squares the weights (L2): take absolute values, not squares"),
        (lambda w: w.sum().abs(),
         "this is the absolute value of the sum, where positive and negative weights cancel: "
         "take the absolute value of each weight first, then add them up"),
    ),
)


def _differs(a: torch.Tensor, b: torch.Tensor) -> bool:
    return not torch.allclose(a, b, rtol=1e-6, atol=1e-9)


def _diagnose(spec: Penalty, result: torch.Tensor, w64: torch.Tensor) -> str:
    expected = spec.value(w64)
    got = result.detach().double().cpu()
    for wrong, hint in spec.mistakes:
        value = wrong(w64)
        if _differs(value, expected) and torch.allclose(got, value, rtol=1e-4, atol=1e-6):
            return f"Likely mistake: {hint}."
    return f"The penalty is {spec.formula}."


def _call_penalty(fn, spec: Penalty, w, what):
    try:
        return call(fn, w, what=what, forbid=PENALTY_FORBIDDEN, probe_device=True, stay_on_device=True)
    except AssertionError as err:
        message = str(err)
        if "iteration over a 0-d tensor" in message or "not iterable" in message:
            raise AssertionError(f"{message}. {PYTHON_SUM_HINT}") from None
        raise


def _penalty_case(fn, spec: Penalty, w: torch.Tensor, what: str, rtol: float, atol: float):
    """One weight tensor: the kind of result, the value (with a named mistake when it is wrong),
    the input untouched."""
    w_before = w.detach().clone()
    result = _call_penalty(fn, spec, w, what)
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        raise AssertionError(
            f"{what}: returned a Python {type(result).__name__}, which autograd cannot "
            f"differentiate; return the 0-dim tensor ({DETACHED_HINT}). If you used Python's "
            "built-in sum: it returns a number for an empty tensor; use torch.sum(...) or .sum()"
        )
    assert isinstance(result, torch.Tensor), (
        f"{what}: expected a 0-dim torch.Tensor, got {type(result).__name__}"
    )
    if result.shape != ():
        hint = "sum over all entries of w, so that the result is a 0-dim tensor (one number)"
        if w.dim() >= 2 and result.shape == w.shape[1:]:
            hint = PYTHON_SUM_HINT + " (or .sum(dim=0) summed only over the rows)"
        raise AssertionError(f"{what}: the result has shape {tuple(result.shape)}; {hint}")
    expect_tensor(result, w, what, shape=())
    assert torch.equal(w.detach(), w_before), (
        f"{what}: {spec.name} changed the weights in place (w **= 2, w.abs_(), w.pow_(2)...); "
        "compute on new tensors: the penalty must never modify the model"
    )
    w64 = w.detach().double().cpu()
    expected = spec.value(w64)
    got = result.detach().double().cpu()
    if not torch.isfinite(got) or not torch.allclose(got, expected, rtol=rtol, atol=atol):
        expect_close(got, expected, what, hint=_diagnose(spec, result, w64), rtol=rtol, atol=atol)
    return result


def _gradient_case(fn, spec: Penalty, w: torch.Tensor, what: str):
    """The gradient flows back into w and equals the derivative of the penalty."""
    rtol, atol = (1e-10, 1e-12) if w.dtype == torch.float64 else (1e-5, 1e-6)
    result = _penalty_case(fn, spec, w, what, rtol=rtol, atol=atol)
    assert result.requires_grad and result.grad_fn is not None, (
        f"{what}: the result is detached from the weights ({DETACHED_HINT})"
    )
    (grad,) = torch.autograd.grad(result, w, allow_unused=True)
    assert grad is not None, (
        f"{what}: the result does not depend on w in autograd's graph ({DETACHED_HINT})"
    )
    return grad


def _check_penalty(fn, spec: Penalty):
    for device in devices():
        g = generator(13)
        on = f"on {device.type}"
        cases = [
            ("a vector of 5 weights", torch.tensor([1.0, -2.0, 0.5, -0.25, -3.0])),
            ("a 3 x 4 weight matrix", torch.randn(3, 4, generator=g)),
            ("a 4-d kernel (2, 3, 2, 2)", torch.randn(2, 3, 2, 2, generator=g)),
            ("a 0-dim weight", torch.tensor(-1.5)),
            ("an empty weight tensor (its penalty is 0)", torch.empty(0)),
            ("a transposed (non-contiguous) 5 x 3 matrix", torch.randn(3, 5, generator=g).T),
            ("all-negative weights", -torch.rand(6, generator=g) - 0.5),
        ]
        for dtype, rtol, atol in ((torch.float32, 1e-5, 1e-6), (torch.float64, 1e-10, 1e-12)):
            for name, w in cases:
                what = f"{spec.name} of {name}, {dtype} {on}"
                _penalty_case(fn, spec, w.to(device=device, dtype=dtype), what, rtol, atol)

        # the gradient, in float64: w for L2, sign(w) for L1 (away from 0)
        w = (torch.randn(4, 5, generator=g, dtype=torch.float64) + 0.1).to(device).requires_grad_()
        what = f"{spec.name} of a 4 x 5 float64 weight matrix that requires grad {on}"
        grad = _gradient_case(fn, spec, w, what)
        expect_close(grad, spec.grad(w.detach()), f"the gradient of {what}", rtol=1e-10, atol=1e-12,
                     hint=f"The gradient of {spec.formula.split(':')[0]} is "
                          f"{'w' if spec is L2 else 'sign(w)'}.")

        # a layer's weight, as in lambd * penalty(net.weight)
        layer = nn.Linear(200, 1).to(device)
        with torch.no_grad():
            layer.weight.copy_(torch.randn(1, 200, generator=g))
        what = f"{spec.name}(nn.Linear(200, 1).weight), an nn.Parameter of shape (1, 200), {on}"
        grad = _gradient_case(fn, spec, layer.weight, what)
        expect_close(grad, spec.grad(layer.weight.detach()), f"the gradient of {what}",
                     rtol=1e-5, atol=1e-6)
        assert layer.weight.grad is None, (
            f"{what}: {spec.name} ran backward() itself and left a gradient in the weight; "
            "only return the penalty, the training loop backpropagates it"
        )

    if spec is L1:
        _check_l1_at_zero(fn)


def _check_l1_at_zero(fn):
    """|w| has no derivative at 0: any finite subgradient in [-1, 1] will do, nan will not."""
    for device in devices():
        w = torch.tensor([0.0, 1.5, 0.0, -2.0], dtype=torch.float64, device=device).requires_grad_()
        what = f"l1_penalty of weights that are exactly 0 (sparse weights) on {device.type}"
        grad = _gradient_case(fn, L1, w, what).detach().cpu()
        at_zero = grad[[0, 2]]
        if not torch.isfinite(at_zero).all():
            raise AssertionError(
                f"{what}: the gradient at w = 0 is {at_zero.tolist()}, not a number. "
                "sqrt(w ** 2) has an infinite slope at 0 (0 / 0 in its derivative); use torch.abs(w), "
                "whose gradient at 0 is 0"
            )
        assert (at_zero.abs() <= 1).all(), (
            f"{what}: the gradient at w = 0 is {at_zero.tolist()}; a subgradient of |w| at 0 lies "
            "in [-1, 1] (torch.abs gives 0)"
        )
        expect_close(grad[[1, 3]], torch.tensor([1.0, -1.0], dtype=torch.float64),
                     f"the gradient of {what} away from 0", hint="It is sign(w).")


def check_l2_penalty(l2_penalty):
    _check_penalty(l2_penalty, L2)


def check_l1_penalty(l1_penalty):
    _check_penalty(l1_penalty, L1)


# --------------------------------------------------------------------------------------------
# EarlyStopping
# --------------------------------------------------------------------------------------------

RULE = (
    "The rule: a loss below best - min_delta (strictly: by more than min_delta) is an improvement; "
    "it becomes the new best and resets the count to 0. Any other loss adds 1 to the count and "
    "leaves best alone. step() returns count >= patience."
)


def simulate(losses, patience, min_delta=0.0, *, reset=True, strict=True, delta_sign=1,
             offset=0, best_update="improvement", compare_last=False, once=False):
    """(flag, best) after each step under the rule, or under one of the typical mistakes:
    ``reset=False`` leaves the count as it is on an improvement; ``strict=False`` counts a loss
    of exactly ``best - min_delta`` as an improvement; ``delta_sign`` -1 adds min_delta, 0 ignores it;
    ``offset`` stops that many steps late (+1) or early (-1); ``best_update`` "min" lowers best on
    any lower loss, "always" sets it to every loss, "never" keeps the first; ``compare_last``
    compares with the previous loss instead of best; ``once`` returns True only on the step the
    count reaches patience."""
    best, last, count, out = math.inf, math.inf, 0, []
    for loss in losses:
        ref = last if compare_last else best
        bar = ref - delta_sign * min_delta
        improved = loss < bar if strict else loss <= bar
        if improved:
            count = 0 if reset else count
        else:
            count += 1
        if best_update == "improvement":
            best = loss if improved else best
        elif best_update == "min":
            best = min(best, loss)
        elif best_update == "always":
            best = loss
        elif best_update == "never":
            best = loss if best == math.inf else best
        last = loss
        limit = patience + offset
        flag = count == limit if once else count >= limit
        out.append((flag, best))
    return out


MISTAKES = [
    (dict(reset=False),
     "the count is not reset when the loss improves: set it back to 0 on every improvement"),
    (dict(compare_last=True),
     "each loss is compared with the previous one, not with the best so far: a loss that is lower "
     "than the last but not than best is no improvement"),
    (dict(strict=False),
     "a loss of exactly best - min_delta counts as an improvement: it must improve by MORE than "
     "min_delta, val_loss < best - min_delta (not <=)"),
    (dict(delta_sign=0),
     "min_delta is ignored: an improvement is val_loss < best - min_delta"),
    (dict(delta_sign=-1),
     "min_delta is added instead of subtracted: an improvement is val_loss < best - min_delta"),
    (dict(offset=1),
     "it stops one step late: return True as soon as the count reaches patience (count >= "
     "patience), not after patience + 1 bad steps"),
    (dict(offset=-1),
     "it stops one step early: the count must reach patience (count >= patience); an "
     "improvement does not count as a bad step"),
    (dict(best_update="min"),
     "best is lowered by a loss that improved by less than min_delta: update best only on an "
     "improvement (by more than min_delta)"),
    (dict(best_update="always"),
     "best is overwritten by every loss, also a worse one: update it only on an improvement"),
    (dict(best_update="never"),
     "best is never updated after the first loss: set best = val_loss on every improvement"),
    (dict(once=True),
     "it returns True only on the step the count reaches patience: keep returning True while the "
     "count stays >= patience (a caller may keep stepping)"),
]  # fmt: skip


@dataclass(frozen=True)
class Sequence:
    name: str
    losses: tuple
    patience: int
    min_delta: float | None  # None: rely on the default


SEQUENCES = [
    Sequence("ups and downs", (4.0, 3.0, 3.5, 3.25, 2.0, 2.5, 2.25, 2.125, 3.0, 1.0, 1.5, 1.25), 3, None),
    Sequence("ties with the best", (1.0, 1.0, 1.0, 0.5, 0.5, 0.5), 2, 0.0),
    Sequence("small rises within min_delta", (3.0, 3.25, 2.0, 2.25, 2.125, 1.0), 2, 0.5),
    Sequence("small steps under min_delta", (2.0, 1.875, 1.75, 1.625, 1.5, 1.0, 0.875), 2, 0.25),
    Sequence("steps of exactly min_delta", (2.0, 1.75, 1.5, 1.25, 1.0, 0.5), 2, 0.25),
    Sequence("patience 1", (1.0, 2.0, 0.5, 0.5, 0.25), 1, 0.0),
    Sequence("a long plateau", (1.0, 2.0, 2.0, 2.0, 2.0, 0.5, 0.75), 2, 0.0),
    Sequence("a wide min_delta", (10.0, 9.0, 8.0, 7.5, 6.0, 3.0, 2.5, 2.0), 2, 2.0),
]  # fmt: skip


def _label(seq: Sequence) -> str:
    args = f"patience={seq.patience}" + ("" if seq.min_delta is None else f", min_delta={seq.min_delta}")
    return f"EarlyStopping({args})"


def _make(EarlyStopping, seq: Sequence, what: str, positional: bool = False):
    if seq.min_delta is None:
        if positional:
            return call(EarlyStopping, seq.patience, what=f"{what}: creating it")
        return call(EarlyStopping, patience=seq.patience, what=f"{what}: creating it")
    if positional:
        return call(EarlyStopping, seq.patience, seq.min_delta, what=f"{what}: creating it")
    return call(EarlyStopping, patience=seq.patience, min_delta=seq.min_delta, what=f"{what}: creating it")


def _best_of(stopper, what):
    try:
        return stopper.best
    except AttributeError:
        raise AssertionError(
            f"{what}: the object has no attribute best; keep the best loss in self.best"
        ) from None


def _history(losses) -> str:
    return "[" + ", ".join(f"{float(x):g}" for x in losses) + "]"


def _run_sequence(EarlyStopping, seq: Sequence, what: str, make_input, positional=False):
    """Feed the sequence; return the student's (flag, best) per step and check their types."""
    stopper = _make(EarlyStopping, seq, what, positional)
    observed = []
    for k, loss in enumerate(seq.losses, start=1):
        where = f"{what}, step {k} with val_loss {loss:g} after {_history(seq.losses[: k - 1])}"
        value = make_input(loss)
        flag = call(stopper.step, value, what=where)
        if isinstance(flag, torch.Tensor):
            raise AssertionError(
                f"{where}: step() returned a tensor; return a Python bool (compare Python floats: "
                "convert the loss with float(val_loss) first)"
            )
        assert type(flag) is bool, (
            f"{where}: step() returned {flag!r} ({type(flag).__name__}); return a Python bool, "
            "True to stop and False otherwise (also when not stopping: no bare return)"
        )
        best = _best_of(stopper, where)
        if isinstance(best, torch.Tensor):
            raise AssertionError(
                f"{where}: best is a tensor; store a Python float, best = float(val_loss). A stored "
                "loss tensor keeps its whole autograd graph alive (and its GPU memory), and every "
                "comparison with it syncs with the GPU"
            )
        assert type(best) is float, (
            f"{where}: best is {best!r} ({type(best).__name__}); it must be a Python float "
            "(float(val_loss))"
        )
        observed.append((flag, best))
    return observed


def _diagnose_stopper(seq: Sequence, observed, upto: int) -> str:
    """The mistake whose replay gives the student's whole sequence, else the first whose replay
    agrees up to the first difference (several mistakes can agree that far)."""
    md = 0.0 if seq.min_delta is None else seq.min_delta
    right = simulate(seq.losses, seq.patience, md)
    replays = [(simulate(seq.losses, seq.patience, md, **options), hint) for options, hint in MISTAKES]
    for replay, hint in replays:
        if replay == observed and replay != right:
            return f"Likely mistake: {hint}."
    for replay, hint in replays:
        if replay[:upto] == observed[:upto] and replay[:upto] != right[:upto]:
            return f"Likely mistake: {hint}."
    return RULE


def _compare(seq: Sequence, observed, what: str):
    md = 0.0 if seq.min_delta is None else seq.min_delta
    expected = simulate(seq.losses, seq.patience, md)
    for k, ((flag, best), (flag_e, best_e)) in enumerate(zip(observed, expected, strict=True), start=1):
        where = (f"{what}: after the losses {_history(seq.losses[:k])}")
        if flag != flag_e:
            raise AssertionError(
                f"{where}, step() returned {flag}, expected {flag_e}. "
                f"{_diagnose_stopper(seq, observed, k)}"
            )
        if not math.isclose(best, best_e, rel_tol=1e-6, abs_tol=1e-9):
            raise AssertionError(
                f"{where}, best is {best:g}, expected {best_e:g}. {_diagnose_stopper(seq, observed, k)}"
            )


SHARED_HINT = (
    "The objects share their state: keep the count and best in instance attributes set in "
    "__init__ (self.best = ..., self.count = 0), not in class attributes or globals"
)


def _check_independent(EarlyStopping):
    """A fresh stopper's first loss is always its best, whatever other stoppers have seen."""
    what = "a new EarlyStopping(2) after another one has seen the loss 1.0"
    first = call(EarlyStopping, 2, what=f"{what}: creating the first")
    call(first.step, 1.0, what=f"{what}: the first one's step(1.0)")
    second = call(EarlyStopping, 2, what=f"{what}: creating the second")
    call(second.step, 5.0, what=f"{what}: the second one's step(5.0)")
    best_first, best_second = _best_of(first, what), _best_of(second, what)
    assert best_second == 5.0 and best_first == 1.0, (
        f"{what}: after its first step(5.0) the new one has best {best_second!r} (expected 5.0: "
        f"the first loss is always the best so far), and the first one has best {best_first!r} "
        f"(expected 1.0). {SHARED_HINT}"
    )


def check_EarlyStopping(EarlyStopping):
    assert isinstance(EarlyStopping, type), "EarlyStopping must be a class (class EarlyStopping: ...)"
    for number, seq in enumerate(SEQUENCES):
        what = f"{_label(seq)} fed Python floats ({seq.name})"
        observed = _run_sequence(EarlyStopping, seq, what, float, positional=number % 2 == 1)
        _compare(seq, observed, what)
        if number == 0:
            _check_independent(EarlyStopping)

    # the losses a training loop has at hand: 0-dim tensors, on every device
    for device in devices():
        for dtype in (torch.float32, torch.float64):
            for seq in (SEQUENCES[0], SEQUENCES[3]):
                what = f"{_label(seq)} fed 0-dim {dtype} tensors on {device.type} ({seq.name})"

                def make_input(loss, dtype=dtype, device=device):
                    return torch.tensor(loss, dtype=dtype, device=device)

                observed = _run_sequence(EarlyStopping, seq, what, make_input)
                _compare(seq, observed, what)

    # two stoppers side by side do not share their state
    first, second = SEQUENCES[0], SEQUENCES[5]
    what = f"two stoppers used in turn, {_label(first)} and {_label(second)}"
    a, b = _make(EarlyStopping, first, what), _make(EarlyStopping, second, what)
    expected_a = simulate(first.losses, first.patience, 0.0)
    expected_b = simulate(second.losses, second.patience, 0.0)
    for k in range(max(len(first.losses), len(second.losses))):
        for stopper, seq, expected in ((a, first, expected_a), (b, second, expected_b)):
            if k < len(seq.losses):
                flag = call(stopper.step, seq.losses[k], what=f"{what}, step {k + 1}")
                assert (flag, _best_of(stopper, what)) == expected[k], (
                    f"{what}: at step {k + 1}, {_label(seq)} returned {flag} with best "
                    f"{_best_of(stopper, what)}, expected {expected[k][0]} with best {expected[k][1]}. "
                    f"{SHARED_HINT}"
                )
