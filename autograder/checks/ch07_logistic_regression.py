"""Hidden checks for ch07_logistic_regression: sigmoid, bce_with_logits.

Autograd's derivative of a kink (``|x|``, ``max(x, 0)``, ``clamp``) at exactly 0 is a convention,
and the textbook stable forms differ there from PyTorch's analytic gradients (``max(z, 0) +
log(1 + exp(-|z|))`` has slope 0 or 1 at z = 0 instead of 1/2). The exercises do not promise the
gradient at that one point, so no check evaluates a gradient at exactly 0.
"""

import math

import torch
import torch.nn.functional as F

from autograder.checks._common import call, devices, expect_close, expect_tensor, generator
from autograder.checks.ch10_softmax import SOFTMAX_BUILTINS

# softplus(x) = log(1 + e^x), however it is reached: torch's softplus and log-sigmoid
# (logsigmoid(x) = -softplus(-x)), logaddexp/logsumexp (logaddexp(0, x) = softplus(x)), its
# base-2 twin (softplus(x) = ln 2 * logaddexp2(0, x / ln 2)), and Binomial.log_prob, whose
# normaliser is the stable softplus written out (Binomial(1, logits=z).log_prob(1) = log sigma(z)).
SOFTPLUS_BUILTINS = (
    "torch.nn.functional.softplus", "torch._refs.nn.functional.softplus", "aten.softplus",
    "torch.nn.functional.logsigmoid", "torch._decomp.decompositions.log_sigmoid_forward",
    "aten.log_sigmoid_forward",
    "torch.logaddexp", "torch.Tensor.logaddexp", "torch._refs.logaddexp", "aten.logaddexp",
    "torch.logaddexp2", "torch.Tensor.logaddexp2", "torch._refs.logaddexp2", "aten.logaddexp2",
    "torch.distributions.Binomial.log_prob",
)  # fmt: skip
# The logistic function itself, in every spelling (nn.Sigmoid calls torch.sigmoid), and the
# functions that compute it inside: silu(x) = x * sigmoid(x), glu([a, b]) = a * sigmoid(b).
SIGMOID_BUILTINS = (
    "torch.sigmoid", "torch.sigmoid_", "torch.Tensor.sigmoid", "torch.Tensor.sigmoid_",
    "torch.nn.functional.sigmoid", "torch.special.expit",
    "torch._refs.sigmoid", "torch._refs.special.expit",
    "aten.sigmoid", "aten.sigmoid_", "aten.special_expit",
    "torch.nn.functional.silu", "aten.silu", "torch.nn.functional.glu", "aten.glu",
)  # fmt: skip
# PyTorch's binary cross-entropies (nn.BCELoss, nn.BCEWithLogitsLoss and
# torch.distributions.Bernoulli.log_prob end in these), and the soft-margin loss, which is the
# same loss for labels in {-1, +1}: mean(log(1 + exp(-y z))).
BCE_BUILTINS = (
    "torch.nn.functional.binary_cross_entropy", "torch.nn.functional.binary_cross_entropy_with_logits",
    "torch.binary_cross_entropy_with_logits",
    "torch._decomp.decompositions.binary_cross_entropy",
    "torch._decomp.decompositions.binary_cross_entropy_with_logits",
    "aten.binary_cross_entropy", "aten.binary_cross_entropy_with_logits",
    "torch.nn.functional.soft_margin_loss", "aten.soft_margin_loss",
)  # fmt: skip
# "No NumPy or SciPy": a round trip through NumPy passes a CPU-only grader's device checks.
NUMPY = ("torch.Tensor.numpy", "torch.from_numpy")
try:
    import scipy.special

    NUMPY += tuple(
        f"scipy.special.{name}"
        for name in ("expit", "log_expit", "softplus", "logsumexp", "softmax", "log_softmax")
        if hasattr(scipy.special, name)
    )
except ImportError:  # pragma: no cover
    pass

# sigmoid re-implements the logistic function: no sigmoid, no softplus, no softmax over [0, x]
# (the two-class softmax is the sigmoid, section 10.5), and no binary cross-entropy, which is
# -log sigmoid(x) for the label 1: exp(-F.binary_cross_entropy_with_logits(x, 1, "none")).
SIGMOID_FORBIDDEN = SIGMOID_BUILTINS + SOFTPLUS_BUILTINS + SOFTMAX_BUILTINS + BCE_BUILTINS + NUMPY
# bce_with_logits re-implements the loss and its stable softplus; torch.sigmoid is allowed (a
# loss built on log(sigmoid(z)) fails the checks at logits of +-1000 on its own).
BCE_FORBIDDEN = BCE_BUILTINS + SOFTPLUS_BUILTINS + SOFTMAX_BUILTINS + NUMPY

STABLE_SIGMOID_HINT = (
    "Build both cases from e = exp(-|x|), which lies in (0, 1] and cannot overflow: "
    "1 / (1 + e) where x >= 0 and e / (1 + e) where x < 0."
)
STABLE_BCE_HINT = (
    "Compute the loss from the logits as max(z, 0) - z * y + log(1 + exp(-|z|)): never take the "
    "log of a probability that has rounded to 0 or 1, and never exponentiate a large positive number."
)


def _call_sigmoid(sigmoid, x, what):
    return call(sigmoid, x, what=what, forbid=SIGMOID_FORBIDDEN, probe_device=True,
                stay_on_device=True)


def _call_bce(bce_with_logits, logits, y, what):
    return call(bce_with_logits, logits, y, what=what, forbid=BCE_FORBIDDEN, probe_device=True,
                stay_on_device=True)


def _close(a, b, rtol=1e-4, atol=1e-6) -> bool:
    """Same shape and close: for recognising a known mistake (never raises)."""
    a, b = a.detach(), b.detach().to(a.device)
    return a.shape == b.shape and bool(torch.isfinite(a).all()) and torch.allclose(
        a.to(b.dtype), b, rtol=rtol, atol=atol
    )


# --------------------------------------------------------------------------------------------
# sigmoid
# --------------------------------------------------------------------------------------------


def _sigmoid_values(sigmoid, x, what, rtol=1e-5, atol=1e-6, hint=""):
    """Call on x (checking x is left alone), check the kind of result, name the classic slips,
    then compare with torch.sigmoid."""
    x_before = x.clone()
    s = _call_sigmoid(sigmoid, x, what)
    expect_tensor(s, x, what)
    assert torch.equal(x, x_before), (
        f"{what}: sigmoid changed its input in place (e.g. x.neg_(), x.exp_() or x[...] = ...); "
        "compute on new tensors and leave x unchanged"
    )
    if x.numel():
        with torch.no_grad():
            if _close(s, 1 + torch.exp(-x)):
                raise AssertionError(
                    f"{what}: got 1 + exp(-x): sigma(x) = 1 / (1 + e^(-x)) needs its parentheses; "
                    "1 / 1 + torch.exp(-x) divides 1 by 1 and then adds exp(-x)"
                )
            if _close(s, torch.sigmoid(-x)) and not _close(s, torch.sigmoid(x)):
                raise AssertionError(
                    f"{what}: got sigmoid(-x) = 1 / (1 + e^x); the exponent is -x: "
                    "sigma(x) = 1 / (1 + e^(-x)) grows with x"
                )
    expect_close(s, torch.sigmoid(x), what, hint=hint, rtol=rtol, atol=atol)
    return s


def check_sigmoid(sigmoid):
    for device in devices():
        g = generator(70)
        x = (3 * torch.randn(4, 5, generator=g)).to(device)
        _sigmoid_values(sigmoid, x, "sigmoid of a (4, 5) batch")

        x64 = (3 * torch.randn(2, 3, 4, generator=g, dtype=torch.float64)).to(device)
        _sigmoid_values(sigmoid, x64, "sigmoid of a (2, 3, 4) float64 batch", rtol=1e-10, atol=1e-12)
        x16 = (3 * torch.randn(6, generator=g)).to(device, torch.float16)
        _sigmoid_values(sigmoid, x16, "sigmoid of a float16 vector", rtol=1e-2, atol=2e-3)
        _sigmoid_values(sigmoid, torch.tensor(0.7, device=device), "sigmoid of a 0-dim tensor")
        _sigmoid_values(sigmoid, torch.empty(0, 3, device=device), "sigmoid of an empty (0, 3) tensor")
        xt = torch.randn(5, 4, generator=g).to(device).T
        _sigmoid_values(sigmoid, xt, "sigmoid of a transposed (non-contiguous) batch")

        extremes = torch.tensor(
            [-1e4, -1e3, -100.0, -88.5, -30.0, 30.0, 88.5, 100.0, 1e3, 1e4], device=device
        )
        _sigmoid_values(
            sigmoid, extremes, "sigmoid of inputs up to +-10000", hint=STABLE_SIGMOID_HINT
        )

        tail = torch.tensor([-80.0, -40.0, -20.0], device=device)
        what = "sigmoid far in the negative tail (x = -80, -40, -20)"
        got = _call_sigmoid(sigmoid, tail, what).detach().double()
        expected = torch.sigmoid(tail.double())
        relative = ((got - expected).abs() / expected).max().item()
        if not relative <= 1e-4:  # also catches nan
            i = int(((got - expected).abs() / expected).nan_to_num(math.inf).argmax())
            raise AssertionError(
                f"{what}: sigmoid({tail[i].item():g}) should be {expected[i].item():.4g}, got "
                f"{got[i].item():.4g}. Small values must keep their relative accuracy: "
                "1 - sigmoid(-x) or (1 + tanh(x / 2)) / 2 cancels to 0 there, and clamping x to a "
                "narrow range changes them. For x < 0 compute e^x / (1 + e^x)."
            )

        _check_sigmoid_gradients(sigmoid, device, g)


def _check_sigmoid_gradients(sigmoid, device, g):
    # float32 gradients at the extremes: finite and equal to sigma(x)(1 - sigma(x)) (about 0).
    values = [-1e4, -1e3, -100.0, -88.5, -30.0, -2.0, 0.5, 30.0, 88.5, 100.0, 1e3, 1e4]
    x = torch.tensor(values, device=device, requires_grad=True)
    what = "sigmoid of inputs up to +-10000"
    s = _call_sigmoid(sigmoid, x, what)
    assert isinstance(s, torch.Tensor) and s.requires_grad, (
        f"{what}: the result is detached from the graph; keep it differentiable "
        "(no .item(), .detach(), torch.no_grad() or torch.tensor(...) on the way)"
    )
    (grad,) = torch.autograd.grad(s.sum(), x, allow_unused=True)
    assert grad is not None, f"{what}: the result does not depend on x through autograd"
    bad = ~torch.isfinite(grad)
    positive = torch.tensor([v > 0 for v in values], device=device)
    if (bad & positive).any():
        at = values[int((bad & positive).nonzero()[0])]
        raise AssertionError(
            f"gradient of {what}: nan at x = {at:g}, although the values are right. A branch that "
            "is not used there still overflows (exp(x) = inf): torch.where computes both branches "
            "for every entry, and the backward pass multiplies the unused branch's inf by 0, which "
            f"is nan. {STABLE_SIGMOID_HINT}"
        )
    if bad.any():
        at = values[int(bad.nonzero()[0])]
        raise AssertionError(
            f"gradient of {what}: nan at x = {at:g}, although the values are right. exp(-x) "
            "overflows to inf there: 1 / (1 + exp(-x)) rounds to 0, but its derivative "
            "exp(-x) / (1 + exp(-x))**2 is computed as 0 * inf = nan (the same happens in a "
            f"torch.where branch that is not used). {STABLE_SIGMOID_HINT}"
        )
    s_ref = torch.sigmoid(x.detach())
    expect_close(grad, s_ref * (1 - s_ref), f"gradient of {what}")

    x64 = (4 * torch.randn(3, 5, generator=g, dtype=torch.float64)).to(device).requires_grad_()
    what = "sigmoid in float64"
    s64 = _call_sigmoid(sigmoid, x64, what)
    assert isinstance(s64, torch.Tensor) and s64.requires_grad, (
        f"{what}: the result is detached from the graph; keep it differentiable"
    )
    (grad64,) = torch.autograd.grad(s64.sum(), x64, allow_unused=True)
    assert grad64 is not None, f"{what}: the result does not depend on x through autograd"
    (expected64,) = torch.autograd.grad(torch.sigmoid(x64).sum(), x64)
    expect_close(grad64, expected64, f"gradient of {what}", rtol=1e-8, atol=1e-12,
                 hint="The derivative of sigma is sigma(x) * (1 - sigma(x)).")


# --------------------------------------------------------------------------------------------
# bce_with_logits
# --------------------------------------------------------------------------------------------


def _softplus(z):
    return z.clamp(min=0) + torch.log1p(torch.exp(-z.abs()))


def _bce_case(bce_with_logits, z, y, what, hint="", rtol=1e-5, atol=1e-6, moderate=True):
    """Call on (z, y) (checking both are left alone), check the result is a 0-dim tensor, name
    the classic slips, then compare with F.binary_cross_entropy_with_logits. ``moderate``: the
    logits are ordinary (|z| < 20), where no correct formula gives inf or nan."""
    z_before, y_before = z.detach().clone(), y.clone()
    loss = _call_bce(bce_with_logits, z, y, what)
    expect_tensor(loss, z, what, shape=())
    assert torch.equal(z.detach(), z_before) and torch.equal(y, y_before), (
        f"{what}: bce_with_logits changed its inputs in place (e.g. logits.clamp_() or "
        "y[...] = ...); compute on new tensors"
    )
    if moderate and not torch.isfinite(loss.detach()).all():
        raise AssertionError(
            f"{what}: got {loss.item()} for ordinary logits (between -20 and 20). The inputs are "
            "logits, any real numbers, not probabilities: log(z) or log(1 - z) is nan for z < 0 "
            "or z > 1. The probability is sigma(z), and log sigma(z) = -log(1 + e^(-z))"
        )
    with torch.no_grad():
        expected = F.binary_cross_entropy_with_logits(z, y)
        per_example = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        if _close(loss, per_example.sum()) and z.numel() > 1:
            raise AssertionError(f"{what}: returned the sum over the examples; return the mean")
        if _close(loss, -expected) and not _close(loss, expected):
            raise AssertionError(
                f"{what}: the sign is flipped. The binary cross-entropy is "
                "-[y log(p) + (1 - y) log(1 - p)], with the minus sign: log p <= 0, so without it "
                "the loss is negative and minimising it makes the predictions worse"
            )
        if _close(loss, _softplus(-y * z).mean()) and not _close(loss, expected):
            raise AssertionError(
                f"{what}: got mean(log(1 + exp(-y z))), the form of the loss for labels y in "
                "{-1, +1}; with labels in {0, 1} it charges log 2 for every y = 0. Map hard labels "
                "to s = 2y - 1 first, or better use -[y log sigma(z) + (1 - y) log(1 - sigma(z))], "
                "which also works for soft labels"
            )
        if y.dim() > 1 and _close(loss, per_example.sum(dim=-1).mean()):
            raise AssertionError(
                f"{what}: summed over the last dimension and averaged the rest; return the mean "
                "over all elements"
            )
    expect_close(loss, expected, what, hint=hint, rtol=rtol, atol=atol)
    return loss


def check_bce_with_logits(bce_with_logits):
    for device in devices():
        g = generator(71)
        z = (3 * torch.randn(16, generator=g)).to(device)
        y = torch.randint(0, 2, (16,), generator=g).float().to(device)
        _bce_case(bce_with_logits, z, y, "bce_with_logits of 16 logits with labels in {0, 1}")

        z2 = (3 * torch.randn(5, 8, generator=g)).to(device).T  # (8, 5), non-contiguous
        y2 = torch.rand(5, 8, generator=g).to(device).T
        y2[0, :2] = torch.tensor([0.0, 1.0], device=device)  # the ends of [0, 1] too
        soft_hint = (
            "Soft labels y between 0 and 1 (such as 0.3): the loss -[y log sigma(z) + (1 - y) "
            "log(1 - sigma(z))] is linear in y. Don't branch on y == 1 or turn y into s = 2y - 1: "
            "log(1 + exp(-s z)) only holds for hard labels."
        )
        _bce_case(bce_with_logits, z2, y2, "bce_with_logits of an (8, 5) batch with soft labels",
                  hint=soft_hint)

        z_ext = torch.tensor([1000.0, -1000.0, 1000.0, -1000.0, 30.0, -30.0, 88.0, -88.0, 500.0,
                              -500.0], device=device)  # fmt: skip
        y_ext = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.25, 0.75], device=device)
        what = "bce_with_logits of logits up to +-1000"
        _bce_case(bce_with_logits, z_ext, y_ext, what, moderate=False,
                  hint="A confidently wrong logit of 1000 costs about 1000 (not inf, not nan, and "
                  f"not 100 as with a log clamped like nn.BCELoss's). {STABLE_BCE_HINT}")

        z_leaf = z_ext.clone().requires_grad_()
        loss = _call_bce(bce_with_logits, z_leaf, y_ext, what)
        assert isinstance(loss, torch.Tensor) and loss.requires_grad, (
            f"{what}: the result is detached from the graph; keep it differentiable "
            "(no .item(), .detach(), torch.no_grad() or torch.tensor(...) on the way)"
        )
        (grad,) = torch.autograd.grad(loss, z_leaf, allow_unused=True)
        assert grad is not None, f"{what}: the loss does not depend on the logits through autograd"
        if not torch.isfinite(grad).all():
            raise AssertionError(
                f"gradient of {what}: nan or inf, although the loss is right. Some intermediate "
                "overflows (exp(1000) = inf), maybe in a torch.where branch that is not used: "
                "torch.where computes both branches, and the backward pass multiplies the unused "
                f"branch's inf by 0, which is nan. {STABLE_BCE_HINT}"
            )
        expected_grad = (torch.sigmoid(z_ext) - y_ext) / len(z_ext)
        expect_close(grad, expected_grad, f"gradient of {what}",
                     hint="The gradient of the mean loss is (sigma(z) - y) / n.")

        z64 = (3 * torch.randn(6, 3, generator=g, dtype=torch.float64)).to(device).requires_grad_()
        y64 = torch.rand(6, 3, generator=g, dtype=torch.float64).to(device)
        what = "bce_with_logits in float64 with soft labels"
        loss64 = _bce_case(bce_with_logits, z64, y64, what, hint=soft_hint, rtol=1e-10, atol=1e-12)
        assert loss64.requires_grad, (
            f"{what}: the result is detached from the graph; keep it differentiable"
        )
        (grad64,) = torch.autograd.grad(loss64, z64, allow_unused=True)
        assert grad64 is not None, f"{what}: the loss does not depend on the logits through autograd"
        (expected64,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(z64, y64), z64)
        expect_close(grad64, expected64, f"gradient of {what}", rtol=1e-8, atol=1e-12,
                     hint="The gradient of the mean loss is (sigma(z) - y) / n.")
